// Qwen2 / Qwen2.5 (transformers `modeling_qwen2.py`): the llama recipe with q/k/v biases always on and o_proj
// bias-free. llama.cpp keeps HF's q/k row order for it.

extension ArchitectureSpec {
    static let qwen2 = ArchitectureSpec(
        architecture: .qwen2, huggingFaceModelTypes: ["qwen2"], ggufArchitecture: "qwen2",
        causalLMClass: "Qwen2ForCausalLM", defaultMaxPositions: 32_768, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: false,
        norm: .plain, sandwichNorms: false,
        layerNorm: false, parallelBlock: false, feedForwardBias: false, outputHeadBias: false,
        feedForward: .swiGLU, queryKeyNorm: false, attentionBias: .queryKeyValue,
        scalesEmbedding: false, slidingWindow: .none, defaultQueryScalar: nil, defaultLocalRopeTheta: nil,
        logitSoftCapping: nil, graniteMultipliers: false, defaultPartialRotaryFactor: 1,
        ggufPermutesQueryKey: false, ggufWideQueryScalarLayers: nil, ollamaAppliesAdapters: true,
        fusedProjections: [], renamed: [:])
}
