import Foundation

/// Loading and saving a byte-level BPE as its two files: the vocabulary (GPT-2's encoder.json or
/// Hugging Face's vocab.json) and the merges (GPT-2's vocab.bpe or Hugging Face's merges.txt).
extension BPETokenizer {
    /// The header line Hugging Face `tokenizers` and GPT-2 write at the top of a merges file.
    public static let mergesHeader = "#version: 0.2"

    /// A tokenizer from the text of its two files, as `vocabularyJSON` and `mergesText` give them
    /// (for a tokenizer stored inside another file). `source` names where they came from (e.g.
    /// `shard.h5:/tokenizer`); errors name `<source> (vocab)` or `<source> (merges)` and the line.
    public static func load(vocabJSON: String, merges: String, source: String) throws -> BPETokenizer {
        try load(vocabJSON: vocabJSON, merges: merges, source: source,
                 vocabSource: "\(source) (vocab)", mergesSource: "\(source) (merges)")
    }

    /// A tokenizer from the text of its files, naming each file separately in errors.
    public static func load(vocabJSON: String, merges: String, source: String,
                            vocabSource: String, mergesSource: String) throws -> BPETokenizer {
        var json = vocabJSON
        let entries = try json.withUTF8 { try BPEVocabularyJSON.parse($0, source: vocabSource) }
        return try build(entries: entries, vocabSource: vocabSource,
                         mergesText: merges, mergesSource: mergesSource, source: source)
    }

    /// A tokenizer from a vocabulary file and a merges file (either GPT-2's encoder.json +
    /// vocab.bpe or Hugging Face's vocab.json + merges.txt).
    public static func load(vocabularyFile: URL, mergesFile: URL) throws -> BPETokenizer {
        let vocab = try readTextFile(vocabularyFile)
        let merges = try readTextFile(mergesFile)
        return try load(vocabJSON: vocab, merges: merges, source: vocabularyFile.path,
                        vocabSource: vocabularyFile.path, mergesSource: mergesFile.path)
    }

    /// A tokenizer from a folder holding vocab.json + merges.txt (Hugging Face) or encoder.json +
    /// vocab.bpe (GPT-2).
    public static func load(directory: URL) throws -> BPETokenizer {
        let fm = FileManager.default
        for (vocab, merges) in [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")] {
            let v = directory.appendingPathComponent(vocab), m = directory.appendingPathComponent(merges)
            if fm.fileExists(atPath: v.path) && fm.fileExists(atPath: m.path) {
                return try load(vocabularyFile: v, mergesFile: m)
            }
        }
        throw BPEError(source: directory.path,
                       "holds neither vocab.json + merges.txt nor encoder.json + vocab.bpe")
    }

    /// The vocabulary as compact JSON (token text → id, in id order), as Hugging Face writes vocab.json.
    public var vocabularyJSON: String { BPEVocabularyJSON.serialize(keys: symbolTexts) }

