import ArgumentParser
import Foundation
import GPT

/// `gpt-dist tokenizer`: learn a byte-level BPE, and see what a text becomes.
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Learn a byte-level BPE vocabulary, and encode or decode text with one.",
        subcommands: [Train.self, Encode.self, Decode.self]
    )
}

/// Where a command finds its BPE: `--vocab` + `--merges`, or a folder holding them.
struct BPEFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Vocabulary file: vocab.json (Hugging Face) or encoder.json (GPT-2).",
                               valueName: "file"))
    var vocab: String?

    @Option(help: ArgumentHelp("Merges file: merges.txt (Hugging Face) or vocab.bpe (GPT-2).", valueName: "file"))
    var merges: String?

    @Option(name: .customLong("dir"),
            help: ArgumentHelp("A folder holding vocab.json + merges.txt (or encoder.json + vocab.bpe), instead of --vocab/--merges.",
                               valueName: "folder"))
    var directory: String?

    func validate() throws {
        if directory != nil {
            guard vocab == nil, merges == nil else { throw ValidationError("give either --dir or --vocab with --merges, not both") }
        } else {
            guard vocab != nil, merges != nil else { throw ValidationError("give --vocab and --merges (or --dir)") }
        }
    }

    func load() throws -> BPETokenizer {
        if let directory { return try BPETokenizer.load(directory: URL(fileURLWithPath: directory)) }
        return try BPETokenizer.load(vocabularyFile: URL(fileURLWithPath: vocab!),
                                     mergesFile: URL(fileURLWithPath: merges!))
    }
}

