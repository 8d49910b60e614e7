// The decoder-only transformer with LoRA: an explicit forward and a mirrored backward, in the manner of llm.c. Base
// weights are frozen; only LoRA A and B receive gradients, but dx still flows through every frozen W. The layer
// recipe (norms, feed-forward kind, sandwich norms, embedding scale, per-layer window and RoPE base, soft caps,
// residual multiplier) comes from the family's spec (Architectures/); ports of HF modeling_llama.py,
// modeling_qwen2/3.py, modeling_gemma2/3.py and modeling_granite.py.
//
// Legend (Tensors/Legend.swift): N tokens, C hidden, H/KVH heads, D head dim, F intermediate, V vocab, R LoRA rank.
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

// MARK: - Batches

/// A flat batch of tokens: packed or padded sequences side by side.
public struct TokenBatch: Sendable, Equatable {
    /// Input token ids [N].
    public var tokens: [Int32]
    /// The token each position should predict, or −1 where no loss is taken [N].
    public var targets: [Int32]
    /// Position of each token inside its own sequence (RoPE restarts for every packed sequence) [N].
    public var positions: [Int32]
    /// Which sequence each token belongs to; −1 marks padding [N].
    public var sequenceIds: [Int32]

    public init(tokens: [Int32], targets: [Int32], positions: [Int32], sequenceIds: [Int32]) {
        precondition(
            tokens.count == targets.count && tokens.count == positions.count && tokens.count == sequenceIds.count,
            "batch arrays differ in length")
        self.tokens = tokens
        self.targets = targets
        self.positions = positions
        self.sequenceIds = sequenceIds
    }

    /// Packs sequences one after another. `labels[i][t]` is the target at position t of sequence i (−1: none).
    public init(sequences: [[Int32]], labels: [[Int32]]) {
        var tokens: [Int32] = [], targets: [Int32] = [], positions: [Int32] = [], ids: [Int32] = []
        for (i, sequence) in sequences.enumerated() {
            tokens += sequence
            targets += labels[i]
            positions += (0..<sequence.count).map(Int32.init)
            ids += Array(repeating: Int32(i), count: sequence.count)
        }
        self.init(tokens: tokens, targets: targets, positions: positions, sequenceIds: ids)
    }

    public var count: Int { tokens.count }
    /// Positions that carry a loss.
    public var targetCount: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}

// MARK: - Activations

/// What one decoder layer's forward keeps for its backward. The two normalised inputs and the SwiGLU output are
/// not kept: backward recomputes them from `rstd`, `mid`, `gate` and `up` (cheap element-wise work, a third less memory).
final class LayerActivations {
    let rstd1, q, k, v, attention, lse, mid, rstd2, gate, up: FloatBuffer
    let qProjected, kProjected, qRstd, kRstd: FloatBuffer?  // q/k norm inputs (Qwen3, Gemma 3)
    let attentionProjected, mlpProjected, rstd3, rstd4: FloatBuffer?  // sandwich post-norm inputs [N, C] (Gemma)
    let mean1: FloatBuffer?  // LayerNorm mean [N] (Phi-2)
    var loraHidden: [LoRATarget: FloatBuffer] = [:]  // t = x·Aᵀ [N, R]
    var dropoutMasks: [LoRATarget: FloatBuffer] = [:]  // 0 or 1/(1−p) [N, In]

    init(config: ModelConfig, lora: LoRAParameters?, capacity n: Int) {
        let c = config.hiddenSize, f = config.intermediateSize
        let qw = config.headCount * config.headDim, kw = config.kvHeadCount * config.headDim
        rstd1 = FloatBuffer(count: n)
        q = FloatBuffer(count: n * qw)
        k = FloatBuffer(count: n * kw)
        v = FloatBuffer(count: n * kw)
        attention = FloatBuffer(count: n * qw)
        lse = FloatBuffer(count: n * config.headCount)
        mid = FloatBuffer(count: n * c)
        rstd2 = FloatBuffer(count: n)
        gate = FloatBuffer(count: config.architecture.spec.feedForward.isGated ? n * f : 0)
        mean1 = config.architecture.spec.layerNorm ? FloatBuffer(count: n) : nil
        up = FloatBuffer(count: n * f)
        qProjected = config.qkNorm ? FloatBuffer(count: n * qw) : nil
        kProjected = config.qkNorm ? FloatBuffer(count: n * kw) : nil
        qRstd = config.qkNorm ? FloatBuffer(count: n * config.headCount) : nil
        kRstd = config.qkNorm ? FloatBuffer(count: n * config.kvHeadCount) : nil
        let sandwich = config.architecture.spec.sandwichNorms
        attentionProjected = sandwich ? FloatBuffer(count: n * c) : nil
        mlpProjected = sandwich ? FloatBuffer(count: n * c) : nil
        rstd3 = sandwich ? FloatBuffer(count: n) : nil
        rstd4 = sandwich ? FloatBuffer(count: n) : nil
        if let lora {
            for target in lora.config.targets {
                loraHidden[target] = FloatBuffer(count: n * lora.config.rank)
                if lora.config.dropout > 0 {
                    dropoutMasks[target] = FloatBuffer(count: n * target.features(config).input)
                }
            }
        }
    }
}

