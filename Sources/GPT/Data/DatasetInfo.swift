/// What `meta.h5` records about a whole dataset folder.
public struct DatasetInfo {
    /// Name of the metadata file in a dataset folder.
    public static let metaFileName = "meta.h5"
    /// Value of the `format` attribute of every file of a dataset.
    public static let format = "gpt-dist.tokens"
    /// Version of the layout in docs/dataset-format.md.
    public static let formatVersion = 1

    /// A random id shared by `meta.h5` and every shard of one `prepare` run, so a shard from
    /// another run dropped into the folder is caught.
    public var id: String
    public var tokenizer: any Tokenizer
    public var width: TokenWidth
    public var trainTokens: Int
    public var valTokens: Int
    public var trainShards: Int
    public var valShards: Int
    public var shardTokens: Int
    public var sourceFiles: [String]

    public var vocabularySize: Int { tokenizer.vocabularySize }

    public func tokens(_ split: DataSplit) -> Int { split == .train ? trainTokens : valTokens }
    public func shards(_ split: DataSplit) -> Int { split == .train ? trainShards : valShards }
}

/// What each shard file records about itself.
public struct ShardHeader: Equatable {
    public var datasetID: String
    public var split: DataSplit
    public var index: Int
    /// Position of the shard's first token within its split.
    public var firstToken: Int
    public var tokenCount: Int
    public var vocabularySize: Int
    public var tokenizerKind: TokenizerKind
    public var width: TokenWidth
    public var sourceFiles: [String]
}
