// Every kernel: fast version equals its naive twin, and backward equals finite differences of forward.
import Foundation
import Tensors
import Testing

private let pool = WorkerPool(threadCount: 2)

@Suite struct MatmulTests {
    let n = 5, inF = 7, outF = 3

    @Test func forwardMatchesNaive() {
        let x = randomFloats(n * inF, seed: 1)
        let w = randomFloats(outF * inF, seed: 2)
        let b = randomFloats(outF, seed: 3)
        var fast = [Float](repeating: 0, count: n * outF)
        var naive = fast
        matmulForward(y: &fast, x: x, weight: w, bias: b, rows: n, inFeatures: inF, outFeatures: outF)
        matmulForwardNaive(y: &naive, x: x, weight: w, bias: b, rows: n, inFeatures: inF, outFeatures: outF)
        #expect(maxRelativeError(fast, naive) < 1e-6)
        // Accumulating adds onto what is there.
        var accumulated = naive
        matmulForward(y: &accumulated, x: x, weight: w, bias: nil, rows: n, inFeatures: inF, outFeatures: outF, accumulate: true)
        var plain = [Float](repeating: 0, count: n * outF)
        matmulForwardNaive(y: &plain, x: x, weight: w, bias: nil, rows: n, inFeatures: inF, outFeatures: outF)
        #expect(maxRelativeError(accumulated, zip(naive, plain).map { $0 + $1 }) < 1e-6)
    }

    @Test func backwardMatchesNaiveAndFiniteDifferences() {
        let x = randomFloats(n * inF, seed: 4)
        let w = randomFloats(outF * inF, seed: 5)
        let dy = randomFloats(n * outF, seed: 6)
        var dx = [Float](repeating: 0, count: n * inF), dxNaive = dx
        var dw = [Float](repeating: 0, count: outF * inF), dwNaive = dw
        var db = [Float](repeating: 0, count: outF), dbNaive = db
        matmulBackward(dx: &dx, dWeight: &dw, dBias: &db, dy: dy, x: x, weight: w, rows: n, inFeatures: inF,
                       outFeatures: outF, accumulateInput: false)
        matmulBackwardNaive(dx: &dxNaive, dWeight: &dwNaive, dBias: &dbNaive, dy: dy, x: x, weight: w, rows: n,
                            inFeatures: inF, outFeatures: outF, accumulateInput: false)
        #expect(maxRelativeError(dx, dxNaive) < 1e-6)
        #expect(maxRelativeError(dw, dwNaive) < 1e-6)
        #expect(maxRelativeError(db, dbNaive) < 1e-6)
        let loss: ([Float]) -> Double = { xs in
            var y = [Float](repeating: 0, count: n * outF)
            matmulForward(y: &y, x: xs, weight: w, bias: nil, rows: n, inFeatures: inF, outFeatures: outF)
            return weightedSum(y, dy)
        }
        for (i, numeric) in finiteDifferences(x, loss) { #expect(abs(numeric - dx[i]) < 2e-3, "dx[\(i)]") }
    }
}

@Suite struct RMSNormTests {
    let n = 4, c = 16

    @Test(arguments: [false, true]) func forwardAndBackward(unitOffset: Bool) {
        let x = randomFloats(n * c, seed: 10, scale: 2)
        let w = randomFloats(c, seed: 11)
        let dy = randomFloats(n * c, seed: 12)
        func forward(_ xs: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: n * c)
            var rstd = [Float](repeating: 0, count: n)
            rmsNormForward(y: &y, rstd: &rstd, x: xs, weight: w, rows: n, channels: c, epsilon: 1e-5,
                           unitOffset: unitOffset, pool: pool)
            return y
        }
        var naive = [Float](repeating: 0, count: n * c)
        rmsNormForwardNaive(y: &naive, x: x, weight: w, rows: n, channels: c, epsilon: 1e-5, unitOffset: unitOffset)
        #expect(maxRelativeError(forward(x), naive) < 1e-6)

