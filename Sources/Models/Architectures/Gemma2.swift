// Gemma 2 (transformers `modeling_gemma2.py`, `Gemma2ForCausalLM`; llama.cpp `gemma2`): Gemma 3's layer without
// the q/k norm, and with logit soft-capping: scores become 50·tanh(s/50) before the softmax and the output logits
// 30·tanh(z/30). Even layers (0, 2, …) attend through a 4096-token window, odd ones globally, all with one RoPE
// base. Its GGUFs store 1 + w for every norm and keep HF's q/k row order.

extension ArchitectureSpec {
    static let gemma2 = ArchitectureSpec(
        architecture: .gemma2, huggingFaceModelTypes: ["gemma2"], ggufArchitecture: "gemma2",
        causalLMClass: "Gemma2ForCausalLM", defaultMaxPositions: 8192, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: true,
        norm: .offsetByOne, sandwichNorms: true,
        layerNorm: false, parallelBlock: false, feedForwardBias: false, outputHeadBias: false,
        feedForward: .geGLU, queryKeyNorm: false, attentionBias: .configured,
        scalesEmbedding: true, slidingWindow: .pattern(2), defaultQueryScalar: 256, defaultLocalRopeTheta: nil,
        logitSoftCapping: (attention: 50, final: 30), graniteMultipliers: false, defaultPartialRotaryFactor: 1,
        ggufPermutesQueryKey: false, ggufWideQueryScalarLayers: 46, ollamaAppliesAdapters: false,
        fusedProjections: [], renamed: gemmaNames)
}
