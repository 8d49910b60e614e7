// LayerNorm with bias (Phi-2, HF nn.LayerNorm): y = (x − mean) · rstd · w + b, rstd = 1 / √(var(x) + ε).

// x, y, dx, dy: [N, C]   weight, bias: [C]   mean, rstd: [N]

/// Forward; writes `mean` and `rstd` for the backward pass.
public func layerNormForward(
    y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, channels: Int,
    epsilon: Float, pool: WorkerPool
) {
    pool.forEachChunk(rows, minimumChunk: 16) { range in
        for n in range {
            let xr = x + n * channels, yr = y + n * channels
            var sum: Float = 0
            for c in 0..<channels { sum += xr[c] }
            let m = sum / Float(channels)
            var squares: Float = 0
            for c in 0..<channels { squares += (xr[c] - m) * (xr[c] - m) }
            let r = 1 / (squares / Float(channels) + epsilon).squareRoot()
            mean[n] = m
            rstd[n] = r
            for c in 0..<channels { yr[c] = (xr[c] - m) * r * weight[c] + bias[c] }
        }
    }
}

/// Backward for frozen weight and bias: dx (+)= ∂y/∂x · dy. With g = dy·w and x̂ = (x − mean)·rstd:
/// dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)).
public func layerNormBackward(
    dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, channels: Int,
    accumulate: Bool, pool: WorkerPool
) {
    pool.forEachChunk(rows, minimumChunk: 16) { range in
        for n in range {
            let xr = x + n * channels, dyr = dy + n * channels, dxr = dx + n * channels
            let m = mean[n], r = rstd[n]
            var gSum: Float = 0, gxSum: Float = 0
            for c in 0..<channels {
                let g = dyr[c] * weight[c]
                gSum += g
                gxSum += g * (xr[c] - m) * r
            }
            let gMean = gSum / Float(channels), gxMean = gxSum / Float(channels)
            for c in 0..<channels {
                let value = r * (dyr[c] * weight[c] - gMean - (xr[c] - m) * r * gxMean)
                dxr[c] = accumulate ? dxr[c] + value : value
            }
        }
    }
}

/// Loop twin of `layerNormForward` in Double.
public func layerNormForwardNaive(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, rows: Int, channels: Int, epsilon: Float
) {
    for n in 0..<rows {
        let values = (0..<channels).map { Double(x[n * channels + $0]) }
        let m = values.reduce(0, +) / Double(channels)
        let variance = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(channels)
        let r = 1 / (variance + Double(epsilon)).squareRoot()
        for c in 0..<channels { y[n * channels + c] = Float((values[c] - m) * r * Double(weight[c]) + Double(bias[c])) }
    }
}