        var rstd = [Float](repeating: 0, count: n)
        var y = [Float](repeating: 0, count: n * c)
        rmsNormForward(y: &y, rstd: &rstd, x: x, weight: w, rows: n, channels: c, epsilon: 1e-5,
                       unitOffset: unitOffset, pool: pool)
        var dx = [Float](repeating: 0, count: n * c)
        var dw = [Float](repeating: 0, count: c)
        rmsNormBackward(dx: &dx, dWeight: &dw, dy: dy, x: x, weight: w, rstd: rstd, rows: n, channels: c,
                        unitOffset: unitOffset, accumulate: false, pool: pool)
        for (i, numeric) in finiteDifferences(x, epsilon: 1e-3, { weightedSum(forward($0), dy) }) {
            #expect(abs(numeric - dx[i]) < 5e-3, "dx[\(i)]: numeric \(numeric) analytic \(dx[i])")
        }
        let weightLoss: ([Float]) -> Double = { ws in
            var out = [Float](repeating: 0, count: n * c)
            var r = [Float](repeating: 0, count: n)
            rmsNormForward(y: &out, rstd: &r, x: x, weight: ws, rows: n, channels: c, epsilon: 1e-5,
                           unitOffset: unitOffset, pool: pool)
            return weightedSum(out, dy)
        }
        for (i, numeric) in finiteDifferences(w, epsilon: 1e-3, weightLoss) {
            #expect(abs(numeric - dw[i]) < 5e-3, "dw[\(i)]")
        }
    }
}

@Suite struct VectorExpTests {
    @Test func matchesDoubleWithinTwoUlp() {
        // Dense over the range softmaxes and gates use, plus the ends where the clamp takes over.
        var worst = 0.0
        for i in 0...200_000 {
            let x = Float(-87 + 175 * Double(i) / 200_000)
            let exact = exp(Double(x))
            worst = max(worst, abs(Double(vectorExp(x)) - exact) / exact)
        }
        #expect(worst < 2.5e-7, "worst relative error \(worst)")
        #expect(vectorExp(0) == 1)
        #expect(vectorExp(-200) > 0 && vectorExp(-200) < 1.2e-38)
        #expect(vectorExp(200).isFinite)
    }
}

@Suite struct SwiGLUTests {
    @Test func forwardAndBackward() {
        checkGatedActivation(
            seed: 20,
            forward: { swiGLUForward(h: $0, gate: $1, up: $2, count: $3, pool: pool) },
            backward: { swiGLUBackward(dgate: $0, dup: $1, dh: $2, gate: $3, up: $4, count: $5, pool: pool) },
            expected: { gate, up in
                var naive = [Float](repeating: 0, count: gate.count)
                swiGLUForwardNaive(h: &naive, gate: gate, up: up, count: gate.count)
                return naive
            })
    }
}

/// A gated activation h = act(gate) · up: forward equals `expected` within 1e-6, backward equals finite differences
/// of the forward, on 40 elements (two full vectors and a partial one).
private func checkGatedActivation(
    seed: UInt64,
    forward: (_ h: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ count: Int)
        -> Void,
    backward: (
        _ dgate: UnsafeMutablePointer<Float>, _ dup: UnsafeMutablePointer<Float>, _ dh: UnsafePointer<Float>,
        _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ count: Int
    ) -> Void,
    expected: (_ gate: [Float], _ up: [Float]) -> [Float]
) {
    let count = 40
    let gate = randomFloats(count, seed: seed, scale: 4)
    let up = randomFloats(count, seed: seed + 1)
    let dh = randomFloats(count, seed: seed + 2)
    var h = [Float](repeating: 0, count: count)
    forward(&h, gate, up, count)
    #expect(maxRelativeError(h, expected(gate, up)) < 1e-6)
    var dgate = [Float](repeating: 0, count: count), dup = dgate
    backward(&dgate, &dup, dh, gate, up, count)
    func loss(_ g: [Float], _ u: [Float]) -> Double {
        var out = [Float](repeating: 0, count: count)
        forward(&out, g, u, count)
        return weightedSum(out, dh)
    }
    for (i, numeric) in finiteDifferences(gate, epsilon: 1e-3, { loss($0, up) }) {
        #expect(abs(numeric - dgate[i]) < 2e-3, "dgate[\(i)]")
    }
    for (i, numeric) in finiteDifferences(up, epsilon: 1e-3, { loss(gate, $0) }) {
        #expect(abs(numeric - dup[i]) < 2e-3, "dup[\(i)]")
    }
}

