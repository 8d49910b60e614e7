import Formats
// A model's shape and hyper-parameters, resolved once from HF config.json or GGUF metadata into a struct with no gaps.
import Foundation

/// The decoder-only transformer families Tailor implements; each has its spec in `Architectures/`.
public enum Architecture: String, Sendable, Codable, CaseIterable {
    case llama, mistral, qwen2, qwen3, gemma2, gemma3, granite, phi3, phi
}

/// How RoPE frequencies are rescaled for long contexts (DESIGN.md §4 trap 12).
public enum RopeScaling: Sendable, Equatable, Codable {
    /// Positions are divided by `factor` (every inverse frequency divided by `factor`).
    case linear(factor: Float)
    /// Llama 3.1's scheme: low frequencies divided by `factor`, high ones kept, a smooth ramp in between.
    case llama3(
        factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float,
        originalMaxPositionEmbeddings: Int)
    /// Per-frequency divisors as llama.cpp stores them in a GGUF's `rope_freqs.weight` (D/2 values):
    /// inverse frequency `i` is divided by `factors[i]`. This is how a Llama 3.1 GGUF carries its llama3 scaling.
    case frequencyFactors([Float])
    /// Phi-3.5 / Phi-4-mini's LongRoPE (`longrope`, formerly `su`): per-frequency divisors, `short` within the
    /// original context and `long` beyond it, and cos/sin multiplied by `attentionFactor`.
    case longRoPE(short: [Float], long: [Float], originalMaxPositionEmbeddings: Int, attentionFactor: Float)
}

/// A model's resolved configuration: every size known, every default applied, checked for consistency.
///
/// Shape legend used across the project: C = hidden, F = intermediate, H/KVH = heads, D = head dim, V = vocab, L = layers.
public struct ModelConfig: Sendable, Equatable, Codable {
    public var architecture: Architecture
    /// C.
    public var hiddenSize: Int
    /// F, the width of the SwiGLU MLP.
    public var intermediateSize: Int
    /// L.
    public var layerCount: Int
    /// H, query heads.
    public var headCount: Int
    /// KVH, key/value heads (grouped-query attention when smaller than H).
    public var kvHeadCount: Int
    /// D, the width of one head (C / H unless the model says otherwise).
    public var headDim: Int
    /// V.
    public var vocabSize: Int
    /// The norms' ε (`rms_norm_eps`, or `layer_norm_eps` for LayerNorm families).
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RopeScaling?
    public var maxPositionEmbeddings: Int
    /// The output layer reuses the token embedding (no separate lm_head weight).
    public var tieWordEmbeddings: Bool
    /// q/k/v projections carry biases (always for Qwen2; o_proj too for llama-style models that set it).
    public var attentionBias: Bool
    /// RMS-normalise q and k per head before RoPE (Qwen3).
    public var qkNorm: Bool
    /// The beginning-of-sequence token, when the model declares one.
    public var bosTokenId: Int?
    /// Tokens that end generation; empty when the model declares none.
    public var eosTokenIds: [Int]
    /// The factor on q·kᵀ when the model sets it (Gemma's `query_pre_attn_scalar`^−½); nil: 1/√D.
    public var attentionScaleOverride: Float?
    /// The token embeddings are multiplied by this before the first layer (√C for Gemma, else 1).
    public var embeddingMultiplier: Float
    /// The sliding window of the layers in `slidingLayers`, or nil when every layer sees the whole prefix.
    public var slidingWindow: Int?
    /// For each layer, whether it attends through `slidingWindow` (empty: none does).
    public var slidingLayers: [Bool]
    /// RoPE base of the sliding-window layers when it differs from `ropeTheta` (Gemma 3: 10k locally, 1M
    /// globally); those layers then take no `ropeScaling`.
    public var localRopeTheta: Float?
    /// Attention scores become cap·tanh(s/cap) before the softmax (Gemma 2); nil: no capping.
    public var attentionSoftCap: Float?
    /// Output logits become cap·tanh(z/cap) (Gemma 2); nil: no capping.
    public var finalSoftCap: Float?
    /// Each residual branch (attention, feed-forward) is multiplied by this before it is added (Granite; else 1).
    public var residualMultiplier: Float
    /// The output logits are divided by this (Granite's `logits_scaling`; else 1).
    public var logitsScaling: Float
    /// The share of each head that RoPE rotates (Phi-4-mini: 0.75; else 1).
    public var partialRotaryFactor: Float

