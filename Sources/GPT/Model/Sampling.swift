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
    /// The logits divided by the temperature, and the heap that finds top_k's threshold in them.
    private var scaled: [Float] = []
    private var heap: [Float] = []

    mutating func sample(_ logits: UnsafeBufferPointer<Float>, options: SamplingOptions,
                         rng: inout RandomGenerator) -> Int32 {
        if options.temperature == 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        candidates.removeAll(keepingCapacity: true)
        let inverseTemperature = 1 / options.temperature
        if scaled.count != logits.count { scaled = [Float](repeating: 0, count: logits.count) }
        scaled.withUnsafeMutableBufferPointer { out in
            for i in 0..<logits.count { out[i] = logits[i] * inverseTemperature }
        }
        if let k = options.topK, k < scaled.count {
            // Only the tokens at or above the k-th largest value (in order), without building
            // and filtering a candidate per token: at GPT-2's 50,257 that took 0.65 ms a token.
            let threshold = kthLargest(k)
            scaled.withUnsafeBufferPointer { values in
                for i in 0..<values.count where !(values[i] < threshold) { candidates.append((Int32(i), values[i])) }
            }
        } else {
            for i in 0..<scaled.count { candidates.append((Int32(i), scaled[i])) }
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

    /// The k-th largest of `scaled` (counting repeats): the smallest of a min-heap that keeps the
    /// k largest seen so far; most values fail the one comparison with its root.
    private mutating func kthLargest(_ k: Int) -> Float {
        if heap.count != k { heap = [Float](repeating: 0, count: k) }
        return scaled.withUnsafeBufferPointer { values in
            heap.withUnsafeMutableBufferPointer { h in
                var count = 0
                for v in values {
                    if count < k {
                        h[count] = v
                        var i = count
                        count += 1
                        while i > 0 {
                            let parent = (i - 1) / 2
                            guard h[i] < h[parent] else { break }
                            h.swapAt(i, parent)
                            i = parent
                        }
                    } else if v > h[0] {
                        h[0] = v
                        var i = 0
                        while true {
                            let left = 2 * i + 1, right = left + 1
                            var smallest = i
                            if left < k && h[left] < h[smallest] { smallest = left }
                            if right < k && h[right] < h[smallest] { smallest = right }
                            if smallest == i { break }
                            h.swapAt(i, smallest)
                            i = smallest
                        }
                    }
                }
                return h[0]
            }
        }
    }
}