@Suite struct GELUTests {
    @Test func forwardMatchesNaiveAndBackwardMatchesFiniteDifferences() {
        let count = 53  // three full vectors and a partial one
        let x = randomFloats(count, seed: 30, scale: 6)
        let dy = randomFloats(count, seed: 31)
        var y = [Float](repeating: 0, count: count), naive = y
        geluForward(y: &y, x: x, count: count, pool: pool)
        geluForwardNaive(y: &naive, x: x, count: count)
        #expect(maxRelativeError(y, naive) < 1e-6)
        var dx = [Float](repeating: 0.5, count: count)
        geluBackward(dx: &dx, dy: dy, x: x, count: count, accumulate: true, pool: pool)
        for (i, numeric) in finiteDifferences(x, epsilon: 1e-3, {
            var out = [Float](repeating: 0, count: count)
            geluForward(y: &out, x: $0, count: count, pool: pool)
            return weightedSum(out, dy)
        }) {
            #expect(abs(numeric + 0.5 - dx[i]) < 2e-3, "dx[\(i)]")
        }
    }

    @Test func geGLUIsGELUOfTheGateTimesUp() {
        checkGatedActivation(
            seed: 32,
            forward: { geGLUForward(h: $0, gate: $1, up: $2, count: $3, pool: pool) },
            backward: { geGLUBackward(dgate: $0, dup: $1, dh: $2, gate: $3, up: $4, count: $5, pool: pool) },
            expected: { gate, up in
                var gelu = [Float](repeating: 0, count: gate.count)
                geluForwardNaive(y: &gelu, x: gate, count: gate.count)
                return zip(gelu, up).map { $0 * $1 }
            })
    }
}

@Suite struct LayerNormTests {
    @Test func forwardMatchesNaiveAndBackwardMatchesFiniteDifferences() {
        let (rows, channels) = (3, 20)
        let x = randomFloats(rows * channels, seed: 40, scale: 3).enumerated().map { $1 + Float($0 % 5) }
        let weight = randomFloats(channels, seed: 41), bias = randomFloats(channels, seed: 42)
        let dy = randomFloats(rows * channels, seed: 43)
        var y = [Float](repeating: 0, count: rows * channels), naive = y
        var mean = [Float](repeating: 0, count: rows), rstd = mean
        layerNormForward(y: &y, mean: &mean, rstd: &rstd, x: x, weight: weight, bias: bias, rows: rows,
                         channels: channels, epsilon: 1e-5, pool: pool)
        layerNormForwardNaive(y: &naive, x: x, weight: weight, bias: bias, rows: rows, channels: channels,
                              epsilon: 1e-5)
        #expect(maxRelativeError(y, naive) < 1e-5)
        var dx = [Float](repeating: 0, count: rows * channels)
        layerNormBackward(dx: &dx, dy: dy, x: x, weight: weight, mean: mean, rstd: rstd, rows: rows,
                          channels: channels, accumulate: false, pool: pool)
        for (i, numeric) in finiteDifferences(x, epsilon: 1e-2, {
            var out = [Float](repeating: 0, count: rows * channels)
            layerNormForwardNaive(y: &out, x: $0, weight: weight, bias: bias, rows: rows, channels: channels,
                                  epsilon: 1e-5)
            return weightedSum(out, dy)
        }) {
            #expect(abs(numeric - dx[i]) < 2e-3, "dx[\(i)]")
        }
    }
}

