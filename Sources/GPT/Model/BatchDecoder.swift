import Foundation

/// Key/value-cache inference for several sequences at once (continuous batching): each sequence
/// lives in a slot with its own cache and position; `step` runs one new position of every given
/// slot through the model together, one matrix product per Linear layer for all of them, while
/// each row's attention reads only its own slot's cache.
///
/// Slots are independent: sequences join (`append` to an empty slot: the prompt is prefilled in
/// one pass) and leave (`reset`) between steps. Every kernel computes a row from that row alone,
/// so a sequence's logits do not depend on which other slots share its steps (the tests check
/// this bit for bit), and `Generator` (a single slot) runs the very same computation.
///
/// Context cropping is nanoGPT's, as described on `Generator`: a slot whose `block_size`
/// positions are full is re-prefilled with its last `block_size` tokens, alone, when it grows.
public final class BatchDecoder {
    /// The model it runs (parameters are read at every call, so training in between is seen).
    public let model: GPTModel
    /// How many sequences it holds at once.
    public let slotCount: Int

    /// Tokens whose keys and values are cached, per slot, at positions 0..<count.
    private var contexts: [[Int32]]
    private let keys: [[FloatPointer]], values: [[FloatPointer]]   // [slot][layer] → [H, T, hs]
    private let x: FloatPointer, norm: FloatPointer, mean: FloatPointer, rstd: FloatPointer
    private let qkv: FloatPointer, attnOut: FloatPointer, fc: FloatPointer, scores: FloatPointer
    private let logitsBuffer: FloatPointer
    private let storage: UnsafeMutableBufferPointer<Float>
    private let splitter: WorkSplitter
    /// Positions one pass can hold (the scratch buffers' rows).
    private let rowCapacity: Int

    /// One run of consecutive new positions of one slot: `count` tokens from `start`.
    private struct Group { var slot: Int, start: Int, count: Int }

    /// A decoder with `slots` (at least one) empty slots, each cached for
    /// `model.config.blockSize` positions.
    public init(model: GPTModel, slots: Int) {
        precondition(slots >= 1, "BatchDecoder: needs at least one slot, got \(slots)")
        self.model = model
        slotCount = slots
        let cfg = model.config
        let t = cfg.blockSize, c = cfg.nEmbd, l = cfg.nLayer, v = cfg.vocabSize
        let rows = max(t, slots)   // a prefill of block_size positions, or one position per slot
        let cache = t * c
        let pieces = 2 * l * slots + 9
        let total = 2 * l * slots * cache + rows * (c + c + 1 + 1 + 3 * c + c + 4 * c + v) + t * t + 16 * pieces
        var arena = FloatArena(capacity: total)
        keys = (0..<slots).map { _ in (0..<l).map { _ in arena.take(cache) } }
        values = (0..<slots).map { _ in (0..<l).map { _ in arena.take(cache) } }
        x = arena.take(rows * c); norm = arena.take(rows * c); mean = arena.take(rows); rstd = arena.take(rows)
        qkv = arena.take(rows * 3 * c); attnOut = arena.take(rows * c); fc = arena.take(rows * 4 * c)
        scores = arena.take(t * t)
        logitsBuffer = arena.take(rows * v)
        storage = arena.storage
        contexts = Array(repeating: [], count: slots)
        splitter = WorkSplitter(threads: model.threads)
        rowCapacity = rows
    }

    deinit { storage.deallocate() }

    /// The tokens cached in `slot` (the last `block_size` of its sequence).
    public func context(ofSlot slot: Int) -> [Int32] { contexts[slot] }

    /// Empties `slot` for the next sequence.
    public func reset(slot: Int) { contexts[slot].removeAll(keepingCapacity: true) }

