/// One sequence's way of choosing its tokens: its sampling options, its own random stream and
/// the sampler's scratch space. `Generator` and the server's batched decoding both pick every
/// token through it, so a seed gives the same tokens on either path.
public struct SequenceSampler {
    /// How tokens are chosen.
    public let options: SamplingOptions
    /// The random stream, advanced by every non-greedy draw.
    public private(set) var rng: RandomGenerator
    private var sampler = TokenSampler()

    /// A sampler drawing from `rng` (seeded by the caller, e.g. `RandomGenerator(seed:)`).
    public init(options: SamplingOptions, rng: RandomGenerator) {
        self.options = options
        self.rng = rng
    }

    /// The next token, given the logits (vocabulary-sized) after the sequence so far.
    public mutating func next(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        sampler.sample(logits, options: options, rng: &rng)
    }

    /// The next token, given the logits (vocabulary-sized) after the sequence so far.
    public mutating func next(_ logits: [Float]) -> Int32 {
        logits.withUnsafeBufferPointer { next($0) }
    }
}
