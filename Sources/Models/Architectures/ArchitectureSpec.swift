// What makes one decoder family differ from another, as data: the names it reads, the layer recipe the Transformer
// runs, and how its checkpoints are stored. One file per family in this folder defines its spec; nothing outside
// this folder switches on the family for these facts.

/// How a family's RMSNorm applies its weight.
public enum NormWeighting: String, Sendable, Codable {
    /// y = x̂ · w (llama, qwen, mistral).
    case plain
    /// y = x̂ · (1 + w) with w stored (Gemma). llama.cpp's converter stores 1 + w in the GGUF; Tailor's engine
    /// multiplies by 1 + w for both, and `ModelWeights` always holds w as transformers does.
    case offsetByOne

    /// What the kernels' multiplier adds to the stored w (and llama.cpp's GGUFs store on top of it): 0 or 1.
    public var offset: Float {
        switch self {
        case .plain: return 0
        case .offsetByOne: return 1
        }
    }
}

/// Which layers attend through a sliding window.
public enum SlidingWindowRule: Sendable, Equatable {
    /// None; a `sliding_window` key, if any, is not applied (Qwen2's is off unless `use_sliding_window`).
    case none
    /// Every layer, when the config sets `sliding_window` (Mistral 7B v0.1).
    case everyLayer
    /// Every `n`-th layer attends globally, the others through the window, unless the config lists
    /// `layer_types` (Gemma 3: 6).
    case pattern(Int)

    /// For each of `layers` layers, whether it is a sliding-window layer when every `every`-th one is global.
    static func patterned(layers: Int, every: Int) -> [Bool] {
        (0..<layers).map { ($0 + 1) % max(every, 1) != 0 }
    }
}

/// The feed-forward block of a layer.
public enum FeedForwardKind: String, Sendable, Codable {
    /// down(silu(gate(x)) · up(x)).
    case swiGLU
    /// down(gelu_tanh(gate(x)) · up(x)) (Gemma).
    case geGLU
    /// down(gelu_tanh(up(x))), no gate (Phi-2's fc1 and fc2).
    case gelu

    /// Whether the block has a gate projection.
    public var isGated: Bool { self != .gelu }

    /// `hidden_act` / `hidden_activation` in config.json.
    public var huggingFaceActivation: String {
        switch self {
        case .swiGLU: return "silu"
        case .geGLU: return "gelu_pytorch_tanh"
        case .gelu: return "gelu_new"
        }
    }
}

/// Which attention projections carry biases.
public enum AttentionBiasRule: Sendable {
    /// `attention_bias` decides, for q, k, v and o together (llama, mistral, qwen3).
    case configured
    /// q, k and v always have biases and o never does (qwen2).
    case queryKeyValue
    /// q, k, v and o always have biases (phi-2).
    case all
}

/// Projections a family stores stacked by rows in one tensor (Phi-3: q, k and v in `qkv_proj`; gate and up in
/// `gate_up_proj`). The loader splits them, the exports stack them again, and LoRA adapts the stack as one module,
/// as PEFT does: one A shared by the parts and one B over all their rows.
public struct FusedProjection: Sendable, Equatable {
    /// The weight's names after the layer prefix: `self_attn.qkv_proj.weight`, `attn_qkv.weight`.
    public let huggingFace: String
    public let gguf: String
    /// The stacked projections, top rows first.
    public let parts: [LoRATarget]

    /// PEFT's module path (`self_attn.qkv_proj`).
    public var modulePath: String { String(huggingFace.dropLast(".weight".count)) }
    /// PEFT's `target_modules` entry (`qkv_proj`).
    public var peftModuleName: String { String(modulePath.split(separator: ".").last ?? "") }
}

/// One decoder family: its names, its layer recipe and its storage conventions.
public struct ArchitectureSpec: Sendable {
    public let architecture: Architecture
    /// `model_type` values of config.json that select this family.
    public let huggingFaceModelTypes: [String]
    /// `general.architecture` of its GGUFs (Mistral converts through llama.cpp's llama converter).
    public let ggufArchitecture: String
    /// `architectures[0]` of a config.json Tailor writes.
    public let causalLMClass: String
    /// transformers' defaults for the family's config class: `max_position_embeddings`, `rope_theta`,
    /// `tie_word_embeddings`.
    public let defaultMaxPositions: Int
    public let defaultRopeTheta: Float
    public let tiesEmbeddingsByDefault: Bool

