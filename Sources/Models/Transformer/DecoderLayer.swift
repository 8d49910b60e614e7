// One decoder layer's forward and, mirrored below it, its backward: input norm, attention, the residual branch
// (plain, sandwich post-norm, or scaled), the feed-forward block (gated or plain, in sequence or in parallel).
import Formats
import Foundation
import Tensors

extension Transformer {
    func layerForward(
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
    func addNormalized(
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
    func addScaled(to out: FloatBuffer, input: FloatBuffer, branch: FloatBuffer, rows n: Int) {
        let m = config.residualMultiplier
        let b = branch.pointer, base = input.pointer, o = out.pointer
        for i in 0..<(n * config.hiddenSize) { o[i] = base[i] + m * b[i] }
    }

    // MARK: Backward

    /// Mirrors `layerForward`. On entry `scratch.residual` holds ∂loss/∂output of layer l; on exit ∂loss/∂input.
    func layerBackward(_ l: Int, rows n: Int, positions: UnsafePointer<Int32>) {
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
    func branchBackward(
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
}
