extension GPTModel {
    /// What one slice of the batch runs with: its buffers, its rows, where its gradients go and
    /// how many threads its kernels may use.
    struct Pass {
        let a: Activations
        /// The adapters' activations (LoRA only).
        let lora: LoRAActivations?
        /// Which slice of the split this is (0 writes `trainedGradients` itself).
        let slice: Int
        let batch: Int, seq: Int, batchOffset: Int
        /// This slice's trained gradients: the base's (`layout`), or with LoRA the adapters'
        /// (`LoRALayout`; the base then gets none).
        let grads: FloatPointer
        let splitter: WorkSplitter
        let threads: Int
        var rows: Int { batch * seq }
    }

    /// Slice `k`'s pass; its gradients go to `trainedGradients` (the first slice) or its own buffer.
    func pass(_ k: Int) -> Pass {
        let s = slices[k]
        let whole = activeSlices == 1
        let grads = k == 0 ? trainedGradients.baseAddress! : sliceGradients!.start(slice: k - 1)
        return Pass(a: s.activations, lora: s.lora, slice: k, batch: s.batch, seq: seq, batchOffset: s.batchOffset, grads: grads,
                    splitter: whole ? splitter : WorkSplitter(threads: 1), threads: whole ? threads : 1)
    }

    /// Runs the model on `inputs` ([batchSize, sequenceLength] token ids, row-major) and returns
    /// the mean cross-entropy over positions whose target is not -1, or NaN when `targets` is nil
    /// (or every target is -1). Without targets the logits of every position are left in
    /// `logits`. With targets the classifier runs chunk by chunk and keeps no logits; when
    /// `gradientsEnabled`, it also runs its own backward there, adding `lossScale`'s share of
    /// lm_head's gradient to wte's (so zero the gradients before a step's first forward, not
    /// between a forward and its `backward()`).
    @discardableResult
    public func forward(inputs: [Int32], targets: [Int32]?, batchSize: Int, sequenceLength: Int) throws -> Float {
        try inputs.withUnsafeBufferPointer { i in
            if let targets {
                return try targets.withUnsafeBufferPointer { t in
                    try forward(inputs: i, targets: t, batchSize: batchSize, sequenceLength: sequenceLength)
                }
            }
            return try forward(inputs: i, targets: nil, batchSize: batchSize, sequenceLength: sequenceLength)
        }
    }

    /// `forward` on token buffers; see the array version.
    @discardableResult
    public func forward(inputs: UnsafeBufferPointer<Int32>, targets: UnsafeBufferPointer<Int32>?,
                        batchSize: Int, sequenceLength: Int) throws -> Float {
        let v = config.vocabSize
        guard batchSize > 0, sequenceLength > 0 else {
            throw ModelError("batch shape [\(batchSize), \(sequenceLength)] is empty")
        }
        guard sequenceLength <= config.blockSize else {
            throw ModelError("sequence length \(sequenceLength) exceeds block_size \(config.blockSize)")
        }
        let bt = batchSize * sequenceLength
        guard inputs.count == bt else {
            throw ModelError("inputs hold \(inputs.count) tokens, expected \(batchSize)x\(sequenceLength)")
        }
        if let targets, targets.count != bt {
            throw ModelError("targets hold \(targets.count) tokens, expected \(batchSize)x\(sequenceLength)")
        }
        for i in 0..<bt where inputs[i] < 0 || Int(inputs[i]) >= v {
            throw ModelError("input token \(inputs[i]) at position \(i) is outside the vocabulary 0..<\(v)")
        }
        countedTargets = 0
        if let targets {
            for i in 0..<bt {
                let t = targets[i]
                guard t == -1 || (t >= 0 && Int(t) < v) else {
                    throw ModelError("target \(t) at position \(i) is neither -1 nor in the vocabulary 0..<\(v)")
                }
                if t >= 0 { countedTargets += 1 }
            }
        }
        reserve(batchSize: batchSize, sequenceLength: sequenceLength)
        batch = batchSize
        seq = sequenceLength
        activeSlices = sliceCount(batchSize: batchSize)
        for k in 0..<activeSlices {
            let s = slices[k]
            s.batchOffset = batchSize * k / activeSlices
            s.batch = batchSize * (k + 1) / activeSlices - s.batchOffset
            let first = s.batchOffset * sequenceLength, n = s.batch * sequenceLength
            s.activations.tokens.update(from: inputs.baseAddress! + first, count: n)
            if let targets { s.activations.targets.update(from: targets.baseAddress! + first, count: n) }
        }
        backwardReady = targets != nil && gradientsEnabled
        lastPassHadTargets = targets != nil
        if targets == nil { reserveLogits(positions: bt) }
        dropoutActive = dropoutProbability > 0
        loraDropoutActive = isTraining && (lora?.config.dropout ?? 0) > 0
        if dropoutActive || loraDropoutActive { stepKey = dropoutGenerator.next() }

        let hasTargets = targets != nil
        tokenRowsNeeded?(inputs)
        let scale: Float = countedTargets > 0 ? lossScale / Float(countedTargets) : 0
        forEachSlice { k in
            slices[k].lossSum = forwardSlice(pass(k), targets: hasTargets, gradientScale: scale)
        }
        guard hasTargets, countedTargets > 0 else { return .nan }
        var sum = 0.0
        for k in 0..<activeSlices { sum += slices[k].lossSum }
        return Float(sum / Double(countedTargets))
    }

