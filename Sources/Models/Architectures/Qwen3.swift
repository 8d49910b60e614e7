// Qwen3 dense (transformers `modeling_qwen3.py`): the llama recipe with per-head RMSNorm of q and k before RoPE and
// an explicit head_dim. llama.cpp keeps HF's q/k row order for it.

extension ArchitectureSpec {
    static let qwen3 = ArchitectureSpec(
        architecture: .qwen3, huggingFaceModelTypes: ["qwen3"], ggufArchitecture: "qwen3",
        causalLMClass: "Qwen3ForCausalLM", defaultMaxPositions: 32_768, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: false,
        norm: .plain, sandwichNorms: false,
        layerNorm: false, parallelBlock: false, feedForwardBias: false, outputHeadBias: false,
        feedForward: .swiGLU, queryKeyNorm: true, attentionBias: .configured,
        scalesEmbedding: false, slidingWindow: .none, defaultQueryScalar: nil, defaultLocalRopeTheta: nil,
        logitSoftCapping: nil, graniteMultipliers: false, defaultPartialRotaryFactor: 1,
        ggufPermutesQueryKey: false, ggufWideQueryScalarLayers: nil, ollamaAppliesAdapters: false,
        fusedProjections: [], renamed: [:])
}
