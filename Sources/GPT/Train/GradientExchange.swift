import Foundation
import Parallel

/// The data-parallel exchange of a training step: which rank owns which part of the flat
/// buffers, how the gradients are cut into buckets, and the order of the collectives. It is the
/// one place that turns "these gradients are final" into communication; the model knows no
/// ranks and the communicator knows no model.
///
/// Backward finishes the gradient buffer from the back, and announces it as it goes
/// (`GPTModel.gradientsFinal`). Each bucket (whole tensors, about `bucketElements` floats, cut
/// from the back as PyTorch DDP cuts its buckets) is handed to the communicator as soon as all
/// of it is final, and the ring moves it while backward goes on:
/// - ZeRO stage 1: a reduce-scatter, so each rank ends with the sum of its own shard; after
///   AdamW on that shard, the new parameters come back by allgathers, bucket by bucket in the
///   order forward reads them, while the next forward runs (it waits for a bucket only when it
///   reaches it: `GPTModel.parametersNeeded`; wte, when it travels last, see `gatherParameters`).
/// - ZeRO stage 0: an allreduce, so every rank ends with every sum and updates everything.
/// With one rank nothing moves. `bucketElements` 0 makes one bucket of the whole buffer: one
/// exchange after backward and one allgather before the next forward.
///
/// The buffer is the model's trained one (`GPTModel.trainedGradients`): every parameter, or
/// with LoRA the adapters alone, which then are all that is reduced, sharded and gathered (the
/// frozen base is the same on every rank and never travels).
public final class GradientExchange {
    /// The settings of the exchange.
    public struct Settings: Sendable, Equatable {
        /// Floats per gradient bucket (0: one bucket).
        public var bucketElements: Int
        /// 0: every rank keeps every AdamW moment; 1: each rank its shard's (ZeRO stage 1).
        public var zeroStage: Int
        /// How gradients travel (parameters always travel as Float32).
        public var wire: WireFormat

        public init(bucketElements: Int = bucketElements(megabytes: 25), zeroStage: Int = 1, wire: WireFormat = .float32) {
            self.bucketElements = bucketElements
            self.zeroStage = zeroStage
            self.wire = wire
        }

        /// `bucket_mb` megabytes (10⁶ bytes, as DDP's bucket_cap_mb) of Float32 gradients.
        public static func bucketElements(megabytes: Double) -> Int { Int((megabytes * 1_000_000 / 4).rounded()) }
    }

    public let settings: Settings
    let communicator: any Communicator
    /// Each rank's shard of the flat buffer, in rank order: its 1/N part of every bucket (in
    /// increasing order), so that every bucket's ring moves the same bytes both ways on every
    /// link. The parts start at multiples of 16 floats (no two ranks' writes share a cache line).
    public let shards: [[Range<Int>]]
    /// What this rank's AdamW updates: its shard under ZeRO stage 1, else everything.
    public let owned: [Range<Int>]
    /// Buckets in the order backward finishes them (from the back of the buffer).
    public let buckets: [Range<Int>]
    /// Each bucket's parts per rank, as counts (the blocks of a ring collective over it).
    private let blockCounts: [[Int]]
    private let count: Int

    private var gradientRequests: [CollectiveRequest] = []
    /// The bucket of each of `gradientRequests` (they start in the order buckets complete).
    private var gradientRequestBuckets: [Int] = []
    /// Which buckets' reductions have started in this backward, and which tensors are final.
    private var started: [Bool]
    private var finalTensors: [Bool]
    /// Each bucket's tensors (indices into `layout.tensors`).
    private let bucketTensors: [Range<Int>]
    private let tensorOffsets: [Int]
    /// The token embedding's range (nil when it does not train), and each rank's part of it
    /// (when it is a bucket of its own: see `defersTokenRows`).
    private let tokenEmbedding: Range<Int>?
    private let tokenEmbeddingParts: [Range<Int>]
    private let embeddingWidth: Int
    /// Whether wte's gradient is reduced as soon as lm_head's backward is done, the embedding
    /// lookup's rows (deferred by the model) following after backward as a small allgather.
    public let defersTokenRows: Bool
    /// Whether this step's wte lookup rows travel apart (`defersTokenRows` and few enough rows).
    private var rowsTravelApart = false
    /// Every rank's deferred rows: per rank, its positions' tokens (as floats) then their rows.
    private var tokenRows: UnsafeMutableBufferPointer<Float>?
    private var tokenRowsRequest: CollectiveRequest?
    /// Allgathers in flight, in forward order, and how far the parameters are complete.
    private var gatherRequests: [(range: Range<Int>, request: CollectiveRequest, bucket: Int)] = []
    /// True from `gatherParameters` to the next forward's embedding lookup, when that lookup
    /// fetches its wte rows instead of waiting for wte's allgather (queued last).
    private var fetchesTokenRows = false
    private var fetchedRows: UnsafeMutableBufferPointer<Float>?
    private let lock = NSLock()

