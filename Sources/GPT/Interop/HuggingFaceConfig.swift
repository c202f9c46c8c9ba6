import Foundation

/// A GPT-2 `config.json` as transformers' `GPT2Config` reads and writes it, and what gpt-dist's
/// model makes of it. A key whose value the model cannot compute (another activation, an MLP
/// width other than 4·n_embd, cross-attention, ...) is refused, naming the key; keys that only
/// describe other heads, generation or provenance are ignored, as transformers' defaults are
/// used for keys that are missing.
public struct HuggingFaceConfig: Equatable {
    public static let fileName = "config.json"
    /// GPT-2's LayerNorm epsilon, which gpt-dist's LayerNorm uses.
    public static let layerNormEpsilon = 1e-5
    /// Activations that are GELU: `gelu` (the exact erf form gpt-dist computes) and the tanh
    /// approximations OpenAI's GPT-2 uses, which are imported as the exact form, as nanoGPT's
    /// `from_pretrained` does.
    public static let exactGELU = "gelu"
    public static let approximateGELUs = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"]

    /// The model's shape (GPT-2 always has biases); dropout is `dropout ?? 0`.
    public var model: GPTConfig
    /// The dropout of the config (resid_pdrop = embd_pdrop = attn_pdrop), nil when they differ.
    public var dropout: Double?
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    /// Things a user should know about the import (an approximate GELU run exactly, ...).
    public var notes: [String] = []

    /// Reads and checks the `config.json` at `path`.
    public static func read(path: String) throws -> HuggingFaceConfig {
        func fail(_ problem: String) -> HuggingFaceError { HuggingFaceError(path: path, problem) }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot read the file") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch { throw fail("is not JSON") }
        guard let table = object as? [String: Any] else { throw fail("is not a JSON object") }
        // JSON null is the same as a missing key (n_inner: null is GPT-2's default).
        let keys = table.filter { !($0.value is NSNull) }

        func number(_ key: String) throws -> Double? {
            guard let value = keys[key] else { return nil }
            guard let n = value as? NSNumber else {
                throw fail("\(key) is \(value), expected a number")
            }
            return n.doubleValue
        }
        func integer(_ key: String, default fallback: Int?) throws -> Int? {
            guard let value = try number(key) else { return fallback }
            guard let whole = Int(exactly: value) else { throw fail("\(key) is \(value), expected an integer") }
            return whole
        }
        func flag(_ key: String, default fallback: Bool) throws -> Bool {
            guard let value = keys[key] else { return fallback }
            guard let b = value as? Bool else { throw fail("\(key) is \(value), expected true or false") }
            return b
        }
        func text(_ key: String) throws -> String? {
            guard let value = keys[key] else { return nil }
            guard let s = value as? String else { throw fail("\(key) is \(value), expected a string") }
            return s
        }

        if let type = try text("model_type"), type != "gpt2" {
            throw fail("model_type is '\(type)'; gpt-dist imports GPT-2 (model_type gpt2)")
        }
        // transformers' GPT2Config defaults, for keys that are missing.
        let nLayer = try integer("n_layer", default: 12)!, nHead = try integer("n_head", default: 12)!
        let nEmbd = try integer("n_embd", default: 768)!, vocab = try integer("vocab_size", default: 50257)!
        let positions = try integer("n_positions", default: integer("n_ctx", default: 1024))!
        var notes: [String] = []

        if let inner = try integer("n_inner", default: nil), inner != 4 * nEmbd {
            throw fail("n_inner is \(inner); gpt-dist's MLP is 4 · n_embd = \(4 * nEmbd) wide")
        }
        let activation = try text("activation_function") ?? "gelu_new"
        if approximateGELUs.contains(activation) {
            notes.append("activation_function \(activation) (GELU's tanh approximation) runs as the exact GELU, as nanoGPT's from_pretrained does")
        } else if activation != exactGELU {
            throw fail("activation_function is '\(activation)'; gpt-dist's MLP uses GELU (gelu, gelu_new)")
        }
        if let epsilon = try number("layer_norm_epsilon"), abs(epsilon - layerNormEpsilon) > 1e-12 {
            throw fail("layer_norm_epsilon is \(epsilon); gpt-dist's LayerNorm uses \(layerNormEpsilon)")
        }
        if try !flag("scale_attn_weights", default: true) {
            throw fail("scale_attn_weights is false; gpt-dist scales attention by 1/sqrt(head size)")
        }
        if try flag("scale_attn_by_inverse_layer_idx", default: false) {
            throw fail("scale_attn_by_inverse_layer_idx is true; gpt-dist's attention has no per-layer scale")
        }
        if try flag("add_cross_attention", default: false) {
            throw fail("add_cross_attention is true; gpt-dist's blocks have no cross-attention")
        }
        if try !flag("tie_word_embeddings", default: true) {
            throw fail("tie_word_embeddings is false; gpt-dist ties lm_head to wte, as GPT-2 and nanoGPT do")
        }
        let drops = try ["resid_pdrop", "embd_pdrop", "attn_pdrop"].map { try number($0) ?? 0.1 }
        let model = GPTConfig(nLayer: nLayer, nHead: nHead, nEmbd: nEmbd, blockSize: positions, vocabSize: vocab,
                              bias: true, dropout: 0)
        do { try model.validate() } catch let error as GPTConfigError {
            let key = ["block_size": "n_positions"][error.key] ?? error.key
            throw fail("\(key) \(error.problem)")
        }
        return HuggingFaceConfig(model: model, dropout: Set(drops).count == 1 ? drops[0] : nil,
                                 bosTokenID: try integer("bos_token_id", default: nil),
                                 eosTokenID: try integer("eos_token_id", default: nil), notes: notes)
    }

    /// `config.json` for `model` as `GPT2LMHeadModel.from_pretrained` reads it: GPT-2's keys,
    /// the exact GELU gpt-dist computes, one dropout for all three places.
    public static func json(for model: GPTConfig, dropout: Double, bosTokenID: Int?, eosTokenID: Int?) throws -> Data {
        let table: [String: Any] = [
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": model.vocabSize,
            "n_positions": model.blockSize,
            "n_embd": model.nEmbd,
            "n_layer": model.nLayer,
            "n_head": model.nHead,
            "n_inner": NSNull(),
            "activation_function": exactGELU,
            "resid_pdrop": dropout,
            "embd_pdrop": dropout,
            "attn_pdrop": dropout,
            "layer_norm_epsilon": layerNormEpsilon,
            "initializer_range": 0.02,
            "scale_attn_weights": true,
            "scale_attn_by_inverse_layer_idx": false,
            "reorder_and_upcast_attn": false,
            "add_cross_attention": false,
            "tie_word_embeddings": true,
            "use_cache": true,
            "bos_token_id": bosTokenID.map { $0 as Any } ?? NSNull(),
            "eos_token_id": eosTokenID.map { $0 as Any } ?? NSNull(),
            "torch_dtype": "float32",
        ]
        return try JSONSerialization.data(withJSONObject: table, options: [.prettyPrinted, .sortedKeys])
    }

    /// `generation_config.json`: the end-of-text ids (what transformers derives from config.json).
    public static func generationJSON(bosTokenID: Int?, eosTokenID: Int?) throws -> Data {
        var table: [String: Any] = ["_from_model_config": true]
        if let bosTokenID { table["bos_token_id"] = bosTokenID }
        if let eosTokenID { table["eos_token_id"] = eosTokenID }
        return try JSONSerialization.data(withJSONObject: table, options: [.prettyPrinted, .sortedKeys])
    }
}
