import Foundation

/// The tokenizer files of a Hugging Face GPT-2 directory beyond vocab.json + merges.txt:
/// `tokenizer.json` (the `tokenizers` library's one-file form, which transformers 5 saves
/// alone), `tokenizer_config.json` and `special_tokens_map.json`; and the JSON vocabulary a
/// character-level checkpoint exports beside its model.
public enum HuggingFaceTokenizerFiles {
    public static let tokenizerJSONName = "tokenizer.json"
    public static let tokenizerConfigName = "tokenizer_config.json"
    public static let specialTokensMapName = "special_tokens_map.json"
    /// A character-level checkpoint's vocabulary: each character and its id.
    public static let characterVocabularyName = "char_vocab.json"

    /// The byte-level BPE of a `tokenizer.json` (model type BPE, byte-level pre-tokenizer).
    public static func readTokenizerJSON(path: String) throws -> BPETokenizer {
        func fail(_ problem: String) -> HuggingFaceError { HuggingFaceError(path: path, problem) }
        guard let data = FileManager.default.contents(atPath: path),
              let table = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw fail("is not a JSON object")
        }
        guard let model = table["model"] as? [String: Any], model["type"] as? String == "BPE",
              let vocab = model["vocab"] as? [String: Any] else {
            throw fail("model is not a BPE with a vocab; gpt-dist reads GPT-2's byte-level BPE")
        }
        let preTokenizer = (table["pre_tokenizer"] as? [String: Any])?["type"] as? String
        guard preTokenizer == "ByteLevel" else {
            throw fail("pre_tokenizer is \(preTokenizer ?? "missing"); gpt-dist reads GPT-2's byte-level BPE (ByteLevel)")
        }
        var keys = [[UInt8]?](repeating: nil, count: vocab.count)
        for (token, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue, id >= 0, id < vocab.count, keys[id] == nil else {
                throw fail("model.vocab gives '\(token)' the id \(value); ids must be 0..<\(vocab.count), one per token")
            }
            keys[id] = Array(token.utf8)
        }
        var lines = [HuggingFaceTokenizerFiles.mergesHeader]
        for merge in model["merges"] as? [Any] ?? [] {
            if let pair = merge as? String {
                lines.append(pair)
            } else if let pair = merge as? [String], pair.count == 2 {
                lines.append(pair[0] + " " + pair[1])
            } else {
                throw fail("model.merges holds \(merge), neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        return try BPETokenizer.load(vocabJSON: BPEVocabularyJSON.serialize(keys: keys.map { $0! }),
                                     merges: lines.joined(separator: "\n") + "\n", source: path)
    }

    static var mergesHeader: String { BPETokenizer.mergesHeader }

    /// `tokenizer.json` for `tokenizer`, as the `tokenizers` library writes GPT-2's: byte-level
    /// pre-tokenizer, decoder and post-processor, no prefix space, `<|endoftext|>` special.
    public static func tokenizerJSON(for tokenizer: BPETokenizer) -> Data {
        var out: [UInt8] = []
        func add(_ text: String) { out += Array(text.utf8) }
        add(#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":["#)
        for (i, special) in tokenizer.specials.enumerated() {
            if i > 0 { add(",") }
            add(#"{"id":\#(special.id),"content":"#)
            BPEVocabularyJSON.appendQuoted(special.text, to: &out)
            add(#","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":true}"#)
        }
        add(#"],"normalizer":null,"#)
        add(#""pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},"#)
        add(#""post_processor":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true},"#)
        add(#""decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},"#)
        add(#""model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"","#)
        add(#""fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":"#)
        add(tokenizer.vocabularyJSON)
        add(#","merges":["#)
        for (i, merge) in tokenizer.merges.enumerated() {
            if i > 0 { add(",") }
            BPEVocabularyJSON.appendQuoted(tokenizer.symbolTexts[Int(merge.left)] + [0x20] + tokenizer.symbolTexts[Int(merge.right)], to: &out)
        }
        add("]}}")
        return Data(out)
    }

    /// `tokenizer_config.json`: GPT-2's tokenizer class, `<|endoftext|>` as bos/eos/unk when
    /// the vocabulary has it (none otherwise, so transformers adds no token), the context length.
    public static func tokenizerConfigJSON(for tokenizer: BPETokenizer, maxLength: Int) throws -> Data {
        let special: Any = tokenizer.endOfTextID == nil ? NSNull() : BPETokenizer.endOfText
        let table: [String: Any] = [
            "tokenizer_class": "GPT2Tokenizer", "add_prefix_space": false, "errors": "replace",
            "model_max_length": maxLength, "bos_token": special, "eos_token": special, "unk_token": special,
            "pad_token": NSNull(),
        ]
        return try JSONSerialization.data(withJSONObject: table, options: [.prettyPrinted, .sortedKeys])
    }

    /// `special_tokens_map.json`: `<|endoftext|>` as bos/eos/unk (empty without it).
    public static func specialTokensMapJSON(for tokenizer: BPETokenizer) throws -> Data {
        var table: [String: Any] = [:]
        if tokenizer.endOfTextID != nil {
            for key in ["bos_token", "eos_token", "unk_token"] { table[key] = BPETokenizer.endOfText }
        }
        return try JSONSerialization.data(withJSONObject: table, options: [.prettyPrinted, .sortedKeys])
    }

    /// A character vocabulary as a JSON array of its characters (id i is element i), with a
    /// note that it is not a Hugging Face tokenizer.
    public static func characterVocabularyJSON(for tokenizer: CharTokenizer) throws -> Data {
        let table: [String: Any] = [
            "tokenizer": "gpt-dist character-level (not a Hugging Face tokenizer): id i is the i-th entry of characters",
            "characters": tokenizer.scalars.map { String($0) },
        ]
        return try JSONSerialization.data(withJSONObject: table, options: [.prettyPrinted, .sortedKeys])
    }
}
