// The frozen weights in engine storage: each matrix as stored or widened/rounded once (`--weights`), vectors in
// Float32, norms turned into the multipliers the kernels apply.
import Formats
import Foundation
import Tensors

// MARK: - Weights

/// How frozen weight matrices are held in memory (`--weights`). Norm vectors are always Float32.
public enum WeightStorage: String, Sendable, Codable, CaseIterable {
    /// Float32: 4 bytes per parameter; fp32 products read it directly.
    case float32 = "f32"
    /// bfloat16: 2 bytes per parameter; bf16 products read it directly.
    case bfloat16 = "bf16"
    /// As stored on disk (GGUF quant blocks, bf16, f16, f32), widened a panel at a time inside each product.
    case quantized

    /// Bytes a matrix of `elements` parameters stored as `storedBytes` bytes occupies in this storage.
    public func bytes(elements: Int, storedBytes: Int) -> Int {
        switch self {
        case .float32: return 4 * elements
        case .bfloat16: return 2 * elements
        case .quantized: return storedBytes
        }
    }
}

/// A frozen linear layer: weight [Out, In] in its stored layout and an optional bias [Out].
public final class FrozenLinear: @unchecked Sendable {
    public let weight: WeightMatrix
    public let bias: FloatBuffer?
    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }

    init(weight: WeightMatrix, bias: FloatBuffer?) {
        self.weight = weight
        self.bias = bias
    }

    /// Bytes the weight occupies.
    public var weightBytes: Int { weight.bytes }
}

/// One decoder layer's frozen weights.
public struct DecoderLayerWeights: @unchecked Sendable {
    public let attentionNorm: FloatBuffer  // [C]
    public let attentionNormBias: FloatBuffer?  // [C], LayerNorm (Phi-2)
    public let query, key, value, attentionOutput: FrozenLinear
    public let queryNorm, keyNorm: FloatBuffer?  // [D], Qwen3 and Gemma 3
    public let postAttentionNorm: FloatBuffer?  // [C], Gemma's sandwich
    public let mlpNorm: FloatBuffer?  // [C]; none in a parallel block (Phi-2)
    public let postMLPNorm: FloatBuffer?  // [C], Gemma's sandwich
    public let gate: FrozenLinear?  // none in a plain GELU MLP (Phi-2)
    public let up, down: FrozenLinear

    func linear(_ target: LoRATarget) -> FrozenLinear? {
        switch target {
        case .q: return query
        case .k: return key
        case .v: return value
        case .o: return attentionOutput
        case .gate: return gate
        case .up: return up
        case .down: return down
        }
    }
}

/// Every frozen weight of a model in HF orientation: matrices in the chosen storage, vectors in Float32.
public final class TransformerWeights: @unchecked Sendable {
    public let config: ModelConfig
    public let embedding: WeightMatrix  // [V, C]
    public let layers: [DecoderLayerWeights]
    public let finalNorm: FloatBuffer  // [C]
    public let finalNormBias: FloatBuffer?  // [C], LayerNorm (Phi-2)
    /// [V, C]; the same matrix as `embedding` when the model ties them.
    public let outputHead: WeightMatrix
    public let outputHeadBias: FloatBuffer?  // [V] (Phi-2)

    /// How the weight matrices are held.
    public let storage: WeightStorage

