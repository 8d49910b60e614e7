// The decoder-only transformer with LoRA: an explicit forward and a mirrored backward, in the manner of llm.c. Base
// weights are frozen; only LoRA A and B receive gradients, but dx still flows through every frozen W. The layer
// recipe (norms, feed-forward kind, sandwich norms, embedding scale, per-layer window and RoPE base, soft caps,
// residual multiplier, LayerNorm and parallel blocks) comes from the family's spec (Architectures/); ports of HF
// modeling_llama.py, modeling_qwen2/3.py, modeling_gemma2/3.py, modeling_granite.py, modeling_phi3.py and
// modeling_phi.py. This file holds the model and its passes over a batch; DecoderLayer.swift one layer's forward
// and backward, LoRALinear.swift the adapted projections, ActivationBuffers.swift every buffer they use.
//
// Legend (Tensors/Legend.swift): N tokens, C hidden, H/KVH heads, D head dim, F intermediate, V vocab, R LoRA rank.
import Formats
import Foundation
import Tensors

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
    let rope: RoPETable
    let localRope: RoPETable?
    /// LongRoPE's table with the long factors, and the context past which a batch uses it (as transformers picks
    /// per forward pass from the batch's largest position).
    let longRope: (table: RoPETable, after: Int)?
    var longContext = false
    var capacity = 0
    var residuals: [FloatBuffer] = []  // L + 1 residual streams [N, C]
    var layerActivations: [LayerActivations] = []
    var scratch: GradientScratch?
    var finalRstd = FloatBuffer(count: 0)
    var finalMean = FloatBuffer(count: 0)  // LayerNorm (Phi-2)
    var crossEntropy: CrossEntropyScratch?
    var layout = AttentionLayout(sequenceIds: [])
    var dropoutSeed: UInt64 = 0

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

    func ropeTable(_ layer: Int) -> RoPETable {
        if let localRope, config.window(layer: layer) != nil { return localRope }
        if let longRope, longContext { return longRope.table }
        return rope
    }

    /// Whether a pass whose largest position is `last` uses LongRoPE's long factors.
    func reachesLongContext(_ last: Int) -> Bool {
        guard let longRope else { return false }
        return last + 1 > longRope.after
    }

    func attentionShape(_ layer: Int) -> AttentionShape {
        AttentionShape(
            heads: config.headCount, kvHeads: config.kvHeadCount, headDim: config.headDim,
            window: config.window(layer: layer), scale: config.attentionScale, softCap: config.attentionSoftCap)
    }

    /// residual₀ = embedding[ids] · multiplier (√C for Gemma).
    func embed(_ ids: UnsafePointer<Int32>, rows n: Int) {
        embeddingForward(out: residuals[0].pointer, ids: ids, table: weights.embedding, rows: n)
        let multiplier = config.embeddingMultiplier
        guard multiplier != 1 else { return }
        let x = residuals[0].pointer
        for i in 0..<(n * config.hiddenSize) { x[i] *= multiplier }
    }

    /// h = act(gate) · up, or gelu(up) without a gate, for the family's feed-forward kind.
    func gatedForward(h: FloatBuffer, gate: FloatBuffer, up: FloatBuffer, count: Int) {
        switch config.architecture.spec.feedForward {
        case .swiGLU: swiGLUForward(h: h.pointer, gate: gate.pointer, up: up.pointer, count: count, pool: pool)
        case .geGLU: geGLUForward(h: h.pointer, gate: gate.pointer, up: up.pointer, count: count, pool: pool)
        case .gelu: geluForward(y: h.pointer, x: up.pointer, count: count, pool: pool)
        }
    }

    /// Backward of `gatedForward`, writing dgate and dup over gate and up.
    func gatedBackwardInPlace(gate: FloatBuffer, up: FloatBuffer, dh: FloatBuffer, count: Int) {
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
    func inputNormForward(
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
    func inputNormBackward(
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
    func headLogits(_ out: UnsafeMutablePointer<Float>, hidden: FloatBuffer, rows: Int) {
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

    /// Bytes of activation memory a batch of `tokens` needs (for the memory estimate before training): the buffers
    /// `ActivationBuffers` declares, measured without allocating, and the products' widening scratch.
    /// `widenedElements` is the largest weight matrix that the products must widen (0 when every matrix is already
    /// in the product's precision).
    public static func activationBytes(config: ModelConfig, lora: LoRAConfig?, tokens n: Int, checkpointing: Bool,
                                       precision: Precision = .fp32, widenedElements: Int = 0) -> Int {
        let arena = BufferArena.measuring
        _ = ActivationBuffers(
            config: config, lora: lora?.expanded(for: config.architecture), tokens: n, checkpointing: checkpointing,
            arena: arena)
        let c = config.hiddenSize, f = config.intermediateSize, qw = config.headCount * config.headDim
        let products = MatmulEngine.scratchBytes(
            precision: precision, weightElements: widenedElements,
            inputElements: max(n * max(c, f, qw), ActivationBuffers.crossEntropyRows * config.vocabSize))
        return 4 * arena.floats + products
    }

    /// The largest single buffer this model has allocated, in floats (tests check no [tokens, vocab] buffer exists).
    public private(set) var largestBufferFloats = 0

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        capacity = n
        let arena = BufferArena.allocating
        let buffers = ActivationBuffers(
            config: config, lora: lora?.config, tokens: n, checkpointing: checkpointing, arena: arena)
        residuals = buffers.residuals
        layerActivations = buffers.layers
        scratch = buffers.scratch
        finalRstd = buffers.finalRstd
        finalMean = buffers.finalMean
        crossEntropy = buffers.crossEntropy
        largestBufferFloats = arena.largest
    }

    func activations(_ layer: Int) -> LayerActivations {
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

    func emit(_ name: String, _ layer: Int?, _ buffer: FloatBuffer, _ count: Int) {
        guard let tap else { return }
        tap(name, layer, UnsafeBufferPointer(start: buffer.pointer, count: count))
    }
}