/// Scratch shared by all layers: gradients during backward, and the recomputable forward intermediates.
final class GradientScratch {
    let normalized: FloatBuffer  // attn_norm or ffn_norm output [N, C]
    let activated: FloatBuffer  // SwiGLU output [N, F]
    let residual, hidden, finalNorm: FloatBuffer  // [N, C]
    let projected: FloatBuffer  // o or down output before a residual multiplier, or its gradient [N, C]; else empty
    let q, k, v, attention, qProjected, kProjected: FloatBuffer  // [N, H·D] / [N, KVH·D]
    let act: FloatBuffer  // ∂loss/∂SwiGLU output [N, F]
    let loraHidden: FloatBuffer  // [N, R]
    let dropped: FloatBuffer  // [N, max(In)] with LoRA dropout, else empty

    init(config: ModelConfig, rank: Int, dropout: Bool, capacity n: Int) {
        let c = config.hiddenSize, f = config.intermediateSize
        let qw = config.headCount * config.headDim, kw = config.kvHeadCount * config.headDim
        normalized = FloatBuffer(count: n * c)
        activated = FloatBuffer(count: n * f)
        residual = FloatBuffer(count: n * c)
        hidden = FloatBuffer(count: n * c)
        finalNorm = FloatBuffer(count: n * c)
        projected = FloatBuffer(count: config.architecture.spec.sandwichNorms || config.residualMultiplier != 1 ? n * c : 0)
        q = FloatBuffer(count: n * qw)
        k = FloatBuffer(count: n * kw)
        v = FloatBuffer(count: n * kw)
        attention = FloatBuffer(count: n * qw)
        qProjected = FloatBuffer(count: n * qw)
        kProjected = FloatBuffer(count: n * kw)
        act = FloatBuffer(count: n * f)
        loraHidden = FloatBuffer(count: n * max(rank, 1))
        dropped = FloatBuffer(count: dropout ? n * max(c, f, qw) : 0)
    }
}

/// A named intermediate handed to an `ActivationTap`: `("attn_norm", layer 3, values)`.
public typealias ActivationTap = (_ name: String, _ layer: Int?, _ values: UnsafeBufferPointer<Float>) -> Void

// MARK: - Model

/// The transformer with optional LoRA, its activation memory, and forward/backward passes over `TokenBatch`es.
public final class Transformer: @unchecked Sendable {
    public let config: ModelConfig
    public let weights: TransformerWeights
    /// The adapter being trained or applied (unmerged); nil runs the base model.
    public let lora: LoRAParameters?
    /// Keep only each layer's input and recompute the rest during backward (less memory, ~⅓ more compute).
    public let checkpointing: Bool
    public let pool: WorkerPool
    /// Runs the frozen-weight products in the model's precision.
    public let matmul: MatmulEngine
    /// Receives named intermediates of the forward pass (parity debugging); nil in normal runs.
    public var tap: ActivationTap?

    /// RoPE of the global layers, and of the sliding-window layers when their base differs (Gemma 3).
    private let rope: RoPETable
    private let localRope: RoPETable?
    /// LongRoPE's table with the long factors, and the context past which a batch uses it (as transformers picks
    /// per forward pass from the batch's largest position).
    private let longRope: (table: RoPETable, after: Int)?
    private var longContext = false
    private var capacity = 0
    private var residuals: [FloatBuffer] = []  // L + 1 residual streams [N, C]
    private var layerActivations: [LayerActivations] = []
    private var scratch: GradientScratch?
    private var finalRstd = FloatBuffer(count: 0)
    private var finalMean = FloatBuffer(count: 0)  // LayerNorm (Phi-2)
    private var crossEntropy: CrossEntropyScratch?
    private var layout = AttentionLayout(sequenceIds: [])
    private var dropoutSeed: UInt64 = 0

    /// `maxPosition` bounds the RoPE table (positions inside one sequence).
    /// `precision` is the input precision of the frozen-weight products (LoRA, attention and the loss stay Float32).
    public init(weights: TransformerWeights, lora: LoRAParameters?, checkpointing: Bool = false,
                threads: Int = 0, maxPosition: Int? = nil, precision: Precision = .fp32) {
        config = weights.config
        self.weights = weights
        self.lora = lora
        self.checkpointing = checkpointing
        pool = threads > 0 ? WorkerPool(threadCount: threads) : .allCores
        matmul = MatmulEngine(precision: precision, pool: pool)
        let positions = maxPosition ?? min(config.maxPositionEmbeddings, 32_768)
        rope = RoPETable(
            headDim: config.rotaryDim, maxPosition: positions, theta: Double(config.ropeTheta),
            scaling: Self.ropeScaling(config.ropeScaling, long: false))
        if case .longRoPE(_, _, let original, _)? = config.ropeScaling {
            longRope = (
                RoPETable(
                    headDim: config.rotaryDim, maxPosition: positions, theta: Double(config.ropeTheta),
                    scaling: Self.ropeScaling(config.ropeScaling, long: true)),
                original
            )
        } else {
            longRope = nil
        }
        let rotaryDim = config.rotaryDim
        localRope = config.localRopeTheta.map {
            RoPETable(headDim: rotaryDim, maxPosition: positions, theta: Double($0), scaling: .none)
        }
    }

    private func ropeTable(_ layer: Int) -> RoPETable {
        if let localRope, config.window(layer: layer) != nil { return localRope }
        if let longRope, longContext { return longRope.table }
        return rope
    }

    /// Whether a pass whose largest position is `last` uses LongRoPE's long factors.
    private func reachesLongContext(_ last: Int) -> Bool {
        guard let longRope else { return false }
        return last + 1 > longRope.after
    }

    private func attentionShape(_ layer: Int) -> AttentionShape {
        AttentionShape(
            heads: config.headCount, kvHeads: config.kvHeadCount, headDim: config.headDim,
            window: config.window(layer: layer), scale: config.attentionScale, softCap: config.attentionSoftCap)
    }