    /// The merges as Hugging Face writes merges.txt: the `#version: 0.2` header, then one
    /// `left right` line per merge in rank order.
    public var mergesText: String {
        var out: [UInt8] = Array((Self.mergesHeader + "\n").utf8)
        for merge in merges {
            out += symbolTexts[Int(merge.left)]
            out.append(0x20)
            out += symbolTexts[Int(merge.right)]
            out.append(0x0A)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes vocab.json and merges.txt into `directory` (created if missing). Each file is
    /// written under a temporary name and renamed into place, so no half-written file is left.
    /// Existing vocab.json / merges.txt are replaced only when `overwrite` is true.
    public func write(to directory: URL, overwrite: Bool = false) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw BPEError(source: directory.path, "exists and is not a folder") }
        } else {
            do {
                try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw BPEError(source: directory.path, "cannot create the folder: \(error.localizedDescription)")
            }
        }
        let files = [("vocab.json", vocabularyJSON), ("merges.txt", mergesText)]
        if !overwrite {
            for (name, _) in files where fm.fileExists(atPath: directory.appendingPathComponent(name).path) {
                throw BPEError(source: directory.appendingPathComponent(name).path, "already exists (use --force to replace it)")
            }
        }
        // Both files go to temporary names first, so a failure leaves neither half-written.
        let pid = ProcessInfo.processInfo.processIdentifier
        let staged = files.map { (name, _) in
            (directory.appendingPathComponent(".\(name).tmp-\(pid)"), directory.appendingPathComponent(name))
        }
        for ((temporary, target), (_, text)) in zip(staged, files) {
            do {
                try Data(text.utf8).write(to: temporary)
            } catch {
                for (t, _) in staged { try? fm.removeItem(at: t) }
                throw BPEError(source: target.path, "cannot write: \(error.localizedDescription)")
            }
        }
        for (temporary, target) in staged {
            // rename(2) replaces an existing target atomically.
            guard rename(temporary.path, target.path) == 0 else {
                let reason = String(cString: strerror(errno))
                for (t, _) in staged { try? fm.removeItem(at: t) }
                throw BPEError(source: target.path, "cannot write: \(reason)")
            }
        }
    }

    /// The contents of a UTF-8 text file; an unreadable or non-UTF-8 file is an error naming it.
    public static func readTextFile(_ url: URL) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw BPEError(source: url.path, "no such file")
        }
        guard !isDirectory.boolValue else { throw BPEError(source: url.path, "is a folder, not a file") }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw BPEError(source: url.path, "cannot read the file: \((error as NSError).localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw BPEError(source: url.path, "is not UTF-8 text")
        }
        return text
    }

    /// Checks a parsed vocabulary and merges list against each other and builds the tables.
    private static func build(entries: [BPEVocabularyJSON.Entry], vocabSource: String,
                              mergesText: String, mergesSource: String, source: String) throws -> BPETokenizer {
        guard !entries.isEmpty else { throw BPEError(source: vocabSource, "the vocabulary is empty") }
        var symbolTexts = [[UInt8]?](repeating: nil, count: entries.count)
        var idOfText: [[UInt8]: Int32] = [:]
        idOfText.reserveCapacity(entries.count)
        for entry in entries {
            let name = String(decoding: entry.key, as: UTF8.self)
            guard entry.id < entries.count else {
                throw BPEError(source: vocabSource, line: entry.line,
                               "token \"\(name)\" has id \(entry.id), but ids must be 0..<\(entries.count) (one per token)")
            }
            if symbolTexts[entry.id] != nil {
                throw BPEError(source: vocabSource, line: entry.line, "id \(entry.id) is given to more than one token")
            }
            if idOfText[entry.key] != nil {
                throw BPEError(source: vocabSource, line: entry.line, "token \"\(name)\" appears more than once")
            }
            symbolTexts[entry.id] = entry.key
            idOfText[entry.key] = Int32(entry.id)
        }
        let texts = symbolTexts.map { $0! }  // ids are 0..<count and distinct, so every slot is set

        var merges: [(left: Int32, right: Int32, result: Int32)] = []
        var lineNumber = 0
        // Split on bytes, not Characters: Swift treats "\r\n" as one Character.
        for rawLine in Array(mergesText.utf8).split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = rawLine
            if line.last == 0x0D { line = line.dropLast() }
            if line.isEmpty || (lineNumber == 1 && line.starts(with: "#version".utf8)) { continue }
            let text = String(decoding: line, as: UTF8.self)
            let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw BPEError(source: mergesSource, line: lineNumber,
                               "expected two tokens separated by one space, found \"\(text)\"")
            }
            let left = Array(parts[0]), right = Array(parts[1])
            let leftName = String(decoding: left, as: UTF8.self), rightName = String(decoding: right, as: UTF8.self)
            guard let leftID = idOfText[left] else {
                throw BPEError(source: mergesSource, line: lineNumber,
                               "merge \"\(text)\": \"\(leftName)\" is not in the vocabulary \(vocabSource)")
            }
            guard let rightID = idOfText[right] else {
                throw BPEError(source: mergesSource, line: lineNumber,
                               "merge \"\(text)\": \"\(rightName)\" is not in the vocabulary \(vocabSource)")
            }
            guard let mergedID = idOfText[left + right] else {
                throw BPEError(source: mergesSource, line: lineNumber,
                               "merge \"\(text)\": its result \"\(leftName)\(rightName)\" is not in the vocabulary \(vocabSource)")
            }
            merges.append((leftID, rightID, mergedID))
        }
        return BPETokenizer(source: source, symbolTexts: texts, merges: merges)
    }
}
