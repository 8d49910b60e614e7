// Causal grouped-query attention over a flat batch of packed sequences.
// Each token attends to the tokens of its own sequence up to itself; padding attends to nothing and is attended by none.
// Only the log-sum-exp of each row is kept for backward; probabilities are recomputed there (as flash attention does),
// so memory is O(N·H), not O(N²·H).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// q, out, dq, dout: [N, H, D]   k, v, dk, dv: [N, KVH, D]   lse: [N, H]
// sequenceStarts: [N], index of the first token of the token's sequence, or −1 for padding.

/// Which tokens see which: computed once per batch from per-token sequence ids.
public struct AttentionLayout: Sendable {
    /// For each token, the index of its sequence's first token, or −1 for padding.
    public let sequenceStarts: [Int32]
    /// Each sequence as a range of token indices.
    public let sequences: [Range<Int>]

    /// `sequenceIds[n]` < 0 marks padding; a sequence is a maximal run of equal ids.
    public init(sequenceIds: [Int32]) {
        var starts = [Int32](repeating: -1, count: sequenceIds.count)
        var runs: [Range<Int>] = []
        var n = 0
        while n < sequenceIds.count {
            guard sequenceIds[n] >= 0 else {
                n += 1
                continue
            }
            var end = n + 1
            while end < sequenceIds.count && sequenceIds[end] == sequenceIds[n] { end += 1 }
            for t in n..<end { starts[t] = Int32(n) }
            runs.append(n..<end)
            n = end
        }
        sequenceStarts = starts
        sequences = runs
    }
}

/// Dimensions of one attention call.
public struct AttentionShape: Sendable {
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public init(heads: Int, kvHeads: Int, headDim: Int) {
        precondition(heads % kvHeads == 0, "heads must be a multiple of kv heads")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
    }
    var scale: Float { 1 / Float(headDim).squareRoot() }
}

/// out = softmax(q·kᵀ/√D, causal within each sequence)·v; writes the row log-sum-exp into `lse`.
public func attentionForward(
    out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    k: UnsafePointer<Float>, v: UnsafePointer<Float>, layout: AttentionLayout, rows: Int, shape: AttentionShape,
    pool: WorkerPool
) {
    let (H, KVH, D) = (shape.heads, shape.kvHeads, shape.headDim)
    let group = H / KVH
    let scale = shape.scale
    out.update(repeating: 0, count: rows * H * D)
    lse.update(repeating: 0, count: rows * H)
    let items = layout.sequences.count * H
    pool.forEachChunk(items) { range in
        var scores = [Float](repeating: 0, count: layout.sequences.map(\.count).max() ?? 0)
        for item in range {
            let sequence = layout.sequences[item / H]
            let h = item % H
            let kvh = h / group
            for t in sequence {
                let qt = q + (t * H + h) * D
                var maximum = -Float.infinity
                for (j, s) in (sequence.lowerBound...t).enumerated() {
                    let ks = k + (s * KVH + kvh) * D
                    var dot: Float = 0
                    for d in 0..<D { dot += qt[d] * ks[d] }
                    scores[j] = dot * scale
                    maximum = max(maximum, scores[j])
                }
                let ot = out + (t * H + h) * D
                var total: Float = 0
                for (j, s) in (sequence.lowerBound...t).enumerated() {
                    let p = expf(scores[j] - maximum)
                    total += p
                    let vs = v + (s * KVH + kvh) * D
                    for d in 0..<D { ot[d] += p * vs[d] }
                }
                let inverse = 1 / total
                for d in 0..<D { ot[d] *= inverse }
                lse[t * H + h] = maximum + logf(total)
            }
        }
    }
}

/// Backward of `attentionForward`. Overwrites dq, dk and dv.
/// With p = exp(s − lse), δ = dout·out: ds = p·(dout·v − δ); dq = Σ ds·k/√D; dk = Σ ds·q/√D; dv = Σ p·dout.
public func attentionBackward(
    dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafePointer<Float>, lse: UnsafePointer<Float>, layout: AttentionLayout, rows: Int, shape: AttentionShape,
    pool: WorkerPool
) {
    let (H, KVH, D) = (shape.heads, shape.kvHeads, shape.headDim)
    let group = H / KVH
    let scale = shape.scale
    dq.update(repeating: 0, count: rows * H * D)
    dk.update(repeating: 0, count: rows * KVH * D)
    dv.update(repeating: 0, count: rows * KVH * D)
    // A (sequence, kv head) pair owns its dk/dv rows, so work items never write the same memory.
    let items = layout.sequences.count * KVH
    pool.forEachChunk(items) { range in
        for item in range {
            let sequence = layout.sequences[item / KVH]
            let kvh = item % KVH
            for h in (kvh * group)..<((kvh + 1) * group) {
                for t in sequence {
                    let qt = q + (t * H + h) * D
                    let dot_ = dout + (t * H + h) * D
                    let ot = out + (t * H + h) * D
                    let dqt = dq + (t * H + h) * D
                    var delta: Float = 0
                    for d in 0..<D { delta += dot_[d] * ot[d] }
                    let rowLSE = lse[t * H + h]
                    for s in sequence.lowerBound...t {
                        let ks = k + (s * KVH + kvh) * D
                        let vs = v + (s * KVH + kvh) * D
                        var score: Float = 0
                        var dp: Float = 0
                        for d in 0..<D {
                            score += qt[d] * ks[d]
                            dp += dot_[d] * vs[d]
                        }
                        let p = expf(score * scale - rowLSE)
                        let ds = p * (dp - delta) * scale
                        let dks = dk + (s * KVH + kvh) * D
                        let dvs = dv + (s * KVH + kvh) * D
                        for d in 0..<D {
                            dqt[d] += ds * ks[d]
                            dks[d] += ds * qt[d]
                            dvs[d] += p * dot_[d]
                        }
                    }
                }
            }
        }
    }
}

/// Loop twin of `attentionForward` in Double with an explicit mask, for tests.
public func attentionForwardNaive(
    out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    sequenceIds: [Int32], shape: AttentionShape
) {
    let (H, KVH, D) = (shape.heads, shape.kvHeads, shape.headDim)
    let rows = sequenceIds.count
    let scale = 1 / Double(D).squareRoot()
    for t in 0..<rows {
        for h in 0..<H {
            let kvh = h / (H / KVH)
            for d in 0..<D { out[(t * H + h) * D + d] = 0 }
            guard sequenceIds[t] >= 0 else { continue }
            let visible = (0...t).filter { s in
                sequenceIds[s] == sequenceIds[t] && (s..<t).allSatisfy { sequenceIds[$0] == sequenceIds[t] }
            }
            var scores = visible.map { s in
                (0..<D).reduce(0.0) { $0 + Double(q[(t * H + h) * D + $1]) * Double(k[(s * KVH + kvh) * D + $1]) } * scale
            }
            let maximum = scores.max() ?? 0
            scores = scores.map { exp($0 - maximum) }
            let total = scores.reduce(0, +)
            for d in 0..<D {
                var sum = 0.0
                for (j, s) in visible.enumerated() { sum += scores[j] / total * Double(v[(s * KVH + kvh) * D + d]) }
                out[(t * H + h) * D + d] = Float(sum)
            }
        }
    }
}