    public init(
        architecture: Architecture, hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int,
        kvHeadCount: Int, headDim: Int, vocabSize: Int, rmsNormEps: Float, ropeTheta: Float,
        ropeScaling: RopeScaling?, maxPositionEmbeddings: Int, tieWordEmbeddings: Bool, attentionBias: Bool,
        qkNorm: Bool, bosTokenId: Int?, eosTokenIds: [Int], attentionScale: Float? = nil,
        embeddingMultiplier: Float = 1, slidingWindow: Int? = nil, slidingLayers: [Bool] = [],
        localRopeTheta: Float? = nil, attentionSoftCap: Float? = nil, finalSoftCap: Float? = nil,
        residualMultiplier: Float = 1, logitsScaling: Float = 1, partialRotaryFactor: Float = 1
    ) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.qkNorm = qkNorm
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.attentionScaleOverride = attentionScale
        self.embeddingMultiplier = embeddingMultiplier
        self.slidingWindow = slidingWindow
        self.slidingLayers = slidingLayers
        self.localRopeTheta = localRopeTheta
        self.attentionSoftCap = attentionSoftCap
        self.finalSoftCap = finalSoftCap
        self.residualMultiplier = residualMultiplier
        self.logitsScaling = logitsScaling
        self.partialRotaryFactor = partialRotaryFactor
    }

    /// The leading dimensions of each head that RoPE rotates (transformers: `int(head_dim · factor)`).
    public var rotaryDim: Int { Int(Float(headDim) * partialRotaryFactor) }

    /// The factor on q·kᵀ.
    public var attentionScale: Float { attentionScaleOverride ?? 1 / Float(headDim).squareRoot() }

    /// The sliding window of `layer`, or nil when it sees the whole causal prefix.
    public func window(layer: Int) -> Int? {
        guard let slidingWindow, layer < slidingLayers.count, slidingLayers[layer] else { return nil }
        return slidingWindow
    }

    /// Parameters of the transformer, counting the output layer once when tied.
    public var parameterCount: Int {
        WeightNames.expectedTensors(for: self).reduce(0) { $0 + $1.shape.reduce(1, *) }
    }
}

// MARK: - Hugging Face config.json

extension ModelConfig {
    /// Resolves a Hugging Face `config.json`.
    ///
    /// `path` names the file in errors.
    public static func fromHuggingFace(configJSON: Data, path: String) throws -> ModelConfig {
        let decoder = JSONDecoder()
        let kind: RawModelType
        do {
            kind = try decoder.decode(RawModelType.self, from: configJSON)
        } catch {
            throw describe(error, path: path)
        }
        guard let modelType = kind.modelType else {
            throw ModelsError.missingKey(path: path, key: "model_type")
        }
        guard let architecture = Architecture(huggingFaceModelType: modelType) else {
            throw ModelsError.unsupportedArchitecture(path: path, found: modelType)
        }
        let raw: RawHuggingFaceConfig
        let byLayerType: RawHuggingFaceConfig.RopeByLayerType.Nested?
        do {
            raw = try decoder.decode(RawHuggingFaceConfig.self, from: configJSON)
            byLayerType = try? decoder.decode(RawHuggingFaceConfig.RopeByLayerType.self, from: configJSON).parameters
        } catch {
            throw describe(error, path: path)
        }
        // A key that is absent takes transformers' default; one set to null turns soft-capping off.
        let keys = Set(((try? JSONSerialization.jsonObject(with: configJSON)) as? [String: Any])?.keys ?? [:].keys)
        return try raw.resolve(
            architecture: architecture, ropeByLayerType: byLayerType, presentKeys: keys, path: path)
    }