    /// residual₀ = embedding[ids] · multiplier (√C for Gemma).
    private func embed(_ ids: UnsafePointer<Int32>, rows n: Int) {
        embeddingForward(out: residuals[0].pointer, ids: ids, table: weights.embedding, rows: n)
        let multiplier = config.embeddingMultiplier
        guard multiplier != 1 else { return }
        let x = residuals[0].pointer
        for i in 0..<(n * config.hiddenSize) { x[i] *= multiplier }
    }

    /// h = act(gate) · up, or gelu(up) without a gate, for the family's feed-forward kind.
    private func gatedForward(h: FloatBuffer, gate: FloatBuffer, up: FloatBuffer, count: Int) {
        switch config.architecture.spec.feedForward {
        case .swiGLU: swiGLUForward(h: h.pointer, gate: gate.pointer, up: up.pointer, count: count, pool: pool)
        case .geGLU: geGLUForward(h: h.pointer, gate: gate.pointer, up: up.pointer, count: count, pool: pool)
        case .gelu: geluForward(y: h.pointer, x: up.pointer, count: count, pool: pool)
        }
    }

    /// Backward of `gatedForward`, writing dgate and dup over gate and up.
    private func gatedBackwardInPlace(gate: FloatBuffer, up: FloatBuffer, dh: FloatBuffer, count: Int) {
        switch config.architecture.spec.feedForward {
        case .swiGLU:
            swiGLUBackward(dgate: gate.pointer, dup: up.pointer, dh: dh.pointer, gate: gate.pointer, up: up.pointer,
                           count: count, pool: pool)
        case .geGLU:
            geGLUBackward(dgate: gate.pointer, dup: up.pointer, dh: dh.pointer, gate: gate.pointer, up: up.pointer,
                          count: count, pool: pool)
        case .gelu:
            geluBackward(dx: up.pointer, dy: dh.pointer, x: up.pointer, count: count, accumulate: false, pool: pool)
        }
    }

    /// y = norm(x)·w (+ b): RMSNorm, or LayerNorm with its bias for the families that use it (the layer's input
    /// norm and the final norm).
    private func inputNormForward(
        y: FloatBuffer, rstd: FloatBuffer, mean: FloatBuffer?, x: UnsafePointer<Float>, weight: FloatBuffer,
        bias: FloatBuffer?, rows n: Int
    ) {
        let c = config.hiddenSize
        if let mean, let bias {
            layerNormForward(y: y.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x, weight: weight.pointer,
                             bias: bias.pointer, rows: n, channels: c, epsilon: config.rmsNormEps, pool: pool)
        } else {
            rmsNormForward(y: y.pointer, rstd: rstd.pointer, x: x, weight: weight.pointer, rows: n, channels: c,
                           epsilon: config.rmsNormEps, pool: pool)
        }
    }

    /// Backward of `inputNormForward` into dx (added when `accumulate`).
    private func inputNormBackward(
        dx: FloatBuffer, dy: FloatBuffer, x: UnsafePointer<Float>, weight: FloatBuffer, rstd: FloatBuffer,
        mean: FloatBuffer?, rows n: Int, accumulate: Bool
    ) {
        let c = config.hiddenSize
        if let mean {
            layerNormBackward(dx: dx.pointer, dy: dy.pointer, x: x, weight: weight.pointer, mean: mean.pointer,
                              rstd: rstd.pointer, rows: n, channels: c, accumulate: accumulate, pool: pool)
        } else {
            rmsNormBackward(dx: dx.pointer, dWeight: nil, dy: dy.pointer, x: x, weight: weight.pointer,
                            rstd: rstd.pointer, rows: n, channels: c, accumulate: accumulate, pool: pool)
        }
    }

    /// logits [rows, V] of `hidden`, with the head's bias and the final soft cap.
    private func headLogits(_ out: UnsafeMutablePointer<Float>, hidden: FloatBuffer, rows: Int) {
        matmul.forward(y: out, x: hidden.pointer, weight: weights.outputHead, rows: rows, accumulate: false)
        let v = config.vocabSize
        if let bias = weights.outputHeadBias {
            for row in 0..<rows {
                let y = out + row * v
                for j in 0..<v { y[j] += bias.pointer[j] }
            }
        }
        if let cap = config.finalSoftCap { softCapForward(out, count: rows * v, cap: cap) }
    }

    /// The kernel's scaling for `scaling`; `long` picks LongRoPE's long factors.
    static func ropeScaling(_ scaling: RopeScaling?, long: Bool) -> RoPEScaling {
        switch scaling {
        case nil: return .none
        case .linear(let factor)?: return .linear(factor: Double(factor))
        case .llama3(let factor, let low, let high, let original)?:
            return .llama3(factor: Double(factor), lowFrequencyFactor: Double(low), highFrequencyFactor: Double(high),
                           originalContext: original)
        case .frequencyFactors(let factors)?: return .frequencyFactors(factors.map(Double.init))
        case .longRoPE(let short, let longFactors, _, let attentionFactor)?:
            return .longRoPE(factors: (long ? longFactors : short).map(Double.init), attentionFactor: Double(attentionFactor))
        }
    }