    /// Seconds spent waiting for the network since the last `resetCounters` (the exchange's
    /// exposed time: what the overlap did not hide): after backward for the gradients (and the
    /// norm), and in forward for the parameters.
    public var exposedSeconds: Double { exposedGradientSeconds + exposedParameterSeconds }
    public private(set) var exposedGradientSeconds = 0.0
    public private(set) var exposedParameterSeconds = 0.0
    /// Bytes this rank sent since the last `resetCounters`.
    public private(set) var bytesSent = 0

    /// The exchange of `model`'s trained buffers (its parameters, or its LoRA adapters) between
    /// the ranks of `communicator`.
    public convenience init(model: GPTModel, communicator: any Communicator, settings: Settings) {
        self.init(layout: model.trainedLayout, tokenEmbedding: model.isBaseFrozen ? nil : model.layout.tokenEmbeddingRange,
                  embeddingWidth: model.config.nEmbd, communicator: communicator, settings: settings)
    }

    /// The exchange of flat buffers laid out by `layout`, between the ranks of `communicator`;
    /// `tokenEmbedding` is wte's range in them when it trains (its lookup rows may then travel apart).
    public init(layout: any FlatLayout, tokenEmbedding: Range<Int>?, embeddingWidth: Int,
                communicator: any Communicator, settings: Settings) {
        self.settings = settings
        self.communicator = communicator
        count = layout.count
        let buckets = Self.buckets(layout: layout, elements: settings.bucketElements)
        self.buckets = buckets
        let ranks = communicator.size
        let parts = buckets.map { Self.parts(of: $0, ranks: ranks) }
        blockCounts = parts.map { $0.map(\.count) }
        shards = (0..<ranks).map { r in parts.reversed().map { $0[r] } }
        owned = settings.zeroStage == 1 ? shards[communicator.rank] : [0..<layout.count]
        tensorOffsets = layout.tensors.map(\.offset)
        bucketTensors = buckets.map { bucket in
            let first = layout.tensors.firstIndex { $0.offset >= bucket.lowerBound }!
            let end = layout.tensors.firstIndex { $0.offset >= bucket.upperBound } ?? layout.tensors.count
            return first..<end
        }
        started = Array(repeating: false, count: buckets.count)
        finalTensors = Array(repeating: false, count: layout.tensors.count)
        self.tokenEmbedding = tokenEmbedding
        tokenEmbeddingParts = Self.parts(of: tokenEmbedding ?? 0..<0, ranks: ranks)
        self.embeddingWidth = embeddingWidth
        // wte alone in its bucket (whether every rank's rows are few beside it is seen per step).
        defersTokenRows = ranks > 1 && tokenEmbedding.map { buckets.contains($0) } == true
        gradientRequests.reserveCapacity(buckets.count)
        gatherRequests.reserveCapacity(buckets.count)
    }

    /// `range` cut into `ranks` parts as equal as possible, in rank order, each starting at a
    /// multiple of 16 floats from the range's start (64 bytes).
    static func parts(of range: Range<Int>, ranks: Int) -> [Range<Int>] {
        let lines = (range.count + 15) / 16, base = range.lowerBound
        return (0..<ranks).map { r in
            min(range.upperBound, base + lines * r / ranks * 16)..<min(range.upperBound, base + lines * (r + 1) / ranks * 16)
        }
    }

