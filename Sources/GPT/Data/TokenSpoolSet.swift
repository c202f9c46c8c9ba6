import Foundation

/// The token files of every rank of `prepare` (`TokenSpool`s, finished), read as the one token
/// stream they make in rank order: a shard's tokens may come from several ranks' files. Files are
/// opened on first use and read with `pread`, straight into the returned array.
final class TokenSpoolSet {
    let paths: [String]
    let width: TokenWidth
    /// `starts[r]`: tokens before rank `r`'s file; `starts.last` is the total.
    let starts: [Int]
    private var handles: [FileHandle?]

    /// The files `paths` holding `counts[r]` tokens each, in stream order.
    init(paths: [String], counts: [Int], width: TokenWidth) {
        self.paths = paths
        self.width = width
        var starts = [0]
        for count in counts { starts.append(starts.last! + count) }
        self.starts = starts
        handles = Array(repeating: nil, count: paths.count)
    }

    deinit { close() }

    /// Tokens in the stream.
    var count: Int { starts.last ?? 0 }

    /// Reads stream tokens `range` as values of type `T` (UInt16 or UInt32, matching `width`).
    func read<T: FixedWidthInteger>(_ range: Range<Int>, as type: T.Type) throws -> [T] {
        precondition(MemoryLayout<T>.size == width.byteCount, "read the spools with their own width")
        guard range.lowerBound >= 0 && range.upperBound <= count else {
            throw DataError.writeFailed(path: paths.first ?? "", reason: "tokens \(range) are outside the \(count) encoded")
        }
        var values = [T](repeating: 0, count: range.count)
        try values.withUnsafeMutableBytes { target in
            for r in paths.indices {
                let part = range.clamped(to: starts[r]..<starts[r + 1])
                guard !part.isEmpty else { continue }
                try read(file: r, bytesFrom: (part.lowerBound - starts[r]) * width.byteCount,
                         count: part.count * width.byteCount,
                         into: target.baseAddress! + (part.lowerBound - range.lowerBound) * width.byteCount)
            }
        }
        return values
    }

    /// Closes every open file.
    func close() {
        for case let handle? in handles { try? handle.close() }
        handles = Array(repeating: nil, count: paths.count)
    }

    private func read(file r: Int, bytesFrom offset: Int, count: Int, into target: UnsafeMutableRawPointer) throws {
        let path = paths[r]
        if handles[r] == nil {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw DataError.writeFailed(path: path, reason: "cannot open the temporary token file of rank \(r)")
            }
            handles[r] = handle
        }
        let fd = handles[r]!.fileDescriptor
        var done = 0
        while done < count {
            let got = pread(fd, target + done, count - done, off_t(offset + done))
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else {
                throw DataError.writeFailed(path: path, reason: got < 0 ? String(cString: strerror(errno))
                                            : "temporary token file is shorter than expected")
            }
            done += got
        }
    }
}