    /// Bytes of activation memory a batch of `tokens` needs (for the memory estimate before training): what each
    /// layer keeps, the residual streams, the shared scratch, and the cross-entropy chunk.
    /// `widenedElements` is the largest weight matrix that the products must widen (0 when every matrix is already
    /// in the product's precision).
    public static func activationBytes(config: ModelConfig, lora: LoRAConfig?, tokens n: Int, checkpointing: Bool,
                                       precision: Precision = .fp32, widenedElements: Int = 0) -> Int {
        let c = config.hiddenSize, f = config.intermediateSize
        let qw = config.headCount * config.headDim, kw = config.kvHeadCount * config.headDim
        var perLayer = n * (c + 2 * qw + 2 * kw + 2 * f + 2 + config.headCount)
        if config.qkNorm { perLayer += n * (qw + kw + config.headCount + config.kvHeadCount) }
        let sandwich = config.architecture.spec.sandwichNorms
        if sandwich { perLayer += n * (2 * c + 2) }
        if let lora {
            perLayer += n * lora.rank * lora.targets.count
            if lora.dropout > 0 {
                perLayer += n * lora.targets.reduce(0) { $0 + $1.features(config).input }
            }
        }
        let layers = checkpointing ? 1 : config.layerCount
        let residualStreams = (config.layerCount + 1) * n * c
        let dropout = (lora?.dropout ?? 0) > 0 ? max(c, f, qw) : 0
        let branch = sandwich || config.residualMultiplier != 1
        let scratch = n * ((branch ? 5 : 4) * c + 3 * qw + 3 * kw + 2 * f + dropout + max(lora?.rank ?? 0, 1))
        let crossEntropy = 128 * (config.vocabSize + 2 * c)
        let products = MatmulEngine.scratchBytes(
            precision: precision, weightElements: widenedElements,
            inputElements: max(n * max(c, f, qw), 128 * config.vocabSize))
        return 4 * (layers * perLayer + residualStreams + scratch + crossEntropy) + products
    }

    /// The largest single buffer this model has allocated, in floats (tests check no [tokens, vocab] buffer exists).
    public var largestBufferFloats: Int {
        var sizes = residuals.map(\.count) + [finalRstd.count, crossEntropy?.floatCount ?? 0]
        if let scratch {
            sizes += [scratch.normalized, scratch.activated, scratch.residual, scratch.hidden,
                      scratch.finalNorm, scratch.q, scratch.k, scratch.v, scratch.attention, scratch.qProjected,
                      scratch.kProjected, scratch.act, scratch.loraHidden, scratch.dropped, scratch.projected]
                .map(\.count)
        }
        for a in layerActivations {
            sizes += [a.rstd1, a.q, a.k, a.v, a.attention, a.lse, a.mid, a.rstd2, a.gate, a.up].map(\.count)
            sizes += [a.qProjected, a.kProjected, a.qRstd, a.kRstd, a.attentionProjected, a.mlpProjected]
                .compactMap { $0?.count }
            sizes += a.loraHidden.values.map(\.count) + a.dropoutMasks.values.map(\.count)
        }
        return sizes.max() ?? 0
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        capacity = n
        let c = config.hiddenSize
        residuals = (0...config.layerCount).map { _ in FloatBuffer(count: n * c) }
        layerActivations = (0..<(checkpointing ? 1 : config.layerCount)).map { _ in
            LayerActivations(config: config, lora: lora, capacity: n)
        }
        scratch = GradientScratch(
            config: config, rank: lora?.config.rank ?? 0, dropout: (lora?.config.dropout ?? 0) > 0, capacity: n)
        finalRstd = FloatBuffer(count: n)
        finalMean = FloatBuffer(count: config.architecture.spec.layerNorm ? n : 0)
        crossEntropy = CrossEntropyScratch(chunkRows: 128, vocab: config.vocabSize, channels: c)
    }

    private func activations(_ layer: Int) -> LayerActivations {
        layerActivations[checkpointing ? 0 : layer]
    }

    // MARK: Forward

    /// Runs the forward pass and the loss. With `gradScale` non-nil, also the backward pass, adding
    /// `gradScale · ∂(Σ loss)/∂θ` into `lora.gradients` (gradScale = 1 / target tokens of the optimizer step).
    /// `dropoutSeed` fixes LoRA dropout masks so a step is reproducible (and recomputation sees the same masks).
    @discardableResult
    public func run(_ batch: TokenBatch, gradScale: Float?, dropoutSeed: UInt64 = 0) -> CrossEntropyTotals {
        let n = batch.count
        guard n > 0 else { return CrossEntropyTotals() }
        reserve(n)
        layout = AttentionLayout(sequenceIds: batch.sequenceIds)
        longContext = reachesLongContext(Int(batch.positions.max() ?? 0))
        self.dropoutSeed = dropoutSeed
        let training = gradScale != nil
        batch.tokens.withUnsafeBufferPointer { ids in embed(ids.baseAddress!, rows: n) }
        emit("embedding", nil, residuals[0], n * config.hiddenSize)
        batch.positions.withUnsafeBufferPointer { positions in
            for layer in 0..<config.layerCount {
                layerForward(layer, rows: n, positions: positions.baseAddress!, training: training)
            }
        }
        let c = config.hiddenSize
        guard let scratch, let crossEntropy else { preconditionFailure("reserve allocates scratch") }
        let last = residuals[config.layerCount]
        inputNormForward(y: scratch.finalNorm, rstd: finalRstd, mean: weights.finalNormBias.map { _ in finalMean },
                         x: last.pointer, weight: weights.finalNorm, bias: weights.finalNormBias, rows: n)
        emit("output_norm", nil, scratch.finalNorm, n * c)
        let totals = batch.targets.withUnsafeBufferPointer { targets in
            lmHeadCrossEntropy(
                hidden: scratch.finalNorm.pointer, weight: weights.outputHead, targets: targets.baseAddress!,
                rows: n, dHidden: gradScale == nil ? nil : scratch.hidden.pointer, gradScale: gradScale ?? 0,
                scratch: crossEntropy, matmul: matmul, bias: weights.outputHeadBias?.pointer, softCap: config.finalSoftCap)
        }
        if gradScale != nil {
            inputNormBackward(dx: scratch.residual, dy: scratch.hidden, x: last.pointer, weight: weights.finalNorm,
                              rstd: finalRstd, mean: weights.finalNormBias.map { _ in finalMean }, rows: n,
                              accumulate: false)
            batch.positions.withUnsafeBufferPointer { positions in
                for layer in stride(from: config.layerCount - 1, through: 0, by: -1) {
                    if checkpointing {
                        layerForward(layer, rows: n, positions: positions.baseAddress!, training: true)
                    }
                    layerBackward(layer, rows: n, positions: positions.baseAddress!)
                }
            }
        }
        return totals
    }