    /// The buckets of `layout`'s buffer, in the order backward finishes them: whole tensors from
    /// the back until a bucket holds `elements` floats, a tensor of `elements` or more a bucket
    /// of its own (one bucket when `elements` is 0).
    static func buckets(layout: any FlatLayout, elements: Int) -> [Range<Int>] {
        guard elements > 0 else { return [0..<layout.count] }
        var buckets: [Range<Int>] = []
        var upper = layout.count
        for tensor in layout.tensors.reversed() {
            let lower = tensor.offset, end = tensor.range.upperBound
            // A big tensor closes the bucket being filled and makes its own.
            if tensor.count >= elements && upper > end {
                buckets.append(end..<upper)
                upper = end
            }
            if upper - lower >= elements {
                buckets.append(lower..<upper)
                upper = lower
            }
        }
        if upper > 0 { buckets.append(0..<upper) }
        return buckets
    }

    /// Runs `backward` (the last micro-step's) with the model announcing finished gradients, each
    /// finished bucket starting its reduction at once.
    /// Called just before each blocking wait with the collective waited for (the watchdog's
    /// hook; cheap: a value, no allocation).
    public var willWait: ((ExchangeWait) -> Void)?
    /// Called when a wait `willWait` announced is over.
    public var didWait: (() -> Void)?

    /// Waits for `request`, announcing it to `willWait` as `collective` and its end to `didWait`.
    private func wait(for request: CollectiveRequest, in collective: ExchangeWait) throws {
        willWait?(collective)
        defer { didWait?() }
        try request.wait()
    }

