// SwiGLU gate of the Llama MLP: h = silu(gate) · up, silu(g) = g · σ(g).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// gate, up, h, dgate, dup, dh: [N, F] (flattened; any count)

/// h = silu(gate) · up.
public func swiGLUForward(
    h: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, pool: WorkerPool
) {
    pool.forEachChunk(count, minimumChunk: 16_384) { range in
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let g = load16(gate + i)
            store16(g * sigmoid16(g) * load16(up + i), h + i)
            i += 16
        }
        let tail = range.upperBound - i
        if tail > 0 {
            let g = loadPartial16(gate + i, count: tail, fill: 0)
            storePartial16(g * sigmoid16(g) * loadPartial16(up + i, count: tail, fill: 0), h + i, count: tail)
        }
    }
}

/// dgate = dh · up · silu′(gate), dup = dh · silu(gate); silu′(g) = σ(g) · (1 + g · (1 − σ(g))).
/// dgate and dup may be gate and up themselves (each element is read before it is written).
public func swiGLUBackward(
    dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dh: UnsafePointer<Float>,
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, pool: WorkerPool
) {
    @inline(__always) func gradients(_ g: SIMD16<Float>, _ u: SIMD16<Float>, _ d: SIMD16<Float>)
        -> (dgate: SIMD16<Float>, dup: SIMD16<Float>)
    {
        let s = sigmoid16(g)
        return (d * u * s * (1 + g * (1 - s)), d * g * s)
    }
    pool.forEachChunk(count, minimumChunk: 16_384) { range in
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let (dg, du) = gradients(load16(gate + i), load16(up + i), load16(dh + i))
            store16(dg, dgate + i)
            store16(du, dup + i)
            i += 16
        }
        let tail = range.upperBound - i
        if tail > 0 {
            let (dg, du) = gradients(
                loadPartial16(gate + i, count: tail, fill: 0), loadPartial16(up + i, count: tail, fill: 0),
                loadPartial16(dh + i, count: tail, fill: 0))
            storePartial16(dg, dgate + i, count: tail)
            storePartial16(du, dup + i, count: tail)
        }
    }
}

/// Loop twin of `swiGLUForward` in Double.
public func swiGLUForwardNaive(h: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
        let g = Double(gate[i])
        h[i] = Float(g / (1 + exp(-g)) * Double(up[i]))
    }
}