    /// Logits [N, V] for every position (tests and short prompts; training never builds this).
    public func logits(_ batch: TokenBatch) -> [Float] {
        var probe = batch
        probe.targets = Array(repeating: -1, count: batch.count)
        run(probe, gradScale: nil)
        guard let scratch else { return [] }
        var out = [Float](repeating: 0, count: batch.count * config.vocabSize)
        out.withUnsafeMutableBufferPointer { logits in
            headLogits(logits.baseAddress!, hidden: scratch.finalNorm, rows: batch.count)
        }
        return out
    }

    /// Feeds `tokens` (the next positions of the sequence in `cache`) and returns the logits [V] after the last one.
    /// LoRA, when present, is applied unmerged. Throws nothing: callers keep `cache.count + tokens.count ≤ capacity`.
    public func decode(_ tokens: [Int32], cache: KVCache) -> [Float] {
        let n = tokens.count
        precondition(n > 0 && cache.count + n <= cache.capacity, "KV cache overflow")
        reserve(n)
        let positions = (0..<n).map { Int32(cache.count + $0) }
        longContext = reachesLongContext(cache.count + n - 1)
        tokens.withUnsafeBufferPointer { ids in embed(ids.baseAddress!, rows: n) }
        positions.withUnsafeBufferPointer { p in
            for layer in 0..<config.layerCount {
                layerForward(layer, rows: n, positions: p.baseAddress!, training: false, cache: cache)
            }
        }
        cache.count += n
        guard let scratch else { return [] }
        let c = config.hiddenSize
        let last = residuals[config.layerCount].pointer + (n - 1) * c
        inputNormForward(y: scratch.finalNorm, rstd: finalRstd, mean: weights.finalNormBias.map { _ in finalMean },
                         x: last, weight: weights.finalNorm, bias: weights.finalNormBias, rows: 1)
        var logits = [Float](repeating: 0, count: config.vocabSize)
        logits.withUnsafeMutableBufferPointer { out in headLogits(out.baseAddress!, hidden: scratch.finalNorm, rows: 1) }
        return logits
    }

