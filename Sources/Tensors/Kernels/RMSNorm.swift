// RMSNorm (HF LlamaRMSNorm; Gemma's `1 + w` as a flag): y = x · rstd · w, rstd = 1 / √(mean(x²) + ε).

// x, y, dx, dy: [N, C]   weight: [C]   rstd: [N]

/// Forward; writes `rstd` for the backward pass. `unitOffset` uses (1 + w) as Gemma does.
public func rmsNormForward(
    y: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, rows: Int, channels: Int, epsilon: Float, unitOffset: Bool = false,
    pool: WorkerPool
) {
    let offset: Float = unitOffset ? 1 : 0
    pool.forEachChunk(rows, minimumChunk: 16) { range in
        for n in range {
            let xr = x + n * channels
            let yr = y + n * channels
            var sumSquares: Float = 0
            for c in 0..<channels { sumSquares += xr[c] * xr[c] }
            let r = 1 / (sumSquares / Float(channels) + epsilon).squareRoot()
            rstd[n] = r
            for c in 0..<channels { yr[c] = xr[c] * r * (weight[c] + offset) }
        }
    }
}

/// Backward: dx (+)= ∂y/∂x · dy. With g = dy·w: dx = rstd · (g − x · rstd² · mean(g·x)).
/// `dWeight` (when non-nil) accumulates Σₙ dy · x · rstd; it is not thread-split, so pass nil for frozen norms.
public func rmsNormBackward(
    dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>?, dy: UnsafePointer<Float>,
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, channels: Int,
    unitOffset: Bool = false, accumulate: Bool, pool: WorkerPool
) {
    let offset: Float = unitOffset ? 1 : 0
    pool.forEachChunk(rows, minimumChunk: 16) { range in
        for n in range {
            let xr = x + n * channels
            let dyr = dy + n * channels
            let dxr = dx + n * channels
            let r = rstd[n]
            var dot: Float = 0
            for c in 0..<channels { dot += dyr[c] * (weight[c] + offset) * xr[c] }
            let k = dot * r * r / Float(channels)
            for c in 0..<channels {
                let value = r * (dyr[c] * (weight[c] + offset) - xr[c] * k)
                dxr[c] = accumulate ? dxr[c] + value : value
            }
        }
    }
    if let dWeight {
        for n in 0..<rows {
            for c in 0..<channels { dWeight[c] += dy[n * channels + c] * x[n * channels + c] * rstd[n] }
        }
    }
}

/// Loop twin of `rmsNormForward` in Double.
public func rmsNormForwardNaive(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int,
    channels: Int, epsilon: Float, unitOffset: Bool = false
) {
    for n in 0..<rows {
        var mean = 0.0
        for c in 0..<channels { mean += Double(x[n * channels + c]) * Double(x[n * channels + c]) }
        mean /= Double(channels)
        let r = 1 / (mean + Double(epsilon)).squareRoot()
        for c in 0..<channels {
            y[n * channels + c] = Float(Double(x[n * channels + c]) * r * (Double(weight[c]) + (unitOffset ? 1 : 0)))
        }
    }
}
