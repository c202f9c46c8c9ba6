import Foundation
import Parallel

extension Trainer {
    /// Trains until max_iters (or a stop signal, or once with eval_only). Every rank calls it.
    ///
    /// As nanoGPT, iteration `it` first evaluates when `it % eval_interval == 0`, then takes
    /// optimizer step `it` at `get_lr(it)`. The loop ends at `it == max_iters` after that
    /// evaluation (the one more step nanoGPT takes there is never saved, so it is skipped);
    /// the end of training is always evaluated, even when max_iters is not a multiple of
    /// eval_interval.
    public func run() throws -> TrainOutcome {
        var outcome = TrainOutcome(iteration: state.iteration, bestValLoss: state.bestValLoss, lastTrainLoss: nil,
                                   lastValLoss: nil, stepLosses: [], interrupted: false)
        let runStart = Date()
        var window = ThroughputWindow()
        // The test hook GPT_DIST_TEST_DIE_AT_STEP=N: the last rank of a run from iteration 0 kills
        // itself (SIGKILL) as it starts iteration N, as a rank lost to the OOM killer would die.
        let dieAt = state.iteration == 0 && rank == worldSize - 1
            ? ProcessInfo.processInfo.environment["GPT_DIST_TEST_DIE_AT_STEP"].flatMap { Int($0) } : nil
        let communicator = self.communicator
        // Collective: every rank makes its side of the channel here (nil with one rank).
        let channel = worldSize > 1 ? try communicator.makePeerChannel() : nil
        watchdog = config.collective_timeout_s > 0 || channel != nil
            ? Watchdog(timeout: config.collective_timeout_s, rank: rank, worldSize: worldSize, prefix: errorPrefix,
                       speaker: speaker ?? "rank \(rank)", channel: channel, abort: { communicator.abort(code: 1) })
            : nil
        if let watchdog {
            exchange.willWait = { [unowned watchdog] collective in watchdog.waiting(in: collective) }
            exchange.didWait = { [unowned watchdog] in watchdog.waited() }
        }
        defer {
            exchange.willWait = nil
            exchange.didWait = nil
            watchdog?.stop()
        }
        // The test hook GPT_DIST_TEST_STALL_AT_STEP=N: the last rank stops as iteration N starts.
        let stallAt = rank == worldSize - 1 ? ProcessInfo.processInfo.environment["GPT_DIST_TEST_STALL_AT_STEP"].flatMap { Int($0) } : nil
        // The test hook GPT_DIST_TEST_FREEZE_AT_STEP=N: the last rank stops its whole process
        // (SIGSTOP, its watchdog too) as iteration N starts, as a host that hangs.
        let freezeAt = rank == worldSize - 1 ? ProcessInfo.processInfo.environment["GPT_DIST_TEST_FREEZE_AT_STEP"].flatMap { Int($0) } : nil
        while true {
            let it = state.iteration
            if it == dieAt { kill(getpid(), SIGKILL) }
            StopRequest.enter(iteration: it)
            watchdog?.enter("the start", iteration: it)
            if it == stallAt { Thread.sleep(forTimeInterval: 1e6) }
            if it == freezeAt { kill(getpid(), SIGSTOP) }
            let lr = schedule.learningRate(at: it)
            stream.beginIteration()
            if it % config.eval_interval == 0 || it >= config.max_iters || config.eval_only {
                let (train, val) = try evaluateAndSave(lr: lr, elapsed: Date().timeIntervalSince(runStart), window: window)
                outcome.lastTrainLoss = train
                outcome.lastValLoss = val
            }
            if !config.eval_only && it > 0 && it % checkpointInterval == 0 && lastSavedIteration != it {
                try save(reason: "interval")
                reporter?.message("saving checkpoint to \(checkpointPath) (checkpoint_interval \(checkpointInterval))")
            }
            if config.eval_only || it >= config.max_iters { break }

            let stepStart = DispatchTime.now().uptimeNanoseconds
            let taken = try step(iteration: it, lr: lr)
            // The ranks agree on a stop through the step's allreduce, so a signal that comes after
            // it is acted on one step later; alone, the step in which it came is the last.
            let loss = taken.loss, stopRequested = taken.stop || (worldSize == 1 && StopRequest.isRequested)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
            window.add(seconds: seconds, tokens: config.tokensPerIteration)
            state.iteration = it + 1
            stream.endIteration()
            outcome.stepLosses.append(loss)
            if let reason = taken.skipped {
                try reportSkip(iteration: it, loss: loss, gradientNorm: taken.gradientNorm, lr: lr, reason: reason,
                               elapsed: Date().timeIntervalSince(runStart))
                outcome.skippedSteps = stepGuard.totalSkips
                if stepGuard.consecutiveSkips >= config.max_skipped_steps {
                    throw TrainError.tooManySkippedSteps(iteration: it, count: stepGuard.consecutiveSkips,
                                                         reason: reason.description)
                }
            } else if it % config.log_interval == 0, let reporter {
                let rate = window.tokensPerSecond
                let mfu = flops.mfu(tokensPerSecond: rate, peakFlops: peakFlops)
                let remaining = Double(config.max_iters - state.iteration) * window.secondsPerStep
                try reporter.logStep(
                    Progress.Status(iteration: it, total: config.max_iters, loss: loss, lr: lr, tokensPerSecond: rate,
                                    mfu: mfu, eta: remaining),
                    record: MetricsRecord(event: .train, iter: it, loss: loss, lr: lr, tokensPerSecond: rate, mfu: mfu,
                                          elapsed: Date().timeIntervalSince(runStart)))
                window.reset()
            }
            if stopRequested {
                try save(reason: "stopped")
                reporter?.message("stopped at iteration \(state.iteration): checkpoint saved to \(checkpointPath) (resume with --set init_from=resume)")
                outcome.interrupted = true
                break
            }
        }
        try exchange.finishParameters()
        reporter?.finish()
        if ProcessInfo.processInfo.environment["GPT_DIST_PROFILE"] != nil, let reporter {
            reporter.message(profile.summary(steps: outcome.stepLosses.count))
        }
        outcome.iteration = state.iteration
        outcome.bestValLoss = state.bestValLoss
        return outcome
    }

