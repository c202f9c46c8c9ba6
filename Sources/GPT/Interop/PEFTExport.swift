import Foundation
import SafeTensors

/// Writes a checkpoint's LoRA adapters as a PEFT adapter directory that `PeftModel.from_pretrained(
/// GPT2LMHeadModel.from_pretrained(BASE), DIR)` loads: `adapter_model.safetensors` (float32,
/// `base_model.model.transformer.h.{i}.attn.c_attn.lora_A.weight` `[r, in]` and `...lora_B.weight`
/// `[out, r]`, the shapes PEFT gives a GPT-2 Conv1D's adapters) and `adapter_config.json`
/// (peft_type LORA, r, lora_alpha, lora_dropout, target_modules, fan_in_fan_out true, bias none,
/// task_type CAUSAL_LM, base_model_name_or_path when known).
public enum PEFTExport {
    public static let weightsName = "adapter_model.safetensors"
    public static let configName = "adapter_config.json"
    /// PEFT's prefix of every adapter tensor of a wrapped model.
    public static let prefix = "base_model.model."

    /// Writes the adapters of `contents` into `directory` (created if missing), each file to a
    /// temporary name renamed when complete; existing files are replaced only when `overwrite`.
    /// Returns what the user should know. Throws when the checkpoint has no adapters.
    @discardableResult
    public static func write(_ contents: CheckpointContents, to directory: String, overwrite: Bool = false,
                             checkpointPath: String) throws -> [String] {
        guard let lora = contents.lora else {
            throw HuggingFaceError(path: checkpointPath, "has no LoRA adapters (/lora): --adapters-only needs a checkpoint trained with lora_rank > 0")
        }
        let path = try HuggingFaceExport.outputFolder(directory, replacing: [weightsName, configName], overwrite: overwrite)
        var notes: [String] = []
        let layout = LoRALayout(config: contents.modelConfig, lora: lora.config)
        let writer = try SafeTensorsWriter(path: path(weightsName),
                                           entries: layout.tensors.map { .init(name: prefix + $0.name, shape: $0.shape) })
        try lora.parameters.withUnsafeBufferPointer { flat in
            for tensor in layout.tensors { try writer.write(UnsafeBufferPointer(rebasing: flat[tensor.range])) }
        }
        try writer.finish()

        var base: String?
        if let known = lora.baseModel {
            if HuggingFaceImport.isModelDirectory(known) {
                base = known
            } else {
                notes.append("the adapters' base model is \(known), not a Hugging Face directory: base_model_name_or_path is null (export the base with --format huggingface and load the adapters onto it)")
            }
        } else {
            notes.append("the adapters' base model is not known (trained from scratch): base_model_name_or_path is null")
        }
        do {
            try configJSON(lora.config, baseModel: base).write(to: URL(fileURLWithPath: path(configName)), options: .atomic)
        } catch {
            throw HuggingFaceError(path: path(configName), "cannot write: \(error.localizedDescription)")
        }
        return notes
    }

    /// `adapter_config.json` for `lora` on a GPT-2 (Conv1D layers: fan_in_fan_out true).
    public static func configJSON(_ lora: LoRAConfig, baseModel: String?) throws -> Data {
        let alpha: Any = lora.alpha == lora.alpha.rounded() && abs(lora.alpha) < 1e15 ? Int(lora.alpha) : lora.alpha
        let table: [String: Any] = [
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": baseModel.map { $0 as Any } ?? NSNull(),
            "r": lora.rank,
            "lora_alpha": alpha,
            "lora_dropout": lora.dropout,
            "target_modules": lora.targets.map(\.rawValue),
            "fan_in_fan_out": true,
            "bias": "none",
            "inference_mode": true,
            "init_lora_weights": true,
            "modules_to_save": NSNull(),
            "use_rslora": false,
            "use_dora": false,
        ]
        return try JSONSerialization.data(withJSONObject: table, options: [.prettyPrinted, .sortedKeys])
    }
}
