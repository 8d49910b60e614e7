// Rotary position embedding as HF applies it: the two halves of each head rotate together (rotate_half),
// not interleaved pairs. GGUF `llama` weights are un-permuted at load so this one layout serves both.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How rotary frequencies are scaled beyond the trained context.
public enum RoPEScaling: Sendable, Equatable {
    /// Plain RoPE.
    case none
    /// Positions divided by `factor` (HF `linear`).
    case linear(factor: Double)
    /// Llama 3.1's frequency-dependent scaling (HF `llama3`).
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)
    /// Inverse frequency `i` divided by `factors[i]` (llama.cpp's `rope_freqs.weight`, D/2 values).
    case frequencyFactors([Double])
    /// LongRoPE: inverse frequencies divided by `factors` (D/2 values) and cos/sin multiplied by `attentionFactor`
    /// (HF `longrope`, Phi-3.5 and Phi-4-mini).
    case longRoPE(factors: [Double], attentionFactor: Double)
}

/// Inverse frequencies for a head of `headDim`: θ^(−2i/D) for i < D/2, scaled as HF's rope init functions do.
public func ropeInverseFrequencies(headDim: Int, theta: Double, scaling: RoPEScaling) -> [Double] {
    let half = headDim / 2
    var inverse = (0..<half).map { 1 / pow(theta, Double(2 * $0) / Double(headDim)) }
    switch scaling {
    case .none:
        break
    case .linear(let factor):
        inverse = inverse.map { $0 / factor }
    case .llama3(let factor, let low, let high, let original):
        let lowWavelength = Double(original) / low
        let highWavelength = Double(original) / high
        inverse = inverse.map { frequency in
            let wavelength = 2 * Double.pi / frequency
            if wavelength < highWavelength { return frequency }
            if wavelength > lowWavelength { return frequency / factor }
            let smooth = (Double(original) / wavelength - low) / (high - low)
            return (1 - smooth) * frequency / factor + smooth * frequency
        }
    case .frequencyFactors(let factors), .longRoPE(let factors, _):
        precondition(factors.count == half, "one RoPE frequency factor per rotated pair")
        inverse = zip(inverse, factors).map { $0 / $1 }
    }
    return inverse
}

/// Cosine and sine tables for positions `0..<maxPosition`: cos, sin: [maxPosition, D/2].
public struct RoPETable: Sendable {
    public let headDim: Int
    public let maxPosition: Int
    public let cos: [Float]
    public let sin: [Float]

    /// Builds the tables; angles are computed as Float32 products, as HF does, then cos/sin in Double.
    public init(headDim: Int, maxPosition: Int, theta: Double, scaling: RoPEScaling) {
        self.headDim = headDim
        self.maxPosition = maxPosition
        let half = headDim / 2
        let inverse = ropeInverseFrequencies(headDim: headDim, theta: theta, scaling: scaling).map { Float($0) }
        var magnitude: Float = 1
        if case .longRoPE(_, let attentionFactor) = scaling { magnitude = Float(attentionFactor) }
        var c = [Float](repeating: 0, count: maxPosition * half)
        var s = c
        for p in 0..<maxPosition {
            for i in 0..<half {
                let angle = Double(Float(p) * inverse[i])
                c[p * half + i] = Float(cosine(angle)) * magnitude
                s[p * half + i] = Float(sine(angle)) * magnitude
            }
        }
        cos = c
        sin = s
    }
}

// Named wrappers: inside RoPETable the properties `cos` and `sin` shadow the math functions.
@inline(__always) private func cosine(_ x: Double) -> Double { cos(x) }
@inline(__always) private func sine(_ x: Double) -> Double { sin(x) }

// x: [N, heads, W] rotated in place (W = headWidth, default the table's D)   positions: [N]
// Partial rotary (Phi-2): the table is built for the rotary dimension D < W; the first D elements of each head
// rotate (halves at D/2, as HF slices `q[..., :rotary_dim]`), the other W − D pass through.

/// Rotates every head of every token by its position: x₁′ = x₁·cos − x₂·sin, x₂′ = x₂·cos + x₁·sin.
public func ropeForward(
    _ x: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows: Int, heads: Int, table: RoPETable,
    headWidth: Int? = nil, pool: WorkerPool
) {
    ropeRotate(x, positions: positions, rows: rows, heads: heads, table: table, headWidth: headWidth,
               direction: 1, pool: pool)
}

/// The backward of a rotation is the rotation by the opposite angle, applied to the gradient in place.
public func ropeBackward(
    _ dx: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows: Int, heads: Int, table: RoPETable,
    headWidth: Int? = nil, pool: WorkerPool
) {
    ropeRotate(dx, positions: positions, rows: rows, heads: heads, table: table, headWidth: headWidth,
               direction: -1, pool: pool)
}

private func ropeRotate(
    _ x: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows: Int, heads: Int, table: RoPETable,
    headWidth: Int?, direction: Float, pool: WorkerPool
) {
    let d = headWidth ?? table.headDim
    precondition(d >= table.headDim, "a head narrower than the rotary dimension")
    let half = table.headDim / 2
    table.cos.withUnsafeBufferPointer { cosTable in
        table.sin.withUnsafeBufferPointer { sinTable in
            let cosBase = cosTable.baseAddress!
            let sinBase = sinTable.baseAddress!
            pool.forEachChunk(rows, minimumChunk: 32) { range in
                for n in range {
                    let p = Int(positions[n])
                    precondition(p >= 0 && p < table.maxPosition, "position \(p) outside the RoPE table")
                    let c = cosBase + p * half
                    let s = sinBase + p * half
                    for h in 0..<heads {
                        let head = x + (n * heads + h) * d
                        for i in 0..<half {
                            let a = head[i]
                            let b = head[i + half]
                            let sine = direction * s[i]
                            head[i] = a * c[i] - b * sine
                            head[i + half] = b * c[i] + a * sine
                        }
                    }
                }
            }
        }
    }
}