    /// Turns Foundation's decoding errors into messages that name the key.
    private static func describe(_ error: any Error, path: String) -> ModelsError {
        guard let decoding = error as? DecodingError else {
            return .malformedConfig(path: path, reason: "\(error)")
        }
        func keyPath(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch decoding {
        case .typeMismatch(let type, let context):
            return .invalidValue(
                path: path, key: keyPath(context), found: "a JSON value of another type", expected: "\(type)")
        case .valueNotFound(let type, let context):
            return .invalidValue(path: path, key: keyPath(context), found: "null", expected: "\(type)")
        case .keyNotFound(let key, _):
            return .missingKey(path: path, key: key.stringValue)
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { " (\($0.localizedDescription))" } ?? ""
            return .malformedConfig(path: path, reason: "not valid JSON\(underlying)")
        @unknown default:
            return .malformedConfig(path: path, reason: "\(decoding)")
        }
    }
}

private struct RawModelType: Decodable {
    let modelType: String?
    enum CodingKeys: String, CodingKey { case modelType = "model_type" }
}

/// `config.json` as written by transformers; every key optional so resolution can name what is missing.
private struct RawHuggingFaceConfig: Decodable {
    let hiddenSize: Int?
    let intermediateSize: Int?
    let layerCount: Int?
    let headCount: Int?
    let kvHeadCount: Int?
    let headDim: Int?
    let vocabSize: Int?
    let rmsNormEps: Double?
    let layerNormEps: Double?
    let ropeTheta: Double?
    let ropeScaling: RawRope?
    let ropeParameters: RawRope?
    let maxPositionEmbeddings: Int?
    let tieWordEmbeddings: Bool?
    let attentionBias: Bool?
    let bosTokenId: Int?
    let eosTokenId: IntOrList?
    let queryPreAttentionScalar: Double?
    let slidingWindow: Int?
    let slidingWindowPattern: Int?
    let layerTypes: [String]?
    let ropeLocalBaseFrequency: Double?
    let attentionLogitSoftCap: Double?
    let finalLogitSoftCap: Double?
    let embeddingMultiplier: Double?
    let residualMultiplier: Double?
    let attentionMultiplier: Double?
    let logitsScaling: Double?
    let partialRotaryFactor: Double?
    let queryKeyLayerNorm: Bool?
    let originalMaxPositionEmbeddings: Int?

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case kvHeadCount = "num_key_value_heads"
        case headDim = "head_dim"
        case vocabSize = "vocab_size"
        case rmsNormEps = "rms_norm_eps"
        case layerNormEps = "layer_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
        case queryPreAttentionScalar = "query_pre_attn_scalar"
        case slidingWindow = "sliding_window"
        case slidingWindowPattern = "sliding_window_pattern"
        case layerTypes = "layer_types"
        case ropeLocalBaseFrequency = "rope_local_base_freq"
        case attentionLogitSoftCap = "attn_logit_softcapping"
        case finalLogitSoftCap = "final_logit_softcapping"
        case embeddingMultiplier = "embedding_multiplier"
        case residualMultiplier = "residual_multiplier"
        case attentionMultiplier = "attention_multiplier"
        case logitsScaling = "logits_scaling"
        case partialRotaryFactor = "partial_rotary_factor"
        case queryKeyLayerNorm = "qk_layernorm"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }

    /// transformers ≥ 5 nests `rope_parameters` by layer type for families with local and global layers.
    struct RopeByLayerType: Decodable {
        let parameters: Nested?
        struct Nested: Decodable {
            let slidingAttention: RawRope?
            let fullAttention: RawRope?
            enum CodingKeys: String, CodingKey {
                case slidingAttention = "sliding_attention"
                case fullAttention = "full_attention"
            }
        }
        enum CodingKeys: String, CodingKey { case parameters = "rope_parameters" }
    }

