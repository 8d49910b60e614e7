// GELU in its tanh form (transformers' `gelu_pytorch_tanh` / `gelu_new`: Gemma's GeGLU gate, Phi-2's MLP):
// gelu(x) = ½·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³)
// gelu′(x) = ½·(1 + tanh(u)) + ½·x·(1 − tanh²(u))·√(2/π)·(1 + 3·0.044715·x²)
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// x, y, dx, dy: [count]   gate, up, h, dgate, dup, dh: [N, F] (flattened; any count)

private let geluScale: Float = 0.797_884_56  // √(2/π)
private let geluCubic: Float = 0.044_715

/// (gelu(x), gelu′(x)) for sixteen lanes.
@inline(__always)
private func gelu16(_ x: SIMD16<Float>) -> (value: SIMD16<Float>, slope: SIMD16<Float>) {
    let half = SIMD16<Float>(repeating: 0.5), one = SIMD16<Float>(repeating: 1)
    let squares: SIMD16<Float> = x * x
    let inner: SIMD16<Float> = geluScale * x * (one + geluCubic * squares)
    let t = tanh16(inner)
    let onePlus: SIMD16<Float> = one + t
    let value: SIMD16<Float> = half * x * onePlus
    let innerSlope: SIMD16<Float> = geluScale * (one + (3 * geluCubic) * squares)
    let slope: SIMD16<Float> = half * onePlus + half * x * (one - t * t) * innerSlope
    return (value, slope)
}

/// y = gelu(x). `y` may be `x`.
public func geluForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int, pool: WorkerPool) {
    forEachVector(count, pool: pool) { i, lanes in
        store16(gelu16(load16(x + i, lanes: lanes)).value, y + i, lanes: lanes)
    }
}

/// dx (+)= dy · gelu′(x).
public func geluBackward(
    dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int, accumulate: Bool,
    pool: WorkerPool
) {
    forEachVector(count, pool: pool) { i, lanes in
        var value = load16(dy + i, lanes: lanes) * gelu16(load16(x + i, lanes: lanes)).slope
        if accumulate { value += load16(dx + i, lanes: lanes) }
        store16(value, dx + i, lanes: lanes)
    }
}

/// GeGLU gate of the Gemma MLP: h = gelu(gate) · up.
public func geGLUForward(
    h: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, pool: WorkerPool
) {
    forEachVector(count, pool: pool) { i, lanes in
        store16(gelu16(load16(gate + i, lanes: lanes)).value * load16(up + i, lanes: lanes), h + i, lanes: lanes)
    }
}

/// dgate = dh · up · gelu′(gate), dup = dh · gelu(gate). dgate and dup may be gate and up themselves.
public func geGLUBackward(
    dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dh: UnsafePointer<Float>,
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, pool: WorkerPool
) {
    forEachVector(count, pool: pool) { i, lanes in
        let (value, slope) = gelu16(load16(gate + i, lanes: lanes))
        let d = load16(dh + i, lanes: lanes), u = load16(up + i, lanes: lanes)
        store16(d * u * slope, dgate + i, lanes: lanes)
        store16(d * value, dup + i, lanes: lanes)
    }
}

/// Loop twin of `geluForward` in Double.
public func geluForwardNaive(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
        let v = Double(x[i])
        y[i] = Float(0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))))
    }
}
