import Foundation
import GPT

/// Continuous batching on one thread: completions wait in a queue for one of `maxBatch` slots of
/// a `BatchDecoder`; between decode steps the engine admits waiting ones (the prompts admitted
/// together prefilled in one pass), drops cancelled ones, draws every active sequence's next token, and runs one
/// step for all that go on. Each sequence samples from its own seeded stream, so its text does
/// not depend on what shares its steps.
final class BatchEngine: @unchecked Sendable {
    /// Why a completion was not taken.
    enum Refusal: Error {
        /// `maxQueue` completions are already waiting.
        case queueFull
        /// The server is draining (SIGTERM).
        case shuttingDown
    }

    private let decoder: BatchDecoder
    private let metrics: ServerMetrics
    private let maxQueue: Int
    /// A test hook (GPT_DIST_TEST_STEP_DELAY_MS): sleep this long before every decode step.
    private let stepDelay: UInt32

    private let condition = NSCondition()
    private var waiting: [CompletionJob] = []       // guarded by `condition`
    private var activeCount = 0                     // guarded by `condition`
    private var draining = false                    // guarded by `condition`
    private var active: [Int: CompletionJob] = [:]  // slot → job; engine thread only
    private var freeSlots: [Int]
    private let finished = DispatchSemaphore(value: 0)

    init(decoder: BatchDecoder, maxQueue: Int, metrics: ServerMetrics, stepDelayMilliseconds: Int = 0) {
        self.decoder = decoder
        self.maxQueue = maxQueue
        self.metrics = metrics
        stepDelay = UInt32(max(0, min(stepDelayMilliseconds, 60_000))) * 1000
        freeSlots = Array((0..<decoder.slotCount).reversed())
    }

    /// Most completions that may wait for a slot.
    var queueLimit: Int { maxQueue }

    /// Starts the engine's thread.
    func start() {
        let thread = Thread { [self] in loop(); finished.signal() }
        thread.name = "gpt-dist decode"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Queues `job`, or refuses it when the queue is full or the server drains.
    func submit(_ job: CompletionJob) throws {
        condition.lock()
        defer { condition.unlock() }
        if draining { throw Refusal.shuttingDown }
        // A free slot takes the job at once; otherwise it waits, up to maxQueue of them.
        if activeCount + waiting.count >= decoder.slotCount + maxQueue { throw Refusal.queueFull }
        waiting.append(job)
        metrics.occupancy(waiting: max(0, activeCount + waiting.count - decoder.slotCount), active: activeCount)
        condition.signal()
    }

    /// Forgets a waiting `job` at once, or marks an active one to leave at the next step.
    func cancel(_ job: CompletionJob) {
        job.cancel()
        condition.lock()
        defer { condition.unlock() }
        if let i = waiting.firstIndex(where: { $0 === job }) {
            waiting.remove(at: i)
            metrics.cancellation(tokens: 0)
            job.abort(nil)
        }
        condition.signal()
    }

    /// Refuses new completions from now on; the engine's thread ends once every accepted one
    /// has finished. Returns at once.
    func drain() {
        condition.lock()
        draining = true
        condition.signal()
        condition.unlock()
    }

    /// Whether `drain()` was called.
    var isDraining: Bool {
        condition.lock(); defer { condition.unlock() }
        return draining
    }

    /// Blocks until the engine's thread has ended (after `drain()`).
    func waitUntilFinished() { finished.wait() }

    private func loop() {
        while true {
            condition.lock()
            while waiting.isEmpty && active.isEmpty {
                if draining { condition.unlock(); return }
                condition.wait()
            }
            var admitted: [CompletionJob] = []
            while !waiting.isEmpty && active.count + admitted.count < decoder.slotCount {
                admitted.append(waiting.removeFirst())
            }
            activeCount = active.count + admitted.count
            metrics.occupancy(waiting: waiting.count, active: activeCount)
            condition.unlock()

            for (slot, job) in active where job.isCancelled {
                metrics.cancellation(tokens: job.tokens.count)
                job.abort(nil)
                release(slot)
            }
            // The prompts that arrived together are prefilled together, one pass for all.
            var joining: [(slot: Int, job: CompletionJob)] = []
            for job in admitted {
                if job.isCancelled { metrics.cancellation(tokens: 0); job.abort(nil); continue }
                let slot = freeSlots.removeLast()
                decoder.reset(slot: slot)
                joining.append((slot, job))
            }
            if !joining.isEmpty {
                do {
                    let logits = try decoder.prefill(joining.map { ($0.slot, $0.job.request.promptTokens) })
                    let v = logits.count / joining.count
                    for (row, (slot, job)) in joining.enumerated() {
                        job.pendingLogits = Array(logits[(row * v)..<((row + 1) * v)])
                        active[slot] = job
                    }
                } catch {
                    for (slot, job) in joining {
                        job.abort("prefill failed: \(error)")
                        decoder.reset(slot: slot)
                        freeSlots.append(slot)
                    }
                }
            }
            var slots: [Int] = [], tokens: [Int32] = [], ended: [CompletionJob] = []
            for slot in active.keys.sorted() {
                let job = active[slot]!
                if let token = job.advance() {
                    slots.append(slot)
                    tokens.append(token)
                } else {
                    release(slot)
                    ended.append(job)
                }
            }
            if !ended.isEmpty {
                condition.lock()
                activeCount = active.count
                metrics.occupancy(waiting: waiting.count, active: activeCount)
                condition.unlock()
                for job in ended { job.sendEnd() }
            }
            if !slots.isEmpty {
                if stepDelay > 0 { usleep(stepDelay) }
                let start = DispatchTime.now().uptimeNanoseconds
                do {
                    let logits = try decoder.step(slots: slots, tokens: tokens)
                    metrics.decodeStep(rows: slots.count, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
                    let v = logits.count / slots.count
                    for (row, slot) in slots.enumerated() {
                        active[slot]!.pendingLogits = Array(logits[(row * v)..<((row + 1) * v)])
                    }
                } catch {
                    for slot in slots {
                        active[slot]!.abort("decode step failed: \(error)")
                        release(slot)
                    }
                }
            }
            condition.lock()
            activeCount = active.count
            metrics.occupancy(waiting: waiting.count, active: activeCount)
            condition.unlock()
        }
    }

    private func release(_ slot: Int) {
        active[slot] = nil
        decoder.reset(slot: slot)
        freeSlots.append(slot)
    }
}