    /// `rope_scaling`, or `rope_parameters` in transformers ≥ 5 (which also carries `rope_theta`).
    struct RawRope: Decodable {
        let ropeType: String?
        let type: String?
        let factor: Double?
        let lowFrequencyFactor: Double?
        let highFrequencyFactor: Double?
        let originalMaxPositionEmbeddings: Int?
        let ropeTheta: Double?
        let shortFactor: [Double]?
        let longFactor: [Double]?
        let attentionFactor: Double?

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type"
            case type
            case factor
            case shortFactor = "short_factor"
            case longFactor = "long_factor"
            case attentionFactor = "attention_factor"
            case lowFrequencyFactor = "low_freq_factor"
            case highFrequencyFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            case ropeTheta = "rope_theta"
        }
    }

    /// `eos_token_id` is an integer in most configs and a list in Llama 3.1 and later.
    struct IntOrList: Decodable {
        let values: [Int]
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(Int.self) {
                values = [one]
            } else {
                values = try container.decode([Int].self)
            }
        }
    }

    func resolve(
        architecture: Architecture, ropeByLayerType: RopeByLayerType.Nested?, presentKeys: Set<String>, path: String
    ) throws -> ModelConfig {
        func require(_ value: Int?, _ key: String) throws -> Int {
            guard let value else { throw ModelsError.missingKey(path: path, key: key) }
            return value
        }
        func positive(_ value: Double?, _ key: String) throws -> Float? {
            guard let value else { return nil }
            guard value > 0, value.isFinite else {
                throw ModelsError.invalidValue(path: path, key: key, found: "\(value)", expected: "a positive number")
            }
            return Float(value)
        }
        let spec = architecture.spec
        let caps = [("attn_logit_softcapping", attentionLogitSoftCap), ("final_logit_softcapping", finalLogitSoftCap)]
        if spec.logitSoftCapping == nil {
            for (key, cap) in caps where cap != nil {
                throw ModelsError.invalidValue(
                    path: path, key: key, found: "\(cap!)",
                    expected: "null (\(architecture.rawValue) models have no soft-capping)")
            }
        }
        if queryKeyLayerNorm == true {
            throw ModelsError.invalidValue(
                path: path, key: "qk_layernorm", found: "true", expected: "false (q/k LayerNorm is not supported)")
        }
        let defaultCaps = spec.logitSoftCapping
        let attentionCap = try positive(
            presentKeys.contains(caps[0].0) ? attentionLogitSoftCap : defaultCaps?.attention, caps[0].0)
        let finalCap = try positive(presentKeys.contains(caps[1].0) ? finalLogitSoftCap : defaultCaps?.final, caps[1].0)
        let multipliers = spec.graniteMultipliers
        let granite = (
            embedding: try positive(multipliers ? embeddingMultiplier ?? 1 : nil, "embedding_multiplier"),
            residual: try positive(multipliers ? residualMultiplier ?? 1 : nil, "residual_multiplier"),
            attention: try positive(multipliers ? attentionMultiplier ?? 1 : nil, "attention_multiplier"),
            logits: try positive(multipliers ? logitsScaling ?? 1 : nil, "logits_scaling"))
        let hidden = try require(hiddenSize, "hidden_size")
        let heads = try require(headCount, "num_attention_heads")
        let layers = try require(layerCount, "num_hidden_layers")
        var scalingSource = ropeScaling ?? ropeParameters
        var scalingKey = ropeScaling != nil ? "rope_scaling" : "rope_parameters"
        var theta = ropeTheta ?? ropeParameters?.ropeTheta
        var window: Int?
        var sliding: [Bool] = []
        var localTheta: Float?
        switch spec.slidingWindow {
        case .none:
            break
        case .everyLayer:
            if let slidingWindow {
                window = slidingWindow
                sliding = Array(repeating: true, count: layers)
            }
        case .pattern(let pattern):
            window = slidingWindow ?? 4096
            if let layerTypes {
                guard layerTypes.count == layers else {
                    throw ModelsError.invalidValue(
                        path: path, key: "layer_types", found: "\(layerTypes.count) entries",
                        expected: "one per layer (\(layers))")
                }
                sliding = try layerTypes.enumerated().map { index, kind in
                    switch kind {
                    case "sliding_attention": return true
                    case "full_attention": return false
                    default:
                        throw ModelsError.invalidValue(
                            path: path, key: "layer_types.\(index)", found: kind,
                            expected: "sliding_attention or full_attention")
                    }
                }
            } else {
                sliding = SlidingWindowRule.patterned(layers: layers, every: slidingWindowPattern ?? pattern)
            }
            if let nested = ropeByLayerType {
                localTheta = nested.slidingAttention?.ropeTheta.map(Float.init)
                if let full = nested.fullAttention {
                    theta = full.ropeTheta ?? theta
                    scalingSource = full
                    scalingKey = "rope_parameters.full_attention"
                }
            }
            localTheta = localTheta ?? ropeLocalBaseFrequency.map(Float.init) ?? spec.defaultLocalRopeTheta
        }
        var config = ModelConfig(
            architecture: architecture,
            hiddenSize: hidden,
            intermediateSize: try require(intermediateSize, "intermediate_size"),
            layerCount: layers,
            headCount: heads,
            kvHeadCount: kvHeadCount ?? heads,
            headDim: headDim ?? 0,
            vocabSize: try require(vocabSize, "vocab_size"),
            rmsNormEps: Float((spec.layerNorm ? layerNormEps : rmsNormEps) ?? (spec.layerNorm ? 1e-5 : 1e-6)),
            ropeTheta: Float(theta ?? Double(spec.defaultRopeTheta)),
            ropeScaling: try scalingSource.flatMap {
                try $0.resolve(
                    path: path, key: scalingKey, originalMaxPositions: originalMaxPositionEmbeddings,
                    maxPositions: maxPositionEmbeddings ?? spec.defaultMaxPositions)
            },
            maxPositionEmbeddings: maxPositionEmbeddings ?? spec.defaultMaxPositions,
            tieWordEmbeddings: tieWordEmbeddings ?? spec.tiesEmbeddingsByDefault,
            attentionBias: spec.attentionBias == .configured ? (attentionBias ?? false) : true,
            qkNorm: spec.queryKeyNorm,
            bosTokenId: bosTokenId,
            eosTokenIds: eosTokenId?.values ?? [],
            attentionScale: granite.attention,
            embeddingMultiplier: spec.scalesEmbedding ? Float(hidden).squareRoot() : granite.embedding ?? 1,
            slidingWindow: window, slidingLayers: sliding, localRopeTheta: localTheta,
            attentionSoftCap: attentionCap, finalSoftCap: finalCap, residualMultiplier: granite.residual ?? 1,
            logitsScaling: granite.logits ?? 1,
            partialRotaryFactor: try positive(partialRotaryFactor ?? spec.defaultPartialRotaryFactor, "partial_rotary_factor") ?? 1)
        if let defaultScalar = spec.defaultQueryScalar {
            let scalar = queryPreAttentionScalar ?? defaultScalar
            guard scalar > 0, scalar.isFinite else {
                throw ModelsError.invalidValue(
                    path: path, key: "query_pre_attn_scalar", found: "\(scalar)", expected: "a positive number")
            }
            config.attentionScaleOverride = Float(1 / scalar.squareRoot())
        }
        try config.validate(path: path, keys: .huggingFace(layerNorm: spec.layerNorm), headDimGiven: headDim != nil)
        return config
    }
}