@Suite struct SoftCapTests {
    @Test func capsLikeTanhAndBackwardMatchesFiniteDifferences() {
        let count = 37
        let cap: Float = 30
        let x = randomFloats(count, seed: 50, scale: 100)
        let dy = randomFloats(count, seed: 51)
        var y = x
        softCapForward(&y, count: count, cap: cap)
        #expect(maxRelativeError(y, x.map { Float(Double(cap) * tanh(Double($0) / Double(cap))) }) < 1e-6)
        #expect(y.allSatisfy { abs($0) < cap })
        var dx = [Float](repeating: 0, count: count)
        softCapBackward(dx: &dx, dy: dy, y: y, count: count, cap: cap)
        for (i, numeric) in finiteDifferences(x, epsilon: 1e-2, {
            var out = $0
            softCapForward(&out, count: count, cap: cap)
            return weightedSum(out, dy)
        }) {
            #expect(abs(numeric - dx[i]) < 2e-3, "dx[\(i)]")
        }
    }
}

@Suite struct RoPETests {
    let table = RoPETable(headDim: 8, maxPosition: 16, theta: 10_000, scaling: .none)

    @Test func rotatesHalvesLikeHF() {
        // One head, position 3: pairs (i, i + D/2) rotate by 3·θ^(−2i/D).
        var x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        let positions: [Int32] = [3]
        ropeForward(&x, positions: positions, rows: 1, heads: 1, table: table, pool: pool)
        let original: [Double] = [1, 2, 3, 4, 5, 6, 7, 8]
        for i in 0..<4 {
            let angle = 3 * Double(Float(1 / pow(10_000.0, Double(2 * i) / 8)))
            let a = original[i] * cos(angle) - original[i + 4] * sin(angle)
            let b = original[i + 4] * cos(angle) + original[i] * sin(angle)
            #expect(abs(Double(x[i]) - a) < 1e-5)
            #expect(abs(Double(x[i + 4]) - b) < 1e-5)
        }
    }

    @Test func backwardIsTheInverseRotationAndMatchesFiniteDifferences() {
        let rows = 3, heads = 2
        let x = randomFloats(rows * heads * 8, seed: 30)
        let positions: [Int32] = [0, 5, 15]
        let roundTrip = x.mutated { p in
            ropeForward(p, positions: positions, rows: rows, heads: heads, table: table, pool: pool)
            ropeBackward(p, positions: positions, rows: rows, heads: heads, table: table, pool: pool)
        }
        #expect(maxRelativeError(roundTrip, x) < 1e-6)
        let dy = randomFloats(x.count, seed: 31)
        let dx = dy.mutated { ropeBackward($0, positions: positions, rows: rows, heads: heads, table: table, pool: pool) }
        let numeric = finiteDifferences(x, epsilon: 1e-2) { xs in
            weightedSum(xs.mutated { ropeForward($0, positions: positions, rows: rows, heads: heads, table: table, pool: pool) }, dy)
        }
        for (i, value) in numeric { #expect(abs(value - dx[i]) < 2e-3) }
    }

    @Test func partialRotaryRotatesTheFirstDimensionsAndPassesTheRest() {
        // Heads of width 12 with an 8-dimensional rotary table (Phi-2's partial_rotary_factor): the first 8 of
        // each head rotate exactly as a compact 8-wide head would; the last 4 are untouched, forward and backward.
        let rows = 2, heads = 3, width = 12
        let x = randomFloats(rows * heads * width, seed: 32)
        let positions: [Int32] = [4, 9]
        let compact = (0..<(rows * heads)).flatMap { Array(x[($0 * width)..<($0 * width + 8)]) }
        let rotatedCompact = compact.mutated {
            ropeForward($0, positions: positions, rows: rows, heads: heads, table: table, pool: pool)
        }
        for pass in [1, -1] {
            let rotated = x.mutated {
                if pass == 1 {
                    ropeForward($0, positions: positions, rows: rows, heads: heads, table: table, headWidth: width,
                                pool: pool)
                } else {
                    ropeBackward($0, positions: positions, rows: rows, heads: heads, table: table, headWidth: width,
                                 pool: pool)
                }
            }
            let expected = pass == 1 ? rotatedCompact : compact.mutated {
                ropeBackward($0, positions: positions, rows: rows, heads: heads, table: table, pool: pool)
            }
            for head in 0..<(rows * heads) {
                let part = Array(rotated[(head * width)..<(head * width + 8)])
                #expect(maxRelativeError(part, Array(expected[(head * 8)..<(head * 8 + 8)])) < 1e-6)
                #expect(Array(rotated[(head * width + 8)..<(head * width + width)])
                    == Array(x[(head * width + 8)..<(head * width + width)]))
            }
        }
    }