    /// Appends `tokens` to `slot` (a prompt's prefill when the slot is empty) in one pass and
    /// returns the logits (V floats) after the last of them, cropping to the last `block_size`
    /// tokens as nanoGPT does. With `allPositions`, returns the logits after every appended
    /// token ([n, V]); this needs the tokens to fit in the cache without cropping.
    public func append(_ tokens: [Int32], toSlot slot: Int, allPositions: Bool = false) throws -> [Float] {
        let v = model.config.vocabSize, blockSize = model.config.blockSize
        try checkSlot(slot)
        guard !tokens.isEmpty else { throw ModelError("generator: append needs at least one token") }
        for (i, token) in tokens.enumerated() { try checkToken(token, at: i) }
        let group: Group
        if contexts[slot].count + tokens.count <= blockSize {
            group = Group(slot: slot, start: contexts[slot].count, count: tokens.count)
            contexts[slot] += tokens
        } else {
            guard !allPositions else {
                throw ModelError("generator: \(contexts[slot].count + tokens.count) tokens exceed block_size \(blockSize)")
            }
            // Positions shift: recompute the cache for the last block_size tokens.
            contexts[slot] = Array((contexts[slot] + tokens).suffix(blockSize))
            group = Group(slot: slot, start: 0, count: contexts[slot].count)
        }
        run([group], logitsOfEveryRow: allPositions)
        let rows = allPositions ? tokens.count : 1
        return Array(UnsafeBufferPointer(start: logitsBuffer, count: rows * v))
    }

    /// Prefills several empty slots at once: `prompts[i].tokens` (at most `block_size` of them)
    /// into `prompts[i].slot`, in as few passes as the scratch rows allow, every prompt's rows side
    /// by side in each Linear product. Returns the logits after each prompt's last token, row `i`
    /// for `prompts[i]` ([n, V]): the same as `append` to each slot alone.
    public func prefill(_ prompts: [(slot: Int, tokens: [Int32])]) throws -> [Float] {
        let v = model.config.vocabSize, blockSize = model.config.blockSize
        guard Set(prompts.map(\.slot)).count == prompts.count else {
            throw ModelError("batch decoder: the slots of a prefill must be distinct, got \(prompts.map(\.slot))")
        }
        for (slot, tokens) in prompts {
            try checkSlot(slot)
            guard contexts[slot].isEmpty else { throw ModelError("batch decoder: slot \(slot) already holds a sequence") }
            guard !tokens.isEmpty, tokens.count <= blockSize else {
                throw ModelError("batch decoder: a prompt of \(tokens.count) tokens does not fit 1...\(blockSize)")
            }
            for (i, token) in tokens.enumerated() { try checkToken(token, at: i) }
        }
        var result = [Float](repeating: 0, count: prompts.count * v)
        var pass: [Group] = [], passRows: [Int] = [], rows = 0
        func flush() {
            guard !pass.isEmpty else { return }
            run(pass, logitsOfEveryRow: false)
            for (row, i) in passRows.enumerated() { copyLogits(row: row, into: &result, at: i) }
            pass.removeAll(); passRows.removeAll(); rows = 0
        }
        for (i, (slot, tokens)) in prompts.enumerated() {
            if rows + tokens.count > rowCapacity { flush() }
            contexts[slot] = tokens
            pass.append(Group(slot: slot, start: 0, count: tokens.count))
            passRows.append(i)
            rows += tokens.count
        }
        flush()
        return result
    }

    /// One decoding step: appends `tokens[i]` to `slots[i]` (distinct slots that hold a
    /// sequence) and returns the logits after each, row `i` for `slots[i]` ([n, V]). Slots with
    /// room in their cache run together, one batched product per Linear layer; a full slot is
    /// re-prefilled alone (nanoGPT's crop).
    public func step(slots: [Int], tokens: [Int32]) throws -> [Float] {
        let v = model.config.vocabSize, blockSize = model.config.blockSize
        guard slots.count == tokens.count else {
            throw ModelError("batch decoder: \(slots.count) slots but \(tokens.count) tokens")
        }
        guard slots.count <= slotCount, Set(slots).count == slots.count else {
            throw ModelError("batch decoder: the slots of a step must be distinct, got \(slots)")
        }
        for (i, slot) in slots.enumerated() {
            try checkSlot(slot)
            guard !contexts[slot].isEmpty else { throw ModelError("batch decoder: slot \(slot) holds no sequence") }
            try checkToken(tokens[i], at: i)
        }
        var result = [Float](repeating: 0, count: slots.count * v)
        var batched: [Group] = [], batchedRows: [Int] = []
        for (i, slot) in slots.enumerated() {
            if contexts[slot].count < blockSize {
                batched.append(Group(slot: slot, start: contexts[slot].count, count: 1))
                batchedRows.append(i)
                contexts[slot].append(tokens[i])
            } else {
                contexts[slot] = Array((contexts[slot] + [tokens[i]]).suffix(blockSize))
                run([Group(slot: slot, start: 0, count: blockSize)], logitsOfEveryRow: false)
                copyLogits(row: 0, into: &result, at: i)
            }
        }
        if !batched.isEmpty {
            run(batched, logitsOfEveryRow: false)
            for (row, i) in batchedRows.enumerated() { copyLogits(row: row, into: &result, at: i) }
        }
        return result
    }

