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
        for i in range {
            let g = gate[i]
            h[i] = g / (1 + expf(-g)) * up[i]
        }
    }
}

/// dgate = dh · up · silu′(gate), dup = dh · silu(gate); silu′(g) = σ(g) · (1 + g · (1 − σ(g))).
public func swiGLUBackward(
    dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dh: UnsafePointer<Float>,
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, pool: WorkerPool
) {
    pool.forEachChunk(count, minimumChunk: 16_384) { range in
        for i in range {
            let g = gate[i]
            let s = 1 / (1 + expf(-g))
            dgate[i] = dh[i] * up[i] * s * (1 + g * (1 - s))
            dup[i] = dh[i] * g * s
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
