/// Deterministic evaluation (`gpt-dist eval`) over every non-overlapping window of a split:
/// window `i` has inputs tokens `[i*T, i*T+T)` and targets tokens `[i*T+1, i*T+T+1)`.
/// `TokenLoader.evalBatch` reads them.
public enum EvalWindows {
    /// How many whole windows a split of `tokenCount` tokens holds for block size `blockSize`
    /// (the last target token must exist, hence `tokenCount - 1`); 0 for a block size below 1.
    public static func count(tokenCount: Int, blockSize: Int) -> Int {
        tokenCount > 1 && blockSize > 0 ? (tokenCount - 1) / blockSize : 0
    }

    /// The contiguous share of `0..<count` that rank `rank` of `worldSize` evaluates; shares
    /// differ in size by at most one and together cover every window once. A rank outside
    /// `0..<worldSize` gets an empty share.
    public static func share(of count: Int, rank: Int, worldSize: Int) -> Range<Int> {
        guard worldSize > 0, rank >= 0, rank < worldSize, count > 0 else { return 0..<0 }
        let base = count / worldSize, extra = count % worldSize
        let lower = rank * base + min(rank, extra)
        return lower..<(lower + base + (rank < extra ? 1 : 0))
    }
}
