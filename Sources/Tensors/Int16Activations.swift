// A vector quantized to int16 in blocks of 32, for generation's integer matrix-vector products: one scale per block
// (its largest magnitude maps to 32767) and the block's sum, which the offset terms of Q4_0 / Q4_1 weights need.
// Each element keeps at least 15 bits relative to its block's largest, so the outlier channels of a norm's output do
// not flatten the rest of their block (int8 blocks, as llama.cpp uses, flip SmolLM2's greedy answer to "What is the
// capital of France?" through the output head). Only single-token products take this path.

// x: [count], count a multiple of 32   quantized: [count]   scales, sums: [count / 32]

/// `x` as int16 blocks of 32: x[32b + j] ≈ scales[b] · quantized[32b + j].
public final class Int16Activations: @unchecked Sendable {
    public static let blockSize = 32
    public let count: Int
    public let quantized: UnsafeMutablePointer<Int16>
    public let scales: UnsafeMutablePointer<Float>
    /// scales[b] · Σ_j quantized[32b + j]
    public let sums: UnsafeMutablePointer<Float>

    /// Quantizes `count` (a multiple of 32) elements of `x`.
    public init(_ x: UnsafePointer<Float>, count: Int) {
        precondition(count % Self.blockSize == 0, "int16 activations need whole blocks of 32")
        self.count = count
        let blocks = count / Self.blockSize
        quantized = .allocate(capacity: max(count, 1))
        scales = .allocate(capacity: max(blocks, 1))
        sums = .allocate(capacity: max(blocks, 1))
        for b in 0..<blocks {
            let xs = x + b * Self.blockSize
            var largest: Float = 0
            for j in 0..<Self.blockSize { largest = max(largest, abs(xs[j])) }
            let scale = largest / 32767
            let inverse = scale > 0 ? 1 / scale : 0
            var total: Int32 = 0
            for j in 0..<Self.blockSize {
                let q = Int16(max(-32767, min(32767, (xs[j] * inverse).rounded())))
                quantized[b * Self.blockSize + j] = q
                total += Int32(q)
            }
            scales[b] = scale
            sums[b] = scale * Float(total)
        }
    }

    deinit {
        quantized.deallocate()
        scales.deallocate()
        sums.deallocate()
    }
}