    private func layerForward(
        _ l: Int, rows n: Int, positions: UnsafePointer<Int32>, training: Bool, cache: KVCache? = nil
    ) {
        let w = weights.layers[l]
        let a = activations(l)
        let c = config.hiddenSize, h = config.headCount, kvh = config.kvHeadCount, d = config.headDim
        guard let scratch else { preconditionFailure("reserve allocates scratch") }
        let input = residuals[l], output = residuals[l + 1]
        let norm1 = scratch.normalized
        inputNormForward(y: norm1, rstd: a.rstd1, mean: a.mean1, x: input.pointer, weight: w.attentionNorm,
                         bias: w.attentionNormBias, rows: n)
        emit("attn_norm", l, norm1, n * c)
        let qOut = a.qProjected ?? a.q, kOut = a.kProjected ?? a.k
        linearForward(l, .q, w.query, x: norm1, y: qOut, rows: n, activations: a, accumulate: false, training: training)
        linearForward(l, .k, w.key, x: norm1, y: kOut, rows: n, activations: a, accumulate: false, training: training)
        linearForward(l, .v, w.value, x: norm1, y: a.v, rows: n, activations: a, accumulate: false, training: training)
        if let qProjected = a.qProjected, let kProjected = a.kProjected, let qNorm = w.queryNorm, let kNorm = w.keyNorm,
            let qRstd = a.qRstd, let kRstd = a.kRstd
        {
            rmsNormForward(y: a.q.pointer, rstd: qRstd.pointer, x: qProjected.pointer, weight: qNorm.pointer,
                           rows: n * h, channels: d, epsilon: config.rmsNormEps, pool: pool)
            rmsNormForward(y: a.k.pointer, rstd: kRstd.pointer, x: kProjected.pointer, weight: kNorm.pointer,
                           rows: n * kvh, channels: d, epsilon: config.rmsNormEps, pool: pool)
        }
        let rope = ropeTable(l)
        ropeForward(a.q.pointer, positions: positions, rows: n, heads: h, table: rope, headWidth: d, pool: pool)
        ropeForward(a.k.pointer, positions: positions, rows: n, heads: kvh, table: rope, headWidth: d, pool: pool)
        emit("q_rope", l, a.q, n * h * d)
        emit("k_rope", l, a.k, n * kvh * d)
        let attentionShape = attentionShape(l)
        if let cache {
            let width = kvh * d
            (cache.keys[l].pointer + cache.count * width).update(from: a.k.pointer, count: n * width)
            (cache.values[l].pointer + cache.count * width).update(from: a.v.pointer, count: n * width)
            attentionDecode(out: a.attention.pointer, q: a.q.pointer, kCache: cache.keys[l].pointer,
                            vCache: cache.values[l].pointer, newTokens: n, cached: cache.count, shape: attentionShape,
                            pool: pool)
        } else {
            attentionForward(out: a.attention.pointer, lse: a.lse.pointer, q: a.q.pointer, k: a.k.pointer,
                             v: a.v.pointer, layout: layout, rows: n, shape: attentionShape, pool: pool)
        }
        emit("attn_out", l, a.attention, n * h * d)
        // mid = input + o(attention), input + post_norm(o(attention)) with the sandwich, or
        // input + m·o(attention) with a residual multiplier
        if let projected = a.attentionProjected, let rstd = a.rstd3, let postNorm = w.postAttentionNorm {
            linearForward(l, .o, w.attentionOutput, x: a.attention, y: projected, rows: n, activations: a,
                          accumulate: false, training: training)
            addNormalized(to: a.mid, input: input, x: projected, rstd: rstd, weight: postNorm, rows: n)
        } else if config.residualMultiplier != 1 {
            linearForward(l, .o, w.attentionOutput, x: a.attention, y: scratch.projected, rows: n, activations: a,
                          accumulate: false, training: training)
            addScaled(to: a.mid, input: input, branch: scratch.projected, rows: n)
        } else {
            a.mid.pointer.update(from: input.pointer, count: n * c)
            linearForward(l, .o, w.attentionOutput, x: a.attention, y: a.mid, rows: n, activations: a,
                          accumulate: true, training: training)
        }
        // The feed-forward input: norm2(mid), or in a parallel block the attention's own input norm1, still in
        // scratch.normalized (nothing since has written there).
        let norm2 = scratch.normalized
        if let mlpNorm = w.mlpNorm {
            rmsNormForward(y: norm2.pointer, rstd: a.rstd2.pointer, x: a.mid.pointer, weight: mlpNorm.pointer,
                           rows: n, channels: c, epsilon: config.rmsNormEps, pool: pool)
            emit("ffn_norm", l, norm2, n * c)
        }
        if let gate = w.gate {
            linearForward(l, .gate, gate, x: norm2, y: a.gate, rows: n, activations: a, accumulate: false,
                          training: training)
        }
        linearForward(l, .up, w.up, x: norm2, y: a.up, rows: n, activations: a, accumulate: false, training: training)
        let act = scratch.activated
        gatedForward(h: act, gate: a.gate, up: a.up, count: n * config.intermediateSize)
        // output = mid + down(act), mid + post_norm(down(act)) with the sandwich, or mid + m·down(act)
        if let projected = a.mlpProjected, let rstd = a.rstd4, let postNorm = w.postMLPNorm {
            linearForward(l, .down, w.down, x: act, y: projected, rows: n, activations: a, accumulate: false,
                          training: training)
            addNormalized(to: output, input: a.mid, x: projected, rstd: rstd, weight: postNorm, rows: n)
        } else if config.residualMultiplier != 1 {
            linearForward(l, .down, w.down, x: act, y: scratch.projected, rows: n, activations: a, accumulate: false,
                          training: training)
            addScaled(to: output, input: a.mid, branch: scratch.projected, rows: n)
        } else {
            output.pointer.update(from: a.mid.pointer, count: n * c)
            linearForward(l, .down, w.down, x: act, y: output, rows: n, activations: a, accumulate: true,
                          training: training)
        }
        emit("l_out", l, output, n * c)
    }

    /// out = input + rmsnorm(x)·weight, through `scratch.normalized` (a sandwich post-norm and its residual add).
    private func addNormalized(
        to out: FloatBuffer, input: FloatBuffer, x: FloatBuffer, rstd: FloatBuffer, weight: FloatBuffer, rows n: Int
    ) {
        guard let scratch else { preconditionFailure("reserve allocates scratch") }
        let c = config.hiddenSize
        rmsNormForward(y: scratch.normalized.pointer, rstd: rstd.pointer, x: x.pointer, weight: weight.pointer,
                       rows: n, channels: c, epsilon: config.rmsNormEps, pool: pool)
        let y = scratch.normalized.pointer, base = input.pointer, o = out.pointer
        for i in 0..<(n * c) { o[i] = base[i] + y[i] }
    }

    /// out = input + m·branch with m the residual multiplier (Granite).
    private func addScaled(to out: FloatBuffer, input: FloatBuffer, branch: FloatBuffer, rows n: Int) {
        let m = config.residualMultiplier
        let b = branch.pointer, base = input.pointer, o = out.pointer
        for i in 0..<(n * config.hiddenSize) { o[i] = base[i] + m * b[i] }
    }

    /// y (+)= x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ, keeping t = drop(x)·Aᵀ for backward.
    private func linearForward(
        _ l: Int, _ target: LoRATarget, _ linear: FrozenLinear, x: FloatBuffer, y: FloatBuffer, rows n: Int,
        activations a: LayerActivations, accumulate: Bool, training: Bool
    ) {
        let (input, output) = (linear.inFeatures, linear.outFeatures)
        guard let scratch else { preconditionFailure("reserve allocates scratch") }
        matmul.forward(y: y.pointer, x: x.pointer, weight: linear.weight, rows: n, accumulate: accumulate)
        if let bias = linear.bias {
            for row in 0..<n {
                let yr = y.pointer + row * output
                for o in 0..<output { yr[o] += bias.pointer[o] }
            }
        }
        guard let lora, let slot = lora.slot(layer: l, target: target), let t = a.loraHidden[target] else { return }
        let r = lora.config.rank
        var source = x.pointer
        if training, lora.config.dropout > 0, let mask = a.dropoutMasks[target] {
            fillDropoutMask(mask, count: n * input, layer: l, target: target)
            let dropped = scratch.dropped.pointer
            for i in 0..<(n * input) { dropped[i] = x.pointer[i] * mask.pointer[i] }
            source = dropped
        }
        let parameters = lora.values.pointer
        gemm(transposeA: false, transposeB: true, m: n, n: r, k: input, alpha: 1, a: source,
             b: parameters + slot.offsetA, beta: 0, c: t.pointer)
        gemm(transposeA: false, transposeB: true, m: n, n: output, k: r, alpha: lora.config.scale, a: t.pointer,
             b: parameters + slot.offsetB, beta: 1, c: y.pointer)
    }

