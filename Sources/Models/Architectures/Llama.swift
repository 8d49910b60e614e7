// Llama 2/3/3.1/3.2 (transformers `modeling_llama.py`; llama.cpp `llama`): pre-norm RMSNorm, SwiGLU, RoPE with
// optional linear or llama3 scaling. The reference recipe; the other families are written as differences from it.

extension ArchitectureSpec {
    static let llama = ArchitectureSpec(
        architecture: .llama, huggingFaceModelTypes: ["llama"], ggufArchitecture: "llama",
        causalLMClass: "LlamaForCausalLM", defaultMaxPositions: 2048, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: false,
        norm: .plain, sandwichNorms: false,
        layerNorm: false, parallelBlock: false, feedForwardBias: false, outputHeadBias: false,
        feedForward: .swiGLU, queryKeyNorm: false, attentionBias: .configured,
        scalesEmbedding: false, slidingWindow: .none, defaultQueryScalar: nil, defaultLocalRopeTheta: nil,
        logitSoftCapping: nil, graniteMultipliers: false, defaultPartialRotaryFactor: 1,
        ggufPermutesQueryKey: true, ggufWideQueryScalarLayers: nil, ollamaAppliesAdapters: true,
        fusedProjections: [], renamed: [:])
}