    public func reduceWhile(model: GPTModel, backward: () throws -> Void) throws {
        precondition(gradientRequests.isEmpty, "a reduction is already in flight")
        try throwHookFailure()
        guard communicator.size > 1 else { return try backward() }
        for i in started.indices { started[i] = false }
        for i in finalTensors.indices { finalTensors[i] = false }
        var failure: Error?
        model.gradientsFinal = { [unowned self] range in
            do { try self.gradientsFinal(range, model: model) } catch { failure = failure ?? error }
        }
        rowsTravelApart = defersTokenRows && tokenRowsFit(model)
        model.defersTokenEmbeddingGradient = rowsTravelApart
        defer {
            model.gradientsFinal = nil
            model.defersTokenEmbeddingGradient = false
        }
        try backward()
        if failure == nil {
            do {
                try gradientsFinal(0..<count, model: model)
                try startTokenRows(model)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Whether every rank's deferred rows are few beside wte's own rows: (N-1) ranks' positions
    /// against a quarter of the vocabulary (otherwise wte simply travels whole at the end).
    private func tokenRowsFit(_ model: GPTModel) -> Bool {
        let positions = model.lastPassPositions
        return (communicator.size - 1) * positions * 4 <= model.config.vocabSize
    }

    /// Marks the tensors of `range` final and starts every bucket that became complete, in
    /// bucket order (the same order on every rank: the model announces the same ranges).
    private func gradientsFinal(_ range: Range<Int>, model: GPTModel) throws {
        for (i, offset) in tensorOffsets.enumerated() where offset >= range.lowerBound && offset < range.upperBound {
            finalTensors[i] = true
        }
        let size = communicator.size, rank = communicator.rank
        for (b, bucket) in buckets.enumerated() where !started[b] && bucketTensors[b].allSatisfy({ finalTensors[$0] }) {
            started[b] = true
            let gradients = UnsafeMutableBufferPointer(rebasing: model.trainedGradients[bucket])
            let counts = blockCounts[b]
            let request: CollectiveRequest
            let bytes = settings.wire.byteCount
            if settings.zeroStage == 1 {
                request = try communicator.startReduceScatter(inPlace: gradients, counts: counts, wire: settings.wire)
                bytesSent += (bucket.count - counts[rank]) * bytes
            } else {
                request = try communicator.startAllreduce(inPlace: gradients, counts: counts, wire: settings.wire)
                bytesSent += (2 * bucket.count - counts[rank] - counts[(rank + 1) % size]) * bytes
            }
            gradientRequests.append(request)
            gradientRequestBuckets.append(b)
        }
    }

    /// After a backward that deferred wte's lookup rows: starts gathering every rank's.
    private func startTokenRows(_ model: GPTModel) throws {
        guard let deferred = model.deferredTokenGradient else { return }
        let size = communicator.size, rank = communicator.rank
        let perRank = deferred.tokens.count * (1 + embeddingWidth)
        if tokenRows == nil || tokenRows!.count != perRank * size {
            tokenRows?.deallocate()
            tokenRows = .allocate(capacity: perRank * size)
        }
        let all = tokenRows!, mine = all.baseAddress! + rank * perRank
        for (i, token) in deferred.tokens.enumerated() { mine[i] = Float(token) }
        (mine + deferred.tokens.count).update(from: deferred.rows.baseAddress!, count: deferred.rows.count)
        tokenRowsRequest = try communicator.startAllgather(inPlace: all, counts: Array(repeating: perRank, count: size))
        bytesSent += perRank * (size - 1) * 4
    }

    /// Adds every rank's deferred rows into the part of wte's summed gradient this rank keeps
    /// (all of it under stage 0), rank by rank, position by position.
    private func addTokenRows(into gradients: UnsafeMutableBufferPointer<Float>) throws {
        guard let request = tokenRowsRequest, let all = tokenRows, let tokenEmbedding else { return }
        try wait(for: request, in: .tokenRows)
        tokenRowsRequest = nil
        let size = communicator.size, c = embeddingWidth
        let keep = settings.zeroStage == 1 ? tokenEmbeddingParts[communicator.rank] : tokenEmbedding
        let perRank = all.count / size, positions = perRank / (1 + c)
        let g = gradients.baseAddress!
        for r in 0..<size {
            let tokens = all.baseAddress! + r * perRank, rows = tokens + positions
            for i in 0..<positions {
                let row = tokenEmbedding.lowerBound + Int(tokens[i]) * c
                let lower = max(row, keep.lowerBound), upper = min(row + c, keep.upperBound)
                if lower >= upper { continue }
                let source = rows + i * c - row
                for j in lower..<upper { g[j] += source[j] }
            }
        }
    }

    /// Waits for every bucket's reduction, then returns the global norm of the summed gradients;
    /// `scalars` are summed over ranks in the same allreduce as the norm's square (the caller's
    /// loss and stop flag ride along).
    public func finishGradients(of model: GPTModel, scalars: inout [Double]) throws -> Float {
        let start = DispatchTime.now().uptimeNanoseconds
        for (request, b) in zip(gradientRequests, gradientRequestBuckets) {
            try wait(for: request, in: .gradientBucket(index: b, count: buckets.count, reduceScatter: settings.zeroStage == 1))
        }
        gradientRequests.removeAll(keepingCapacity: true)
        gradientRequestBuckets.removeAll(keepingCapacity: true)
        try addTokenRows(into: model.trainedGradients)
        var sum = 0.0
        for part in shards[communicator.rank] {
            sum += GradientClipping.sumOfSquares(UnsafeBufferPointer(rebasing: model.trainedGradients[part]), threads: model.threads)
        }
        scalars.append(sum)
        if communicator.size > 1 {
            willWait?(.stepSums)
            defer { didWait?() }
            try communicator.allreduce(&scalars, op: .sum)
        }
        exposedGradientSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Float(scalars.removeLast().squareRoot())
    }

    /// After this rank's AdamW on `owned`: under ZeRO stage 1, starts the allgathers of the new
    /// parameters, bucket by bucket in the order forward reads them, and has the model's forward
    /// wait for each only where it needs it. When wte is a bucket of its own it goes last: the
    /// next forward's embedding lookup fetches just the rows of its tokens (`tokenRowsNeeded`),
    /// and the whole of wte is needed only by lm_head, after every block.
    public func gatherParameters(of model: GPTModel) throws {
        guard settings.zeroStage == 1 && communicator.size > 1 else { return }
        lock.lock()
        defer { lock.unlock() }
        precondition(gatherRequests.isEmpty, "an allgather is already in flight")
        let rank = communicator.rank, size = communicator.size
        fetchesTokenRows = rowsTravelApart
        var order = Array(buckets.indices.reversed())
        if fetchesTokenRows, let tokenEmbedding, let wte = buckets.firstIndex(of: tokenEmbedding) { order.removeAll { $0 == wte }; order.append(wte) }
        for b in order {
            let range = buckets[b], counts = blockCounts[b]
            let request = try communicator.startAllgather(
                inPlace: UnsafeMutableBufferPointer(rebasing: model.trainedParameters[range]), counts: counts)
            gatherRequests.append((range, request, b))
            bytesSent += (range.count - counts[(rank + 1) % size]) * 4
        }
        // The model's hooks cannot throw: a failure is kept and thrown by the next call of the step.
        model.parametersNeeded = { [unowned self] needed in
            do { try self.waitParameters(needed) } catch { self.keep(error) }
        }
        model.tokenRowsNeeded = { [unowned self, unowned model] tokens in
            do { try self.tokenRows(tokens, model: model) } catch { self.keep(error) }
        }
    }

    /// A failure inside a forward hook, thrown by the next `reduceWhile`, `finishGradients` or
    /// `finishParameters`.
    private var hookFailure: Error?

    private func keep(_ error: Error) {
        lock.lock()
        if hookFailure == nil { hookFailure = error }
        lock.unlock()
    }

    private func throwHookFailure() throws {
        lock.lock()
        let failure = hookFailure
        hookFailure = nil
        lock.unlock()
        if let failure { throw failure }
    }

    /// Waits until every parameter in `needed` holds its gathered value.
    public func waitParameters(_ needed: Range<Int>) throws {
        lock.lock()
        defer { lock.unlock() }
        if gatherRequests.isEmpty { return }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { exposedParameterSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        var k = 0
        while k < gatherRequests.count {
            if gatherRequests[k].range.overlaps(needed) {
                try wait(for: gatherRequests[k].request, in: .parameterBucket(index: gatherRequests[k].bucket, count: buckets.count))
                gatherRequests.remove(at: k)
            } else {
                k += 1
            }
        }
    }

    /// Before the embedding lookup: the first forward after `gatherParameters` fetches the new
    /// values of the rows its tokens read from their owners (every rank's tokens, one allgather
    /// of ids and one of rows); any other waits for wte.
    private func tokenRows(_ tokens: UnsafeBufferPointer<Int32>, model: GPTModel) throws {
        lock.lock()
        let fetch = fetchesTokenRows
        fetchesTokenRows = false
        lock.unlock()
        guard let tokenEmbedding else { return }
        guard fetch else { return try waitParameters(tokenEmbedding) }
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            lock.lock()
            exposedParameterSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            lock.unlock()
        }
        let size = communicator.size, c = embeddingWidth
        willWait?(.tokenRowFetch)
        defer { didWait?() }
        // The rows any rank reads, in increasing order (the same list on every rank).
        let all = try communicator.allgather(Array(tokens))
        let rows = Array(Set(all)).sorted()
        // Each rank gives its own elements of those rows (its part of wte's bucket).
        func pieces(_ part: Range<Int>) -> [Range<Int>] {
            rows.compactMap { row in
                let lower = tokenEmbedding.lowerBound + Int(row) * c
                let first = max(lower, part.lowerBound), end = min(lower + c, part.upperBound)
                return first < end ? first..<end : nil
            }
        }
        let allPieces = tokenEmbeddingParts.map(pieces)
        let counts = allPieces.map { $0.reduce(0) { $0 + $1.count } }
        let total = counts.reduce(0, +)
        if fetchedRows == nil || fetchedRows!.count < total {
            fetchedRows?.deallocate()
            fetchedRows = .allocate(capacity: max(total, size * tokens.count * c))
        }
        let staging = UnsafeMutableBufferPointer(rebasing: fetchedRows![0..<total])
        var next = counts[..<communicator.rank].reduce(0, +)
        for piece in allPieces[communicator.rank] {
            (staging.baseAddress! + next).update(from: model.parameters.baseAddress! + piece.lowerBound, count: piece.count)
            next += piece.count
        }
        try communicator.allgather(inPlace: staging, counts: counts)
        bytesSent += (total - counts[communicator.rank]) * 4
        // Every rank's pieces into place: the values wte's allgather will bring again.
        next = 0
        for piecesOfRank in allPieces {
            for piece in piecesOfRank {
                (model.parameters.baseAddress! + piece.lowerBound).update(from: staging.baseAddress! + next, count: piece.count)
                next += piece.count
            }
        }
    }

    /// Waits for every parameter (before anything reads them all: an evaluation's checksum, a
    /// checkpoint, the end of training).
    public func finishParameters() throws {
        lock.lock()
        fetchesTokenRows = false
        lock.unlock()
        try waitParameters(0..<count)
        try throwHookFailure()
    }

    /// Zeroes `exposedSeconds` and `bytesSent`.
    public func resetCounters() {
        exposedGradientSeconds = 0
        exposedParameterSeconds = 0
        bytesSent = 0
    }
}