    @Test func llama3ScalingFollowsTheThreeBands() {
        let base = ropeInverseFrequencies(headDim: 64, theta: 500_000, scaling: .none)
        let scaled = ropeInverseFrequencies(
            headDim: 64, theta: 500_000,
            scaling: .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192))
        #expect(scaled[0] == base[0])  // high frequency: unchanged
        #expect(abs(scaled[31] - base[31] / 8) < 1e-18)  // low frequency: divided by the factor
        let middle = (0..<32).filter { scaled[$0] != base[$0] && abs(scaled[$0] - base[$0] / 8) > 1e-18 }
        #expect(!middle.isEmpty)  // a smooth band in between
    }
}

/// A mask and score rule for the attention tests.
struct AttentionVariant: Sendable, CustomStringConvertible {
    let window: Int?
    let softCap: Float?
    var description: String { "window \(window.map(String.init) ?? "none"), cap \(softCap.map { "\($0)" } ?? "none")" }
    func shape(heads: Int, kvHeads: Int, headDim: Int) -> AttentionShape {
        AttentionShape(heads: heads, kvHeads: kvHeads, headDim: headDim, window: window, softCap: softCap)
    }
}

// Every attention test runs causal, with a sliding window of 2 (shorter than the first sequence), and with scores
// soft-capped at 0.8 (well inside tanh's bend for these inputs).
private let windows: [AttentionVariant] = [
    AttentionVariant(window: nil, softCap: nil), AttentionVariant(window: 2, softCap: nil),
    AttentionVariant(window: 2, softCap: 0.8),
]

@Suite struct AttentionTests {
    // Two packed sequences and two padding tokens.
    let sequenceIds: [Int32] = [0, 0, 0, 1, 1, -1, -1]

    @Test(arguments: windows) func packedForwardMatchesNaiveAndIgnoresOtherSequences(variant: AttentionVariant) {
        let shape = variant.shape(heads: 4, kvHeads: 2, headDim: 8)
        let rows = sequenceIds.count
        let q = randomFloats(rows * 4 * 8, seed: 40)
        let k = randomFloats(rows * 2 * 8, seed: 41)
        let v = randomFloats(rows * 2 * 8, seed: 42)
        let layout = AttentionLayout(sequenceIds: sequenceIds)
        #expect(layout.sequences == [0..<3, 3..<5])
        var out = [Float](repeating: 0, count: rows * 32), lse = [Float](repeating: 0, count: rows * 4)
        attentionForward(out: &out, lse: &lse, q: q, k: k, v: v, layout: layout, rows: rows, shape: shape, pool: pool)
        var naive = [Float](repeating: 0, count: rows * 32)
        attentionForwardNaive(out: &naive, q: q, k: k, v: v, sequenceIds: sequenceIds, shape: shape)
        #expect(maxRelativeError(out, naive) < 1e-5)
        if variant.softCap != nil {  // the cap changes the result
            var uncapped = [Float](repeating: 0, count: rows * 32)
            attentionForwardNaive(out: &uncapped, q: q, k: k, v: v, sequenceIds: sequenceIds,
                                  shape: AttentionShape(heads: 4, kvHeads: 2, headDim: 8, window: variant.window))
            #expect(maxRelativeError(out, uncapped) > 1e-2)
        }
        // The second sequence alone gives the same outputs: nothing leaks across sequences.
        var alone = [Float](repeating: 0, count: 2 * 32), aloneLSE = [Float](repeating: 0, count: 8)
        attentionForward(
            out: &alone, lse: &aloneLSE, q: Array(q[96..<160]), k: Array(k[48..<80]), v: Array(v[48..<80]),
            layout: AttentionLayout(sequenceIds: [7, 7]), rows: 2, shape: shape, pool: pool)
        #expect(maxRelativeError(alone, Array(out[96..<160])) < 1e-6)
        #expect(out[(5 * 32)...].allSatisfy { $0 == 0 })  // padding rows produce nothing
    }