extension TokenizerCommand {
    /// Prints `error` as one line on standard error and exits with status 1.
    static func fail(_ error: Error) -> Never {
        printError(error)
        Foundation.exit(1)
    }

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn byte-level BPE merges from text files and write vocab.json + merges.txt.",
            discussion: """
            Learns as Hugging Face `tokenizers` ByteLevelBPETokenizer.train does (same ids, same \
            merges): files are read line by line, split with GPT-2's pre-tokenization, and the most \
            frequent pair is merged until the vocabulary has --vocab-size tokens (<|endoftext|> is \
            id 0, the 256 byte symbols follow). The output folder is created if missing; existing \
            vocab.json / merges.txt in it are replaced only with --force. Both files are written \
            under temporary names and renamed into place.
            """
        )

        @Option(parsing: .unconditional, help: "Vocabulary size to reach, counting <|endoftext|> and the 256 byte symbols (at least 257).")
        var vocabSize: Int

        @Option(parsing: .unconditional, help: "Never merge a pair that occurs fewer times than this (Hugging Face's default).")
        var minFrequency: Int = 2

        @Option(help: ArgumentHelp("Folder to write vocab.json and merges.txt into.", valueName: "folder"))
        var out: String

        @Flag(help: "Replace vocab.json and merges.txt if the output folder already has them.")
        var force = false

        @Flag(name: .shortAndLong, help: "Print nothing but errors.")
        var quiet = false

        @Argument(help: ArgumentHelp("UTF-8 text files to learn from.", valueName: "file"))
        var files: [String]

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("give at least one text file to learn from") }
            guard vocabSize >= 257 else {
                throw ValidationError("--vocab-size must be at least 257 (<|endoftext|> and the 256 byte symbols), got \(vocabSize)")
            }
            guard minFrequency >= 0 else { throw ValidationError("--min-frequency must not be negative") }
        }

        func run() throws {
            do {
                let outURL = URL(fileURLWithPath: out)
                if !force {
                    // Refuse before spending time on training.
                    for name in ["vocab.json", "merges.txt"] {
                        let path = outURL.appendingPathComponent(name).path
                        if FileManager.default.fileExists(atPath: path) {
                            throw BPEError(source: path, "already exists (use --force to replace it)")
                        }
                    }
                }
                let start = Date()
                var trainer = BPETrainer(vocabularySize: vocabSize, minimumFrequency: minFrequency)
                for file in files { try trainer.add(file: URL(fileURLWithPath: file)) }
                let tokenizer = try trainer.train(source: out)
                try tokenizer.write(to: outURL, overwrite: force)
                if !quiet {
                    let seconds = String(format: "%.2f", Date().timeIntervalSince(start))
                    var note = ""
                    if tokenizer.vocabularySize < vocabSize {
                        note = " (stopped early: no pair left that occurs at least \(max(minFrequency, 1)) time(s))"
                    }
                    print("wrote \(outURL.appendingPathComponent("vocab.json").path) and merges.txt: "
                          + "\(tokenizer.vocabularySize) tokens, \(tokenizer.mergeCount) merges, "
                          + "\(trainer.pieceCounts.count) distinct pieces, \(seconds) s\(note)")
                }
            } catch {
                TokenizerCommand.fail(error)
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the token ids of a text (or of a file with --file, or of standard input).",
            discussion: "<|endoftext|> in the text is encoded as its one special id."
        )

        @OptionGroup var tokenizer: BPEFileOptions

        @Option(help: ArgumentHelp("Encode this UTF-8 file instead of TEXT.", valueName: "file"))
        var file: String?

        @Flag(help: "Print a JSON array of ids instead of space-separated ids.")
        var json = false

        @Flag(help: "Print one line per token: id, then the token's text as the vocabulary writes it.")
        var show = false

        @Argument(help: "The text to encode (standard input when neither TEXT nor --file is given).")
        var text: String?

        func validate() throws {
            guard text == nil || file == nil else { throw ValidationError("give either TEXT or --file, not both") }
            guard !(json && show) else { throw ValidationError("--json and --show do not go together") }
        }

        func run() throws {
            do {
                let bpe = try tokenizer.load()
                let input: String
                if let file {
                    input = try BPETokenizer.readTextFile(URL(fileURLWithPath: file))
                } else if let text {
                    input = text
                } else {
                    let data = FileHandle.standardInput.readDataToEndOfFile()
                    guard let stdin = String(data: data, encoding: .utf8) else {
                        throw BPEError(source: "standard input", "is not UTF-8 text")
                    }
                    input = stdin
                }
                let ids = try bpe.encode(input)
                if show {
                    for id in ids { print("\(id)\t\(bpe.symbolText(of: id)!)") }
                } else if json {
                    print("[" + ids.map(String.init).joined(separator: ",") + "]")
                } else {
                    print(ids.map(String.init).joined(separator: " "))
                }
            } catch {
                TokenizerCommand.fail(error)
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the text of token ids (given as arguments, or on standard input with no arguments).",
            discussion: "Ids may be separated by spaces, commas or newlines, and may be a JSON array. An id outside the vocabulary is an error."
        )

        @OptionGroup var tokenizer: BPEFileOptions

        @Argument(help: "Token ids.")
        var ids: [String] = []

        func run() throws {
            do {
                let bpe = try tokenizer.load()
                let words: [String]
                if ids.isEmpty {
                    let data = FileHandle.standardInput.readDataToEndOfFile()
                    words = [String(decoding: data, as: UTF8.self)]
                } else {
                    words = ids
                }
                var tokens: [Int32] = []
                let separators = CharacterSet(charactersIn: " ,[]\n\r\t")
                for word in words {
                    for part in word.components(separatedBy: separators) where !part.isEmpty {
                        guard let id = Int32(part) else {
                            throw BPEError(source: "decode", "\"\(part)\" is not a token id (a whole number)")
                        }
                        tokens.append(id)
                    }
                }
                let text = try bpe.decodeChecked(tokens)
                // Exactly the text when piped (so it can be compared byte for byte); a final
                // newline on a terminal so the prompt starts on its own line.
                FileHandle.standardOutput.write(Data(text.utf8))
                if isatty(STDOUT_FILENO) != 0 && !text.hasSuffix("\n") {
                    FileHandle.standardOutput.write(Data("\n".utf8))
                }
            } catch {
                TokenizerCommand.fail(error)
            }
        }
    }
}
