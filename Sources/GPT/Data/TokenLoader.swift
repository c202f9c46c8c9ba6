/// A dataset folder written by `gpt-dist prepare`, opened for reading.
///
/// Opening validates `meta.h5` and every shard (format, dataset id, split, index, vocabulary,
/// width, token count, readable last token) but reads no token data; reads fetch only the
/// tokens they need with hyperslab reads, crossing shard boundaries when a window does.
///
/// Three ways in: `readTokens` (any range), `windows` (windows at given starts: nanoGPT's
/// get_batch, which the trainer reaches through `BatchStream` and `BatchSource`), and
/// `evalBatch` (the non-overlapping windows of `gpt-dist eval`, see `EvalWindows`). Each checks
/// its request and throws `DataError.invalidRequest` rather than read outside a split.
///
/// HDF5 here is the serial, non-thread-safe build: use a loader from one thread at a time.
public final class TokenLoader {
    /// The dataset folder.
    public let directory: String
    /// What `meta.h5` says about the dataset, including its tokenizer.
    public let info: DatasetInfo
    private let splits: [DataSplit: SplitReader]
    /// One window (block + 1 tokens), reused by every read.
    private var window: [Int32] = []

    /// Opens and validates the dataset in `directory`. Throws a `DataError` naming the file
    /// when the folder is not a dataset or a shard is damaged or does not belong to it. At most
    /// `openShardLimit` shard files stay open at a time (least recently used closed first).
    public convenience init(directory: String, openShardLimit: Int = 32) throws {
        let opened = try DatasetFiles.open(directory: directory, openShardLimit: openShardLimit)
        self.init(directory: directory, info: opened.info, splits: opened.splits)
    }

    init(directory: String, info: DatasetInfo, splits: [DataSplit: SplitReader]) {
        self.directory = directory
        self.info = info
        self.splits = splits
    }

    /// The tokenizer the dataset was made with.
    public var tokenizer: any Tokenizer { info.tokenizer }
    /// Size of the tokenizer's vocabulary (every token id is below it).
    public var vocabularySize: Int { info.vocabularySize }

    /// Number of tokens in `split`.
    public func tokenCount(_ split: DataSplit) -> Int { splits[split]?.tokenCount ?? 0 }

    // MARK: Raw tokens

    /// Reads tokens `start ..< start + count` of `split` into `target[0..<count]`.
    public func readTokens(_ split: DataSplit, start: Int, count: Int, into target: inout [Int32]) throws {
        guard count >= 0, start >= 0, start + count <= tokenCount(split), target.count >= count else {
            throw DataError.invalidRequest(
                "\(directory): tokens \(start)..<\(start + count) are outside the \(split.rawValue) split of \(tokenCount(split)) tokens (or the buffer is too small)")
        }
        guard count > 0 else { return }
        try target.withUnsafeMutableBufferPointer { try splits[split]!.read(start: start, count: count, into: $0.baseAddress!) }
    }

    // MARK: Windows at given starts (nanoGPT's get_batch)

    /// Fills rows `0..<starts.count` of `inputs`/`targets` (row-major [rows, block]) with the
    /// windows that start at `starts`: inputs tokens `[s, s + T)`, targets `[s + 1, s + T + 1)`.
    /// Each start must be in `0...tokenCount - blockSize - 1`, as `torch.randint(len(data) -
    /// block_size)` draws them. This is the checked way in for starts from anywhere: it throws
    /// `DataError.invalidRequest` for a split too short for the block, buffers too small for the
    /// rows, or a start out of range. (The trainer reads through `BatchStream`, whose starts are
    /// drawn in range and which checks the split once.)
    public func windows(split: DataSplit, starts: UnsafeBufferPointer<Int>, blockSize: Int,
                        inputs: UnsafeMutableBufferPointer<Int32>, targets: UnsafeMutableBufferPointer<Int32>) throws {
        try checkWindow(split: split, blockSize: blockSize)
        try checkBuffers(rows: starts.count, blockSize: blockSize, inputs: inputs, targets: targets)
        let last = tokenCount(split) - blockSize - 1
        for start in starts where start < 0 || start > last {
            throw DataError.invalidRequest("\(directory): a window of \(blockSize) + 1 tokens cannot start at \(start) in the \(split.rawValue) split of \(tokenCount(split)) tokens")
        }
        try readWindows(split, starts: starts, blockSize: blockSize, inputs: inputs, targets: targets)
    }

