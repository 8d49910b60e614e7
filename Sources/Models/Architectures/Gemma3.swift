// Gemma 3 text models (transformers `modeling_gemma3.py`, `Gemma3ForCausalLM`; llama.cpp `gemma3`):
//   h = x·√C;  per layer: a = post_attn_norm(attn(input_norm(h))); h += a; m = post_ffw_norm(mlp(pre_ffw_norm(h))); h += m
//   every norm is RMSNorm by (1 + w); q and k get that norm per head before RoPE; the MLP is GeGLU (tanh GELU);
//   scores are scaled by query_pre_attn_scalar^−½; five sliding-window layers (RoPE base 10k) to one global layer
//   (rope_theta, with rope_scaling); the output head is tied to the embedding.
// Its GGUFs store 1 + w for every norm and keep HF's q/k row order (NEOX RoPE).

extension ArchitectureSpec {
    static let gemma3 = ArchitectureSpec(
        architecture: .gemma3, huggingFaceModelTypes: ["gemma3_text"], ggufArchitecture: "gemma3",
        causalLMClass: "Gemma3ForCausalLM", defaultMaxPositions: 131_072, defaultRopeTheta: 1_000_000,
        tiesEmbeddingsByDefault: true,
        norm: .offsetByOne, sandwichNorms: true,
        layerNorm: false, parallelBlock: false, feedForwardBias: false, outputHeadBias: false,
        feedForward: .geGLU, queryKeyNorm: true, attentionBias: .configured,
        scalesEmbedding: true, slidingWindow: .pattern(6), defaultQueryScalar: 256, defaultLocalRopeTheta: 10_000,
        logitSoftCapping: nil, graniteMultipliers: false, defaultPartialRotaryFactor: 1,
        ggufPermutesQueryKey: false, ggufWideQueryScalarLayers: 62, ollamaAppliesAdapters: false,
        fusedProjections: [], renamed: gemmaNames)

    /// Gemma's feed-forward pre-norm is `pre_feedforward_layernorm`; its `post_attention_layernorm` is the
    /// post-attention norm of the sandwich.
    static let gemmaNames: [WeightRole: (huggingFace: String, gguf: String)] = [
        .mlpNorm: ("pre_feedforward_layernorm.weight", "ffn_norm.weight"),
    ]
}