extension RawHuggingFaceConfig.RawRope {
    /// `originalMaxPositions` is the top-level `original_max_position_embeddings` (Phi-3 keeps it there),
    /// `maxPositions` the resolved `max_position_embeddings`.
    func resolve(path: String, key: String, originalMaxPositions: Int?, maxPositions: Int) throws -> RopeScaling? {
        let kind = ropeType ?? type ?? "default"
        func positive(_ value: Double?, _ name: String) throws -> Float {
            guard let value else { throw ModelsError.missingKey(path: path, key: "\(key).\(name)") }
            guard value > 0, value.isFinite else {
                throw ModelsError.invalidValue(
                    path: path, key: "\(key).\(name)", found: "\(value)", expected: "a positive number")
            }
            return Float(value)
        }
        switch kind {
        case "default", "none":
            return nil
        case "linear":
            return .linear(factor: try positive(factor, "factor"))
        case "llama3":
            let low = try positive(lowFrequencyFactor, "low_freq_factor")
            let high = try positive(highFrequencyFactor, "high_freq_factor")
            guard high > low else {
                throw ModelsError.invalidValue(
                    path: path, key: "\(key).high_freq_factor", found: "\(high)",
                    expected: "a value above low_freq_factor (\(low))")
            }
            let original = Double(originalMaxPositionEmbeddings ?? 0)
            return .llama3(
                factor: try positive(factor, "factor"), lowFrequencyFactor: low, highFrequencyFactor: high,
                originalMaxPositionEmbeddings: Int(try positive(original, "original_max_position_embeddings"))
            )
        case "longrope", "su":
            guard let short = shortFactor else { throw ModelsError.missingKey(path: path, key: "\(key).short_factor") }
            guard let long = longFactor else { throw ModelsError.missingKey(path: path, key: "\(key).long_factor") }
            for (name, factors) in [("short_factor", short), ("long_factor", long)]
            where factors.contains(where: { !($0 > 0 && $0.isFinite) }) {
                throw ModelsError.invalidValue(
                    path: path, key: "\(key).\(name)", found: "a non-positive factor", expected: "positive numbers")
            }
            // transformers: the ratio of the two context lengths sets the default attention factor.
            let given = originalMaxPositions ?? originalMaxPositionEmbeddings
            let original = given ?? maxPositions
            let ratio = given != nil ? Double(maxPositions) / Double(original) : (factor ?? 1)
            let attention = try attentionFactor.map { try positive($0, "attention_factor") }
                ?? Float(ratio <= 1 ? 1 : (1 + log(ratio) / log(Double(original))).squareRoot())
            return .longRoPE(
                short: short.map(Float.init), long: long.map(Float.init), originalMaxPositionEmbeddings: original,
                attentionFactor: attention)
        default:
            throw ModelsError.unsupportedRopeScaling(path: path, type: kind)
        }
    }
}

// MARK: - GGUF metadata