    @Test(arguments: windows) func backwardMatchesFiniteDifferences(variant: AttentionVariant) {
        let shape = variant.shape(heads: 4, kvHeads: 2, headDim: 8)
        let rows = sequenceIds.count
        let q = randomFloats(rows * 32, seed: 43)
        let k = randomFloats(rows * 16, seed: 44)
        let v = randomFloats(rows * 16, seed: 45)
        let dout = randomFloats(rows * 32, seed: 46).enumerated().map { $0.offset < 5 * 32 ? $0.element : 0 }
        let layout = AttentionLayout(sequenceIds: sequenceIds)
        func forward(_ q: [Float], _ k: [Float], _ v: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: rows * 32), lse = [Float](repeating: 0, count: rows * 4)
            attentionForward(out: &out, lse: &lse, q: q, k: k, v: v, layout: layout, rows: rows, shape: shape, pool: pool)
            return out
        }
        var out = [Float](repeating: 0, count: rows * 32), lse = [Float](repeating: 0, count: rows * 4)
        attentionForward(out: &out, lse: &lse, q: q, k: k, v: v, layout: layout, rows: rows, shape: shape, pool: pool)
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = dk
        attentionBackward(dq: &dq, dk: &dk, dv: &dv, dout: dout, q: q, k: k, v: v, out: out, lse: lse, layout: layout,
                          rows: rows, shape: shape, pool: pool)
        for (i, numeric) in finiteDifferences(q, epsilon: 1e-2, { weightedSum(forward($0, k, v), dout) }) {
            #expect(abs(numeric - dq[i]) < 3e-3, "dq[\(i)]")
        }
        for (i, numeric) in finiteDifferences(k, epsilon: 1e-2, { weightedSum(forward(q, $0, v), dout) }) {
            #expect(abs(numeric - dk[i]) < 3e-3, "dk[\(i)]")
        }
        for (i, numeric) in finiteDifferences(v, epsilon: 1e-2, { weightedSum(forward(q, k, $0), dout) }) {
            #expect(abs(numeric - dv[i]) < 3e-3, "dv[\(i)]")
        }
    }
}

@Suite struct AttentionDecodeTests {
    @Test(arguments: windows) func decodingAgainstTheCacheEqualsTheFullForward(variant: AttentionVariant) {
        let shape = variant.shape(heads: 4, kvHeads: 2, headDim: 8)
        let rows = 6
        let q = randomFloats(rows * 32, seed: 47)
        let k = randomFloats(rows * 16, seed: 48)
        let v = randomFloats(rows * 16, seed: 49)
        var full = [Float](repeating: 0, count: rows * 32), lse = [Float](repeating: 0, count: rows * 4)
        attentionForward(out: &full, lse: &lse, q: q, k: k, v: v,
                         layout: AttentionLayout(sequenceIds: [Int32](repeating: 0, count: rows)), rows: rows,
                         shape: shape, pool: pool)
        // Three new tokens after three cached ones (the product path), then one after five (the direct loop).
        for (cached, m) in [(3, 3), (5, 1)] {
            var out = [Float](repeating: 0, count: m * 32)
            attentionDecode(out: &out, q: Array(q[(cached * 32)...]), kCache: k, vCache: v, newTokens: m,
                            cached: cached, shape: shape, pool: pool)
            #expect(maxRelativeError(out, Array(full[(cached * 32)..<((cached + m) * 32)])) < 1e-5,
                    "cached \(cached), new \(m)")
        }
    }
}

