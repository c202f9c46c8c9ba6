import Foundation

/// A part of one input file: bytes `bytes` of the file at `path` (the whole file when nil).
public struct FilePiece: Sendable, Equatable {
    public var path: String
    public var bytes: Range<Int>?

    public init(path: String, bytes: Range<Int>?) {
        self.path = path
        self.bytes = bytes
    }
}

/// How a multi-rank `prepare` divides the corpus: the files laid end to end are one stream of
/// bytes, and rank `r` of `n` encodes the bytes from the first cut at or after `r * total / n` to
/// the first cut at or after `(r + 1) * total / n` (a cut is where the tokenizer's chunks may end,
/// `ChunkCut`, or a file boundary). The shares are contiguous, in rank order, balanced by bytes,
/// and every rank computes them alone from the file sizes and the bytes near the two targets.
/// Since chunks encode the same whether read whole or cut at such points, the ranks' token
/// streams laid end to end are the token stream of one process.
struct CorpusPartition {
    let files: [String]
    let sizes: [Int]
    let cut: ChunkCut
    /// `starts[i]`: where file `i` begins in the stream; `starts.last` is the total.
    let starts: [Int]

    var totalBytes: Int { starts.last ?? 0 }

    /// Bytes read at a time while looking for a cut.
    var blockBytes = 1 << 16

    init(files: [String], sizes: [Int], cut: ChunkCut) {
        self.files = files
        self.sizes = sizes
        self.cut = cut
        var starts = [0]
        for size in sizes { starts.append(starts.last! + size) }
        self.starts = starts
    }

    /// Measures `files` (throws `DataError.unreadableInput` for a file whose size is unknown).
    init(files: [String], cut: ChunkCut) throws {
        let sizes = try files.map { path -> Int in
            guard let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int else {
                throw DataError.unreadableInput(path: path, reason: "cannot read its size")
            }
            return size
        }
        self.init(files: files, sizes: sizes, cut: cut)
    }

    /// The pieces rank `rank` of `size` encodes, in corpus order. An empty file (an error when
    /// read) goes to exactly one rank: the one whose share holds its position in the stream.
    func pieces(rank: Int, of size: Int) throws -> [FilePiece] {
        let lower = try firstCut(atOrAfter: target(rank, of: size))
        let upper = try firstCut(atOrAfter: target(rank + 1, of: size))
        var pieces: [FilePiece] = []
        for (i, path) in files.enumerated() {
            let start = starts[i], end = starts[i + 1]
            if start == end {
                if (lower <= start && start < upper) || (rank == size - 1 && start == totalBytes) {
                    pieces.append(FilePiece(path: path, bytes: 0..<0))
                }
                continue
            }
            let from = max(start, lower), to = min(end, upper)
            if from < to { pieces.append(FilePiece(path: path, bytes: (from - start)..<(to - start))) }
        }
        return pieces
    }

    /// Where rank `rank`'s share would start if any byte could begin it.
    func target(_ rank: Int, of size: Int) -> Int {
        let (product, overflow) = totalBytes.multipliedReportingOverflow(by: rank)
        return overflow ? Int((Double(totalBytes) * Double(rank) / Double(size)).rounded(.down)) : product / size
    }

    /// The first stream position at or after `position` where a chunk may begin: a file's start,
    /// a cut inside a file, or (when none follows in its file) the file's end.
    func firstCut(atOrAfter position: Int) throws -> Int {
        if position <= 0 { return 0 }
        if position >= totalBytes { return totalBytes }
        // The non-empty file holding byte `position`: the last file starting at or before it.
        var low = 0, high = files.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if starts[mid] <= position { low = mid } else { high = mid - 1 }
        }
        let start = starts[low]
        if position == start { return position }
        return start + (try firstCut(inFile: low, from: position - start))
    }

    /// The first offset at or after `offset` (> 0) in file `index` where `cut` allows a cut, or the
    /// file's size when there is none.
    private func firstCut(inFile index: Int, from offset: Int) throws -> Int {
        let path = files[index], size = sizes[index]
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DataError.unreadableInput(path: path, reason: "cannot open the file")
        }
        defer { try? handle.close() }
        var position = offset
        while position < size {
            // One byte more than a block: a "\n" at the block's end is judged with its neighbour.
            let count = min(blockBytes + 1, size - position)
            let block: [UInt8]
            do {
                try handle.seek(toOffset: UInt64(position))
                block = [UInt8](try handle.read(upToCount: count) ?? Data())
            } catch {
                throw DataError.unreadableInput(path: path, reason: error.localizedDescription)
            }
            guard block.count == count else {
                throw DataError.unreadableInput(path: path, reason: "the file ended at byte \(position + block.count), before the \(size) measured before (did it change?)")
            }
            for i in 0..<block.count where cut.allowsCut(before: i, in: block) { return position + i }
            if position + count == size { break }
            position += count - 1
        }
        return size
    }
}
