// Mistral 7B and Nemo (transformers `modeling_mistral.py`): the llama recipe with an explicit head_dim allowed.
// llama.cpp converts them with its llama converter, so their GGUFs say `llama` and permute q/k like llama's.

extension ArchitectureSpec {
    static let mistral = ArchitectureSpec(
        architecture: .mistral, huggingFaceModelTypes: ["mistral"], ggufArchitecture: "llama",
        causalLMClass: "MistralForCausalLM", defaultMaxPositions: 131_072, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: false,
        norm: .plain, sandwichNorms: false, feedForward: .swiGLU, queryKeyNorm: false, attentionBias: .configured,
        scalesEmbedding: false, slidingWindow: .everyLayer, defaultQueryScalar: nil, defaultLocalRopeTheta: nil,
        logitSoftCapping: nil, graniteMultipliers: false,
        ggufPermutesQueryKey: true, ggufWideQueryScalarLayers: nil, ollamaAppliesAdapters: true, fusedProjections: [], renamed: [:])
}