@Suite struct CrossEntropyTests {
    let rows = 6, channels = 8, vocab = 50
    let targets: [Int32] = [3, -1, 49, 0, -1, 17]

    @Test(arguments: [nil, 1.5] as [Float?]) func chunkedMatchesNaiveAndFiniteDifferences(softCap: Float?) {
        let hidden = randomFloats(rows * channels, seed: 50)
        let weight = randomFloats(vocab * channels, seed: 51)
        let scale: Float = 1 / 4
        // Chunks of 3 rows force several passes over the 4 target positions.
        let scratch = CrossEntropyScratch(chunkRows: 3, vocab: vocab, channels: channels)
        var dHidden = [Float](repeating: 1, count: rows * channels)
        let matrix = WeightMatrix(weight, rows: vocab, columns: channels)
        let matmul = MatmulEngine(precision: .fp32, pool: pool)
        let totals = lmHeadCrossEntropy(hidden: hidden, weight: matrix, targets: targets, rows: rows,
                                        dHidden: &dHidden, gradScale: scale, scratch: scratch, matmul: matmul,
                                        softCap: softCap)
        var naiveGrad = [Float](repeating: 0, count: rows * channels)
        let naive = lmHeadCrossEntropyNaive(hidden: hidden, weight: weight, targets: targets, rows: rows,
                                            channels: channels, vocab: vocab, dHidden: &naiveGrad, gradScale: scale,
                                            softCap: softCap)
        if softCap != nil {  // the cap changes the loss
            let uncapped = lmHeadCrossEntropyNaive(hidden: hidden, weight: weight, targets: targets, rows: rows,
                                                   channels: channels, vocab: vocab, dHidden: nil, gradScale: scale)
            #expect(abs(uncapped - naive) > 1e-2)
        }
        #expect(totals.targetCount == 4)
        #expect(abs(totals.lossSum - naive) < 1e-4)
        #expect(maxRelativeError(dHidden, naiveGrad) < 1e-5)
        #expect(dHidden[channels..<(2 * channels)].allSatisfy { $0 == 0 })
        let numeric = finiteDifferences(hidden, epsilon: 1e-2) { h in
            Double(scale) * lmHeadCrossEntropy(hidden: h, weight: matrix, targets: targets, rows: rows, dHidden: nil,
                                               gradScale: scale, scratch: scratch, matmul: matmul,
                                               softCap: softCap).lossSum
        }
        for (i, value) in numeric { #expect(abs(value - dHidden[i]) < 2e-3, "dHidden[\(i)]") }
    }

    @Test func scratchNeverHoldsTokensTimesVocab() {
        // A vocabulary of 50k and 4096 tokens: the scratch is sized by the chunk, not by the batch.
        let scratch = CrossEntropyScratch(chunkRows: 64, vocab: 50_000, channels: 16)
        #expect(scratch.floatCount < 4096 * 50_000 / 32)
    }
}

@Suite struct AdamWTests {
    @Test func firstStepMovesEachParameterByTheLearningRate() {
        // With bias correction, step 1 moves every parameter by ≈ lr · sign(g), whatever |g| is.
        var p: [Float] = [1, -2, 0.5]
        let g: [Float] = [0.3, -10, 1e-3]
        var m = [Float](repeating: 0, count: 3), v = m
        adamWStep(parameters: &p, gradients: g, m: &m, v: &v, count: 3, step: 1, learningRate: 0.01,
                  hyper: AdamWParameters(weightDecay: 0))
        #expect(abs(p[0] - 0.99) < 1e-5)
        #expect(abs(p[1] - -1.99) < 1e-5)
        #expect(abs(p[2] - 0.49) < 1e-4)
    }
}
