// The one table of checkpoint names: Hugging Face ⇄ GGUF, and the shape each tensor must have for a config.

/// What a weight tensor does in the transformer; the table below gives its names in both formats.
public enum WeightRole: String, Sendable, CaseIterable {
    case tokenEmbedding, finalNorm, outputHead
    case attentionNorm, query, key, value, attentionOutput
    case queryBias, keyBias, valueBias, attentionOutputBias
    case queryNorm, keyNorm
    /// The norms after attention and after the feed-forward block (Gemma 2/3's sandwich).
    case postAttentionNorm, postMLPNorm
    case mlpNorm, gate, up, down
    /// LayerNorm biases and the feed-forward and output biases (Phi-2).
    case attentionNormBias, finalNormBias, upBias, downBias, outputHeadBias

    /// Whether the tensor is an RMSNorm weight (Gemma stores these as w for a scale of 1 + w).
    public var isNorm: Bool {
        switch self {
        case .finalNorm, .attentionNorm, .queryNorm, .keyNorm, .postAttentionNorm, .postMLPNorm, .mlpNorm: return true
        default: return false
        }
    }

    /// Whether the tensor exists once per layer (named with the layer index) or once per model.
    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .finalNorm, .finalNormBias, .outputHead, .outputHeadBias: return false
        default: return true
        }
    }
}

/// One tensor the configuration requires: its names in both formats and its shape (HF orientation, outermost first).
public struct ExpectedTensor: Sendable, Equatable {
    public let role: WeightRole
    /// The layer index for per-layer tensors, nil for embedding, final norm and output head.
    public let layer: Int?
    public let huggingFaceName: String
    public let ggufName: String
    public let shape: [Int]
}

/// One tensor as checkpoints store it: a tensor of the table, or the row-stack of several (Phi-3's `qkv_proj`).
public struct StoredTensor: Sendable, Equatable {
    public let huggingFaceName: String
    public let ggufName: String
    /// [rows of all parts, in].
    public let shape: [Int]
    /// The tensors it holds, top rows first; one for a tensor that is not fused.
    public let parts: [ExpectedTensor]

    /// The rows of part `index`.
    public func rows(of index: Int) -> Range<Int> {
        let start = parts[..<index].reduce(0) { $0 + $1.shape[0] }
        return start..<(start + parts[index].shape[0])
    }
}

/// The Hugging Face ⇄ GGUF checkpoint-name table (DESIGN.md §2: names live only here and in the families' specs).
///
/// Per-layer names get the prefix `model.layers.N.` (HF) or `blk.N.` (GGUF). The table is llama's; a family's spec
/// renames what differs (`ArchitectureSpec.renamed`).
public enum WeightNames {
    /// One row of the table: a role and its names after the layer prefix.
    public struct Row: Sendable {
        public let role: WeightRole
        public let huggingFace: String
        public let gguf: String
        init(_ role: WeightRole, _ huggingFace: String, _ gguf: String) {
            self.role = role
            self.huggingFace = huggingFace
            self.gguf = gguf
        }
    }