extension ModelConfig {
    /// Resolves a GGUF file's metadata (`general.architecture` = A, then `A.block_count`, …).
    ///
    /// The output layer is tied when the file has no `output.weight`; a Llama 3.1 GGUF's `rope_freqs.weight`
    /// becomes `.frequencyFactors`.
    public static func fromGGUF(_ file: GGUFFile) throws -> ModelConfig {
        let path = file.path
        let metadata = file.metadata
        guard let name = metadata["general.architecture"]?.string else {
            throw ModelsError.missingKey(path: path, key: "general.architecture")
        }
        guard let architecture = Architecture(ggufArchitecture: name) else {
            throw ModelsError.unsupportedArchitecture(path: path, found: name)
        }
        func optionalInt(_ key: String) throws -> Int? {
            guard let value = metadata[key] else { return nil }
            guard let int = value.int else {
                throw ModelsError.invalidValue(
                    path: path, key: key, found: "\(value)", expected: "an integer")
            }
            return int
        }
        func optionalDouble(_ key: String) throws -> Double? {
            guard let value = metadata[key] else { return nil }
            guard let double = value.double else {
                throw ModelsError.invalidValue(path: path, key: key, found: "\(value)", expected: "a number")
            }
            return double
        }
        func int(_ key: String) throws -> Int {
            guard let value = try optionalInt(key) else { throw ModelsError.missingKey(path: path, key: key) }
            return value
        }
        func double(_ key: String) throws -> Double {
            guard let value = try optionalDouble(key) else {
                throw ModelsError.missingKey(path: path, key: key)
            }
            return value
        }
        let a = name
        let heads = try int("\(a).attention.head_count")
        let keyLength = try optionalInt("\(a).attention.key_length")
        let vocab: Int
        if let declared = try optionalInt("\(a).vocab_size") {
            vocab = declared
        } else if let tokens = metadata["tokenizer.ggml.tokens"]?.array {
            vocab = tokens.count
        } else if let embedding = file.tensor(named: "token_embd.weight"), embedding.shape.count == 2 {
            vocab = embedding.shape[0]
        } else {
            throw ModelsError.missingKey(path: path, key: "\(a).vocab_size")
        }
        var eos: [Int] = []
        for key in [
            "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
        ] {
            if let id = try optionalInt(key), !eos.contains(id) { eos.append(id) }
        }
        let spec = architecture.spec
        let hidden = try int("\(a).embedding_length")
        let layers = try int("\(a).block_count")
        var window: Int?
        var sliding: [Bool] = []
        var localTheta: Float?
        var attentionScale: Float?
        if case .pattern(let pattern) = spec.slidingWindow {
            window = try optionalInt("\(a).attention.sliding_window") ?? 4096
            // Newer converters write the pattern as one flag per layer; older files rely on the family's default.
            if let flags = metadata["\(a).attention.sliding_window_pattern"]?.array, flags.count == layers {
                sliding = flags.map { $0.bool ?? false }
            } else {
                let every = try optionalInt("\(a).attention.sliding_window_pattern") ?? pattern
                sliding = SlidingWindowRule.patterned(layers: layers, every: every)
            }
            localTheta = try optionalDouble("\(a).rope.freq_base_swa").map(Float.init) ?? spec.defaultLocalRopeTheta
        }
        if let scalar = spec.ggufQueryScalar(
            layers: layers, hidden: hidden, heads: heads, headDim: keyLength ?? hidden / max(heads, 1))
        {
            attentionScale = 1 / Float(scalar).squareRoot()
        }
        func positive(_ key: String) throws -> Float? {
            guard let value = try optionalDouble(key) else { return nil }
            guard value > 0, value.isFinite else {
                throw ModelsError.invalidValue(path: path, key: key, found: "\(value)", expected: "a positive number")
            }
            return Float(value)
        }
        let rotaryCount = try optionalInt("\(a).rope.dimension_count")
        let headWidth = keyLength ?? hidden / max(heads, 1)
        var attentionCap: Float?, finalCap: Float?
        var embeddingMultiplier: Float = spec.scalesEmbedding ? Float(hidden).squareRoot() : 1
        var residualMultiplier: Float = 1, logitsScaling: Float = 1
        if let defaults = spec.logitSoftCapping {
            // llama.cpp applies transformers' defaults when the keys are absent.
            attentionCap = try positive("\(a).attn_logit_softcapping") ?? Float(defaults.attention)
            finalCap = try positive("\(a).final_logit_softcapping") ?? Float(defaults.final)
        }
        if spec.graniteMultipliers {
            embeddingMultiplier = try positive("\(a).embedding_scale") ?? 1
            residualMultiplier = try positive("\(a).residual_scale") ?? 1
            logitsScaling = try positive("\(a).logit_scale") ?? 1
            // Absent, llama.cpp scales by 1/√D.
            attentionScale = try positive("\(a).attention.scale")
        }
        var config = ModelConfig(
            architecture: architecture,
            hiddenSize: hidden,
            intermediateSize: try int("\(a).feed_forward_length"),
            layerCount: layers,
            headCount: heads,
            kvHeadCount: try optionalInt("\(a).attention.head_count_kv") ?? heads,
            headDim: keyLength ?? 0,
            vocabSize: vocab,
            rmsNormEps: Float(try double(
                spec.layerNorm ? "\(a).attention.layer_norm_epsilon" : "\(a).attention.layer_norm_rms_epsilon")),
            ropeTheta: Float(try optionalDouble("\(a).rope.freq_base") ?? 10_000),
            ropeScaling: try ggufRopeScaling(file, architecture: a),
            maxPositionEmbeddings: try int("\(a).context_length"),
            tieWordEmbeddings: file.tensor(named: "output.weight") == nil,
            attentionBias: spec.attentionBias != .configured || file.tensor(named: "blk.0.attn_q.bias") != nil,
            qkNorm: spec.queryKeyNorm,
            bosTokenId: try optionalInt("tokenizer.ggml.bos_token_id"),
            eosTokenIds: eos,
            attentionScale: attentionScale,
            embeddingMultiplier: embeddingMultiplier,
            slidingWindow: window, slidingLayers: sliding, localRopeTheta: localTheta,
            attentionSoftCap: attentionCap, finalSoftCap: finalCap, residualMultiplier: residualMultiplier,
            logitsScaling: logitsScaling,
            partialRotaryFactor: rotaryCount.map { Float($0) / Float(max(headWidth, 1)) } ?? 1)
        try config.validate(path: path, keys: .gguf(a, layerNorm: spec.layerNorm), headDimGiven: keyLength != nil)
        return config
    }