    private func copyLogits(row: Int, into result: inout [Float], at index: Int) {
        let v = model.config.vocabSize
        result.withUnsafeMutableBufferPointer { out in
            (out.baseAddress! + index * v).update(from: logitsBuffer + row * v, count: v)
        }
    }

    private func checkSlot(_ slot: Int) throws {
        guard slot >= 0 && slot < slotCount else {
            throw ModelError("batch decoder: slot \(slot) is outside 0..<\(slotCount)")
        }
    }

    private func checkToken(_ token: Int32, at i: Int) throws {
        let v = model.config.vocabSize
        guard token >= 0 && Int(token) < v else {
            throw ModelError("generator: token \(token) at position \(i) is outside the vocabulary 0..<\(v)")
        }
    }

    /// A group of this many new positions or more (a long prompt's prefill, a crop's re-prefill
    /// of block_size positions) runs its Linear layers and attention through OpenBLAS's sgemm,
    /// which packs the weights once for all those rows and then beats `rowProduct`; shorter ones
    /// (every decode step's one position per sequence, short prompts) through `rowProduct`,
    /// which reads the weights unpacked. Which kernel a row takes depends on its own group's
    /// size only, and each kernel computes a row from that row alone, so a sequence's logits are
    /// still the same alone or batched. (shakespeare_char, 10 samples of 500 tokens, each token
    /// past the context a 64-row re-prefill: 9.7–10.3 s with rowProduct for those rows, 9.1–9.2 s
    /// with sgemm.)
    static let blasRows = 32

