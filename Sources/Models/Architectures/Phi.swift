// Phi-1.5 and Phi-2 (transformers `modeling_phi.py`, `PhiForCausalLM`; llama.cpp `phi2`): one LayerNorm (with bias)
// per layer whose output feeds attention and the MLP in parallel, h + attn(ln(h)) + mlp(ln(h)); a plain GELU MLP
// (fc1, tanh GELU, fc2) with biases; biases on q, k, v and the output projection `dense`; RoPE on the first
// `partial_rotary_factor` of each head (0.4 for Phi-2); a final LayerNorm and an output head with a bias.
// llama.cpp keeps HF's q/k row order.

extension ArchitectureSpec {
    static let phi = ArchitectureSpec(
        architecture: .phi, huggingFaceModelTypes: ["phi"], ggufArchitecture: "phi2",
        causalLMClass: "PhiForCausalLM", defaultMaxPositions: 2048, defaultRopeTheta: 10_000,
        tiesEmbeddingsByDefault: false,
        norm: .plain, sandwichNorms: false,
        layerNorm: true, parallelBlock: true, feedForwardBias: true, outputHeadBias: true,
        feedForward: .gelu, queryKeyNorm: false, attentionBias: .all,
        scalesEmbedding: false, slidingWindow: .none, defaultQueryScalar: nil, defaultLocalRopeTheta: nil,
        logitSoftCapping: nil, graniteMultipliers: false, defaultPartialRotaryFactor: 0.5,
        ggufPermutesQueryKey: false, ggufWideQueryScalarLayers: nil, ollamaAppliesAdapters: false,
        fusedProjections: [],
        renamed: [
            .finalNorm: ("model.final_layernorm.weight", "output_norm.weight"),
            .finalNormBias: ("model.final_layernorm.bias", "output_norm.bias"),
            .attentionOutput: ("self_attn.dense.weight", "attn_output.weight"),
            .attentionOutputBias: ("self_attn.dense.bias", "attn_output.bias"),
            .up: ("mlp.fc1.weight", "ffn_up.weight"),
            .upBias: ("mlp.fc1.bias", "ffn_up.bias"),
            .down: ("mlp.fc2.weight", "ffn_down.weight"),
            .downBias: ("mlp.fc2.bias", "ffn_down.bias"),
        ])
}
