import Foundation

/// How the next token is chosen from the logits of the last position.
public struct SamplingOptions: Equatable, Sendable {
    /// Logits are divided by it; 0 means greedy (argmax), as nanoGPT's temperature → 0 limit.
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (nanoGPT's `top_k`; ties at the k-th value kept).
    public var topK: Int?
    /// Nucleus sampling: keep the most likely tokens until their probability reaches `topP`
    /// (the token that crosses the threshold is kept). 1 or nil keeps every token.
    public var topP: Float?

    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    /// Throws `ModelError` naming the option whose value is unusable.
    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else {
            throw ModelError("sampling temperature must be finite and >= 0, got \(temperature)")
        }
        if let topK, topK < 1 { throw ModelError("sampling top_k must be >= 1, got \(topK)") }
        if let topP, !(topP > 0 && topP <= 1) { throw ModelError("sampling top_p must be in (0, 1], got \(topP)") }
    }
}

/// Picks tokens from logits; keeps its scratch space between calls.
struct TokenSampler {
    private var candidates: [(index: Int32, value: Float)] = []

    mutating func sample(_ logits: UnsafeBufferPointer<Float>, options: SamplingOptions,
                         rng: inout RandomGenerator) -> Int32 {
        if options.temperature == 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        candidates.removeAll(keepingCapacity: true)
        let inverseTemperature = 1 / options.temperature
        for i in 0..<logits.count { candidates.append((Int32(i), logits[i] * inverseTemperature)) }
        if let k = options.topK, k < candidates.count {
            let threshold = kthLargest(k)
            candidates.removeAll { $0.value < threshold }
        }
        // Softmax over the survivors.
        let maxValue = candidates.reduce(-Float.infinity) { max($0, $1.value) }
        var total = 0.0
        for i in candidates.indices {
            let p = Foundation.exp(Double(candidates[i].value - maxValue))
            candidates[i].value = Float(p)
            total += p
        }
        if let topP = options.topP, topP < 1 {
            candidates.sort { $0.value > $1.value }
            var cumulative = 0.0
            var keep = 0
            while keep < candidates.count {
                // Keep a token while the mass before it is below top_p.
                if cumulative / total >= Double(topP) { break }
                cumulative += Double(candidates[keep].value)
                keep += 1
            }
            candidates.removeSubrange(max(keep, 1)...)
            total = candidates.reduce(0.0) { $0 + Double($1.value) }
        }
        let target = rng.nextUniformDouble() * total
        var running = 0.0
        for candidate in candidates {
            running += Double(candidate.value)
            if target < running { return candidate.index }
        }
        return candidates.last!.index
    }

    /// The k-th largest candidate value (quickselect on a copy of the values).
    private func kthLargest(_ k: Int) -> Float {
        var values = candidates.map(\.value)
        var low = 0, high = values.count - 1
        let target = k - 1
        while low < high {
            let pivot = values[(low + high) / 2]
            var i = low, j = high
            while i <= j {
                while values[i] > pivot { i += 1 }
                while values[j] < pivot { j -= 1 }
                if i <= j { values.swapAt(i, j); i += 1; j -= 1 }
            }
            if target <= j { high = j } else if target >= i { low = i } else { break }
        }
        return values[target]
    }
}