    /// What one optimizer step did.
    struct StepTaken {
        /// The mean loss over the step's global batch, and the gradient norm before clipping.
        var loss: Double
        var gradientNorm: Double
        /// Why `StepGuard` skipped the update (nil: taken).
        var skipped: StepGuard.SkipReason?
        /// Whether any rank was asked to stop.
        var stop: Bool
    }

    /// One optimizer step: this rank's micro-batches, gradients summed over ranks, clip, and
    /// AdamW unless `stepGuard` skips the update (the same decision on every rank).
    func step(iteration it: Int, lr: Double) throws -> StepTaken {
        let b = config.batch_size, t = config.block_size
        model.isTraining = true
        var lossSum = 0.0
        var skipped: StepGuard.SkipReason?
        let accumulation = Double(config.gradient_accumulation_steps)
        let poisoned = poisonedSteps?.contains(it) == true && rank == worldSize - 1
        var clock = profile.start()
        let exposedBefore = exchange.exposedSeconds
        let result = try dataParallel.run(
            microSteps: microStepsPerRank, lossScale: 1 / Float(config.gradient_accumulation_steps),
            learningRate: Float(lr), maxGradNorm: Float(config.grad_clip),
            microStep: { a in
                watchdog?.enter("micro-step \(a + 1) of \(microStepsPerRank) (forward, backward, the gradient exchange)", iteration: it)
                try stream.trainingBatch(rank: rank, microStep: a, inputs: &inputs, targets: &targets)
                profile.add(.data, since: &clock)
                if config.dropout > 0 || (config.loraConfig?.dropout ?? 0) > 0 {
                    // Masks depend on the global micro-step, not on the rank that runs it.
                    model.dropoutGenerator = RandomGenerator(
                        seed: CounterSeed.dropout(seed: config.seed, step: it, microStep: rank * microStepsPerRank + a))
                }
                // The test hook: NaN gradients (through the loss scale) and a NaN loss.
                if poisoned { model.lossScale = .nan }
                lossSum += Double(try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t))
                if poisoned { lossSum = .nan }
            },
            scalars: {
                watchdog?.enter("the wait for the step's gradient sums and norm", iteration: it)
                return [lossSum, StopRequest.isRequested ? 1 : 0]
            },
            shouldUpdate: { norm, summed in
                skipped = stepGuard.check(loss: summed[0] / accumulation, gradientNorm: Double(norm))
                return skipped == nil
            })
        // Compute (backward included) and the optimizer, less what the network made the rank wait.
        let waited = exchange.exposedSeconds - exposedBefore
        profile.add(.compute, since: &clock)
        profile.seconds[.compute, default: 0] -= waited
        profile.seconds[.exchange, default: 0] += waited
        return StepTaken(loss: result.scalars[0] / accumulation, gradientNorm: Double(result.gradientNorm),
                         skipped: skipped, stop: result.scalars[1] > 0)
    }

    /// A skipped update: one line, and a `skip` record counting the run's skips.
    func reportSkip(iteration it: Int, loss: Double, gradientNorm: Double, lr: Double, reason: StepGuard.SkipReason,
                    elapsed: Double) throws {
        guard let reporter else { return }
        reporter.message("iteration \(it): update skipped, its \(reason) (\(stepGuard.consecutiveSkips) in a row, \(stepGuard.totalSkips) in this run; max_skipped_steps \(config.max_skipped_steps))")
        try reporter.log(MetricsRecord(event: .skip, iter: it, loss: loss, lr: lr, tokensPerSecond: .nan, mfu: .nan,
                                       elapsed: elapsed, gradNorm: gradientNorm, reason: reason.code,
                                       skipped: stepGuard.totalSkips))
    }

    /// nanoGPT's estimate_loss on both splits, the replica check, the eval record, and a
    /// checkpoint when val improved (or always_save_checkpoint).
    func evaluateAndSave(lr: Double, elapsed: Double, window: ThroughputWindow) throws -> (Double, Double) {
        let it = state.iteration
        var clock = profile.start()
        defer { profile.add(.evaluation, since: &clock) }
        try exchange.finishParameters()
        let train = try estimateLoss(split: .train)
        let val = try estimateLoss(split: .val)
        try checkReplicas(iteration: it)
        if let reporter {
            let rate = window.tokensPerSecond
            try reporter.logEval(MetricsRecord(event: .eval, iter: it, loss: train, valLoss: val, lr: lr, tokensPerSecond: rate,
                                               mfu: flops.mfu(tokensPerSecond: rate, peakFlops: peakFlops),
                                               elapsed: elapsed),
                                 trainLoss: train, valLoss: val)
        }
        if config.eval_only { return (train, val) }
        if val < state.bestValLoss || config.always_save_checkpoint {
            let isBest = val < state.bestValLoss
            state.bestValLoss = val
            if it > 0 {
                try save(reason: "eval", isBest: isBest)
                reporter?.message("saving checkpoint to \(checkpointPath)")
            }
        }
        return (train, val)
    }

    /// nanoGPT's estimate_loss: the mean loss over eval_iters random batches of `split` on every
    /// rank (as each DDP rank of nanoGPT evaluates), averaged over the ranks. The batches are the
    /// ranks' parts of eval_iters blocks of the stream (`BatchStream`), so runs with the same
    /// batch_size × ranks evaluate the same sequences.
    func estimateLoss(split: DataSplit) throws -> Double {
        let b = config.batch_size, t = config.block_size
        model.isTraining = false
        model.gradientsEnabled = false  // nanoGPT's @torch.no_grad()
        defer {
            model.isTraining = true
            model.gradientsEnabled = true
        }
        stream.drawEvaluation(split)
        var losses = [Double](repeating: 0, count: config.eval_iters)
        for k in 0..<config.eval_iters {
            watchdog?.enter("evaluation batch \(k + 1) of \(config.eval_iters) (\(split))", iteration: state.iteration)
            try stream.evaluationBatch(k, rank: rank, inputs: &inputs, targets: &targets)
            losses[k] = Double(try model.forward(inputs: inputs, targets: targets, batchSize: b, sequenceLength: t))
        }
        if worldSize > 1 { try waiting(in: .evaluationLosses) { try communicator.allreduce(&losses, op: .sum) } }
        return losses.reduce(0, +) / Double(config.eval_iters * worldSize)
    }

    /// Every replica must hold the very same parameters: compare a checksum across ranks.
    func checkReplicas(iteration: Int) throws {
        guard worldSize > 1 else { return }
        var sum = ReplicaChecksum.of(UnsafeBufferPointer(model.parameters))
        if let lora = model.lora { sum = sum &* 31 &+ ReplicaChecksum.of(UnsafeBufferPointer(lora.parameters)) }
        let (high, low) = try waiting(in: .replicaChecksums) {
            (try communicator.allreduce(sum, op: .max), try communicator.allreduce(sum, op: .min))
        }
        if high != low { throw TrainError.replicasDiverged(iteration: iteration, minimum: low, maximum: high) }
    }

    /// Runs `body`, a collective, with the watchdog told it waits in `collective` (so the rank's
    /// peers see where it waits).
    func waiting<T>(in collective: ExchangeWait, _ body: () throws -> T) rethrows -> T {
        watchdog?.waiting(in: collective)
        defer { watchdog?.waited() }
        return try body()
    }

    /// Iterations between saves whatever the val loss (checkpoint_interval, else eval_interval).
    var checkpointInterval: Int { config.checkpoint_interval > 0 ? config.checkpoint_interval : config.eval_interval }

    /// Rank 0 writes out_dir/ckpt.h5 (and ckpt-best.h5, and keeps it as keep_last asks); every
    /// rank learns whether it worked.
    func save(reason: String, isBest: Bool = false) throws {
        var clock = profile.start()
        defer { profile.add(.checkpoint, since: &clock) }
        var status: [Int32] = [1]
        var failure: Error?
        watchdog?.enter("saving the checkpoint", iteration: state.iteration)
        StopRequest.beginSave(temporary: rank == 0 ? Checkpoint.temporaryPath(for: checkpointPath) : nil)
        defer { StopRequest.endSave() }
        try exchange.finishParameters()
        let moments = MomentShards(exchange: exchange, communicator: communicator), optimizer = self.optimizer, pause = savePause
        if rank == 0 {
            var wroteMoments = false
            do {
                state.worldSize = worldSize
                state.dataStream = stream.iterationStart
                try Checkpoint.write(to: checkpointPath, model: model, optimizer: optimizer, config: config,
                                     state: state, tokenizer: loader.tokenizer, moments: { write in
                                         // The model is in the temporary file, the moments not yet.
                                         if let pause { Thread.sleep(forTimeInterval: pause) }
                                         wroteMoments = true
                                         try moments.collect(from: optimizer, write: write)
                                     }, loraBase: loraBase)
                try CheckpointRetention(outDirectory: config.out_dir, keepLast: config.keep_last)
                    .retain(iteration: state.iteration, isBest: isBest)
            } catch {
                failure = error
                status[0] = 0
            }
            // The other ranks send their moments whatever happened here: take them.
            if !wroteMoments { try? moments.collect(from: optimizer, write: { _, _, _ in }) }
        } else {
            try waiting(in: .checkpointMoments) { try moments.collect(from: optimizer, write: { _, _, _ in }) }
        }
        if worldSize > 1 { try waiting(in: .checkpointOutcome) { try communicator.broadcast(&status, root: 0) } }
        if status[0] == 0 {
            throw failure.map(CollectiveFailure.init) ?? TrainError.peerFailed(rank: 0, during: "saving \(checkpointPath)")
        }
        lastSavedIteration = state.iteration
    }
}

