/// What `gpt-dist serve` was asked for: the model, where to listen, and the limits.
public struct ServeOptions: Sendable {
    /// The checkpoint (ckpt.h5) to serve.
    public var checkpoint: String
    /// A dataset folder whose tokenizer to use (for checkpoints without /tokenizer), or nil.
    public var dataDirectory: String?
    /// Address to listen on.
    public var host: String
    /// Port to listen on; 0 picks a free one (the line printed at start names it).
    public var port: Int
    /// Compute threads (0 = every core).
    public var threads: Int
    /// Most sequences decoded together in one step.
    public var maxBatch: Int
    /// Most requests waiting for a free decoding slot; one more is refused with 503.
    public var maxQueue: Int
    /// Largest request body accepted, in bytes; a larger one is refused with 413.
    public var maxBodyBytes: Int

    public init(checkpoint: String, dataDirectory: String? = nil, host: String = "127.0.0.1", port: Int = 8080,
                threads: Int = 0, maxBatch: Int = 16, maxQueue: Int = 64, maxBodyBytes: Int = 1 << 20) {
        self.checkpoint = checkpoint
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
        self.threads = threads
        self.maxBatch = maxBatch
        self.maxQueue = maxQueue
        self.maxBodyBytes = maxBodyBytes
    }
}
