// Causal grouped-query attention over a flat batch of packed sequences.
// Each token attends to the tokens of its own sequence up to itself; padding attends to nothing and is attended by none.
// Only the log-sum-exp of each row is kept for backward; probabilities are recomputed there (as flash attention does),
// so saved memory is O(N·H); the [T, T] scores of one (sequence, head) live only in scratch.
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
    /// Sliding window (Gemma 2/3 local layers, Mistral): a token sees itself and the `window − 1` tokens before
    /// it, as transformers' sliding-window mask (`kv_idx > q_idx − window`). nil: the whole causal prefix.
    public var window: Int?
    /// The factor on q·kᵀ: 1/√D, or what the model says (Gemma's `query_pre_attn_scalar`^−½, Granite's
    /// `attention_multiplier`).
    public var scale: Float
    /// Scores become cap·tanh(s/cap) before the softmax (Gemma 2's `attn_logit_softcapping`); nil: none.
    public var softCap: Float?
    public init(
        heads: Int, kvHeads: Int, headDim: Int, window: Int? = nil, scale: Float? = nil, softCap: Float? = nil
    ) {
        precondition(heads % kvHeads == 0, "heads must be a multiple of kv heads")
        precondition(window.map { $0 > 0 } ?? true, "a sliding window of at least one token")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.window = window
        self.scale = scale ?? 1 / Float(headDim).squareRoot()
        self.softCap = softCap
    }

    /// Soft-caps `count` scores in place when the shape has a cap.
    @inline(__always) func cap(_ scores: UnsafeMutablePointer<Float>, count: Int) {
        if let softCap { softCapForward(scores, count: count, cap: softCap) }
    }

    /// The first position a token at `t` sees.
    @inline(__always) func firstVisible(_ t: Int) -> Int {
        guard let window else { return 0 }
        return max(0, t - window + 1)
    }
}

/// out = softmax(scale·q·kᵀ, causal within each sequence)·v; writes the row log-sum-exp into `lse`.
///
/// The pool splits the (sequence, kv head) pairs; each runs its query heads one after another: S = scale·Q·Kᵀ
/// [T, T] and O = P·V as single-threaded library products inside the pool (reading Q, K, V and writing O in place
/// with leading dimensions H·D / KVH·D, no copies), the masked softmax between them on the same core. One parallel
/// region per layer instead of three per head.
public func attentionForward(
    out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    k: UnsafePointer<Float>, v: UnsafePointer<Float>, layout: AttentionLayout, rows: Int, shape: AttentionShape,
    pool: WorkerPool
) {
    let (H, KVH, D) = (shape.heads, shape.kvHeads, shape.headDim)
    out.update(repeating: 0, count: rows * H * D)
    lse.update(repeating: 0, count: rows * H)
    forEachQueryHead(layout: layout, shape: shape, scratchCount: 1, pool: pool) { sequence, kvh, h, scratch in
        let probabilities = scratch[0]
        let T = sequence.count, base = sequence.lowerBound
        let qh = q + (base * H + h) * D, kh = k + (base * KVH + kvh) * D, vh = v + (base * KVH + kvh) * D
        sgemm(false, true, T, T, D, shape.scale, qh, H * D, kh, KVH * D, 0, probabilities, T)
        let rowLSE = lse + base * H + h
        for t in 0..<T {
            let row = probabilities + t * T
            let first = shape.firstVisible(t), seen = row + first, count = t + 1 - first
            shape.cap(seen, count: count)
            let largest = maximum(seen, count: count)
            let total = exponentials(seen, seen, count: count, shift: largest)
            scale(seen, count: count, by: 1 / total)
            row.update(repeating: 0, count: first)
            (row + t + 1).update(repeating: 0, count: T - t - 1)
            rowLSE[t * H] = largest + logf(total)
        }
        sgemm(false, false, T, D, T, 1, probabilities, T, vh, KVH * D, 0, out + (base * H + h) * D, H * D)
    }
}