    /// Reads `A.rope.scaling.*` (or the older `A.rope.scale_linear`) and `rope_freqs.weight`.
    private static func ggufRopeScaling(_ file: GGUFFile, architecture a: String) throws -> RopeScaling? {
        let path = file.path
        // Phi-3.5 / Phi-4-mini: LongRoPE's two factor lists are tensors, its lengths and attention factor keys.
        if let short = file.tensor(named: "rope_factors_short.weight"),
            let long = file.tensor(named: "rope_factors_long.weight")
        {
            let (shortFactors, longFactors) = try convertingFormatErrors {
                (try file.dequantize(short), try file.dequantize(long))
            }
            let original = file.metadata["\(a).rope.scaling.original_context_length"]?.int
                ?? file.metadata["\(a).context_length"]?.int ?? 4096
            let attention = file.metadata["\(a).rope.scaling.attn_factor"]?.double ?? 1
            return .longRoPE(
                short: shortFactors, long: longFactors, originalMaxPositionEmbeddings: original,
                attentionFactor: Float(attention))
        }
        if let frequencies = file.tensor(named: "rope_freqs.weight") {
            let factors: [Float]
            do {
                factors = try file.dequantize(frequencies)
            } catch let error as FormatsError {
                throw ModelsError.format(error)
            }
            return .frequencyFactors(factors)
        }
        let type = file.metadata["\(a).rope.scaling.type"]?.string
        let factor =
            file.metadata["\(a).rope.scaling.factor"]?.double
            ?? file.metadata["\(a).rope.scale_linear"]?.double
        switch type {
        case nil where factor != nil, "linear":
            guard let factor, factor > 0 else {
                throw ModelsError.invalidValue(
                    path: path, key: "\(a).rope.scaling.factor", found: factor.map { "\($0)" } ?? "absent",
                    expected: "a positive number")
            }
            return factor == 1 ? nil : .linear(factor: Float(factor))
        case nil, "none":
            return nil
        case let other?:
            throw ModelsError.unsupportedRopeScaling(path: path, type: other)
        }
    }
}

// MARK: - Validation

extension ModelConfig {
    /// The checked fields, named by the key each came from so errors point into the right file.
    fileprivate enum Field {
        case hiddenSize, intermediateSize, layerCount, headCount, kvHeadCount, headDim, vocabSize
        case rmsNormEps, ropeTheta, maxPositionEmbeddings

        func key(_ keys: KeyNames) -> String {
            switch keys {
            case .huggingFace(let layerNorm):
                switch self {
                case .hiddenSize: return "hidden_size"
                case .intermediateSize: return "intermediate_size"
                case .layerCount: return "num_hidden_layers"
                case .headCount: return "num_attention_heads"
                case .kvHeadCount: return "num_key_value_heads"
                case .headDim: return "head_dim"
                case .vocabSize: return "vocab_size"
                case .rmsNormEps: return layerNorm ? "layer_norm_eps" : "rms_norm_eps"
                case .ropeTheta: return "rope_theta"
                case .maxPositionEmbeddings: return "max_position_embeddings"
                }
            case .gguf(let a, let layerNorm):
                switch self {
                case .hiddenSize: return "\(a).embedding_length"
                case .intermediateSize: return "\(a).feed_forward_length"
                case .layerCount: return "\(a).block_count"
                case .headCount: return "\(a).attention.head_count"
                case .kvHeadCount: return "\(a).attention.head_count_kv"
                case .headDim: return "\(a).attention.key_length"
                case .vocabSize: return "\(a).vocab_size"
                case .rmsNormEps:
                    return layerNorm ? "\(a).attention.layer_norm_epsilon" : "\(a).attention.layer_norm_rms_epsilon"
                case .ropeTheta: return "\(a).rope.freq_base"
                case .maxPositionEmbeddings: return "\(a).context_length"
                }
            }
        }
    }