    /// Forward pass of one slice; returns its summed loss (0 without targets).
    private func forwardSlice(_ p: Pass, targets: Bool, gradientScale: Float) -> Double {
        let c = config.nEmbd, v = config.vocabSize
        let params = parameters.baseAddress!
        // With LoRA only the adapters change between steps: each block waits for its own.
        let adapters = lora?.layout
        if adapters == nil { parametersNeeded?(layout.positionEmbedding..<layout.blockStart(0)) }
        embed(p, params: params)
        let attention = Attention(batch: p.batch, seq: p.seq, heads: config.nHead, headSize: config.headSize)
        for l in 0..<config.nLayer {
            parametersNeeded?(adapters?.blockRange(l) ?? layout.blockStart(l)..<layout.blockStart(l + 1))
            blockForward(l, p, params: params, attention: attention, training: backwardReady)
        }
        if adapters == nil {
            parametersNeeded?(layout.blockStart(config.nLayer)..<layout.count)
            parametersNeeded?(layout.tokenEmbeddingRange)
        }
        let a = p.a
        LayerNorm.forward(out: a.lnf, mean: a.lnfMean, rstd: a.lnfRstd, inp: a.residual[config.nLayer],
                          weight: params + layout.finalNormWeight,
                          bias: layout.finalNormBias.map { UnsafePointer(params + $0) },
                          rows: p.rows, columns: c, splitter: p.splitter)
        guard targets else {
            let logits = logitsStorage!.baseAddress! + p.batchOffset * p.seq * v
            linearForward(out: logits, inp: a.lnf, weight: params + layout.tokenEmbedding, bias: nil,
                          rows: p.rows, inFeatures: c, outFeatures: v, splitter: p.splitter)
            return 0
        }
        return classifier(p, params: params, gradientScale: backwardReady ? gradientScale : nil)
    }

    /// lm_head and the cross-entropy over chunks of `a.chunkRows` positions; returns the summed
    /// loss. With a `gradientScale` each chunk's logits become their gradient (`scale ·
    /// (softmax - onehot)`), which goes into wte's gradient and into `a.dNorm` (ln_f's output
    /// gradient, read by `backward`) before the next chunk: B·T·V logits are never stored.
    private func classifier(_ p: Pass, params: FloatPointer, gradientScale: Float?) -> Double {
        let c = config.nEmbd, v = config.vocabSize, a = p.a
        let wte = params + layout.tokenEmbedding
        var loss = 0.0
        var start = 0
        while start < p.rows {
            let n = min(a.chunkRows, p.rows - start)
            let inp = a.lnf + start * c, targets = a.targets + start, logits = a.classifier
            linearForward(out: logits, inp: inp, weight: wte, bias: nil, rows: n, inFeatures: c, outFeatures: v,
                          splitter: p.splitter)
            loss += CrossEntropy.forward(logits: logits, targets: targets, lse: a.lse + start, rows: n, vocab: v,
                                         partials: a.lossPartials, splitter: p.splitter).sum
            if let scale = gradientScale {
                CrossEntropy.backward(logits: logits, targets: targets, lse: a.lse + start, rows: n, vocab: v,
                                      scale: scale, splitter: p.splitter)
                // lm_head is wte: its gradient lands in wte's (none when the base is frozen).
                linearBackward(dinp: a.dNorm + start * c, dweight: isBaseFrozen ? nil : p.grads + layout.tokenEmbedding,
                               dbias: nil,
                               dout: logits, inp: inp, weight: wte, rows: n, inFeatures: c, outFeatures: v,
                               ones: a.ones)
            }
            start += n
        }
        return loss
    }

    /// Makes room for the logits of `positions` positions (forward passes without targets).
    private func reserveLogits(positions: Int) {
        let needed = positions * config.vocabSize
        if let l = logitsStorage, l.count >= needed { return }
        logitsStorage?.deallocate()
        let l = UnsafeMutableBufferPointer<Float>.allocate(capacity: needed)
        l.initialize(repeating: 0)
        logitsStorage = l
    }

    /// Token plus position embedding, then embedding dropout, into `residual[0]`.
    private func embed(_ p: Pass, params: FloatPointer) {
        let c = config.nEmbd, t = p.seq, a = p.a
        let wte = params + layout.tokenEmbedding, wpe = params + layout.positionEmbedding
        let x = a.residual[0]
        p.splitter.run(p.rows, costPerItem: c) { range, _ in
            let c8 = c & ~7
            for r in range {
                let e = wte + Int(a.tokens[r]) &* c, pe = wpe + (r % t) &* c, o = x + r &* c
                var i = 0
                while i < c8 { store8(load8(e + i) + load8(pe + i), o + i); i &+= 8 }
                while i < c { o[i] = e[i] + pe[i]; i &+= 1 }
            }
        }
        if let m = mask(site: .embeddings) {
            m.apply(out: x, inp: x, count: p.rows * c, base: p.batchOffset * t * c, splitter: p.splitter)
        }
    }