    private func fillDropoutMask(_ mask: FloatBuffer, count: Int, layer: Int, target: LoRATarget) {
        guard let lora else { return }
        let p = lora.config.dropout
        let keep = 1 / (1 - p)
        // The parts of a fused module see one input and so one mask, as in PEFT.
        let maskTarget = config.architecture.spec.fused(target)?.parts[0] ?? target
        let targetIndex = UInt64(LoRATarget.allCases.firstIndex(of: maskTarget) ?? 0)
        var generator = SplitMix64(seed: dropoutSeed &* 0x2545_F491_4F6C_DD1D &+ UInt64(layer) &* 16 &+ targetIndex)
        for i in 0..<count {
            let u = Float(generator.next() >> 40) * (1.0 / 16_777_216.0)
            mask.pointer[i] = u < p ? 0 : keep
        }
    }

    // MARK: Backward

    /// Mirrors `layerForward`. On entry `scratch.residual` holds ∂loss/∂output of layer l; on exit ∂loss/∂input.
    private func layerBackward(_ l: Int, rows n: Int, positions: UnsafePointer<Int32>) {
        guard let scratch else { return }
        let w = weights.layers[l]
        let a = activations(l)
        let c = config.hiddenSize, h = config.headCount, kvh = config.kvHeadCount, d = config.headDim
        let f = config.intermediateSize
        let dResidual = scratch.residual
        // MLP: output = mid + [post_norm](down(act(gate(norm2), up(norm2)))); recompute act and norm2 (norm1 in a
        // parallel block) first.
        gatedForward(h: scratch.activated, gate: a.gate, up: a.up, count: n * f)
        let norm = scratch.normalized
        if let mlpNorm = w.mlpNorm {
            rmsNormForward(y: norm.pointer, rstd: a.rstd2.pointer, x: a.mid.pointer, weight: mlpNorm.pointer,
                           rows: n, channels: c, epsilon: config.rmsNormEps, pool: pool)
        } else {
            inputNormForward(y: norm, rstd: a.rstd1, mean: a.mean1, x: residuals[l].pointer, weight: w.attentionNorm,
                             bias: w.attentionNormBias, rows: n)
        }
        // Layer 0's input is the frozen embedding: no gradient needs to flow past its projections.
        let needInput = l > 0
        let parallel = w.mlpNorm == nil
        let dDown = branchBackward(dy: dResidual, x: a.mlpProjected, rstd: a.rstd4, weight: w.postMLPNorm, rows: n)
        linearBackward(l, .down, w.down, dy: dDown, x: scratch.activated, dx: scratch.act, rows: n, activations: a,
                       accumulate: false)
        // The saved gate and up are not read again this step: their gradients overwrite them (two [N, F] buffers
        // fewer; 112 MB at 8B with 4 × 256 tokens).
        gatedBackwardInPlace(gate: a.gate, up: a.up, dh: scratch.act, count: n * f)
        // In a parallel block ∂loss/∂norm1 collects here and the attention's part is added below.
        let dNorm2 = parallel && !needInput ? nil : scratch.hidden
        if let gate = w.gate {
            linearBackward(l, .gate, gate, dy: a.gate, x: norm, dx: dNorm2, rows: n, activations: a,
                           accumulate: false)
        }
        linearBackward(l, .up, w.up, dy: a.up, x: norm, dx: dNorm2, rows: n, activations: a,
                       accumulate: w.gate != nil)
        if let mlpNorm = w.mlpNorm {
            rmsNormBackward(dx: dResidual.pointer, dWeight: nil, dy: scratch.hidden.pointer, x: a.mid.pointer,
                            weight: mlpNorm.pointer, rstd: a.rstd2.pointer, rows: n, channels: c, accumulate: true,
                            pool: pool)
        }
        // Attention: mid = input + [post_norm](o(attention(rope(q), rope(k), v)))
        let dProjected = branchBackward(
            dy: dResidual, x: a.attentionProjected, rstd: a.rstd3, weight: w.postAttentionNorm, rows: n)
        linearBackward(l, .o, w.attentionOutput, dy: dProjected, x: a.attention, dx: scratch.attention, rows: n,
                       activations: a, accumulate: false)
        attentionBackward(dq: scratch.q.pointer, dk: scratch.k.pointer, dv: scratch.v.pointer,
                          dout: scratch.attention.pointer, q: a.q.pointer, k: a.k.pointer, v: a.v.pointer,
                          out: a.attention.pointer, lse: a.lse.pointer, layout: layout, rows: n,
                          shape: attentionShape(l), pool: pool)
        let rope = ropeTable(l)
        ropeBackward(scratch.q.pointer, positions: positions, rows: n, heads: h, table: rope, headWidth: d, pool: pool)
        ropeBackward(scratch.k.pointer, positions: positions, rows: n, heads: kvh, table: rope, headWidth: d,
                     pool: pool)
        var dq = scratch.q, dk = scratch.k
        if let qProjected = a.qProjected, let kProjected = a.kProjected, let qNorm = w.queryNorm, let kNorm = w.keyNorm,
            let qRstd = a.qRstd, let kRstd = a.kRstd
        {
            rmsNormBackward(dx: scratch.qProjected.pointer, dWeight: nil, dy: scratch.q.pointer, x: qProjected.pointer,
                            weight: qNorm.pointer, rstd: qRstd.pointer, rows: n * h, channels: d, accumulate: false,
                            pool: pool)
            rmsNormBackward(dx: scratch.kProjected.pointer, dWeight: nil, dy: scratch.k.pointer, x: kProjected.pointer,
                            weight: kNorm.pointer, rstd: kRstd.pointer, rows: n * kvh, channels: d, accumulate: false,
                            pool: pool)
            dq = scratch.qProjected
            dk = scratch.kProjected
        }
        let dNorm1 = needInput ? scratch.hidden : nil
        if !parallel {
            inputNormForward(y: norm, rstd: a.rstd1, mean: a.mean1, x: residuals[l].pointer, weight: w.attentionNorm,
                             bias: w.attentionNormBias, rows: n)
        }
        linearBackward(l, .q, w.query, dy: dq, x: norm, dx: dNorm1, rows: n, activations: a, accumulate: parallel)
        linearBackward(l, .k, w.key, dy: dk, x: norm, dx: dNorm1, rows: n, activations: a, accumulate: true)
        linearBackward(l, .v, w.value, dy: scratch.v, x: norm, dx: dNorm1, rows: n, activations: a, accumulate: true)
        if needInput {
            inputNormBackward(dx: dResidual, dy: scratch.hidden, x: residuals[l].pointer, weight: w.attentionNorm,
                              rstd: a.rstd1, mean: a.mean1, rows: n, accumulate: true)
        }
    }