    /// `windows` without its checks, for `BatchSource`: the caller guarantees every start is in
    /// range and the buffers hold `starts.count × blockSize` tokens.
    func readWindows(_ split: DataSplit, starts: some Collection<Int>, blockSize: Int,
                     inputs: UnsafeMutableBufferPointer<Int32>, targets: UnsafeMutableBufferPointer<Int32>) throws {
        for (row, start) in starts.enumerated() {
            try readWindow(split: split, start: start, blockSize: blockSize, row: row, inputs: inputs, targets: targets)
        }
    }

    // MARK: Deterministic evaluation

    /// Number of non-overlapping windows of `split` (window `i`: inputs tokens `[i*T, i*T+T)`,
    /// targets the same shifted by one). Spread them over ranks with `EvalWindows.share`.
    public func evalWindowCount(split: DataSplit, blockSize: Int) -> Int {
        EvalWindows.count(tokenCount: tokenCount(split), blockSize: blockSize)
    }

    /// Fills rows `0..<windows.count` of `inputs`/`targets` with evaluation windows `windows`.
    public func evalBatch(split: DataSplit, windows: Range<Int>, blockSize: Int,
                          inputs: inout [Int32], targets: inout [Int32]) throws {
        try inputs.withUnsafeMutableBufferPointer { x in
            try targets.withUnsafeMutableBufferPointer { y in
                try evalBatch(split: split, windows: windows, blockSize: blockSize, inputs: x, targets: y)
            }
        }
    }

    /// `evalBatch` into caller-owned memory, row-major [windows, block].
    public func evalBatch(split: DataSplit, windows: Range<Int>, blockSize: Int,
                          inputs: UnsafeMutableBufferPointer<Int32>, targets: UnsafeMutableBufferPointer<Int32>) throws {
        let available = evalWindowCount(split: split, blockSize: blockSize)
        guard blockSize > 0, windows.lowerBound >= 0, windows.upperBound <= available else {
            throw DataError.invalidRequest(
                "\(directory): evaluation windows \(windows) are outside the \(available) windows of block \(blockSize) in the \(split.rawValue) split")
        }
        try checkBuffers(rows: windows.count, blockSize: blockSize, inputs: inputs, targets: targets)
        for (row, i) in windows.enumerated() {
            try readWindow(split: split, start: i * blockSize, blockSize: blockSize, row: row, inputs: inputs, targets: targets)
        }
    }

    // MARK: Internals

    private func checkWindow(split: DataSplit, blockSize: Int) throws {
        let count = tokenCount(split)
        guard blockSize > 0, count > blockSize else {
            throw DataError.invalidRequest(
                "\(directory): the \(split.rawValue) split has \(count) tokens, too few for block size \(blockSize) (needs at least \(blockSize + 1))")
        }
    }

    private func checkBuffers(rows: Int, blockSize: Int, inputs: UnsafeMutableBufferPointer<Int32>,
                              targets: UnsafeMutableBufferPointer<Int32>) throws {
        let needed = rows * blockSize
        guard inputs.count >= needed, targets.count >= needed else {
            throw DataError.invalidRequest(
                "batch buffers hold \(min(inputs.count, targets.count)) tokens; \(rows) rows of block \(blockSize) need \(needed)")
        }
    }

    /// Reads tokens `start ... start + blockSize` once and copies them to row `row` of both buffers.
    private func readWindow(split: DataSplit, start: Int, blockSize: Int, row: Int,
                            inputs: UnsafeMutableBufferPointer<Int32>, targets: UnsafeMutableBufferPointer<Int32>) throws {
        if window.count < blockSize + 1 { window = [Int32](repeating: 0, count: blockSize + 1) }
        let reader = splits[split]!
        try window.withUnsafeMutableBufferPointer { w in
            try reader.read(start: start, count: blockSize + 1, into: w.baseAddress!)
            (inputs.baseAddress! + row * blockSize).update(from: w.baseAddress!, count: blockSize)
            (targets.baseAddress! + row * blockSize).update(from: w.baseAddress! + 1, count: blockSize)
        }
    }
}