    /// Block `l`'s forward from `residual[l]` into its saved activations and `residual[l + 1]`;
    /// `training` runs GELU as backward will run it again (see `blockBackward`). Backward calls it
    /// again to recompute a block when the blocks share their buffers.
    func blockForward(_ l: Int, _ p: Pass, params: FloatPointer, attention: Attention, training: Bool) {
        let c = config.nEmbd, bt = p.rows
        let w = layout.blocks[l], s = p.a.blocks[l]
        func bias(_ o: Int?) -> UnsafePointer<Float>? { o.map { UnsafePointer(params + $0) } }
        let x = p.a.residual[l], out = p.a.residual[l + 1]

        LayerNorm.forward(out: s.ln1, mean: s.ln1Mean, rstd: s.ln1Rstd, inp: x, weight: params + w.ln1Weight,
                          bias: bias(w.ln1Bias), rows: bt, columns: c, splitter: p.splitter)
        linearForward(out: s.qkv, inp: s.ln1, weight: params + w.attnWeight, bias: bias(w.attnBias),
                      rows: bt, inFeatures: c, outFeatures: 3 * c, splitter: p.splitter)
        loraForward(block: l, target: .attention, out: s.qkv, inp: s.ln1, p)
        attention.forward(out: s.attnOut, lse: s.lse, qkv: s.qkv, dropout: mask(site: .attentionWeights(block: l)),
                          batchOffset: p.batchOffset, scratch: p.a.attentionScratch, threads: p.threads)
        residualBranch(into: s.mid, residual: x, inp: s.attnOut, weight: params + w.attnProjWeight,
                       bias: bias(w.attnProjBias), inFeatures: c, site: .attentionOutput(block: l),
                       adapter: (l, .attentionProjection), p)

        LayerNorm.forward(out: s.ln2, mean: s.ln2Mean, rstd: s.ln2Rstd, inp: s.mid, weight: params + w.ln2Weight,
                          bias: bias(w.ln2Bias), rows: bt, columns: c, splitter: p.splitter)
        linearForward(out: s.fcPre, inp: s.ln2, weight: params + w.fcWeight, bias: bias(w.fcBias),
                      rows: bt, inFeatures: c, outFeatures: 4 * c, splitter: p.splitter)
        loraForward(block: l, target: .feedForward, out: s.fcPre, inp: s.ln2, p)
        // Training computes GELU with its derivative, as backward does, so both passes see the
        // same bits. A block that keeps its output keeps the derivative too, in place of fcPre;
        // otherwise backward recomputes both from fcPre and the derivative lands in dFC, which
        // is free until backward.
        let keeps = p.a.keepsGELUOutput
        GELU.forward(out: s.fcAct, inp: s.fcPre, derivative: training ? (keeps ? s.fcPre : p.a.dFC) : nil,
                     count: bt * 4 * c, splitter: p.splitter)
        residualBranch(into: out, residual: s.mid, inp: s.fcAct, weight: params + w.mlpProjWeight,
                       bias: bias(w.mlpProjBias), inFeatures: 4 * c, site: .mlpOutput(block: l),
                       adapter: (l, .feedForwardProjection), p)
    }

    /// `into = residual + dropout(Linear(inp))`, the Linear with its LoRA adapter when it has one
    /// (`adapter`: block and target). Without dropout the product is accumulated straight onto a
    /// copy of the residual (one pass fewer).
    private func residualBranch(into: FloatPointer, residual: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                                weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, inFeatures: Int,
                                site: DropoutSite, adapter: (block: Int, target: LoRATarget), _ p: Pass) {
        let c = config.nEmbd, bt = p.rows
        if let m = mask(site: site) {
            linearForward(out: p.a.branch, inp: inp, weight: weight, bias: bias, rows: bt,
                          inFeatures: inFeatures, outFeatures: c, splitter: p.splitter)
            loraForward(block: adapter.block, target: adapter.target, out: p.a.branch, inp: inp, p)
            m.addMasked(out: into, a: residual, b: p.a.branch, count: bt * c, base: p.batchOffset * p.seq * c,
                        splitter: p.splitter)
        } else {
            copyAddingBias(out: into, residual, bias: bias, rows: bt, columns: c, splitter: p.splitter)
            linearForward(out: into, inp: inp, weight: weight, bias: nil, rows: bt, inFeatures: inFeatures,
                          outFeatures: c, accumulate: true, splitter: p.splitter)
            loraForward(block: adapter.block, target: adapter.target, out: into, inp: inp, p)
        }
    }
}
