import Foundation

/// Learns byte-level BPE merges from text the way Hugging Face `tokenizers`'
/// `ByteLevelBPETokenizer.train` does, so the same text and settings give the same vocab.json
/// and merges.txt:
///
/// - Text is fed line by line (each line keeps its `\n`), and each line is split into pieces with
///   GPT-2's pre-tokenization; pieces are counted (special tokens in the text are not treated
///   specially while learning, as in Hugging Face).
/// - Ids: the special tokens first (`<|endoftext|>` is id 0), then the 256 byte symbols sorted by
///   their Unicode scalar value, then each merged token as it is learned.
/// - Each step merges the pair of adjacent symbols with the highest count over all pieces
///   (weighted by how often each piece occurs); among equal counts the pair with the smaller
///   (left id, right id). Pair counts are updated incrementally from the pieces that changed, and
///   a max-heap with lazily refreshed counts picks the next pair: Hugging Face's algorithm, step
///   for step, including its bookkeeping, so even its tie-breaking matches.
/// - It stops when the vocabulary reaches `vocabularySize` or no pair occurs at least
///   `minimumFrequency` times.
public struct BPETrainer {
    /// The size of the vocabulary to reach, counting special tokens and the 256 byte symbols.
    public var vocabularySize: Int
    /// A pair occurring fewer times than this is never merged (Hugging Face's default is 2).
    public var minimumFrequency: Int
    /// Tokens given the first ids and never split.
    public var specialTokens: [String]

    /// How often each distinct piece (raw bytes) occurs in the text fed so far.
    public private(set) var pieceCounts: [[UInt8]: Int] = [:]

    public init(vocabularySize: Int, minimumFrequency: Int = 2,
                specialTokens: [String] = [BPETokenizer.endOfText]) {
        self.vocabularySize = vocabularySize
        self.minimumFrequency = minimumFrequency
        self.specialTokens = specialTokens
    }