    /// role, HF name, GGUF name, as llama names them.
    public static let table: [Row] = [
        Row(.tokenEmbedding, "model.embed_tokens.weight", "token_embd.weight"),
        Row(.finalNorm, "model.norm.weight", "output_norm.weight"),
        Row(.outputHead, "lm_head.weight", "output.weight"),
        Row(.attentionNorm, "input_layernorm.weight", "attn_norm.weight"),
        Row(.query, "self_attn.q_proj.weight", "attn_q.weight"),
        Row(.key, "self_attn.k_proj.weight", "attn_k.weight"),
        Row(.value, "self_attn.v_proj.weight", "attn_v.weight"),
        Row(.attentionOutput, "self_attn.o_proj.weight", "attn_output.weight"),
        Row(.queryBias, "self_attn.q_proj.bias", "attn_q.bias"),
        Row(.keyBias, "self_attn.k_proj.bias", "attn_k.bias"),
        Row(.valueBias, "self_attn.v_proj.bias", "attn_v.bias"),
        Row(.attentionOutputBias, "self_attn.o_proj.bias", "attn_output.bias"),
        Row(.queryNorm, "self_attn.q_norm.weight", "attn_q_norm.weight"),
        Row(.keyNorm, "self_attn.k_norm.weight", "attn_k_norm.weight"),

        Row(.mlpNorm, "post_attention_layernorm.weight", "ffn_norm.weight"),
        Row(.gate, "mlp.gate_proj.weight", "ffn_gate.weight"),
        Row(.up, "mlp.up_proj.weight", "ffn_up.weight"),
        Row(.down, "mlp.down_proj.weight", "ffn_down.weight"),
        // Gemma's sandwich norms, last: in llama, `post_attention_layernorm` is the feed-forward pre-norm above.
        Row(.postAttentionNorm, "post_attention_layernorm.weight", "post_attention_norm.weight"),
        Row(.postMLPNorm, "post_feedforward_layernorm.weight", "post_ffw_norm.weight"),
        // Phi-2's LayerNorm, feed-forward and output biases.
        Row(.attentionNormBias, "input_layernorm.bias", "attn_norm.bias"),
        Row(.finalNormBias, "model.norm.bias", "output_norm.bias"),
        Row(.upBias, "mlp.up_proj.bias", "ffn_up.bias"),
        Row(.downBias, "mlp.down_proj.bias", "ffn_down.bias"),
        Row(.outputHeadBias, "lm_head.bias", "output.bias"),
    ]

    /// The table as `architecture` names its tensors.
    public static func table(for architecture: Architecture) -> [Row] {
        table.map { entry($0.role, architecture) }
    }

    /// The HF name of `role` (in `layer` for per-layer roles).
    public static func huggingFaceName(_ role: WeightRole, layer: Int? = nil, architecture: Architecture) -> String {
        let base = entry(role, architecture).huggingFace
        guard role.isPerLayer else { return base }
        return "model.layers.\(layer ?? 0).\(base)"
    }

    /// The GGUF name of `role` (in `layer` for per-layer roles).
    public static func ggufName(_ role: WeightRole, layer: Int? = nil, architecture: Architecture) -> String {
        let base = entry(role, architecture).gguf
        guard role.isPerLayer else { return base }
        return "blk.\(layer ?? 0).\(base)"
    }

    /// Translates an HF tensor name to its GGUF name, or nil when the name is not in the table.
    public static func ggufName(forHuggingFace name: String, architecture: Architecture) -> String? {
        let rows = table(for: architecture)
        guard let (role, layer) = parse(name, prefix: "model.layers.", rows: rows, column: \.huggingFace) else {
            return nil
        }
        return ggufName(role, layer: layer, architecture: architecture)
    }

    /// Translates a GGUF tensor name to its HF name, or nil when the name is not in the table.
    public static func huggingFaceName(forGGUF name: String, architecture: Architecture) -> String? {
        let rows = table(for: architecture)
        guard let (role, layer) = parse(name, prefix: "blk.", rows: rows, column: \.gguf) else { return nil }
        return huggingFaceName(role, layer: layer, architecture: architecture)
    }

    /// The shape `role` must have under `config` (`[out, in]` for matrices).
    public static func shape(_ role: WeightRole, config: ModelConfig) -> [Int] {
        let c = config.hiddenSize, f = config.intermediateSize, v = config.vocabSize, d = config.headDim
        let q = config.headCount * d, kv = config.kvHeadCount * d
        switch role {
        case .tokenEmbedding, .outputHead: return [v, c]
        case .finalNorm, .attentionNorm, .mlpNorm, .postAttentionNorm, .postMLPNorm, .attentionOutputBias,
            .attentionNormBias, .finalNormBias, .downBias:
            return [c]
        case .upBias: return [f]
        case .outputHeadBias: return [v]
        case .query: return [q, c]
        case .key, .value: return [kv, c]
        case .attentionOutput: return [c, q]
        case .queryBias: return [q]
        case .keyBias, .valueBias: return [kv]
        case .queryNorm, .keyNorm: return [d]
        case .gate, .up: return [f, c]
        case .down: return [c, f]
        }
    }

