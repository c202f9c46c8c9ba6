extension GPTModel {
    /// Runs the model on `inputs` ([batchSize, sequenceLength] token ids, row-major) and returns
    /// the mean cross-entropy over positions whose target is not -1, or NaN when `targets` is nil
    /// (or every target is -1). Logits for every position are left in `logits`.
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
        let v = config.vocabSize, c = config.nEmbd
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
        reserve(batchSize: batchSize, sequenceLength: sequenceLength)
        let a = activations!
        for i in 0..<bt {
            let token = inputs[i]
            guard token >= 0 && Int(token) < v else {
                throw ModelError("input token \(token) at position \(i) is outside the vocabulary 0..<\(v)")
            }
            a.tokens[i] = token
        }
        countedTargets = 0
        if let targets {
            for i in 0..<bt {
                let t = targets[i]
                guard t == -1 || (t >= 0 && Int(t) < v) else {
                    throw ModelError("target \(t) at position \(i) is neither -1 nor in the vocabulary 0..<\(v)")
                }
                a.targets[i] = t
                if t >= 0 { countedTargets += 1 }
            }
        }
        batch = batchSize
        seq = sequenceLength
        backwardReady = targets != nil
        let p = dropoutProbability
        dropoutActive = p > 0
        if dropoutActive { stepKey = dropoutGenerator.next() }

        let params = parameters.baseAddress!
        embed(a, params: params)
        let attention = Attention(batch: batchSize, seq: sequenceLength, heads: config.nHead,
                                  headSize: config.headSize)
        for l in 0..<config.nLayer {
            blockForward(l, a, params: params, attention: attention)
        }
        let x = a.residual[config.nLayer]
        LayerNorm.forward(out: a.lnf, mean: a.lnfMean, rstd: a.lnfRstd, inp: x,
                          weight: params + layout.finalNormWeight,
                          bias: layout.finalNormBias.map { UnsafePointer(params + $0) },
                          rows: bt, columns: c, splitter: splitter)
        linearForward(out: a.logits, inp: a.lnf, weight: params + layout.tokenEmbedding, bias: nil,
                      rows: bt, inFeatures: c, outFeatures: v, splitter: splitter)
        guard targets != nil else { return .nan }
        let (sum, count) = CrossEntropy.forward(logits: a.logits, targets: a.targets, lse: a.lse, rows: bt,
                                                vocab: v, partials: a.lossPartials, splitter: splitter)
        return count > 0 ? Float(sum / Double(count)) : .nan
    }

    /// The dropout mask of `site` for the current pass, or nil when dropout is off.
    func mask(site: Int) -> DropoutMask? {
        dropoutActive ? DropoutMask(stepKey: stepKey, site: site, probability: config.dropout) : nil
    }

    /// Token plus position embedding, then embedding dropout, into `residual[0]`.
    private func embed(_ a: Activations, params: FloatPointer) {
        let c = config.nEmbd, t = seq
        let wte = params + layout.tokenEmbedding, wpe = params + layout.positionEmbedding
        let x = a.residual[0]
        splitter.run(batch * t, costPerItem: c) { range, _ in
            let c8 = c & ~7
            for r in range {
                let e = wte + Int(a.tokens[r]) &* c, pe = wpe + (r % t) &* c, o = x + r &* c
                var i = 0
                while i < c8 { store8(load8(e + i) + load8(pe + i), o + i); i &+= 8 }
                while i < c { o[i] = e[i] + pe[i]; i &+= 1 }
            }
        }
        if let m = mask(site: 0) { m.apply(out: x, inp: x, count: batch * t * c, splitter: splitter) }
    }

    private func blockForward(_ l: Int, _ a: Activations, params: FloatPointer, attention: Attention) {
        let c = config.nEmbd, bt = batch * seq
        let w = layout.blocks[l], s = a.blocks[l]
        func bias(_ o: Int?) -> UnsafePointer<Float>? { o.map { UnsafePointer(params + $0) } }
        let x = a.residual[l], out = a.residual[l + 1]

        LayerNorm.forward(out: s.ln1, mean: s.ln1Mean, rstd: s.ln1Rstd, inp: x, weight: params + w.ln1Weight,
                          bias: bias(w.ln1Bias), rows: bt, columns: c, splitter: splitter)
        linearForward(out: s.qkv, inp: s.ln1, weight: params + w.attnWeight, bias: bias(w.attnBias),
                      rows: bt, inFeatures: c, outFeatures: 3 * c, splitter: splitter)
        attention.forward(out: s.attnOut, probs: s.probs, qkv: s.qkv, dropout: mask(site: 1 + 3 * l),
                          scratch: a.attentionScratch, threads: threads)
        residualBranch(into: s.mid, residual: x, inp: s.attnOut, weight: params + w.attnProjWeight,
                       bias: bias(w.attnProjBias), inFeatures: c, site: 2 + 3 * l, a)

        LayerNorm.forward(out: s.ln2, mean: s.ln2Mean, rstd: s.ln2Rstd, inp: s.mid, weight: params + w.ln2Weight,
                          bias: bias(w.ln2Bias), rows: bt, columns: c, splitter: splitter)
        linearForward(out: s.fcPre, inp: s.ln2, weight: params + w.fcWeight, bias: bias(w.fcBias),
                      rows: bt, inFeatures: c, outFeatures: 4 * c, splitter: splitter)
        GELU.forward(out: s.fcAct, inp: s.fcPre, count: bt * 4 * c, splitter: splitter)
        residualBranch(into: out, residual: s.mid, inp: s.fcAct, weight: params + w.mlpProjWeight,
                       bias: bias(w.mlpProjBias), inFeatures: 4 * c, site: 3 + 3 * l, a)
    }

    /// `into = residual + dropout(Linear(inp))`. Without dropout the product is accumulated
    /// straight onto a copy of the residual (one pass fewer).
    private func residualBranch(into: FloatPointer, residual: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                                weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, inFeatures: Int,
                                site: Int, _ a: Activations) {
        let c = config.nEmbd, bt = batch * seq
        if let m = mask(site: site) {
            linearForward(out: a.branch, inp: inp, weight: weight, bias: bias, rows: bt,
                          inFeatures: inFeatures, outFeatures: c, splitter: splitter)
            m.addMasked(out: into, a: residual, b: a.branch, count: bt * c, splitter: splitter)
        } else {
            copyAddingBias(out: into, residual, bias: bias, rows: bt, columns: c, splitter: splitter)
            linearForward(out: into, inp: inp, weight: weight, bias: nil, rows: bt, inFeatures: inFeatures,
                          outFeatures: c, accumulate: true, splitter: splitter)
        }
    }
}
