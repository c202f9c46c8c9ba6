extension GPTModel {
    /// Adds the gradient of `lossScale × loss` of the last forward pass to `trainedGradients`
    /// (the classifier's part was added by that forward pass, chunk by chunk). With the base
    /// frozen (LoRA) only the adapters' gradients are computed: no base weight's, no embedding's.
    /// Requires a forward pass with targets (and `gradientsEnabled`) since the last `backward`.
    public func backward() {
        precondition(backwardReady, "backward() needs a forward pass with targets (and gradientsEnabled) before it")
        backwardReady = false
        deferredTokenGradient = nil
        // Split across threads: each range is summed over the slices (and announced to a
        // listener) as soon as every slice has finished it, in backward order. Slices after the
        // first add into buffers of their own, zero between steps: the sum clears what it reads.
        let progress = activeSlices > 1 ? sliceProgress(announce: gradientsFinal ?? { _ in }) : nil
        forEachSlice { k in backwardSlice(pass(k), progress: progress) }
        if let progress {
            let complete = progress.finish()
            precondition(complete, "every range of a split backward is summed and announced")
        }
    }

    /// Adds what the slices after the first wrote at `range` into `trainedGradients` and clears
    /// their buffers (handing the pages back), slice by slice: the same sums however the buffer
    /// is cut into ranges.
    private func addSliceGradients(_ range: Range<Int>) {
        let g = trainedGradients.baseAddress!, extra = sliceGradients!
        for k in 0..<(activeSlices - 1) {
            let src = extra.start(slice: k)
            var i = range.lowerBound
            while i &+ 8 <= range.upperBound {
                store8(load8(g + i) + load8(src + i), g + i)
                i &+= 8
            }
            while i < range.upperBound { g[i] += src[i]; i &+= 1 }
            extra.clear(range, slice: k)
        }
    }

    /// The reset tracker of a split backward's ranges (made once per model).
    private func sliceProgress(announce: @escaping (Range<Int>) -> Void) -> SliceProgress {
        let progress = splitProgress ?? SliceProgress(ranges: trainedBackwardRanges)
        splitProgress = progress
        progress.reset(slices: activeSlices, announce: announce) { [unowned self] in self.addSliceGradients($0) }
        return progress
    }

    private func backwardSlice(_ p: Pass, progress: SliceProgress?) {
        let a = p.a
        let c = config.nEmbd, bt = p.rows
        let params = parameters.baseAddress!
        // The base's gradients (none when frozen: p.grads are then the adapters').
        let grads: FloatPointer? = isBaseFrozen ? nil : p.grads
        // The classifier's backward ran in forward: ln_f's output gradient is in dNorm.
        // One slice writes the gradients themselves and says what is final as it goes; split
        // slices report to `progress`, which sums and announces each range once all are done.
        let announce = activeSlices == 1 ? gradientsFinal : nil
        let defers = activeSlices == 1 && defersTokenEmbeddingGradient && !isBaseFrozen
        let ranges = trainedBackwardRanges
        func finished(_ index: Int) {
            announce?(ranges[index])
            progress?.finished(index)
        }
        if defers { announce?(layout.tokenEmbeddingRange) }
        a.dResidual.update(repeating: 0, count: bt * c)
        LayerNorm.backward(dinp: a.dResidual, dweight: grads.map { $0 + layout.finalNormWeight },
                           dbias: grads.flatMap { g in layout.finalNormBias.map { g + $0 } }, dout: a.dNorm,
                           inp: a.residual[config.nLayer], weight: params + layout.finalNormWeight,
                           mean: a.lnfMean, rstd: a.lnfRstd, rows: bt, columns: c,
                           partials: a.normPartials, splitter: p.splitter)
        finished(0)
        let attention = Attention(batch: p.batch, seq: p.seq, heads: config.nHead, headSize: config.headSize)
        for l in stride(from: config.nLayer - 1, through: 0, by: -1) {
            // Shared block buffers hold the last block's activations after forward; recompute
            // every other block from its saved input first.
            if a.recomputesBlocks && l < config.nLayer - 1 {
                blockForward(l, p, params: params, attention: attention, training: true)
            }
            // A slice with a buffer of its own that hands summed pages back keeps at most
            // sliceRangesInFlight block ranges unsummed: before touching one more it waits for
            // the slowest slice.
            if p.slice > 0, sliceGradients?.releasesPages == true {
                progress?.waitUntilSummed(config.nLayer - l - Self.sliceRangesInFlight)
            }
            blockBackward(l, p, params: params, attention: attention)
            finished(config.nLayer - l)
        }
        if !isBaseFrozen { embeddingBackward(p, tokenRows: !defers) }
        if defers {
            deferredTokenGradient = (UnsafeBufferPointer(start: a.tokens, count: bt),
                                     UnsafeBufferPointer(start: a.dResidual, count: bt * c))
        }
        finished(config.nLayer + 1)
    }

    private func blockBackward(_ l: Int, _ p: Pass, params: FloatPointer, attention: Attention) {
        let c = config.nEmbd, bt = p.rows, a = p.a
        let grads: FloatPointer? = isBaseFrozen ? nil : p.grads
        let w = layout.blocks[l], s = a.blocks[l]
        let residualBase = p.batchOffset * p.seq * c
        func g(_ o: Int?) -> FloatPointer? { grads.flatMap { g in o.map { g + $0 } } }

        // MLP branch: out = mid + dropout(c_proj(gelu(c_fc(ln_2(mid))))).
        var dBranch = UnsafePointer(a.dResidual)
        if let m = mask(site: .mlpOutput(block: l)) {
            m.apply(out: a.dBranch, inp: a.dResidual, count: bt * c, base: residualBase, splitter: p.splitter)
            dBranch = UnsafePointer(a.dBranch)
        }
        // GELU's output and its derivative (in place of the pre-activation): kept by forward,
        // or computed again.
        if !a.keepsGELUOutput {
            GELU.forward(out: s.fcAct, inp: s.fcPre, derivative: s.fcPre, count: bt * 4 * c, splitter: p.splitter)
        }
        linearBackward(dinp: a.dFC, dweight: g(w.mlpProjWeight), dbias: g(w.mlpProjBias), dout: dBranch,
                       inp: s.fcAct, weight: params + w.mlpProjWeight, rows: bt, inFeatures: 4 * c,
                       outFeatures: c, ones: a.ones)
        loraBackward(block: l, target: .feedForwardProjection, dout: dBranch, inp: s.fcAct, dinp: a.dFC, p)
        GELU.backward(dinout: a.dFC, derivative: s.fcPre, count: bt * 4 * c, splitter: p.splitter)
        linearBackward(dinp: a.dNorm, dweight: g(w.fcWeight), dbias: g(w.fcBias), dout: a.dFC,
                       inp: s.ln2, weight: params + w.fcWeight, rows: bt, inFeatures: c, outFeatures: 4 * c,
                       ones: a.ones)
        loraBackward(block: l, target: .feedForward, dout: a.dFC, inp: s.ln2, dinp: a.dNorm, p)
        LayerNorm.backward(dinp: a.dResidual, dweight: g(w.ln2Weight), dbias: g(w.ln2Bias), dout: a.dNorm,
                           inp: s.mid, weight: params + w.ln2Weight, mean: s.ln2Mean, rstd: s.ln2Rstd,
                           rows: bt, columns: c, partials: a.normPartials, splitter: p.splitter)

        // Attention branch: mid = x + dropout(c_proj(attention(c_attn(ln_1(x))))).
        dBranch = UnsafePointer(a.dResidual)
        if let m = mask(site: .attentionOutput(block: l)) {
            m.apply(out: a.dBranch, inp: a.dResidual, count: bt * c, base: residualBase, splitter: p.splitter)
            dBranch = UnsafePointer(a.dBranch)
        }
        linearBackward(dinp: a.dAttnOut, dweight: g(w.attnProjWeight), dbias: g(w.attnProjBias),
                       dout: dBranch, inp: s.attnOut, weight: params + w.attnProjWeight, rows: bt,
                       inFeatures: c, outFeatures: c, ones: a.ones)
        loraBackward(block: l, target: .attentionProjection, dout: dBranch, inp: s.attnOut, dinp: a.dAttnOut, p)
        attention.backward(dqkv: a.dQKV, dout: a.dAttnOut, out: s.attnOut, lse: s.lse, qkv: s.qkv,
                           dropout: mask(site: .attentionWeights(block: l)), batchOffset: p.batchOffset,
                           scratch: a.attentionScratch, threads: p.threads)
        linearBackward(dinp: a.dNorm, dweight: g(w.attnWeight), dbias: g(w.attnBias), dout: a.dQKV,
                       inp: s.ln1, weight: params + w.attnWeight, rows: bt, inFeatures: c, outFeatures: 3 * c,
                       ones: a.ones)
        loraBackward(block: l, target: .attention, dout: a.dQKV, inp: s.ln1, dinp: a.dNorm, p)
        LayerNorm.backward(dinp: a.dResidual, dweight: g(w.ln1Weight), dbias: g(w.ln1Bias), dout: a.dNorm,
                           inp: a.residual[l], weight: params + w.ln1Weight, mean: s.ln1Mean, rstd: s.ln1Rstd,
                           rows: bt, columns: c, partials: a.normPartials, splitter: p.splitter)
    }

    /// Scatters the residual stream's gradient into the token (unless `tokenRows` is false) and
    /// position embeddings.
    private func embeddingBackward(_ p: Pass, tokenRows: Bool) {
        let c = config.nEmbd, t = p.seq, bt = p.rows, a = p.a
        if let m = mask(site: .embeddings) {
            m.apply(out: a.dResidual, inp: a.dResidual, count: bt * c, base: p.batchOffset * t * c,
                    splitter: p.splitter)
        }
        let dwte = p.grads + layout.tokenEmbedding, dwpe = p.grads + layout.positionEmbedding
        let c8 = c & ~7
        if !tokenRows {
            for r in 0..<bt {
                let d = a.dResidual + r * c, pe = dwpe + (r % t) * c
                var i = 0
                while i < c8 { store8(load8(pe + i) + load8(d + i), pe + i); i &+= 8 }
                while i < c { pe[i] += d[i]; i &+= 1 }
            }
            return
        }
        // Serial: rows with the same token add into the same wte row.
        for r in 0..<bt {
            let d = a.dResidual + r * c
            let e = dwte + Int(a.tokens[r]) * c, pe = dwpe + (r % t) * c
            var i = 0
            while i < c8 {
                let g = load8(d + i)
                store8(load8(e + i) + g, e + i)
                store8(load8(pe + i) + g, pe + i)
                i &+= 8
            }
            while i < c { e[i] += d[i]; pe[i] += d[i]; i &+= 1 }
        }
    }
}