/// Backward of `attentionForward`. Overwrites dq, dk and dv.
/// With P = exp(S − lse) recomputed, δ = rowsum(dO∘O): dS = scale·P∘(dO·Vᵀ − δ); dQ = dS·K; dK += dSᵀ·Q; dV += Pᵀ·dO.
/// With a soft cap, S is the capped score y and dS also takes the cap's derivative 1 − (y/cap)².
/// Split like the forward: a (sequence, kv head) pair owns its rows of dK and dV, so its query heads accumulate there
/// without races.
public func attentionBackward(
    dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
    dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafePointer<Float>, lse: UnsafePointer<Float>, layout: AttentionLayout, rows: Int, shape: AttentionShape,
    pool: WorkerPool
) {
    let (H, KVH, D) = (shape.heads, shape.kvHeads, shape.headDim)
    let scaling = shape.scale
    dq.update(repeating: 0, count: rows * H * D)
    dk.update(repeating: 0, count: rows * KVH * D)
    dv.update(repeating: 0, count: rows * KVH * D)
    forEachQueryHead(layout: layout, shape: shape, scratchCount: 2, pool: pool) { sequence, kvh, h, scratch in
        let (probabilities, scores) = (scratch[0], scratch[1])
        let T = sequence.count, base = sequence.lowerBound
        let qh = q + (base * H + h) * D, kh = k + (base * KVH + kvh) * D, vh = v + (base * KVH + kvh) * D
        let doh = dout + (base * H + h) * D, oh = out + (base * H + h) * D
        sgemm(false, true, T, T, D, scaling, qh, H * D, kh, KVH * D, 0, probabilities, T)
        sgemm(false, true, T, T, D, 1, doh, H * D, vh, KVH * D, 0, scores, T)
        let rowLSE = lse + base * H + h
        for t in 0..<T {
            let p = probabilities + t * T, ds = scores + t * T
            let first = shape.firstVisible(t), count = t + 1 - first
            let delta = dotProduct(doh + t * H * D, oh + t * H * D, count: D)
            if let cap = shape.softCap {
                cappedProbabilityGradient(
                    ds + first, p + first, count: count, delta: delta, scale: scaling, cap: cap, lse: rowLSE[t * H])
            } else {
                _ = exponentials(p + first, p + first, count: count, shift: rowLSE[t * H])
                probabilityGradient(ds + first, p + first, count: count, delta: delta, scale: scaling)
            }
            p.update(repeating: 0, count: first)
            ds.update(repeating: 0, count: first)
            (p + t + 1).update(repeating: 0, count: T - t - 1)
            (ds + t + 1).update(repeating: 0, count: T - t - 1)
        }
        sgemm(false, false, T, D, T, 1, scores, T, kh, KVH * D, 0, dq + (base * H + h) * D, H * D)
        sgemm(true, false, T, D, T, 1, scores, T, qh, H * D, 1, dk + (base * KVH + kvh) * D, KVH * D)
        sgemm(true, false, T, D, T, 1, probabilities, T, doh, H * D, 1, dv + (base * KVH + kvh) * D, KVH * D)
    }
}

/// Splits the (sequence, kv head) pairs over the pool and calls `body` for each query head of a pair, one after
/// another on the same thread, with `scratchCount` [T, T] buffers of that thread's. A pair owns its rows of dK and dV.
private func forEachQueryHead(
    layout: AttentionLayout, shape: AttentionShape, scratchCount: Int, pool: WorkerPool,
    _ body: (_ sequence: Range<Int>, _ kvHead: Int, _ head: Int, _ scratch: [UnsafeMutablePointer<Float>]) -> Void
) {
    let sequences = layout.sequences, kvHeads = shape.kvHeads, group = shape.heads / shape.kvHeads
    pool.forEachChunk(sequences.count * kvHeads) { tasks in
        let longest = tasks.map { sequences[$0 / kvHeads].count }.max() ?? 0
        let scratch = (0..<scratchCount).map { _ in
            UnsafeMutablePointer<Float>.allocate(capacity: max(longest * longest, 1))
        }
        defer { scratch.forEach { $0.deallocate() } }
        for task in tasks {
            let kvh = task % kvHeads
            for h in (kvh * group)..<((kvh + 1) * group) { body(sequences[task / kvHeads], kvh, h, scratch) }
        }
    }
}

/// ds[s] = p[s] · (ds[s] − δ) · scale for s < count.
private func probabilityGradient(
    _ ds: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, count: Int, delta: Float, scale: Float
) {
    var i = 0
    while i + 16 <= count {
        store16(load16(p + i) * (load16(ds + i) - delta) * scale, ds + i)
        i += 16
    }
    while i < count {
        ds[i] = p[i] * (ds[i] - delta) * scale
        i += 1
    }
}

