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
        norm: .offsetByOne, sandwichNorms: true, feedForward: .geGLU, queryKeyNorm: true, attentionBias: .configured,
        scalesEmbedding: true, slidingWindow: .pattern(6), defaultQueryScalar: 256,
        ggufPermutesQueryKey: false, ollamaAppliesAdapters: false,
        renamed: [.mlpNorm: ("pre_feedforward_layernorm.weight", "ffn_norm.weight")])

    /// llama.cpp's GGUFs carry no `query_pre_attn_scalar`: it scales by 1/√D except for the 27B model (62 layers),
    /// whose scalar is C/H.
    static func gemma3GGUFQueryScalar(layers: Int, hidden: Int, heads: Int, headDim: Int) -> Int {
        layers == 62 ? hidden / heads : headDim
    }
}
