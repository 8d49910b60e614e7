// IBM Granite 3.x dense (transformers `modeling_granite.py`, `GraniteForCausalLM`; llama.cpp `granite`): the llama
// layer with four scalars from config.json: embeddings times `embedding_multiplier`, each residual branch times
// `residual_multiplier`, scores times `attention_multiplier` (instead of 1/√D) and logits divided by
// `logits_scaling`. llama.cpp converts it with its llama converter (q/k rows permuted) and names the scalars
// `granite.embedding_scale`, `.residual_scale`, `.attention.scale` and `.logit_scale`.

extension ArchitectureSpec {
    static let granite = ArchitectureSpec(
        architecture: .granite, huggingFaceModelTypes: ["granite"], ggufArchitecture: "granite",
        causalLMClass: "GraniteForCausalLM", defaultMaxPositions: 2048, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: false,
        norm: .plain, sandwichNorms: false,
        layerNorm: false, parallelBlock: false, feedForwardBias: false, outputHeadBias: false,
        feedForward: .swiGLU, queryKeyNorm: false, attentionBias: .configured,
        scalesEmbedding: false, slidingWindow: .none, defaultQueryScalar: nil, defaultLocalRopeTheta: nil,
        logitSoftCapping: nil, graniteMultipliers: true, defaultPartialRotaryFactor: 1,
        ggufPermutesQueryKey: true, ggufWideQueryScalarLayers: nil, ollamaAppliesAdapters: false,
        fusedProjections: [], renamed: [:])
}