/// Step time and tokens since the last log line, for tokens/s, MFU and the ETA.
struct ThroughputWindow {
    var seconds = 0.0
    var tokens = 0
    var steps = 0
    /// Smoothed seconds per step (for the ETA), kept across resets.
    var secondsPerStep = 0.0

    mutating func add(seconds s: Double, tokens n: Int) {
        seconds += s
        tokens += n
        steps += 1
        secondsPerStep = secondsPerStep == 0 ? s : 0.9 * secondsPerStep + 0.1 * s
    }

    mutating func reset() {
        seconds = 0
        tokens = 0
        steps = 0
    }

    var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : .nan }
}

/// Where a run's time goes (printed by rank 0 at the end when GPT_DIST_PROFILE is set).
struct TrainProfile {
    enum Part: String, CaseIterable {
        /// `compute`: forward, backward and AdamW; `exchange`: waiting for the network.
        case data, compute, exchange, evaluation, checkpoint
    }
    var seconds: [Part: Double] = [:]

    func start() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    mutating func add(_ part: Part, since clock: inout UInt64) {
        let now = DispatchTime.now().uptimeNanoseconds
        seconds[part, default: 0] += Double(now - clock) / 1e9
        clock = now
    }

    func summary(steps: Int) -> String {
        let parts = Part.allCases.map { part -> String in
            let s = seconds[part] ?? 0
            return String(format: "%@ %.2f s (%.2f ms/step)", part.rawValue, s, steps > 0 ? s * 1000 / Double(steps) : 0)
        }
        return "profile: " + parts.joined(separator: ", ")
    }
}
