/// One shard file of a dataset: which split, its index within the split, and which tokens of
/// the whole token stream it holds.
public struct ShardSpec: Sendable, Equatable {
    public var split: DataSplit
    public var index: Int
    /// Positions in the token stream of the whole corpus.
    public var tokens: Range<Int>

    /// The file name: `train_000000.h5`, `val_000003.h5`, ...
    public var fileName: String { Self.fileName(split: split, index: index) }

    public static func fileName(split: DataSplit, index: Int) -> String {
        let digits = String(index)
        return "\(split.rawValue)_" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".h5"
    }
}

/// How `prepare` cuts a token stream into train and val shards.
///
/// The val split is the last `valFraction` of the stream: train gets the first
/// `floor(count * (1 - valFraction))` tokens (nanoGPT's `data[:int(n*0.9)]`: for the character
/// tokenizer tokens are characters, so this is exactly nanoGPT's text split), val the rest. Each
/// split is cut into shards of at most `shardTokens`, all full but the last.
public struct ShardPlan: Sendable, Equatable {
    public var trainTokens: Int
    public var valTokens: Int
    public var shards: [ShardSpec]

    /// Fewest tokens a non-empty split may have: one (input, target) pair needs two.
    public static let minimumSplitTokens = 2

    /// `blockSize`, when given, raises the minimum of each non-empty split to `blockSize + 1`
    /// tokens (one training window).
    public init(tokenCount: Int, valFraction: Double, shardTokens: Int, blockSize: Int? = nil) throws {
        guard valFraction >= 0, valFraction < 1 else {
            throw DataError.invalidOption("--val-fraction must be in [0, 1); got \(valFraction)")
        }
        guard shardTokens > 0 else {
            throw DataError.invalidOption("--shard-tokens must be positive; got \(shardTokens)")
        }
        if let blockSize, blockSize <= 0 {
            throw DataError.invalidOption("--block-size must be positive; got \(blockSize)")
        }
        let minimum = max(Self.minimumSplitTokens, (blockSize ?? 0) + 1)
        let train = Int((Double(tokenCount) * (1 - valFraction)).rounded(.down))
        trainTokens = train
        valTokens = tokenCount - train
        if trainTokens < minimum {
            throw DataError.corpusTooSmall(split: "train", tokens: trainTokens, needed: minimum)
        }
        if valFraction > 0 && valTokens < minimum {
            throw DataError.corpusTooSmall(split: "val", tokens: valTokens, needed: minimum)
        }
        var shards: [ShardSpec] = []
        for (split, range) in [(DataSplit.train, 0..<train), (.val, train..<tokenCount)] {
            var index = 0
            var lower = range.lowerBound
            while lower < range.upperBound {
                let upper = min(lower + shardTokens, range.upperBound)
                shards.append(ShardSpec(split: split, index: index, tokens: lower..<upper))
                index += 1
                lower = upper
            }
        }
        self.shards = shards
    }
}