    fileprivate enum KeyNames {
        case huggingFace(layerNorm: Bool)
        case gguf(String, layerNorm: Bool)

        var slidingWindowKey: String {
            switch self {
            case .huggingFace: return "sliding_window"
            case .gguf(let a, _): return "\(a).attention.sliding_window"
            }
        }
        var rotaryKey: String {
            switch self {
            case .huggingFace: return "partial_rotary_factor"
            case .gguf(let a, _): return "\(a).rope.dimension_count"
            }
        }
        var longRoPEKey: String {
            switch self {
            case .huggingFace: return "rope_scaling.short_factor"
            case .gguf: return "rope_factors_short.weight"
            }
        }
    }

    /// Fills `headDim` when the source left it out, then checks every size.
    ///
    /// `headDimGiven` decides whether
    /// C must divide evenly by H (it need not when D is explicit, as in Qwen3 and Mistral Nemo).
    fileprivate mutating func validate(path: String, keys: KeyNames, headDimGiven: Bool) throws {
        func invalid(_ field: Field, _ found: String, _ expected: String) -> ModelsError {
            .invalidValue(path: path, key: field.key(keys), found: found, expected: expected)
        }
        let sizes: [(Field, Int)] = [
            (.hiddenSize, hiddenSize), (.intermediateSize, intermediateSize), (.layerCount, layerCount),
            (.headCount, headCount), (.kvHeadCount, kvHeadCount), (.vocabSize, vocabSize),
            (.maxPositionEmbeddings, maxPositionEmbeddings),
        ]
        for (field, value) in sizes where value <= 0 {
            throw invalid(field, "\(value)", "a positive integer")
        }
        if headDimGiven {
            guard headDim > 0 else { throw invalid(.headDim, "\(headDim)", "a positive integer") }
        } else {
            guard hiddenSize % headCount == 0 else {
                throw invalid(
                    .hiddenSize, "\(hiddenSize)",
                    "a multiple of the head count \(headCount) (or an explicit head dimension)")
            }
            headDim = hiddenSize / headCount
        }
        guard headDim % 2 == 0 else {
            throw invalid(.headDim, "\(headDim)", "an even head dimension (RoPE rotates pairs)")
        }
        guard headCount % kvHeadCount == 0 else {
            throw invalid(.kvHeadCount, "\(kvHeadCount)", "a divisor of the head count \(headCount)")
        }
        guard rmsNormEps > 0, rmsNormEps.isFinite else {
            throw invalid(.rmsNormEps, "\(rmsNormEps)", "a small positive number such as 1e-6")
        }
        guard ropeTheta > 0, ropeTheta.isFinite else {
            throw invalid(.ropeTheta, "\(ropeTheta)", "a positive number such as 10000")
        }
        if let slidingWindow, slidingWindow <= 0 {
            throw ModelsError.invalidValue(
                path: path, key: keys.slidingWindowKey, found: "\(slidingWindow)", expected: "a positive number of tokens")
        }
        if case .frequencyFactors(let factors) = ropeScaling, factors.count != headDim / 2 {
            throw ModelsError.shapeMismatch(
                path: path, tensor: "rope_freqs.weight", expected: [headDim / 2], found: [factors.count])
        }
        guard rotaryDim > 0, rotaryDim <= headDim, rotaryDim % 2 == 0 else {
            throw ModelsError.invalidValue(
                path: path, key: keys.rotaryKey,
                found: "\(partialRotaryFactor) (\(rotaryDim) of \(headDim) dimensions)",
                expected: "a share of the head that RoPE can rotate in pairs")
        }
        if case .longRoPE(let short, let long, _, _) = ropeScaling {
            for factors in [short, long] where factors.count != rotaryDim / 2 {
                throw ModelsError.invalidValue(
                    path: path, key: keys.longRoPEKey, found: "\(factors.count) factors",
                    expected: "one per rotated pair (\(rotaryDim / 2))")
            }
        }
    }
}
