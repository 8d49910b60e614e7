// Phi-3, Phi-3.5 and Phi-4-mini (transformers `modeling_phi3.py`, `Phi3ForCausalLM`; llama.cpp `phi3`): the llama
// layer with q, k and v stacked in one `qkv_proj` and gate and up in one `gate_up_proj` (gate rows first), in the
// checkpoints and in their GGUFs alike (`attn_qkv`, `ffn_up` of 2F rows); every layer attends through
// `sliding_window` when the config sets one (Phi-3-mini-4k: 2047). Phi-3.5 and Phi-4-mini scale RoPE with LongRoPE;
// Phi-4-mini rotates only `partial_rotary_factor` of each head. llama.cpp keeps HF's q/k row order.

extension ArchitectureSpec {
    static let phi3 = ArchitectureSpec(
        architecture: .phi3, huggingFaceModelTypes: ["phi3"], ggufArchitecture: "phi3",
        causalLMClass: "Phi3ForCausalLM", defaultMaxPositions: 4096, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: false,
        norm: .plain, sandwichNorms: false,
        layerNorm: false, parallelBlock: false, feedForwardBias: false, outputHeadBias: false,
        feedForward: .swiGLU, queryKeyNorm: false, attentionBias: .configured,
        scalesEmbedding: false, slidingWindow: .everyLayer, defaultQueryScalar: nil, defaultLocalRopeTheta: nil,
        logitSoftCapping: nil, graniteMultipliers: false, defaultPartialRotaryFactor: 1,
        ggufPermutesQueryKey: false, ggufWideQueryScalarLayers: nil, ollamaAppliesAdapters: false,
        fusedProjections: [
            FusedProjection(huggingFace: "self_attn.qkv_proj.weight", gguf: "attn_qkv.weight", parts: [.q, .k, .v]),
            FusedProjection(huggingFace: "mlp.gate_up_proj.weight", gguf: "ffn_up.weight", parts: [.gate, .up]),
        ],
        renamed: [:])
}