    /// Counts the pieces of `text`, line by line.
    public mutating func add(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var lineStart = 0
            for i in 0..<bytes.count where bytes[i] == 0x0A {
                countPieces(bytes, lineStart..<(i + 1))
                lineStart = i + 1
            }
            countPieces(bytes, lineStart..<bytes.count)
        }
    }

    /// Counts the pieces of a UTF-8 text file. An unreadable, empty or non-UTF-8 file is an error
    /// naming it.
    public mutating func add(file: URL) throws {
        let text = try BPETokenizer.readTextFile(file)
        guard !text.isEmpty else { throw BPEError(source: file.path, "the file is empty") }
        add(text)
    }

    private mutating func countPieces(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        guard !range.isEmpty else { return }
        BPEPretokenizer.forEachPiece(in: bytes, range: range) { piece in
            pieceCounts[Array(bytes[piece]), default: 0] += 1
        }
    }

    /// Learns the merges and returns the tokenizer. `source` names it in later error messages.
    public func train(source: String = "trained tokenizer") throws -> BPETokenizer {
        var symbols: [[UInt8]] = []  // byte-level text (UTF-8) of each id
        var idOfSymbol: [[UInt8]: Int32] = [:]
        func add(_ text: [UInt8]) {
            guard idOfSymbol[text] == nil else { return }
            idOfSymbol[text] = Int32(symbols.count)
            symbols.append(text)
        }
        for special in specialTokens { add(Array(special.utf8)) }
        let bytesByScalar = (0..<256).sorted { BPEByteLevel.scalarForByte[$0] < BPEByteLevel.scalarForByte[$1] }
        for b in bytesByScalar { add(BPEByteLevel.symbolText(for: [UInt8(b)])) }
        let minimum = specialTokens.count + 256
        guard vocabularySize >= symbols.count else {
            throw BPEError(source: source,
                           "a vocabulary size of \(vocabularySize) is too small: the \(specialTokens.count) special token(s) and 256 byte symbols need \(minimum)")
        }
        let byteID = (0..<256).map { idOfSymbol[BPEByteLevel.symbolText(for: [UInt8($0)])]! }

        var words: [[Int32]] = []
        var counts: [Int] = []
        words.reserveCapacity(pieceCounts.count)
        counts.reserveCapacity(pieceCounts.count)
        for (piece, count) in pieceCounts {
            words.append(piece.map { byteID[Int($0)] })
            counts.append(count)
        }

        // Pair counts over all words, and which words hold each pair.
        var pairCounts: [UInt64: Int] = [:]
        var whereToUpdate: [UInt64: [Int32]] = [:]
        for (w, word) in words.enumerated() where word.count > 1 {
            for k in 0..<(word.count - 1) {
                let pair = Self.key(word[k], word[k + 1])
                pairCounts[pair, default: 0] += counts[w]
                whereToUpdate[pair, default: []].appendIfNew(Int32(w))
            }
        }
        var queue = BPEMergeQueue()
        for (pair, positions) in whereToUpdate {
            let count = pairCounts[pair]!
            if count > 0 { queue.push(BPEMergeCandidate(count: count, pair: pair, positions: positions)) }
        }
        whereToUpdate.removeAll()

        var merges: [(left: Int32, right: Int32, result: Int32)] = []
        var changes: [(pair: UInt64, change: Int)] = []
        while symbols.count < vocabularySize, var top = queue.pop() {
            let current = pairCounts[top.pair]!
            if top.count != current {
                // Stale: put it back with its present count.
                top.count = current
                queue.push(top)
                continue
            }
            if top.count < 1 || minimumFrequency > top.count { break }
            let left = Int32(truncatingIfNeeded: top.pair >> 32)
            let right = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            let text = symbols[Int(left)] + symbols[Int(right)]
            let newID: Int32
            if let existing = idOfSymbol[text] {
                newID = existing
            } else {
                newID = Int32(symbols.count)
                idOfSymbol[text] = newID
                symbols.append(text)
            }
            merges.append((left, right, newID))

            for w in top.positions {
                changes.removeAll(keepingCapacity: true)
                Self.merge(&words[Int(w)], left, right, newID, into: &changes)
                for (pair, change) in changes {
                    pairCounts[pair, default: 0] += change * counts[Int(w)]
                    if change > 0 { whereToUpdate[pair, default: []].appendIfNew(w) }
                }
            }
            for (pair, positions) in whereToUpdate {
                let count = pairCounts[pair]!
                if count > 0 { queue.push(BPEMergeCandidate(count: count, pair: pair, positions: positions)) }
            }
            whereToUpdate.removeAll(keepingCapacity: true)
        }
        return BPETokenizer(source: source, symbolTexts: symbols, merges: merges)
    }

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Merges every occurrence of (left, right) in `word`, left to right, and records how the
    /// counts of the neighbouring pairs change (Hugging Face's `Word::merge`).
    static func merge(_ word: inout [Int32], _ left: Int32, _ right: Int32, _ replacement: Int32,
                      into changes: inout [(pair: UInt64, change: Int)]) {
        var i = 0
        while i < word.count {
            if word[i] == left, i + 1 < word.count, word[i + 1] == right {
                if i > 0 {
                    changes.append((key(word[i - 1], left), -1))
                    changes.append((key(word[i - 1], replacement), 1))
                }
                word[i] = replacement
                word.remove(at: i + 1)
                if i < word.count - 1 {
                    changes.append((key(right, word[i + 1]), -1))
                    changes.append((key(replacement, word[i + 1]), 1))
                }
            }
            i += 1
        }
    }
}

/// A pair to merge, with its count when queued and the words that held it then.
struct BPEMergeCandidate {
    var count: Int
    var pair: UInt64
    var positions: [Int32]

    /// Higher count first; among equal counts the smaller pair first.
    @inline(__always)
    func comesBefore(_ other: BPEMergeCandidate) -> Bool {
        count != other.count ? count > other.count : pair < other.pair
    }
}

/// A binary max-heap of merge candidates.
struct BPEMergeQueue {
    private var heap: [BPEMergeCandidate] = []

    mutating func push(_ candidate: BPEMergeCandidate) {
        heap.append(candidate)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].comesBefore(heap[parent]) else { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> BPEMergeCandidate? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            if left >= heap.count { break }
            var best = left
            if left + 1 < heap.count, heap[left + 1].comesBefore(heap[left]) { best = left + 1 }
            guard heap[best].comesBefore(heap[parent]) else { break }
            heap.swapAt(parent, best)
            parent = best
        }
        return top
    }
}

private extension Array where Element == Int32 {
    /// Appends `w` unless it is already the last element (a word's changes arrive together, so
    /// this keeps each word once, as Hugging Face's sets do).
    mutating func appendIfNew(_ w: Int32) {
        if last != w { append(w) }
    }
}
