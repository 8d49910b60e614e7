// lm_head + softmax cross-entropy, fused and chunked: only positions with a target are computed, a chunk of rows
// at a time, so the [tokens, vocab] logits matrix never exists. Its backward (into the hidden states) happens in the
// same pass while the chunk's probabilities are hot.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// hidden, dHidden: [N, C]   weight (lm_head or tied embedding): [V, C]   targets: [N], −1 = no loss here
// scratch: logits [M, V] + gathered hidden [M, C] + their gradient [M, C] for a chunk of M rows

/// What one pass of `lmHeadCrossEntropy` measured.
public struct CrossEntropyTotals: Sendable, Equatable {
    /// Σ −log p(target) over target positions, in Double.
    public var lossSum: Double = 0
    /// Number of target positions.
    public var targetCount: Int = 0
    /// Target positions where the target is the most likely token.
    public var correctCount: Int = 0
    public init() {}
}

/// Reusable buffers for a chunk of rows; the only place vocabulary-sized memory is held.
public final class CrossEntropyScratch: @unchecked Sendable {
    public let chunkRows: Int
    public let vocab: Int
    public let channels: Int
    let logits: FloatBuffer
    let hidden: FloatBuffer
    let dHidden: FloatBuffer

    /// Buffers for chunks of `chunkRows` rows (the vocabulary-sized part is chunkRows × vocab floats).
    public init(chunkRows: Int, vocab: Int, channels: Int) {
        self.chunkRows = chunkRows
        self.vocab = vocab
        self.channels = channels
        logits = FloatBuffer(count: chunkRows * vocab)
        hidden = FloatBuffer(count: chunkRows * channels)
        dHidden = FloatBuffer(count: chunkRows * channels)
    }

    /// Floats held by this scratch (for memory estimates and the no-[N, V] test).
    public var floatCount: Int { logits.count + hidden.count + dHidden.count }

    /// Floats a scratch for these sizes holds, without making one.
    public static func floatCount(chunkRows: Int, vocab: Int, channels: Int) -> Int {
        chunkRows * (vocab + 2 * channels)
    }
}

/// Computes loss totals over target positions and, when `dHidden` is given, overwrites it with
/// `gradScale · ∂loss/∂hidden` (zero at positions without a target).
///
/// The two products go through `matmul` (its precision, the head's stored layout widened a panel at a time).
/// `bias` [V] is added to the logits (Phi-2's head); `softCap` then caps them, z ↦ cap·tanh(z/cap) (Gemma 2), and the gradient takes the cap's derivative.
public func lmHeadCrossEntropy(
    hidden: UnsafePointer<Float>, weight: WeightMatrix, targets: UnsafePointer<Int32>, rows: Int,
    dHidden: UnsafeMutablePointer<Float>?, gradScale: Float, scratch: CrossEntropyScratch, matmul: MatmulEngine,
    bias: UnsafePointer<Float>? = nil, softCap: Float? = nil
) -> CrossEntropyTotals {
    let pool = matmul.pool
    let (C, V, M) = (scratch.channels, scratch.vocab, scratch.chunkRows)
    dHidden?.update(repeating: 0, count: rows * C)
    let positions = (0..<rows).filter { targets[$0] >= 0 }
    var totals = CrossEntropyTotals()
    var chunkStart = 0
    while chunkStart < positions.count {
        let chunk = Array(positions[chunkStart..<min(chunkStart + M, positions.count)])
        chunkStart += chunk.count
        let m = chunk.count
        for (i, n) in chunk.enumerated() { (scratch.hidden.pointer + i * C).update(from: hidden + n * C, count: C) }
        matmul.forward(y: scratch.logits.pointer, x: scratch.hidden.pointer, weight: weight, rows: m, accumulate: false)
        // Per-row softmax; the logits turn into gradients in place: p − onehot(target), scaled.
        var rowLoss = [Double](repeating: 0, count: m)
        var rowCorrect = [Bool](repeating: false, count: m)
        rowLoss.withUnsafeMutableBufferPointer { lossOut in
            rowCorrect.withUnsafeMutableBufferPointer { correctOut in
                let lossBase = lossOut.baseAddress!
                let correctBase = correctOut.baseAddress!
                pool.forEachChunk(m) { range in
                    // The capped logits, kept for the cap's derivative once the row holds probabilities.
                    let capped = softCap.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: V) }
                    defer { capped?.deallocate() }
                    for i in range {
                        let row = scratch.logits.pointer + i * V
                        let target = Int(targets[chunk[i]])
                        if let bias { for j in 0..<V { row[j] += bias[j] } }
                        if let softCap, let capped {
                            softCapForward(row, count: V, cap: softCap)
                            capped.update(from: row, count: V)
                        }
                        let largest = maximum(row, count: V)
                        // The most likely token is the first one reaching the maximum.
                        correctBase[i] = row[target] == largest && !(0..<target).contains { row[$0] == largest }
                        let total = exponentials(row, row, count: V, shift: largest)
                        let targetProbability = row[target] / total
                        lossBase[i] = -Double(logf(max(targetProbability, .leastNormalMagnitude)))
                        scale(row, count: V, by: gradScale / total)
                        row[target] -= gradScale
                        if let softCap, let capped { softCapBackward(dx: row, dy: row, y: capped, count: V, cap: softCap) }
                    }
                }
            }
        }
        totals.lossSum += rowLoss.reduce(0, +)
        totals.targetCount += m
        totals.correctCount += rowCorrect.filter { $0 }.count
        if let dHidden {
            matmul.inputGradient(dx: scratch.dHidden.pointer, dy: scratch.logits.pointer, weight: weight, rows: m,
                                 accumulate: false)
            for (i, n) in chunk.enumerated() { (dHidden + n * C).update(from: scratch.dHidden.pointer + i * C, count: C) }
        }
    }
    return totals
}

/// Loop twin: the full [N, V] logits in Double, for tests on small vocabularies.
public func lmHeadCrossEntropyNaive(
    hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, channels: Int,
    vocab: Int, dHidden: UnsafeMutablePointer<Float>?, gradScale: Float, softCap: Float? = nil
) -> Double {
    var loss = 0.0
    for n in 0..<rows {
        for c in 0..<channels { dHidden?[n * channels + c] = 0 }
        let target = Int(targets[n])
        guard target >= 0 else { continue }
        var logits = [Double](repeating: 0, count: vocab)
        for j in 0..<vocab {
            for c in 0..<channels { logits[j] += Double(hidden[n * channels + c]) * Double(weight[j * channels + c]) }
        }
        let cap = softCap.map(Double.init)
        if let cap { logits = logits.map { cap * tanh($0 / cap) } }
        let maximum = logits.max() ?? 0
        let total = logits.reduce(0) { $0 + exp($1 - maximum) }
        loss += -(logits[target] - maximum - log(total))
        if let dHidden {
            for j in 0..<vocab {
                var g = (exp(logits[j] - maximum) / total - (j == target ? 1 : 0)) * Double(gradScale)
                if let cap { g *= 1 - (logits[j] / cap) * (logits[j] / cap) }
                for c in 0..<channels { dHidden[n * channels + c] += Float(g * Double(weight[j * channels + c])) }
            }
        }
    }
    return loss
}
