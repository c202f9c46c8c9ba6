/// The LoRA adapter of one Linear of a block, in forward and backward: `y += scale·(drop(x)·Aᵀ)·Bᵀ`.
extension GPTModel {
    /// The dropout mask of block `l`'s adapter on `target`'s input for the current pass, or nil
    /// when lora_dropout is off (or in evaluation). Its sites follow the model's own (`DropoutSite`).
    func loraMask(block l: Int, target: LoRATarget) -> DropoutMask? {
        guard loraDropoutActive, let lora else { return nil }
        return DropoutMask(stepKey: stepKey, site: .loraInput(block: l, target: target, layers: config.nLayer),
                           probability: lora.config.dropout)
    }

    /// Adds block `l`'s adapter on `target` to `out` ([rows, out], which holds the base Linear's
    /// output), keeping the projection `drop(inp)·Aᵀ` for backward. Nothing without an adapter.
    func loraForward(block l: Int, target: LoRATarget, out: FloatPointer, inp: UnsafePointer<Float>, _ p: Pass) {
        guard let lora, let la = p.lora, let adapter = lora.layout.adapter(block: l, target: target) else { return }
        let (a, b) = adapter
        let r = lora.config.rank, (outFeatures, inFeatures) = target.shape(embedding: config.nEmbd)
        let t = lora.config.targets.firstIndex(of: target)!
        let params = lora.parameters.baseAddress!, rows = p.rows
        var x = inp
        if let m = loraMask(block: l, target: target), let dropped = la.dropped {
            m.apply(out: dropped, inp: inp, count: rows * inFeatures, base: p.batchOffset * p.seq * inFeatures,
                    splitter: p.splitter)
            x = UnsafePointer(dropped)
        }
        let u = la.projected[l][t]
        sgemm(transB: true, m: rows, n: r, k: inFeatures, a: x, lda: inFeatures, b: params + a, ldb: inFeatures,
              beta: 0, c: u, ldc: r)
        sgemm(transB: true, m: rows, n: outFeatures, k: r, alpha: lora.config.scale, a: u, lda: r, b: params + b,
              ldb: r, beta: 1, c: out, ldc: outFeatures)
    }

    /// Backward of block `l`'s adapter on `target`: adds A's and B's gradients (into the slice's
    /// adapter gradients, `p.grads`) and the adapter's part of the input gradient into `dinp`,
    /// from `dout` (the Linear's output gradient) and `inp` (its input, as forward saw it).
    func loraBackward(block l: Int, target: LoRATarget, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                      dinp: FloatPointer, _ p: Pass) {
        guard let lora, let la = p.lora, let adapter = lora.layout.adapter(block: l, target: target) else { return }
        let (a, b) = adapter
        let r = lora.config.rank, scale = lora.config.scale
        let (outFeatures, inFeatures) = target.shape(embedding: config.nEmbd)
        let t = lora.config.targets.firstIndex(of: target)!
        let params = lora.parameters.baseAddress!, grads = p.grads, rows = p.rows
        let u = la.projected[l][t], du = la.dProjected
        // dB += scale · doutᵀ·u;  du = scale · dout·B
        sgemm(transA: true, m: outFeatures, n: r, k: rows, alpha: scale, a: dout, lda: outFeatures, b: u, ldb: r,
              beta: 1, c: grads + b, ldc: r)
        sgemm(m: rows, n: r, k: outFeatures, alpha: scale, a: dout, lda: outFeatures, b: params + b, ldb: r,
              beta: 0, c: du, ldc: r)
        let mask = loraMask(block: l, target: target)
        let base = p.batchOffset * p.seq * inFeatures
        var x = inp
        if let mask, let dropped = la.dropped {
            mask.apply(out: dropped, inp: inp, count: rows * inFeatures, base: base, splitter: p.splitter)
            x = UnsafePointer(dropped)
        }
        // dA += duᵀ · drop(x)
        sgemm(transA: true, m: r, n: inFeatures, k: rows, a: du, lda: r, b: x, ldb: inFeatures, beta: 1,
              c: grads + a, ldc: inFeatures)
        // dx += mask ⊙ (du·A)
        if let mask, let dropped = la.dropped {
            sgemm(m: rows, n: inFeatures, k: r, a: du, lda: r, b: params + a, ldb: inFeatures, beta: 0,
                  c: dropped, ldc: inFeatures)
            mask.addMasked(out: dinp, a: dinp, b: dropped, count: rows * inFeatures, base: base, splitter: p.splitter)
        } else {
            sgemm(m: rows, n: inFeatures, k: r, a: du, lda: r, b: params + a, ldb: inFeatures, beta: 1,
                  c: dinp, ldc: inFeatures)
        }
    }
}
