/// GPT-2 style byte-level BPE: text → UTF-8 bytes → GPT-2's pre-tokenization → merges applied by
/// rank within each piece, as OpenAI's encoder.py / tiktoken `gpt2` (with encoder.json +
/// vocab.bpe) and Hugging Face's `ByteLevelBPETokenizer` (with its vocab.json + merges.txt) do.
/// The tests hold it to Hugging Face's ids (fixtures made by scripts/make_bpe_reference.py);
/// GPT-2's released files are the same format, read by the same code.
///
/// Encoding keeps a cache of the ids of every distinct piece for the length of one `encode`
/// call, so encode large texts in large calls (a megabyte or more), not line by line.
///
/// Special tokens: `<|endoftext|>`, when the vocabulary has it, is recognised in the text and
/// encoded as its single id (as Hugging Face does for a registered special token, and as tiktoken
/// does with `allowed_special="all"`; tiktoken's default refuses such text instead). The text
/// between special tokens is pre-tokenized on its own. Decoding writes the special token's text
/// back, so `decode(encode(x)) == x` for every `x`.
public struct BPETokenizer: Tokenizer {
    /// GPT-2's end-of-text marker.
    public static let endOfText = "<|endoftext|>"
    /// The token texts treated as special when a vocabulary contains them.
    public static let specialTokens = [endOfText]

    public var kind: TokenizerKind { .bpe }
    public var vocabularySize: Int { symbolTexts.count }

    /// Where the vocabulary came from (a path, or `stored tokenizer`), for error messages.
    public let source: String
    /// UTF-8 of each id's byte-level text, as written in the vocabulary file.
    let symbolTexts: [[UInt8]]
    /// The raw bytes each id decodes to.
    let tokenBytes: [[UInt8]]
    /// The id of each single byte's token, or -1 when the vocabulary has none.
    let byteIDs: [Int32]
    /// The merges in rank order, as written in the merges file.
    let merges: [(left: Int32, right: Int32)]
    /// Pair (left << 32 | right) → (rank << 32 | merged id).
    let mergeTable: [UInt64: UInt64]
    /// Special tokens found in the vocabulary: their UTF-8 text and id, longest first.
    let specials: [(text: [UInt8], id: Int32)]