    // Layer recipe.
    public let norm: NormWeighting
    /// Norms after attention and after the feed-forward block too, before each residual add (Gemma 2/3).
    public let sandwichNorms: Bool
    /// Every norm is LayerNorm with a bias (`layer_norm_eps`) instead of RMSNorm (Phi-2).
    public let layerNorm: Bool
    /// Attention and the feed-forward block read the same normalised input and add to the residual together:
    /// h + attn(ln(h)) + mlp(ln(h)); there is no feed-forward norm (Phi-2).
    public let parallelBlock: Bool
    /// The feed-forward projections carry biases (Phi-2's fc1 and fc2).
    public let feedForwardBias: Bool
    /// The output head carries a bias (Phi-2).
    public let outputHeadBias: Bool
    public let feedForward: FeedForwardKind
    /// RMS-normalise q and k per head before RoPE (Qwen3, Gemma 3).
    public let queryKeyNorm: Bool
    public let attentionBias: AttentionBiasRule
    /// The token embeddings are multiplied by √C before the first layer (Gemma).
    public let scalesEmbedding: Bool
    public let slidingWindow: SlidingWindowRule
    /// transformers' default `query_pre_attn_scalar` when the family reads that key (Gemma: 256); nil: the scale
    /// is 1/√D.
    public let defaultQueryScalar: Double?
    /// RoPE base of the sliding-window layers when the config gives none (Gemma 3: 10k); nil: they share
    /// `rope_theta` with the global layers (Gemma 2).
    public let defaultLocalRopeTheta: Float?
    /// transformers' defaults for `attn_logit_softcapping` and `final_logit_softcapping` when the family reads
    /// them (Gemma 2: 50 and 30; an explicit null turns one off); nil: the family refuses both keys.
    public let logitSoftCapping: (attention: Double, final: Double)?
    /// Reads `embedding_multiplier`, `residual_multiplier`, `attention_multiplier` and `logits_scaling` (Granite).
    public let graniteMultipliers: Bool
    /// transformers' default `partial_rotary_factor` (Phi-2's config class: 0.5; 1 for the others).
    public let defaultPartialRotaryFactor: Double

    // Storage.
    /// Whether a GGUF of this family has q_proj/k_proj rows reordered per head (DESIGN.md §4 trap 1).
    public let ggufPermutesQueryKey: Bool
    /// llama.cpp's GGUFs of Gemma carry no `query_pre_attn_scalar`: it scales by 1/√D except for the 27B model,
    /// recognised by its layer count (Gemma 2: 46, Gemma 3: 62), whose scalar is C/H. nil: the family reads no scalar.
    public let ggufWideQueryScalarLayers: Int?
    /// Whether Ollama is known to apply a GGUF LoRA adapter (`FROM base` + `ADAPTER`) to this family. Its newer
    /// engine runs gemma3, qwen3, mistral3 and others itself and stops with "loras are not yet implemented"; the
    /// families that still go through its llama.cpp runner take adapters. Elsewhere the merged GGUF is the route.
    public let ollamaAppliesAdapters: Bool
    /// Projections stored stacked in one tensor (Phi-3); empty for the others.
    public let fusedProjections: [FusedProjection]
    /// Per-layer names that differ from the llama table (Gemma's feed-forward pre-norm is `pre_feedforward_layernorm`;
    /// its `post_attention_layernorm` is the post-attention norm).
    let renamed: [WeightRole: (huggingFace: String, gguf: String)]
}

extension Architecture {
    /// The family's spec.
    public var spec: ArchitectureSpec {
        switch self {
        case .llama: return .llama
        case .mistral: return .mistral
        case .qwen2: return .qwen2
        case .qwen3: return .qwen3
        case .gemma2: return .gemma2
        case .gemma3: return .gemma3
        case .granite: return .granite
        case .phi3: return .phi3
        case .phi: return .phi
        }
    }

    /// The family a config.json `model_type` names.
    public init?(huggingFaceModelType: String) {
        guard let match = Architecture.allCases.first(where: { $0.spec.huggingFaceModelTypes.contains(huggingFaceModelType) })
        else { return nil }
        self = match
    }

    /// The family of a GGUF's `general.architecture`. `llama` GGUFs of Mistral models stay `llama`: the two
    /// compute the same function.
    public init?(ggufArchitecture: String) {
        guard
            let match = Architecture(rawValue: ggufArchitecture)
                ?? Architecture.allCases.first(where: { $0.spec.ggufArchitecture == ggufArchitecture })
        else { return nil }
        self = match
    }

    /// Whether a GGUF of this architecture has q_proj/k_proj rows reordered per head (DESIGN.md §4 trap 1).
    public var ggufPermutesQueryKey: Bool { spec.ggufPermutesQueryKey }
}

extension ArchitectureSpec {
    /// The fused projection `target` belongs to, if any.
    public func fused(_ target: LoRATarget) -> FusedProjection? {
        fusedProjections.first { $0.parts.contains(target) }
    }

    /// The `query_pre_attn_scalar` llama.cpp applies to a GGUF of this family, or nil when it reads none.
    func ggufQueryScalar(layers: Int, hidden: Int, heads: Int, headDim: Int) -> Int? {
        guard defaultQueryScalar != nil else { return nil }
        return layers == ggufWideQueryScalarLayers ? hidden / max(heads, 1) : headDim
    }
}
