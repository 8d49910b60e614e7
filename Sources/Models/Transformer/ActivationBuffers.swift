// Every activation and gradient buffer of a batch, declared once. The same declarations allocate the buffers
// (`BufferArena.allocating`) and measure them for the memory estimate (`BufferArena.measuring`, which allocates
// nothing), so the estimate, the scratch sizes and the largest-buffer check cannot drift apart.
import Tensors

/// Hands out buffers and keeps the count and the largest size of what it handed out.
final class BufferArena {
    /// Counts without allocating.
    let measuring: Bool
    private(set) var floats = 0
    private(set) var largest = 0

    private init(measuring: Bool) { self.measuring = measuring }
    static var allocating: BufferArena { BufferArena(measuring: false) }
    static var measuring: BufferArena { BufferArena(measuring: true) }

    /// A buffer of `count` floats (empty while measuring).
    func buffer(_ count: Int) -> FloatBuffer {
        record(count)
        return FloatBuffer(count: measuring ? 0 : count)
    }

    /// A buffer of `count` floats when `condition` holds.
    func buffer(if condition: Bool, _ count: Int) -> FloatBuffer? {
        condition ? buffer(count) : nil
    }

    /// Counts memory held elsewhere (the cross-entropy chunk).
    func record(_ count: Int) {
        floats += count
        largest = max(largest, count)
    }
}

/// What one decoder layer's forward keeps for its backward. The two normalised inputs and the SwiGLU output are
/// not kept: backward recomputes them from `rstd`, `mid`, `gate` and `up` (cheap element-wise work, a third less memory).
final class LayerActivations {
    let rstd1, q, k, v, attention, lse, mid, rstd2, gate, up: FloatBuffer
    let qProjected, kProjected, qRstd, kRstd: FloatBuffer?  // q/k norm inputs (Qwen3, Gemma 3)
    let attentionProjected, mlpProjected, rstd3, rstd4: FloatBuffer?  // sandwich post-norm inputs [N, C] (Gemma)
    let mean1: FloatBuffer?  // LayerNorm mean [N] (Phi-2)
    var loraHidden: [LoRATarget: FloatBuffer] = [:]  // t = x·Aᵀ [N, R]
    var dropoutMasks: [LoRATarget: FloatBuffer] = [:]  // 0 or 1/(1−p) [N, In]

    init(config: ModelConfig, lora: LoRAConfig?, tokens n: Int, arena: BufferArena) {
        let spec = config.architecture.spec
        let c = config.hiddenSize, f = config.intermediateSize
        let qw = config.headCount * config.headDim, kw = config.kvHeadCount * config.headDim
        rstd1 = arena.buffer(n)
        mean1 = arena.buffer(if: spec.layerNorm, n)
        q = arena.buffer(n * qw)
        k = arena.buffer(n * kw)
        v = arena.buffer(n * kw)
        attention = arena.buffer(n * qw)
        lse = arena.buffer(n * config.headCount)
        mid = arena.buffer(n * c)
        rstd2 = arena.buffer(spec.parallelBlock ? 0 : n)
        gate = arena.buffer(spec.feedForward.isGated ? n * f : 0)
        up = arena.buffer(n * f)
        qProjected = arena.buffer(if: config.qkNorm, n * qw)
        kProjected = arena.buffer(if: config.qkNorm, n * kw)
        qRstd = arena.buffer(if: config.qkNorm, n * config.headCount)
        kRstd = arena.buffer(if: config.qkNorm, n * config.kvHeadCount)
        attentionProjected = arena.buffer(if: spec.sandwichNorms, n * c)
        mlpProjected = arena.buffer(if: spec.sandwichNorms, n * c)
        rstd3 = arena.buffer(if: spec.sandwichNorms, n)
        rstd4 = arena.buffer(if: spec.sandwichNorms, n)
        if let lora {
            for target in lora.targets {
                loraHidden[target] = arena.buffer(n * lora.rank)
                if lora.dropout > 0 { dropoutMasks[target] = arena.buffer(n * target.features(config).input) }
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

    init(config: ModelConfig, lora: LoRAConfig?, tokens n: Int, arena: BufferArena) {
        let c = config.hiddenSize, f = config.intermediateSize
        let qw = config.headCount * config.headDim, kw = config.kvHeadCount * config.headDim
        normalized = arena.buffer(n * c)
        activated = arena.buffer(n * f)
        residual = arena.buffer(n * c)
        hidden = arena.buffer(n * c)
        finalNorm = arena.buffer(n * c)
        let branch = config.architecture.spec.sandwichNorms || config.residualMultiplier != 1
        projected = arena.buffer(branch ? n * c : 0)
        q = arena.buffer(n * qw)
        k = arena.buffer(n * kw)
        v = arena.buffer(n * kw)
        attention = arena.buffer(n * qw)
        qProjected = arena.buffer(n * qw)
        kProjected = arena.buffer(n * kw)
        act = arena.buffer(n * f)
        loraHidden = arena.buffer(n * max(lora?.rank ?? 0, 1))
        dropped = arena.buffer((lora?.dropout ?? 0) > 0 ? n * max(c, f, qw) : 0)
    }
}

/// Every buffer a batch of `tokens` needs: L + 1 residual streams, the layers' saved activations (one layer's
/// with checkpointing), the shared scratch, the final norm's statistics and the cross-entropy chunk.
struct ActivationBuffers {
    /// Rows of the cross-entropy chunk: the only vocabulary-sized memory.
    static let crossEntropyRows = 128

    let residuals: [FloatBuffer]  // [N, C] each
    let layers: [LayerActivations]
    let scratch: GradientScratch
    let finalRstd, finalMean: FloatBuffer  // [N]; the mean for LayerNorm only
    let crossEntropy: CrossEntropyScratch?  // nil while measuring

    init(config: ModelConfig, lora: LoRAConfig?, tokens n: Int, checkpointing: Bool, arena: BufferArena) {
        let c = config.hiddenSize
        residuals = (0...config.layerCount).map { _ in arena.buffer(n * c) }
        layers = (0..<(checkpointing ? 1 : config.layerCount)).map { _ in
            LayerActivations(config: config, lora: lora, tokens: n, arena: arena)
        }
        scratch = GradientScratch(config: config, lora: lora, tokens: n, arena: arena)
        finalRstd = arena.buffer(n)
        finalMean = arena.buffer(config.architecture.spec.layerNorm ? n : 0)
        let rows = Self.crossEntropyRows
        arena.record(CrossEntropyScratch.floatCount(chunkRows: rows, vocab: config.vocabSize, channels: c))
        crossEntropy = arena.measuring ? nil : CrossEntropyScratch(chunkRows: rows, vocab: config.vocabSize, channels: c)
    }
}