    /// A tokenizer from its vocabulary (byte-level texts by id, already checked to be distinct)
    /// and its merges in rank order (each with the id of the merged token).
    init(source: String, symbolTexts: [[UInt8]], merges: [(left: Int32, right: Int32, result: Int32)]) {
        self.source = source
        self.symbolTexts = symbolTexts
        var idOfText: [[UInt8]: Int32] = [:]
        for (id, text) in symbolTexts.enumerated() { idOfText[text] = Int32(id) }
        specials = Self.specialTokens.compactMap { special in
            idOfText[Array(special.utf8)].map { (Array(special.utf8), $0) }
        }.sorted { $0.text.count > $1.text.count }
        // A token that is not byte-level text (an added token) decodes to its own UTF-8.
        tokenBytes = symbolTexts.map { BPEByteLevel.rawBytes(forSymbolText: $0) ?? $0 }
        byteIDs = (0..<256).map { b in idOfText[BPEByteLevel.symbolText(for: [UInt8(b)])] ?? -1 }
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            // A repeated pair takes its later rank, as GPT-2's `bpe_ranks` dict and Hugging Face do.
            table[UInt64(UInt32(merge.left)) << 32 | UInt64(UInt32(merge.right))] =
                UInt64(rank) << 32 | UInt64(UInt32(merge.result))
        }
        mergeTable = table
        self.merges = merges.map { ($0.left, $0.right) }
    }

    /// The id of `<|endoftext|>`, when the vocabulary has it.
    public var endOfTextID: Int32? {
        specials.first { $0.text.elementsEqual(Self.endOfText.utf8) }?.id
    }

    /// The number of merges (ranks).
    public var mergeCount: Int { merges.count }

    /// The id of a token given in byte-level text (`"Ġthe"`), or nil. A linear search, for inspection.
    public func id(ofSymbolText text: String) -> Int32? {
        let key = Array(text.utf8)
        return symbolTexts.firstIndex(of: key).map { Int32($0) }
    }

    /// The byte-level text of `id` as the vocabulary file writes it (`"Ġthe"`), or nil if out of range.
    public func symbolText(of id: Int32) -> String? {
        guard id >= 0, Int(id) < symbolTexts.count else { return nil }
        return String(decoding: symbolTexts[Int(id)], as: UTF8.self)
    }

    // MARK: Encoding

    public func encode(_ text: String) throws -> [Int32] {
        var text = text
        return try text.withUTF8 { try encode(utf8: $0) }
    }

    /// The ids of UTF-8 text (which must be valid UTF-8, as a Swift `String`'s bytes are).
    public func encode(utf8 bytes: UnsafeBufferPointer<UInt8>) throws -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(bytes.count / 3 + 16)
        var state = EncodeState()
        var segmentStart = 0
        if !specials.isEmpty {
            var firstBytes = [Bool](repeating: false, count: 256)
            for special in specials { firstBytes[Int(special.text[0])] = true }
            var i = 0
            search: while i < bytes.count {
                if firstBytes[Int(bytes[i])] {
                    for special in specials where matches(special.text, in: bytes, at: i) {
                        try encodeOrdinary(bytes, segmentStart..<i, &state, &output)
                        output.append(special.id)
                        i += special.text.count
                        segmentStart = i
                        continue search
                    }
                }
                i += 1
            }
        }
        try encodeOrdinary(bytes, segmentStart..<bytes.count, &state, &output)
        return output
    }

    @inline(__always)
    private func matches(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        guard i + needle.count <= bytes.count else { return false }
        for k in 0..<needle.count where bytes[i + k] != needle[k] { return false }
        return true
    }

    /// Encodes text with no special tokens in it: piece by piece, each piece through the cache.
    private func encodeOrdinary(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
                                _ state: inout EncodeState, _ output: inout [Int32]) throws {
        guard !range.isEmpty else { return }
        try BPEPretokenizer.forEachPiece(in: bytes, range: range) { piece in
            if piece.count == 1 {
                let id = byteIDs[Int(bytes[piece.lowerBound])]
                guard id >= 0 else { throw missingByte(bytes[piece.lowerBound]) }
                output.append(id)
                return
            }
            if let cached = state.cache.lookup(bytes, piece) {
                output.append(contentsOf: state.cache.ids[cached])
                return
            }
            let start = output.count
            try mergePiece(bytes, piece, &state.work, &output)
            state.cache.insert(bytes, piece, ids: output[start...])
        }
    }

    private func missingByte(_ b: UInt8) -> BPEError {
        BPEError(source: source, "the vocabulary has no token for byte 0x\(String(b, radix: 16)), so this text cannot be encoded")
    }

    @inline(__always)
    private func merge(_ left: Int32, _ right: Int32) -> UInt64? {
        mergeTable[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))]
    }

    /// Applies merges to one piece, lowest rank first and leftmost first among equal ranks (the
    /// order of GPT-2's `bpe()` and of Hugging Face's `merge_word`), over a linked list of
    /// symbols with a min-heap of candidate merges, so long pieces stay O(n log n).
    private func mergePiece(_ bytes: UnsafeBufferPointer<UInt8>, _ piece: Range<Int>,
                            _ work: inout MergeWork, _ output: inout [Int32]) throws {
        let n = piece.count
        work.reset()
        for k in 0..<n {
            let id = byteIDs[Int(bytes[piece.lowerBound + k])]
            guard id >= 0 else { throw missingByte(bytes[piece.lowerBound + k]) }
            work.ids.append(id)
            work.prev.append(Int32(k - 1))
            work.next.append(k + 1 < n ? Int32(k + 1) : -1)
        }
        for k in 0..<(n - 1) {
            if let m = merge(work.ids[k], work.ids[k + 1]) { work.push((m >> 32) << 32 | UInt64(k)) }
        }
        while let top = work.pop() {
            let rank = top >> 32
            let pos = Int(top & 0xFFFF_FFFF)
            let left = work.ids[pos]
            guard left >= 0 else { continue }  // absorbed by an earlier merge
            let nextPos = Int(work.next[pos])
            guard nextPos >= 0 else { continue }
            guard let m = merge(left, work.ids[nextPos]), m >> 32 == rank else { continue }  // stale
            work.ids[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            work.ids[nextPos] = -1
            let after = work.next[nextPos]
            work.next[pos] = after
            if after >= 0 { work.prev[Int(after)] = Int32(pos) }
            let before = work.prev[pos]
            if before >= 0, let m2 = merge(work.ids[Int(before)], work.ids[pos]) {
                work.push((m2 >> 32) << 32 | UInt64(before))
            }
            if after >= 0, let m3 = merge(work.ids[pos], work.ids[Int(after)]) {
                work.push((m3 >> 32) << 32 | UInt64(pos))
            }
        }
        var k = 0
        while k >= 0 {
            output.append(work.ids[k])
            k = Int(work.next[k])
        }
    }

    // MARK: Decoding

    public func decode(_ tokens: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens.count * 4)
        for token in tokens {
            if token >= 0, Int(token) < tokenBytes.count {
                bytes.append(contentsOf: tokenBytes[Int(token)])
            } else {
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD for an unknown id
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Like `decode`, but an id outside the vocabulary is an error naming it and its position.
    public func decodeChecked(_ tokens: [Int32]) throws -> String {
        for (position, token) in tokens.enumerated() where token < 0 || Int(token) >= vocabularySize {
            throw BPEError(source: source,
                           "token id \(token) at position \(position) is outside the vocabulary (0..<\(vocabularySize))")
        }
        return decode(tokens)
    }
}

/// Scratch space reused across the pieces of one `encode` call.
private struct EncodeState {
    var cache = PieceCache()
    var work = MergeWork()
}

/// Buffers for merging one piece: a doubly linked list of symbols and a binary min-heap of
/// (rank << 32 | position) candidates.
private struct MergeWork {
    var ids: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap: [UInt64] = []

    mutating func reset() {
        ids.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
    }

    mutating func push(_ value: UInt64) {
        heap.append(value)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if heap[parent] <= heap[child] { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            if left >= count { break }
            var smallest = left
            if left + 1 < count, heap[left + 1] < heap[left] { smallest = left + 1 }
            if heap[parent] <= heap[smallest] { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

/// The ids of every distinct piece seen so far in one `encode` call, keyed by the piece's bytes
/// where they first occur in the text (open addressing, no allocation per lookup).
private struct PieceCache {
    /// Small, so that encoding many short texts stays cheap; it doubles as pieces arrive.
    static let initialCapacity = 64
    private var hashes: [UInt64] = Array(repeating: 0, count: PieceCache.initialCapacity)  // 0 marks an empty slot
    private var keyStarts: [Int] = Array(repeating: 0, count: PieceCache.initialCapacity)
    private var keyLengths: [Int32] = Array(repeating: 0, count: PieceCache.initialCapacity)
    private var slotsIDs: [Range<Int>] = Array(repeating: 0..<0, count: PieceCache.initialCapacity)
    private var used = 0
    /// All cached ids, each entry a range of this array.
    private(set) var ids: [Int32] = []

    @inline(__always)
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in range {
            h ^= UInt64(bytes[i])
            h = h &* 0x100_0000_01b3
        }
        return h | 1
    }

    func lookup(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int>? {
        let h = Self.hash(bytes, range)
        let mask = hashes.count - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        while hashes[slot] != 0 {
            if hashes[slot] == h, Int(keyLengths[slot]) == range.count,
               equal(bytes, range.lowerBound, keyStarts[slot], range.count) {
                return slotsIDs[slot]
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    @inline(__always)
    private func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int, _ count: Int) -> Bool {
        for k in 0..<count where bytes[a + k] != bytes[b + k] { return false }
        return true
    }

    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, ids newIDs: ArraySlice<Int32>) {
        if (used + 1) * 2 > hashes.count { grow() }
        let start = ids.count
        ids.append(contentsOf: newIDs)
        place(Self.hash(bytes, range), range.lowerBound, Int32(range.count), start..<ids.count)
        used += 1
    }

    private mutating func place(_ h: UInt64, _ keyStart: Int, _ keyLength: Int32, _ idRange: Range<Int>) {
        let mask = hashes.count - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        while hashes[slot] != 0 { slot = (slot + 1) & mask }
        hashes[slot] = h
        keyStarts[slot] = keyStart
        keyLengths[slot] = keyLength
        slotsIDs[slot] = idRange
    }

    private mutating func grow() {
        let old = (hashes, keyStarts, keyLengths, slotsIDs)
        let capacity = hashes.count * 2
        hashes = Array(repeating: 0, count: capacity)
        keyStarts = Array(repeating: 0, count: capacity)
        keyLengths = Array(repeating: 0, count: capacity)
        slotsIDs = Array(repeating: 0..<0, count: capacity)
        for slot in 0..<old.0.count where old.0[slot] != 0 {
            place(old.0[slot], old.1[slot], old.2[slot], old.3[slot])
        }
    }
}