    /// The roles present in every layer of a model with `config`.
    public static func layerRoles(for config: ModelConfig) -> [WeightRole] {
        let spec = config.architecture.spec
        var roles: [WeightRole] = [.attentionNorm]
        if spec.layerNorm { roles.append(.attentionNormBias) }
        roles += [.query, .key, .value, .attentionOutput]
        if config.attentionBias {
            roles += [.queryBias, .keyBias, .valueBias]
            if spec.attentionBias != .queryKeyValue { roles.append(.attentionOutputBias) }
        }
        if config.qkNorm { roles += [.queryNorm, .keyNorm] }
        if spec.sandwichNorms { roles.append(.postAttentionNorm) }
        if !spec.parallelBlock { roles.append(.mlpNorm) }
        if spec.feedForward.isGated { roles.append(.gate) }
        roles += [.up, .down]
        if spec.feedForwardBias { roles += [.upBias, .downBias] }
        if spec.sandwichNorms { roles.append(.postMLPNorm) }
        return roles
    }

    /// Every tensor a model with `config` needs, embedding first, then layer by layer, then final norm and
    /// the output head (absent when the embeddings are tied).
    public static func expectedTensors(for config: ModelConfig) -> [ExpectedTensor] {
        func expected(_ role: WeightRole, _ layer: Int?) -> ExpectedTensor {
            ExpectedTensor(
                role: role, layer: layer,
                huggingFaceName: huggingFaceName(role, layer: layer, architecture: config.architecture),
                ggufName: ggufName(role, layer: layer, architecture: config.architecture),
                shape: shape(role, config: config))
        }
        var tensors = [expected(.tokenEmbedding, nil)]
        let roles = layerRoles(for: config)
        for layer in 0..<config.layerCount {
            tensors += roles.map { expected($0, layer) }
        }
        tensors.append(expected(.finalNorm, nil))
        let spec = config.architecture.spec
        if spec.layerNorm { tensors.append(expected(.finalNormBias, nil)) }
        if !config.tieWordEmbeddings { tensors.append(expected(.outputHead, nil)) }
        if spec.outputHeadBias { tensors.append(expected(.outputHeadBias, nil)) }
        return tensors
    }

    /// The tensors a checkpoint of `config` stores: `expectedTensors(for:)` with each family's fused projections
    /// (`ArchitectureSpec.fusedProjections`) stacked into one tensor, in the place of their first part.
    public static func storedTensors(for config: ModelConfig) -> [StoredTensor] {
        let spec = config.architecture.spec
        let expected = expectedTensors(for: config)
        var stored: [StoredTensor] = []
        for tensor in expected {
            guard let layer = tensor.layer, let target = LoRATarget.allCases.first(where: { $0.role == tensor.role }),
                let fused = spec.fused(target)
            else {
                stored.append(StoredTensor(
                    huggingFaceName: tensor.huggingFaceName, ggufName: tensor.ggufName, shape: tensor.shape,
                    parts: [tensor]))
                continue
            }
            guard target == fused.parts[0] else { continue }
            let parts = fused.parts.compactMap { part in
                expected.first { $0.layer == layer && $0.role == part.role }
            }
            stored.append(StoredTensor(
                huggingFaceName: "model.layers.\(layer).\(fused.huggingFace)", ggufName: "blk.\(layer).\(fused.gguf)",
                shape: [parts.reduce(0) { $0 + $1.shape[0] }, tensor.shape[1]], parts: parts))
        }
        return stored
    }

    private static func entry(_ role: WeightRole, _ architecture: Architecture) -> Row {
        // The table lists every role exactly once (checked by a test), so the lookup cannot fail.
        let row = table.first { $0.role == role } ?? table[0]
        return architecture.spec.renamed[role].map { Row(role, $0.huggingFace, $0.gguf) } ?? row
    }

    /// Splits `name` into its role and layer, using one column of `rows`.
    private static func parse(
        _ name: String, prefix: String, rows table: [Row], column: KeyPath<Row, String>
    ) -> (WeightRole, Int?)? {
        if name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0 else {
                return nil
            }
            let suffix = String(rest[rest.index(after: dot)...])
            guard let row = table.first(where: { $0.role.isPerLayer && $0[keyPath: column] == suffix }) else {
                return nil
            }
            return (row.role, layer)
        }
        guard let row = table.first(where: { !$0.role.isPerLayer && $0[keyPath: column] == name }) else {
            return nil
        }
        return (row.role, nil)
    }
}
