/// The places dropout runs in a training pass, each drawing its own mask: a mask is a pure
/// function of the step's key and the site's number, so the numbers are part of what a seed
/// reproduces and must not change. In forward order: the embeddings' sum, then per block its
/// attention weights, its attention projection and its MLP output (each before the residual add),
/// then the inputs of the LoRA adapters, one per possible target of each block.
struct DropoutSite: Equatable {
    /// The number the mask is keyed by.
    let number: Int

    /// Dropout on token + position embeddings (nanoGPT's `transformer.drop`).
    static let embeddings = DropoutSite(number: 0)
    /// Dropout on block `l`'s attention weights (`attn_dropout`).
    static func attentionWeights(block l: Int) -> DropoutSite { DropoutSite(number: 1 + sitesPerBlock * l) }
    /// Dropout on block `l`'s attention output projection (`resid_dropout` of the attention).
    static func attentionOutput(block l: Int) -> DropoutSite { DropoutSite(number: 2 + sitesPerBlock * l) }
    /// Dropout on block `l`'s MLP output (the MLP's `dropout`).
    static func mlpOutput(block l: Int) -> DropoutSite { DropoutSite(number: 3 + sitesPerBlock * l) }
    /// Dropout on the input of block `l`'s LoRA adapter on `target`, in a model of `layers`
    /// blocks: after every site of the model itself, one per possible target.
    static func loraInput(block l: Int, target: LoRATarget, layers: Int) -> DropoutSite {
        let index = LoRATarget.allCases.firstIndex(of: target)!
        return DropoutSite(number: 1 + sitesPerBlock * layers + LoRATarget.allCases.count * l + index)
    }

    /// Sites of the model in each block.
    private static let sitesPerBlock = 3
}
