// Linear layers through the one BLAS seam: y = x·Wᵀ (+ b), and its backward.
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

// x: [N, In]   W: [Out, In]   b: [Out]   y: [N, Out]

/// y = x·Wᵀ + b, or y += x·Wᵀ when `accumulate` (bias then must be nil).
public func matmulForward(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false
) {
    precondition(!(accumulate && bias != nil), "bias with accumulate")
    guard rows > 0, outFeatures > 0 else { return }
    if let bias {
        for n in 0..<rows { (y + n * outFeatures).update(from: bias, count: outFeatures) }
    }
    cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures),
        1, x, Int32(inFeatures), weight, Int32(inFeatures), (bias != nil || accumulate) ? 1 : 0, y,
        Int32(outFeatures))
}

/// Backward of `matmulForward`: dx (+)= dy·W; dW += dyᵀ·x; db += Σₙ dy. Any output may be nil.
/// `accumulateInput` adds into dx instead of overwriting it (several layers read the same input).
public func matmulBackward(
    dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
    dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inFeatures: Int, outFeatures: Int, accumulateInput: Bool
) {
    guard rows > 0 else { return }
    if let dx {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(inFeatures), Int32(outFeatures),
            1, dy, Int32(outFeatures), weight, Int32(inFeatures), accumulateInput ? 1 : 0, dx, Int32(inFeatures))
    }
    if let dWeight {
        cblas_sgemm(
            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), Int32(rows),
            1, dy, Int32(outFeatures), x, Int32(inFeatures), 1, dWeight, Int32(inFeatures))
    }
    if let dBias {
        for n in 0..<rows {
            let row = dy + n * outFeatures
            for o in 0..<outFeatures { dBias[o] += row[o] }
        }
    }
}

/// Sets the number of threads BLAS itself uses (OpenBLAS); Accelerate manages its own.
public func setBLASThreadCount(_ count: Int) {
    #if !canImport(Accelerate)
    openblas_set_num_threads(Int32(max(1, count)))
    #endif
}

/// The BLAS in use, for benchmark reports: OpenBLAS names the kernel family it picked for this CPU (which
/// `OPENBLAS_CORETYPE` can override) and its build options.
public func blasDescription() -> String {
    #if canImport(Accelerate)
    return "Accelerate"
    #else
    let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
    let config = openblas_get_config().map { String(cString: $0) } ?? "?"
    return "OpenBLAS \(core) kernels (\(config.trimmingCharacters(in: .whitespaces)))"
    #endif
}

// MARK: - Naive twins (tests and odd shapes)

/// Loop version of `matmulForward`, accumulating in Double.
public func matmulForwardNaive(
    y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false
) {
    for n in 0..<rows {
        for o in 0..<outFeatures {
            var sum = Double(bias?[o] ?? 0)
            for i in 0..<inFeatures { sum += Double(x[n * inFeatures + i]) * Double(weight[o * inFeatures + i]) }
            y[n * outFeatures + o] = (accumulate ? y[n * outFeatures + o] : 0) + Float(sum)
        }
    }
}

/// Loop version of `matmulBackward`.
public func matmulBackwardNaive(
    dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
    dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inFeatures: Int, outFeatures: Int, accumulateInput: Bool
) {
    if let dx {
        for n in 0..<rows {
            for i in 0..<inFeatures {
                var sum = 0.0
                for o in 0..<outFeatures { sum += Double(dy[n * outFeatures + o]) * Double(weight[o * inFeatures + i]) }
                dx[n * inFeatures + i] = (accumulateInput ? dx[n * inFeatures + i] : 0) + Float(sum)
            }
        }
    }
    if let dWeight {
        for o in 0..<outFeatures {
            for i in 0..<inFeatures {
                var sum = 0.0
                for n in 0..<rows { sum += Double(dy[n * outFeatures + o]) * Double(x[n * inFeatures + i]) }
                dWeight[o * inFeatures + i] += Float(sum)
            }
        }
    }
    if let dBias {
        for o in 0..<outFeatures {
            var sum = 0.0
            for n in 0..<rows { sum += Double(dy[n * outFeatures + o]) }
            dBias[o] += Float(sum)
        }
    }
}

// MARK: - General product

/// C = alpha · op(A)·op(B) + beta · C on row-major matrices: op(A): [m, k], op(B): [k, n], C: [m, n].
/// The thin seam the LoRA products go through; `transposeA`/`transposeB` read A or B as stored transposed.
public func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
    b: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>
) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        if beta == 0 { c.update(repeating: 0, count: m * n) } else if beta != 1 { for i in 0..<(m * n) { c[i] *= beta } }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n), beta, c,
        Int32(n))
}
