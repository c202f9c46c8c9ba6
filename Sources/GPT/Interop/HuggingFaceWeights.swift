import Foundation
import SafeTensors

/// The tensors of a Hugging Face model directory: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists, memory-mapped, found by name with or without the
/// `transformer.` prefix.
struct HuggingFaceWeights {
    static let fileName = "model.safetensors"
    static let indexFileName = "model.safetensors.index.json"

    /// A tensor and the file it is in.
    struct Located {
        let file: SafeTensorsFile
        let entry: SafeTensorsFile.Entry
    }

    /// Every tensor, by its name without `transformer.`.
    let tensors: [String: Located]
    /// The files, for messages.
    let paths: [String]

    init(directory: String) throws {
        let fm = FileManager.default
        let single = (directory as NSString).appendingPathComponent(Self.fileName)
        let index = (directory as NSString).appendingPathComponent(Self.indexFileName)
        var names: [String]
        if fm.fileExists(atPath: single) {
            names = [Self.fileName]
        } else if fm.fileExists(atPath: index) {
            guard let data = fm.contents(atPath: index),
                  let table = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = table["weight_map"] as? [String: String] else {
                throw HuggingFaceError(path: index, "is not a safetensors index (a JSON object with a weight_map of file names)")
            }
            names = Array(Set(map.values)).sorted()
            if let bad = names.first(where: { $0.contains("/") || !$0.hasSuffix(".safetensors") }) {
                throw HuggingFaceError(path: index, "weight_map names '\(bad)', not a .safetensors file beside it")
            }
        } else {
            let bin = (directory as NSString).appendingPathComponent("pytorch_model.bin")
            let hint = fm.fileExists(atPath: bin) ? " (only pytorch_model.bin: gpt-dist reads safetensors; save the model with transformers' save_pretrained, which writes them)" : ""
            throw HuggingFaceError(path: directory, "has no \(Self.fileName) or \(Self.indexFileName)\(hint)")
        }
        var tensors: [String: Located] = [:]
        var paths: [String] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            let file = try SafeTensorsFile(path: path)
            paths.append(path)
            for entry in file.entries {
                let key = GPT2TensorMap.unprefixed(entry.name)
                if let other = tensors[key] {
                    throw HuggingFaceError(path: path, "tensor '\(entry.name)' is also in \(other.file.path) as '\(other.entry.name)'")
                }
                tensors[key] = Located(file: file, entry: entry)
            }
        }
        self.tensors = tensors
        self.paths = paths
    }

    /// The tensor called `name` (prefix or not).
    func tensor(_ name: String) -> Located? { tensors[GPT2TensorMap.unprefixed(name)] }
}