/// `probabilityGradient` through a soft cap: on entry p holds raw scores s, on exit probabilities exp(y − lse) with
/// y = cap·tanh(s/cap); ds[i] = p[i]·(ds[i] − δ)·(1 − (y/cap)²)·scale.
private func cappedProbabilityGradient(
    _ ds: UnsafeMutablePointer<Float>, _ p: UnsafeMutablePointer<Float>, count: Int, delta: Float, scale: Float,
    cap: Float, lse: Float
) {
    softCapForward(p, count: count, cap: cap)
    let inverse = 1 / cap
    for i in 0..<count {
        let y = p[i], t = y * inverse
        let probability = expf(y - lse)
        p[i] = probability
        ds[i] = probability * (ds[i] - delta) * (1 - t * t) * scale
    }
}

/// Loop twin of `attentionForward` in Double with an explicit mask, for tests.
public func attentionForwardNaive(
    out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    sequenceIds: [Int32], shape: AttentionShape
) {
    let (H, KVH, D) = (shape.heads, shape.kvHeads, shape.headDim)
    let rows = sequenceIds.count
    let scale = Double(shape.scale)
    for t in 0..<rows {
        for h in 0..<H {
            let kvh = h / (H / KVH)
            for d in 0..<D { out[(t * H + h) * D + d] = 0 }
            guard sequenceIds[t] >= 0 else { continue }
            let visible = (0...t).filter { s in
                sequenceIds[s] == sequenceIds[t] && (s..<t).allSatisfy { sequenceIds[$0] == sequenceIds[t] }
                    && shape.window.map { t - s < $0 } ?? true
            }
            var scores = visible.map { s in
                (0..<D).reduce(0.0) { $0 + Double(q[(t * H + h) * D + $1]) * Double(k[(s * KVH + kvh) * D + $1]) } * scale
            }
            if let cap = shape.softCap.map(Double.init) { scores = scores.map { cap * tanh($0 / cap) } }
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

// MARK: - Decoding against a KV cache

// q, out: [M, H, D] new tokens   kCache, vCache: [L, KVH, D], the first `cached + M` rows filled

/// Attention of M new tokens (at positions cached..<cached+M) over every cached token up to and including themselves
/// (within the sliding window, when the shape has one).
public func attentionDecode(
    out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, kCache: UnsafePointer<Float>,
    vCache: UnsafePointer<Float>, newTokens m: Int, cached: Int, shape: AttentionShape, pool: WorkerPool
) {
    let (H, KVH, D) = (shape.heads, shape.kvHeads, shape.headDim)
    let group = H / KVH
    let total = cached + m
    if m <= 2 {
        // One token at a time (generation): heads side by side on the pool, dot products straight over the cache;
        // library calls for a 1 × total product cost more than the arithmetic.
        pool.forEachChunk(H * m) { range in
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(total, 1))
            defer { row.deallocate() }
            for index in range {
                let (i, h) = (index / H, index % H)
                let kvh = h / group
                let qh = q + (i * H + h) * D
                let visible = cached + i + 1, first = shape.firstVisible(cached + i)
                var maximum = -Float.infinity
                for s in first..<visible {
                    row[s] = dotProduct(qh, kCache + (s * KVH + kvh) * D, count: D) * shape.scale
                }
                shape.cap(row + first, count: visible - first)
                for s in first..<visible { maximum = max(maximum, row[s]) }
                let sum = exponentials(row + first, row + first, count: visible - first, shift: maximum)
                let inverse = 1 / sum
                let o = out + (i * H + h) * D
                o.update(repeating: 0, count: D)
                for s in first..<visible {
                    let p = row[s] * inverse
                    let vs = vCache + (s * KVH + kvh) * D
                    for d in 0..<D { o[d] += p * vs[d] }
                }
            }
        }
        return
    }
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(m * total, 1))
    defer { scores.deallocate() }
    for h in 0..<H {
        let kvh = h / group
        sgemm(false, true, m, total, D, shape.scale, q + h * D, H * D, kCache + kvh * D, KVH * D, 0, scores, total)
        pool.forEachChunk(m, minimumChunk: 8) { range in
            for i in range {
                let row = scores + i * total
                let visible = cached + i + 1, first = shape.firstVisible(cached + i)
                let seen = row + first, count = visible - first
                shape.cap(seen, count: count)
                let sum = exponentials(seen, seen, count: count, shift: maximum(seen, count: count))
                scale(seen, count: count, by: 1 / sum)
                row.update(repeating: 0, count: first)
                for s in visible..<total { row[s] = 0 }
            }
        }
        sgemm(false, false, m, D, total, 1, scores, total, vCache + kvh * D, KVH * D, 0, out + h * D, H * D)
    }
}