    /// Moves the tensors of `weights` (already shape-checked by the loader) into engine storage one tensor at a time,
    /// so the model is never held twice: `quantized` keeps each matrix as loaded, `f32`/`bf16` widen or round one
    /// matrix at a time (the load-time peak is the final size plus the largest tensor).
    public init(_ weights: consuming ModelWeights, storage: WeightStorage = .float32) throws {
        var source = weights
        let config = source.config
        self.config = config
        self.storage = storage
        let architecture = config.architecture
        // Norm weights become the multipliers the kernels apply: w, or 1 + w for Gemma. Granite's division of the
        // logits by `logits_scaling` is folded into the final norm (the head is linear and has no bias).
        let normOffset = architecture.spec.norm.offset
        func buffer(_ role: WeightRole, _ layer: Int? = nil) throws -> FloatBuffer {
            var values = try source.take(WeightNames.huggingFaceName(role, layer: layer, architecture: architecture)).values
            if role.isNorm && normOffset != 0 { values = values.map { $0 + normOffset } }
            if role == .finalNorm && config.logitsScaling != 1 { values = values.map { $0 / config.logitsScaling } }
            return FloatBuffer(values)
        }
        func matrix(_ role: WeightRole, _ layer: Int? = nil) throws -> WeightMatrix {
            let tensor = try source.take(WeightNames.huggingFaceName(role, layer: layer, architecture: architecture))
            precondition(tensor.shape.count == 2, "\(role) is not a matrix")
            if let stored = tensor.matrix {
                switch (storage, stored.layout) {
                case (.quantized, _), (.float32, .float32), (.bfloat16, .bfloat16): return stored
                default: break
                }
            }
            let values = tensor.values
            return values.withUnsafeBufferPointer {
                WeightMatrix(values: $0.baseAddress!, rows: tensor.shape[0], columns: tensor.shape[1],
                             bfloat16: storage == .bfloat16)
            }
        }
        func linear(_ role: WeightRole, _ biasRole: WeightRole?, _ layer: Int) throws -> FrozenLinear {
            let bias = try biasRole.flatMap { role in
                source.tensors[WeightNames.huggingFaceName(role, layer: layer, architecture: architecture)] == nil
                    ? nil : try buffer(role, layer)
            }
            return FrozenLinear(weight: try matrix(role, layer), bias: bias)
        }
        let spec = architecture.spec
        let sandwich = spec.sandwichNorms
        embedding = try matrix(.tokenEmbedding)
        finalNorm = try buffer(.finalNorm)
        finalNormBias = spec.layerNorm ? try buffer(.finalNormBias) : nil
        outputHead = config.tieWordEmbeddings || source.tied ? embedding : try matrix(.outputHead)
        outputHeadBias = spec.outputHeadBias ? try buffer(.outputHeadBias) : nil
        let mlpBias = spec.feedForwardBias
        layers = try (0..<config.layerCount).map { l in
            DecoderLayerWeights(
                attentionNorm: try buffer(.attentionNorm, l),
                attentionNormBias: spec.layerNorm ? try buffer(.attentionNormBias, l) : nil,
                query: try linear(.query, .queryBias, l),
                key: try linear(.key, .keyBias, l),
                value: try linear(.value, .valueBias, l),
                attentionOutput: try linear(.attentionOutput, .attentionOutputBias, l),
                queryNorm: config.qkNorm ? try buffer(.queryNorm, l) : nil,
                keyNorm: config.qkNorm ? try buffer(.keyNorm, l) : nil,
                postAttentionNorm: sandwich ? try buffer(.postAttentionNorm, l) : nil,
                mlpNorm: spec.parallelBlock ? nil : try buffer(.mlpNorm, l),
                postMLPNorm: sandwich ? try buffer(.postMLPNorm, l) : nil,
                gate: spec.feedForward.isGated ? try linear(.gate, nil, l) : nil,
                up: try linear(.up, mlpBias ? .upBias : nil, l),
                down: try linear(.down, mlpBias ? .downBias : nil, l))
        }
    }

    /// Every weight matrix once (the tied head is the embedding).
    public var matrices: [WeightMatrix] {
        var all = [embedding] + (outputHead === embedding ? [] : [outputHead])
        for layer in layers { all += LoRATarget.allCases.compactMap { layer.linear($0)?.weight } }
        return all
    }

    /// Bytes held by all frozen weights.
    public var bytes: Int {
        let vectors = WeightNames.expectedTensors(for: config).filter { $0.shape.count == 1 }
            .reduce(0) { $0 + $1.shape[0] }
        return matrices.reduce(0) { $0 + $1.bytes } + 4 * vectors
    }

    /// The stored element types of the matrices with their share of the bytes, largest first: `Q4_1 72%, Q8_0 28%`.
    public var storageSummary: String {
        var byType: [String: Int] = [:]
        for matrix in matrices { byType[matrix.layout.name, default: 0] += matrix.bytes }
        let total = max(1, byType.values.reduce(0, +))
        return byType.sorted { $0.value > $1.value }.map { "\($0.key) \(100 * $0.value / total)%" }
            .joined(separator: ", ")
    }
}
