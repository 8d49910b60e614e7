// Mistral 7B and Nemo (transformers `modeling_mistral.py`): the llama recipe with an explicit head_dim allowed.
// llama.cpp converts them with its llama converter, so their GGUFs say `llama` and permute q/k like llama's.

extension ArchitectureSpec {
    static let mistral = ArchitectureSpec(
        architecture: .mistral, huggingFaceModelTypes: ["mistral"], ggufArchitecture: "llama",
        causalLMClass: "MistralForCausalLM", defaultMaxPositions: 131_072, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: false,
        norm: .plain, sandwichNorms: false,
        layerNorm: false, parallelBlock: false, feedForwardBias: false, outputHeadBias: false,
        feedForward: .swiGLU, queryKeyNorm: false, attentionBias: .configured,
        scalesEmbedding: false, slidingWindow: .everyLayer, defaultQueryScalar: nil, defaultLocalRopeTheta: nil,
        logitSoftCapping: nil, graniteMultipliers: false, defaultPartialRotaryFactor: 1,
        ggufPermutesQueryKey: true, ggufWideQueryScalarLayers: nil, ollamaAppliesAdapters: true,
        fusedProjections: [], renamed: [:])
}
