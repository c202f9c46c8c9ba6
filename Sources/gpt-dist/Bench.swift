import ArgumentParser
import CBLAS
import Foundation
import GPT
import Parallel

/// `gpt-dist bench`: times training steps (forward, backward, gradient exchange, clipping, AdamW)
/// of a model shape on random tokens and reports them against the sgemm peak measured on the
/// same machine. Under `mpirun` every rank runs the data-parallel step of the trainer on its own
/// batch, and bench adds the global tokens/s, the exposed communication and the bytes sent.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time forward + backward + exchange + AdamW of a model shape on random tokens; report ms/iter, tokens/s, GFLOP/s, MFU and peak RSS (and, under mpirun, global tokens/s, exposed communication, bytes sent, scaling efficiency).")

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
    @Option(name: .customLong("n-layer"), parsing: .unconditional, help: "Transformer blocks.") var nLayer: Int?
    @Option(name: .customLong("n-head"), parsing: .unconditional, help: "Attention heads.") var nHead: Int?
    @Option(name: .customLong("n-embd"), parsing: .unconditional, help: "Embedding width.") var nEmbd: Int?
    @Option(name: .customLong("block-size"), parsing: .unconditional, help: "Tokens per sequence.") var blockSize: Int?
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Sequences per step.") var batchSize: Int?
    @Option(name: .customLong("vocab-size"), parsing: .unconditional, help: "Vocabulary size.") var vocabSize: Int?
    @Option(parsing: .unconditional, help: "Dropout probability.") var dropout: Double = 0
    @Flag(inversion: .prefixedNo, help: "Biases in Linear and LayerNorm layers.") var bias = true
    @Option(parsing: .unconditional, help: "Timed iterations.") var iters: Int = 10
    @Option(name: .customLong("micro-steps"), parsing: .unconditional, help: "Micro-batches per step on each rank (gradient accumulation; the exchange runs once per step).")
    var microSteps: Int = 1
    @Option(parsing: .unconditional, help: "Untimed iterations first.") var warmup: Int = 2
    @Option(parsing: .unconditional, help: "Threads (OpenBLAS and kernels); default: every core.") var threads: Int?
    @Option(parsing: .unconditional, help: "Seed of the weights and tokens.") var seed: UInt64 = 1337
    @Flag(help: "Run the whole batch kernel by kernel on all threads instead of one batch slice per thread.")
    var noBatchSplit = false
    @Flag(name: .customLong("activation-checkpointing"), help: "Keep only each block's input and recompute the block in backward (the config's activation_checkpointing).")
    var activationCheckpointing = false
    @Option(name: .customLong("bucket-mb"), parsing: .unconditional, help: "Under mpirun: megabytes per gradient bucket (0 = one exchange after backward).")
    var bucketMB: Double = 25
    @Option(name: .customLong("zero-stage"), parsing: .unconditional, help: "Under mpirun: 1 = AdamW moments sharded over ranks (ZeRO-1), 0 = every rank keeps them all.")
    var zeroStage: Int = 1
    @Option(name: .customLong("grad-reduce-dtype"), help: "Under mpirun: float32 or bfloat16 gradients on the wire.")
    var gradReduceDtype: String = "float32"
    @Flag(name: .customLong("compare-single"), help: "Under mpirun: also time every rank alone (no exchange) and print the scaling efficiency.")
    var compareSingle = false
    @Option(name: .customLong("baseline-ms"), parsing: .unconditional, help: "One rank's ms/iter of the same shape: print the scaling efficiency against it.")
    var baselineMs: Double?
    @Option(name: .customLong("lora-rank"), help: "LoRA adapters of this rank on --lora-targets, the base frozen (0 = full training).")
    var loraRank: Int = 0
    @Option(name: .customLong("lora-alpha"), help: "LoRA's alpha (the adapters' output is scaled by alpha / rank).")
    var loraAlpha: Double = 8
    @Option(name: .customLong("lora-targets"), help: "The layers with adapters, comma-separated: c_attn, attn.c_proj, c_fc, mlp.c_proj.")
    var loraTargets: String = "c_attn"

    /// What timing one setup gave.
    struct Timing {
        var times: [Double]  // ms per step, start to start
        var meanMs: Double  // the timed steps' wall time (last allgather included) over their count
        var lastLoss: Float
        var cpuPerIter: Double
        var exposedMs: Double  // per step
        var exposedParameterMs: Double  // of which in forward, waiting for parameters
        var bytesPerStep: Double
        var memory: GPTModel.Memory
        var optimizerBytes: Int
        var peakRSSMiB: Double  // after the timed steps, before the sgemm replay
    }

    func run() throws {
        let base = (preset ?? .shakespeareCPU).shape
        let config = GPTConfig(nLayer: nLayer ?? base.0, nHead: nHead ?? base.1, nEmbd: nEmbd ?? base.2,
                               blockSize: blockSize ?? base.3, vocabSize: vocabSize ?? base.5, bias: bias,
                               dropout: dropout)
        let batch = batchSize ?? base.4
        guard batch > 0 else { throw ValidationError("--batch-size must be positive") }
        guard iters > 0, warmup >= 0 else { throw ValidationError("--iters must be positive and --warmup >= 0") }
        guard microSteps > 0 else { throw ValidationError("--micro-steps must be positive") }
        guard bucketMB >= 0 else { throw ValidationError("--bucket-mb must be 0 or more") }
        guard zeroStage == 0 || zeroStage == 1 else { throw ValidationError("--zero-stage must be 0 or 1") }
        guard let wire = WireFormat(rawValue: gradReduceDtype) else {
            throw ValidationError("--grad-reduce-dtype must be float32 or bfloat16")
        }
        try config.validate()
        var lora: LoRAConfig?
        if loraRank != 0 {
            // One line each (a usage text would bury it).
            guard loraRank > 0 else { throw CommandError("--lora-rank: \(loraRank) must be 0 (no LoRA) or a positive rank") }
            switch LoRATarget.parse(loraTargets) {
            case .success(let targets): lora = LoRAConfig(rank: loraRank, alpha: loraAlpha, targets: targets)
            case .failure(let error): throw CommandError("--lora-targets: \(error.problem)")
            }
            do { try lora!.validate() } catch let error as LoRAConfigError {
                throw CommandError("--\(error.key.replacingOccurrences(of: "_", with: "-")): \(error.problem)")
            }
        }
        let world = try World.communicator()
        let threadCount = threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / world.localSize)
        guard threadCount > 0 else { throw ValidationError("--threads must be positive") }
        let settings = GradientExchange.Settings(bucketElements: GradientExchange.Settings.bucketElements(megabytes: bucketMB),
                                                 zeroStage: zeroStage, wire: wire)
        let t = config.blockSize, tokensPerIter = microSteps * batch * t
        let multiRank = world.size > 1

        // The data-parallel step, then (with --compare-single) each rank alone.
        var products: (calls: Int, flops: Double, seconds: Double)?
        let timing = try measure(config: config, lora: lora, batch: batch, threads: threadCount, communicator: world,
                                 settings: settings, products: &products)
        let rss = timing.peakRSSMiB
        var single: Timing?
        if compareSingle && multiRank {
            var none: (calls: Int, flops: Double, seconds: Double)?
            try world.barrier()
            single = try measure(config: config, lora: lora, batch: batch, threads: threadCount, communicator: LocalCommunicator(),
                                 settings: settings, products: &none)
            try world.barrier()
        }
        let peak = PeakFlops.measure(threads: threadCount, seconds: 0.5) / 1e9

        // Figures over the ranks: the slowest rank sets the pace; exposed time and bytes as the mean.
        var figures = [timing.meanMs, timing.exposedMs, timing.bytesPerStep, rss, single?.meanMs ?? 0,
                       timing.exposedParameterMs]
        if multiRank {
            var slowest = [figures[0], figures[4], rss]
            try world.allreduce(&slowest, op: .max)
            try world.allreduce(&figures, op: .sum)
            figures = figures.map { $0 / Double(world.size) }
            figures[0] = slowest[0]
            figures[4] = slowest[1]
            figures[3] = slowest[2]
        }
        guard world.rank == 0 else { return }
        let sorted = timing.times.sorted()
        let best = sorted[0], median = sorted[sorted.count / 2], mean = figures[0]
        let n = Double(config.parameterCount(nonEmbedding: true))
        let estimate = FlopsEstimate(parameters: config.parameterCount(nonEmbedding: true), layers: config.nLayer,
                                     heads: config.nHead, embedding: config.nEmbd, blockSize: t)
        let flopsPerIter = estimate.flopsPerToken * Double(tokensPerIter)
        let timed = multiRank ? mean : best
        let achieved = flopsPerIter / (timed / 1e3) / 1e9
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        print("model        n_layer \(config.nLayer), n_head \(config.nHead), n_embd \(config.nEmbd), block \(t), batch \(batch), vocab \(config.vocabSize), bias \(config.bias), dropout \(config.dropout) (\(f(n / 1e6, 2))M params)")
        if let lora {
            let trainable = LoRALayout(config: config, lora: lora).tensors.reduce(0) { $0 + $1.count }
            print("lora         rank \(lora.rank), alpha \(f(lora.alpha, 1)) on \(lora.targetList): \(trainable) trainable parameters, the base frozen (no base gradients, moments or exchange)")
        }
        let mode = !noBatchSplit && batch > 1 && threadCount > 1 ? "batch split across threads" : "kernel by kernel"
        print("threads      \(threadCount) (\(mode); OpenBLAS \(String(cString: openblas_get_corename())))")
        if multiRank {
            print("ranks        \(world.size) (bucket_mb \(bucketMB), zero_stage \(zeroStage), grad_reduce_dtype \(wire.rawValue)); batch \(batch) x \(microSteps) micro-step\(microSteps == 1 ? "" : "s") per rank")
            print("ms/iter      \(f(mean, 2)) mean (slowest rank; \(f(best, 2)) best, \(f(median, 2)) median on rank 0) of \(iters) (after \(warmup) warm-up); loss \(f(Double(timing.lastLoss), 4))")
        } else {
            print("ms/iter      \(f(best, 2)) best, \(f(median, 2)) median, \(f(timing.meanMs, 2)) mean of \(iters) (after \(warmup) warm-up); loss \(f(Double(timing.lastLoss), 4))")
        }
        print("cpu ms/iter  \(f(timing.cpuPerIter, 2)) (CPU time of all threads, mean; spinning BLAS threads included)")
        print("tokens/s     \(f(Double(tokensPerIter * world.size) / (timed / 1e3), 0))\(multiRank ? " (all ranks)" : "")")
        if multiRank {
            print("exposed comm \(f(figures[1], 2)) ms/iter (\(f(100 * figures[1] / mean)) % of the step; the time a rank waits on the network, mean over ranks: \(f(figures[1] - figures[5], 2)) after backward, \(f(figures[5], 2)) in forward)")
            print("bytes/rank   \(f(figures[2] / 1e6, 2)) MB sent per rank per step")
            let baseline = single != nil ? figures[4] : baselineMs
            if let baseline {
                print("efficiency   \(f(baseline / mean, 3)) (one rank alone: \(f(baseline, 2)) ms/iter\(single != nil ? ", slowest of the ranks run alone" : ", given"); global tokens/s ÷ \(world.size) × one rank's)")
            }
        }
        print("GFLOP/s      \(f(achieved)) (6 per parameter per token + causal attention: \(f(flopsPerIter / 1e9, 3)) GFLOP/iter\(multiRank ? " per rank" : "")\(lora != nil ? "; full training's count: LoRA computes no base weight gradient" : ""))")
        if let products {
            // The replay is one micro-batch's products; a step runs microSteps of them.
            let a = Double(microSteps), ms = products.seconds * 1e3 * a
            print("sgemm only   \(f(ms, 2)) ms/iter best: the step's \(products.calls * microSteps) sgemm calls (\(f(products.flops * a / 1e9, 3)) GFLOP) replayed alone, \(f(products.flops / products.seconds / 1e9)) GFLOP/s; everything else \(f(best - ms, 2)) ms")
        } else {
            print("sgemm only   (measured when the batch is split across threads)")
        }
        print("sgemm peak   \(f(peak)) GFLOP/s (\(threadCount) threads: the best of one multi-threaded and \(threadCount) concurrent single-threaded 1024³ products)")
        print("MFU          \(f(100 * achieved / peak))% of the measured sgemm peak")
        print("peak RSS     \(f(figures[3])) MiB\(multiRank ? " (largest rank; the breakdown is rank 0's)" : "")\(activationCheckpointing ? ", activation checkpointing on" : "")")
        let m = timing.memory, mib = { (bytes: Int) in f(Double(bytes) / 1_048_576) }
        let known = m.parameters + m.gradients + m.sliceGradients + timing.optimizerBytes + m.activations + m.workspace
        print("  parameters \(mib(m.parameters)), gradients \(mib(m.gradients)), slice gradients \(mib(m.sliceGradients)), AdamW moments \(mib(timing.optimizerBytes)), activations \(mib(m.activations)), workspace \(mib(m.workspace)), other \(f(rss - Double(known) / 1_048_576)) MiB")
    }

    /// Times `warmup + iters` data-parallel steps over `communicator` (this rank's tokens drawn
    /// from the seed and the rank), then records and replays their matrix products. With `lora`
    /// the base is frozen and the step trains the adapters.
    private func measure(config: GPTConfig, lora: LoRAConfig?, batch: Int, threads: Int, communicator: any Communicator,
                         settings: GradientExchange.Settings,
                         products: inout (calls: Int, flops: Double, seconds: Double)?) throws -> Timing {
        let model = try GPTModel(config: config, seed: seed, threads: threads, lora: lora)
        model.splitsBatchAcrossThreads = !noBatchSplit
        model.activationCheckpointing = activationCheckpointing
        let step = DataParallelStep(model: model, communicator: communicator, settings: settings)
        let t = config.blockSize, tokensPerIter = batch * t
        var rng = RandomGenerator(seed: seed &+ 1 &+ UInt64(communicator.rank) &* 7919)
        let batches = (0..<4).map { _ in
            (0..<(tokensPerIter * 2)).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(config.vocabSize)) }
        }
        model.reserve(batchSize: batch, sequenceLength: t)

        func forward(_ tokens: [Int32]) throws -> Float {
            try tokens.withUnsafeBufferPointer { p in
                try model.forward(inputs: UnsafeBufferPointer(rebasing: p[0..<tokensPerIter]),
                                  targets: UnsafeBufferPointer(rebasing: p[tokensPerIter...]),
                                  batchSize: batch, sequenceLength: t)
            }
        }

        var times: [Double] = []
        var lastLoss: Float = 0
        var cpuStart = 0.0, wallStart: UInt64 = 0
        for i in 0..<(warmup + iters) {
            if i == warmup {
                try communicator.barrier()
                step.exchange.resetCounters()
                cpuStart = processCPUSeconds()
                wallStart = DispatchTime.now().uptimeNanoseconds
            }
            let tokens = batches[i % batches.count]
            let start = DispatchTime.now().uptimeNanoseconds
            var loss: Float = 0
            _ = try step.run(microSteps: microSteps, lossScale: 1 / Float(microSteps), learningRate: 1e-4, maxGradNorm: 1,
                             microStep: { a in loss = try forward(a == 0 ? tokens : batches[(i + a) % batches.count]) },
                             scalars: { [] })
            lastLoss = loss
            if i >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) }
        }
        // Steady state: the window holds the wait for the warm-up step's allgather (in the first
        // timed forward) and not the last timed step's (which the next forward would hide).
        let wall = Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e6
        var timing = Timing(times: times, meanMs: wall / Double(iters), lastLoss: lastLoss,
                            cpuPerIter: (processCPUSeconds() - cpuStart) / Double(iters) * 1e3,
                            exposedMs: step.exchange.exposedSeconds * 1e3 / Double(iters),
                            exposedParameterMs: step.exchange.exposedParameterSeconds * 1e3 / Double(iters),
                            bytesPerStep: Double(step.exchange.bytesSent) / Double(iters),
                            memory: model.memory,
                            optimizerBytes: (step.optimizer.m.count + step.optimizer.v.count) * MemoryLayout<Float>.size,
                            peakRSSMiB: 0)
        try step.exchange.finishParameters()
        // The peak of the steps themselves: the replay below writes every product's output at
        // once, which a step never holds (a split backward gives summed ranges back).
        timing.peakRSSMiB = peakRSSMiB()
        // The step's matrix products alone (AdamW, clipping and the exchange make none).
        let replays = min(40, max(1, Int(1000 / times.min()!)))  // about a second of replays, at least one
        products = try model.timeMatrixProducts(of: {
            model.zeroGradients()
            _ = try forward(batches[0])
            model.backward()
        }, repeats: replays)
        return timing
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