    /// Runs every group's positions (already in their slots' contexts) through the model: the
    /// rows of all groups side by side in each Linear product, each group's attention against its
    /// own slot's cache (whose keys and values for the new positions it writes). Leaves the
    /// logits of each group's last row (or of every row) in `logitsBuffer`, in row order.
    private func run(_ groups: [Group], logitsOfEveryRow: Bool) {
        let cfg = model.config, layout = model.layout
        let c = cfg.nEmbd, hs = cfg.headSize, heads = cfg.nHead, t = cfg.blockSize, v = cfg.vocabSize
        let p = UnsafePointer(model.parameters.baseAddress!)
        func bias(_ o: Int?) -> UnsafePointer<Float>? { o.map { p + $0 } }
        let wte = p + layout.tokenEmbedding, wpe = p + layout.positionEmbedding
        var n = 0   // rows so far
        var firstRows: [Int] = []
        for g in groups {
            firstRows.append(n)
            let context = contexts[g.slot]
            for i in 0..<g.count {
                let tok = Int(context[g.start + i]), row = x + (n + i) * c
                for j in 0..<c { row[j] = wte[tok * c + j] + wpe[(g.start + i) * c + j] }
            }
            n += g.count
        }
        let scale = 1 / Float(hs).squareRoot()
        let single = WorkSplitter(threads: 1)   // one head of one sequence is too little to share
        // Runs of consecutive groups that take the same kernel (see `blasRows`).
        var segments: [(first: Int, rows: Int, blas: Bool)] = []
        for (g, first) in zip(groups, firstRows) {
            let blas = g.count >= Self.blasRows
            if let last = segments.last, last.blas == blas {
                segments[segments.count - 1].rows += g.count
            } else {
                segments.append((first, g.count, blas))
            }
        }
        /// One Linear layer over every row, each segment with its kernel.
        func linear(out: FloatPointer, inp: UnsafePointer<Float>, weight: Int, bias b: Int?, inFeatures: Int,
                    outFeatures: Int, accumulate: Bool = false) {
            for segment in segments {
                let o = out + segment.first * outFeatures, i = inp + segment.first * inFeatures
                if segment.blas {
                    linearForward(out: o, inp: i, weight: p + weight, bias: bias(b), rows: segment.rows, inFeatures: inFeatures,
                                  outFeatures: outFeatures, accumulate: accumulate, splitter: splitter)
                } else {
                    rowProduct(out: o, inp: i, weight: p + weight, bias: bias(b), rows: segment.rows, inFeatures: inFeatures,
                               outFeatures: outFeatures, accumulate: accumulate, splitter: splitter)
                }
            }
        }
        for l in 0..<cfg.nLayer {
            let w = layout.blocks[l]
            LayerNorm.forward(out: norm, mean: mean, rstd: rstd, inp: x, weight: p + w.ln1Weight,
                              bias: bias(w.ln1Bias), rows: n, columns: c, splitter: splitter)
            linear(out: qkv, inp: norm, weight: w.attnWeight, bias: w.attnBias, inFeatures: c, outFeatures: 3 * c)
            for (g, first) in zip(groups, firstRows) {
                let total = g.start + g.count
                let q = qkv + first * 3 * c
                for h in 0..<heads {
                    let kc = keys[g.slot][l] + h * t * hs, vc = values[g.slot][l] + h * t * hs
                    for i in 0..<g.count {
                        (kc + (g.start + i) * hs).update(from: q + i * 3 * c + c + h * hs, count: hs)
                        (vc + (g.start + i) * hs).update(from: q + i * 3 * c + 2 * c + h * hs, count: hs)
                    }
                    if g.count >= Self.blasRows {
                        sgemm(transB: true, m: g.count, n: total, k: hs, alpha: scale, a: q + h * hs, lda: 3 * c,
                              b: kc, ldb: hs, beta: 0, c: scores, ldc: total)
                        for i in 0..<g.count { causalSoftmaxRow(scores + i * total, length: g.start + i + 1, width: total) }
                        sgemm(m: g.count, n: hs, k: total, a: scores, lda: total, b: vc, ldb: hs, beta: 0,
                              c: attnOut + first * c + h * hs, ldc: c)
                        continue
                    }
                    // Scores: each query row against its cached keys (dot products, no packing), scaled.
                    rowProduct(out: scores, inp: q + h * hs, weight: kc, bias: nil, rows: g.count, inFeatures: hs,
                               outFeatures: total, inStride: 3 * c, outStride: total, splitter: single)
                    for i in 0..<g.count {
                        let row = scores + i * total
                        for j in 0..<(g.start + i + 1) { row[j] *= scale }
                        causalSoftmaxRow(row, length: g.start + i + 1, width: total)
                    }
                    tileProduct(m: g.count, n: hs, k: total, a: scores, aRow: total, aColumn: 1, b: vc, ldb: hs,
                                c: attnOut + first * c + h * hs, ldc: c, accumulate: false)
                }
            }
            if let b = bias(w.attnProjBias) { copyAddingBias(out: x, x, bias: b, rows: n, columns: c, splitter: splitter) }
            linear(out: x, inp: attnOut, weight: w.attnProjWeight, bias: nil, inFeatures: c, outFeatures: c, accumulate: true)
            LayerNorm.forward(out: norm, mean: mean, rstd: rstd, inp: x, weight: p + w.ln2Weight,
                              bias: bias(w.ln2Bias), rows: n, columns: c, splitter: splitter)
            linear(out: fc, inp: norm, weight: w.fcWeight, bias: w.fcBias, inFeatures: c, outFeatures: 4 * c)
            GELU.forward(out: fc, inp: fc, count: n * 4 * c, splitter: splitter)
            if let b = bias(w.mlpProjBias) { copyAddingBias(out: x, x, bias: b, rows: n, columns: c, splitter: splitter) }
            linear(out: x, inp: fc, weight: w.mlpProjWeight, bias: nil, inFeatures: 4 * c, outFeatures: c, accumulate: true)
        }
        // Only the rows whose logits are wanted go through ln_f and the head, gathered in order
        // (always the unpacked product: a group's last row takes it whatever the group's size).
        var rows = n
        if !logitsOfEveryRow {
            rows = groups.count
            for (k, (g, first)) in zip(groups, firstRows).enumerated() where first + g.count - 1 != k {
                (x + k * c).update(from: x + (first + g.count - 1) * c, count: c)
            }
        }
        LayerNorm.forward(out: norm, mean: mean, rstd: rstd, inp: x, weight: p + layout.finalNormWeight,
                          bias: bias(layout.finalNormBias), rows: rows, columns: c, splitter: splitter)
        rowProduct(out: logitsBuffer, inp: norm, weight: wte, bias: nil, rows: rows, inFeatures: c,
                      outFeatures: v, splitter: splitter)
    }
}
