extension GPTModel {
    /// Adds the gradient of `lossScale × loss` of the last forward pass to `gradients`.
    ///
    /// nanoGPT divides the loss by the number of gradient-accumulation micro-steps before
    /// `backward()`; pass that factor as `lossScale` (e.g. `1 / Float(accumulationSteps)`).
    /// Requires a forward pass with targets since the last `backward`; overwrites `logits`.
    public func backward(lossScale: Float = 1) {
        precondition(backwardReady, "backward() needs a forward pass with targets before it")
        backwardReady = false
        let a = activations!
        let c = config.nEmbd, v = config.vocabSize, bt = batch * seq
        let params = parameters.baseAddress!, grads = gradients.baseAddress!
        let scale: Float = countedTargets > 0 ? lossScale / Float(countedTargets) : 0

        CrossEntropy.backward(logits: a.logits, targets: a.targets, lse: a.lse, rows: bt, vocab: v,
                              scale: scale, splitter: splitter)
        // lm_head is wte: its gradient lands in wte's.
        linearBackward(dinp: a.dNorm, dweight: grads + layout.tokenEmbedding, dbias: nil, dout: a.logits,
                       inp: a.lnf, weight: params + layout.tokenEmbedding, rows: bt, inFeatures: c,
                       outFeatures: v, ones: a.ones)
        a.dResidual.update(repeating: 0, count: bt * c)
        LayerNorm.backward(dinp: a.dResidual, dweight: grads + layout.finalNormWeight,
                           dbias: layout.finalNormBias.map { grads + $0 }, dout: a.dNorm,
                           inp: a.residual[config.nLayer], weight: params + layout.finalNormWeight,
                           mean: a.lnfMean, rstd: a.lnfRstd, rows: bt, columns: c,
                           partials: a.normPartials, splitter: splitter)
        let attention = Attention(batch: batch, seq: seq, heads: config.nHead, headSize: config.headSize)
        for l in stride(from: config.nLayer - 1, through: 0, by: -1) {
            blockBackward(l, a, params: params, grads: grads, attention: attention)
        }
        embeddingBackward(a, grads: grads)
    }

    private func blockBackward(_ l: Int, _ a: Activations, params: FloatPointer, grads: FloatPointer,
                               attention: Attention) {
        let c = config.nEmbd, bt = batch * seq
        let w = layout.blocks[l], s = a.blocks[l]
        func g(_ o: Int?) -> FloatPointer? { o.map { grads + $0 } }

        // MLP branch: out = mid + dropout(c_proj(gelu(c_fc(ln_2(mid))))).
        var dBranch = UnsafePointer(a.dResidual)
        if let m = mask(site: 3 + 3 * l) {
            m.apply(out: a.dBranch, inp: a.dResidual, count: bt * c, splitter: splitter)
            dBranch = UnsafePointer(a.dBranch)
        }
        linearBackward(dinp: a.dFC, dweight: grads + w.mlpProjWeight, dbias: g(w.mlpProjBias), dout: dBranch,
                       inp: s.fcAct, weight: params + w.mlpProjWeight, rows: bt, inFeatures: 4 * c,
                       outFeatures: c, ones: a.ones)
        GELU.backward(dinout: a.dFC, inp: s.fcPre, count: bt * 4 * c, splitter: splitter)
        linearBackward(dinp: a.dNorm, dweight: grads + w.fcWeight, dbias: g(w.fcBias), dout: a.dFC,
                       inp: s.ln2, weight: params + w.fcWeight, rows: bt, inFeatures: c, outFeatures: 4 * c,
                       ones: a.ones)
        LayerNorm.backward(dinp: a.dResidual, dweight: grads + w.ln2Weight, dbias: g(w.ln2Bias), dout: a.dNorm,
                           inp: s.mid, weight: params + w.ln2Weight, mean: s.ln2Mean, rstd: s.ln2Rstd,
                           rows: bt, columns: c, partials: a.normPartials, splitter: splitter)

        // Attention branch: mid = x + dropout(c_proj(attention(c_attn(ln_1(x))))).
        dBranch = UnsafePointer(a.dResidual)
        if let m = mask(site: 2 + 3 * l) {
            m.apply(out: a.dBranch, inp: a.dResidual, count: bt * c, splitter: splitter)
            dBranch = UnsafePointer(a.dBranch)
        }
        linearBackward(dinp: a.dAttnOut, dweight: grads + w.attnProjWeight, dbias: g(w.attnProjBias),
                       dout: dBranch, inp: s.attnOut, weight: params + w.attnProjWeight, rows: bt,
                       inFeatures: c, outFeatures: c, ones: a.ones)
        attention.backward(dqkv: a.dQKV, dout: a.dAttnOut, probs: s.probs, qkv: s.qkv,
                           dropout: mask(site: 1 + 3 * l), scratch: a.attentionScratch, threads: threads)
        linearBackward(dinp: a.dNorm, dweight: grads + w.attnWeight, dbias: g(w.attnBias), dout: a.dQKV,
                       inp: s.ln1, weight: params + w.attnWeight, rows: bt, inFeatures: c, outFeatures: 3 * c,
                       ones: a.ones)
        LayerNorm.backward(dinp: a.dResidual, dweight: grads + w.ln1Weight, dbias: g(w.ln1Bias), dout: a.dNorm,
                           inp: a.residual[l], weight: params + w.ln1Weight, mean: s.ln1Mean, rstd: s.ln1Rstd,
                           rows: bt, columns: c, partials: a.normPartials, splitter: splitter)
    }

    /// Scatters the residual stream's gradient into the token and position embeddings.
    private func embeddingBackward(_ a: Activations, grads: FloatPointer) {
        let c = config.nEmbd, t = seq, bt = batch * seq
        if let m = mask(site: 0) { m.apply(out: a.dResidual, inp: a.dResidual, count: bt * c, splitter: splitter) }
        let dwte = grads + layout.tokenEmbedding, dwpe = grads + layout.positionEmbedding
        let c8 = c & ~7
        // Serial: rows with the same token add into the same wte row.
        for r in 0..<bt {
            let d = a.dResidual + r * c
            let e = dwte + Int(a.tokens[r]) * c, p = dwpe + (r % t) * c
            var i = 0
            while i < c8 {
                let g = load8(d + i)
                store8(load8(e + i) + g, e + i)
                store8(load8(p + i) + g, p + i)
                i &+= 8
            }
            while i < c { e[i] += d[i]; p[i] += d[i]; i &+= 1 }
        }
    }
}