    /// ∂loss/∂x of a residual branch's output x: through a sandwich post-norm y = rmsnorm(x)·weight or a residual
    /// multiplier (y = m·x), in `scratch.projected`; `dy` itself when the branch is added as it is.
    private func branchBackward(
        dy: FloatBuffer, x: FloatBuffer?, rstd: FloatBuffer?, weight: FloatBuffer?, rows n: Int
    ) -> FloatBuffer {
        guard let scratch else { preconditionFailure("reserve allocates scratch") }
        guard let x, let rstd, let weight else {
            let m = config.residualMultiplier
            guard m != 1 else { return dy }
            let source = dy.pointer, out = scratch.projected.pointer
            for i in 0..<(n * config.hiddenSize) { out[i] = m * source[i] }
            return scratch.projected
        }
        rmsNormBackward(dx: scratch.projected.pointer, dWeight: nil, dy: dy.pointer, x: x.pointer,
                        weight: weight.pointer, rstd: rstd.pointer, rows: n, channels: config.hiddenSize,
                        accumulate: false, pool: pool)
        return scratch.projected
    }

    /// Backward of `linearForward`: dB += s·dyᵀ·t; dt = s·dy·B; dA += dtᵀ·drop(x); dx (+)= dy·W + (dt·A)·mask.
    private func linearBackward(
        _ l: Int, _ target: LoRATarget, _ linear: FrozenLinear, dy: FloatBuffer, x: FloatBuffer, dx: FloatBuffer?,
        rows n: Int, activations a: LayerActivations, accumulate: Bool
    ) {
        let (input, output) = (linear.inFeatures, linear.outFeatures)
        guard let scratch else { preconditionFailure("reserve allocates scratch") }
        if let dx {
            matmul.inputGradient(dx: dx.pointer, dy: dy.pointer, weight: linear.weight, rows: n, accumulate: accumulate)
        }
        guard let lora, let slot = lora.slot(layer: l, target: target), let t = a.loraHidden[target] else { return }
        let r = lora.config.rank
        let s = lora.config.scale
        let parameters = lora.values.pointer
        let gradients = lora.gradients.pointer
        let dt = scratch.loraHidden.pointer
        gemm(transposeA: true, transposeB: false, m: output, n: r, k: n, alpha: s, a: dy.pointer, b: t.pointer,
             beta: 1, c: gradients + slot.offsetB)
        gemm(transposeA: false, transposeB: false, m: n, n: r, k: output, alpha: s, a: dy.pointer,
             b: parameters + slot.offsetB, beta: 0, c: dt)
        var source = x.pointer
        let mask = lora.config.dropout > 0 ? a.dropoutMasks[target] : nil
        if let mask {
            let dropped = scratch.dropped.pointer
            for i in 0..<(n * input) { dropped[i] = x.pointer[i] * mask.pointer[i] }
            source = dropped
        }
        gemm(transposeA: true, transposeB: false, m: r, n: input, k: n, alpha: 1, a: dt, b: source, beta: 1,
             c: gradients + slot.offsetA)
        guard let dx else { return }
        if let mask {
            let dropped = scratch.dropped.pointer
            gemm(transposeA: false, transposeB: false, m: n, n: input, k: r, alpha: 1, a: dt,
                 b: parameters + slot.offsetA, beta: 0, c: dropped)
            for i in 0..<(n * input) { dx.pointer[i] += dropped[i] * mask.pointer[i] }
        } else {
            gemm(transposeA: false, transposeB: false, m: n, n: input, k: r, alpha: 1, a: dt,
                 b: parameters + slot.offsetA, beta: 1, c: dx.pointer)
        }
    }

    private func emit(_ name: String, _ layer: Int?, _ buffer: FloatBuffer, _ count: Int) {
        guard let tap else { return }
        tap(name, layer, UnsafeBufferPointer(start: buffer.pointer, count: count))
    }
}
