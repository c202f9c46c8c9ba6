import ArgumentParser
import CBLAS
import Foundation
import GPT

/// `gpt-dist bench`: times training steps (forward, backward, clipping, AdamW) of a model shape on
/// random tokens and reports them against the sgemm peak measured on the same machine.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time forward + backward + AdamW of a model shape on random tokens; report ms/iter, tokens/s, GFLOP/s, MFU and peak RSS.")

    enum Preset: String, ExpressibleByArgument, CaseIterable {
        case shakespeareCPU = "shakespeare-cpu", shakespeareGPU = "shakespeare-gpu", gpt2 = "gpt2-124m"

        /// (n_layer, n_head, n_embd, block, batch, vocab)
        var shape: (Int, Int, Int, Int, Int, Int) {
            switch self {
            case .shakespeareCPU: return (4, 4, 128, 64, 12, 65)
            case .shakespeareGPU: return (6, 6, 384, 256, 64, 65)
            case .gpt2: return (12, 12, 768, 1024, 1, 50304)
            }
        }
    }

    @Option(help: "A named shape: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")). Other options override it.")
    var preset: Preset?
    @Option(name: .customLong("n-layer"), help: "Transformer blocks.") var nLayer: Int?
    @Option(name: .customLong("n-head"), help: "Attention heads.") var nHead: Int?
    @Option(name: .customLong("n-embd"), help: "Embedding width.") var nEmbd: Int?
    @Option(name: .customLong("block-size"), help: "Tokens per sequence.") var blockSize: Int?
    @Option(name: .customLong("batch-size"), help: "Sequences per step.") var batchSize: Int?
    @Option(name: .customLong("vocab-size"), help: "Vocabulary size.") var vocabSize: Int?
    @Option(help: "Dropout probability.") var dropout: Double = 0
    @Flag(inversion: .prefixedNo, help: "Biases in Linear and LayerNorm layers.") var bias = true
    @Option(help: "Timed iterations.") var iters: Int = 10
    @Option(help: "Untimed iterations first.") var warmup: Int = 2
    @Option(help: "Threads (OpenBLAS and kernels); default: every core.") var threads: Int?
    @Option(help: "Seed of the weights and tokens.") var seed: UInt64 = 1337
    @Flag(help: "Run the whole batch kernel by kernel on all threads instead of one batch slice per thread.")
    var noBatchSplit = false

    func run() throws {
        let base = (preset ?? .shakespeareCPU).shape
        let config = GPTConfig(nLayer: nLayer ?? base.0, nHead: nHead ?? base.1, nEmbd: nEmbd ?? base.2,
                               blockSize: blockSize ?? base.3, vocabSize: vocabSize ?? base.5, bias: bias,
                               dropout: dropout)
        let batch = batchSize ?? base.4
        guard batch > 0 else { throw ValidationError("--batch-size must be positive") }
        guard iters > 0, warmup >= 0 else { throw ValidationError("--iters must be positive and --warmup >= 0") }
        try config.validate()
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard threadCount > 0 else { throw ValidationError("--threads must be positive") }

        let model = try GPTModel(config: config, seed: seed, threads: threadCount)
        model.splitsBatchAcrossThreads = !noBatchSplit
        let optimizer = AdamW(model: model)
        let t = config.blockSize, tokensPerIter = batch * t
        var rng = RandomGenerator(seed: seed &+ 1)
        let batches = (0..<4).map { _ in
            (0..<(tokensPerIter * 2)).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(config.vocabSize)) }
        }
        model.reserve(batchSize: batch, sequenceLength: t)

        func forwardBackward(_ tokens: [Int32]) throws -> Float {
            model.zeroGradients()
            let loss = try tokens.withUnsafeBufferPointer { p in
                try model.forward(inputs: UnsafeBufferPointer(rebasing: p[0..<tokensPerIter]),
                                  targets: UnsafeBufferPointer(rebasing: p[tokensPerIter...]),
                                  batchSize: batch, sequenceLength: t)
            }
            model.backward()
            return loss
        }

        var times: [Double] = []
        var lastLoss: Float = 0
        var cpuStart = 0.0
        for i in 0..<(warmup + iters) {
            if i == warmup { cpuStart = processCPUSeconds() }
            let tokens = batches[i % batches.count]
            let start = DispatchTime.now().uptimeNanoseconds
            lastLoss = try forwardBackward(tokens)
            optimizer.step(model: model, learningRate: 1e-4, maxGradNorm: 1)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            if i >= warmup { times.append(elapsed) }
        }
        let cpuPerIter = (processCPUSeconds() - cpuStart) / Double(iters) * 1e3
        let rss = peakRSSMiB()
        // The step's matrix products alone (AdamW and clipping make none).
        let replays = min(40, max(3, Int(1000 / times.min()!)))  // about a second of replays
        let products = try model.timeMatrixProducts(of: { _ = try forwardBackward(batches[0]) }, repeats: replays)
        let peak = measureSgemmPeak()

        let sorted = times.sorted()
        let best = sorted[0], median = sorted[sorted.count / 2]
        let n = Double(config.parameterCount(nonEmbedding: true))
        let flopsPerToken = 6 * n + 12 * Double(config.nLayer * config.nHead * config.headSize * t)
        let flopsPerIter = flopsPerToken * Double(tokensPerIter)
        let achieved = flopsPerIter / (best / 1e3) / 1e9
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        print("model        n_layer \(config.nLayer), n_head \(config.nHead), n_embd \(config.nEmbd), block \(t), batch \(batch), vocab \(config.vocabSize), bias \(config.bias), dropout \(config.dropout) (\(f(n / 1e6, 2))M params)")
        let mode = model.splitsBatchAcrossThreads && batch > 1 && threadCount > 1 ? "batch split across threads" : "kernel by kernel"
        print("threads      \(threadCount) (\(mode); OpenBLAS \(String(cString: openblas_get_corename())))")
        print("ms/iter      \(f(best, 2)) best, \(f(median, 2)) median of \(iters) (after \(warmup) warm-up); loss \(f(Double(lastLoss), 4))")
        print("cpu ms/iter  \(f(cpuPerIter, 2)) (CPU time of all threads, mean; spinning BLAS threads included)")
        print("tokens/s     \(f(Double(tokensPerIter) / (best / 1e3), 0))")
        print("GFLOP/s      \(f(achieved)) (nanoGPT accounting: \(f(flopsPerIter / 1e9, 3)) GFLOP/iter)")
        if let products {
            let ms = products.seconds * 1e3
            print("sgemm only   \(f(ms, 2)) ms/iter best: the step's \(products.calls) sgemm calls (\(f(products.flops / 1e9, 3)) GFLOP) replayed alone, \(f(products.flops / products.seconds / 1e9)) GFLOP/s; everything else \(f(best - ms, 2)) ms")
        } else {
            print("sgemm only   (measured when the batch is split across threads)")
        }
        print("sgemm peak   \(f(peak)) GFLOP/s (\(threadCount) threads)")
        print("MFU          \(f(100 * achieved / peak))% of the measured sgemm peak")
        print("peak RSS     \(f(rss)) MiB")
    }

    /// Best GFLOP/s of a 2048³ sgemm with the current OpenBLAS thread count.
    private func measureSgemmPeak() -> Double {
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0..<4 {
            let start = DispatchTime.now().uptimeNanoseconds
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n),
                        b, Int32(n), 0, &c, Int32(n))
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    /// CPU time used by every thread of the process so far.
    private func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The process's peak resident set so far (Linux reports ru_maxrss in KiB).
    private func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
