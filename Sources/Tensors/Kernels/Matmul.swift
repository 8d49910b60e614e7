// Linear layers through the one matmul seam: y = x·Wᵀ (+ b), and its backward, in Float32. Every product of the
// engine reaches the library through `sgemm` here or through `MatmulEngine` (bf16 and stored weights).
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
#if TAILOR_ONEDNN
import DNNL
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
    sgemm(false, true, rows, outFeatures, inFeatures, 1, x, inFeatures, weight, inFeatures,
          (bias != nil || accumulate) ? 1 : 0, y, outFeatures)
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
        sgemm(false, false, rows, inFeatures, outFeatures, 1, dy, outFeatures, weight, inFeatures,
              accumulateInput ? 1 : 0, dx, inFeatures)
    }
    if let dWeight {
        sgemm(true, false, outFeatures, inFeatures, rows, 1, dy, outFeatures, x, inFeatures, 1, dWeight,
              inFeatures)
    }
    if let dBias {
        for n in 0..<rows {
            let row = dy + n * outFeatures
            for o in 0..<outFeatures { dBias[o] += row[o] }
        }
    }
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
    sgemm(transposeA, transposeB, m, n, k, alpha, a, transposeA ? m : k, b, transposeB ? k : n, beta, c, n)
}

// MARK: - The library call

/// Row-major C = alpha·op(A)·op(B) + beta·C with leading dimensions: oneDNN where it is installed, else the
/// platform BLAS (OpenBLAS, Accelerate). Inside `WorkerPool.forEachChunk` oneDNN runs it on the calling thread.
@inline(__always)
func sgemm(
    _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
    #if TAILOR_ONEDNN
    if let dnnl = OneDNNLibrary.shared {
        let status = dnnl.sgemm(
            transposeA ? 84 : 78, transposeB ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b,
            Int64(ldb), beta, c, Int64(ldc))  // "T" / "N"
        precondition(status == dnnl_success, "dnnl_sgemm failed with status \(status.rawValue)")
        return
    }
    #endif
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
