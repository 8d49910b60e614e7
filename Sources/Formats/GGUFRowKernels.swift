// Row-level access to GGUF quant blocks for the engine: decode a row of blocks into Float32, and the dot product of
// a row with a vector straight from the blocks (generation): Float32 in Swift, or int16 blocks in the C integer
// kernels (BlockKernels). Block layouts are in GGUFQuantization.swift.

// row: `blocks` consecutive blocks of `type`   x, out: [blocks · blockSize]
import BlockKernels

extension GGUFQuantization {
    /// The instruction set of the integer block kernels on this CPU (`avx512_vnni`, `avx2`), or nil without one.
    public static let integerKernelISA: String? =
        tailor_block_kernels_available() == 0 ? nil : String(cString: tailor_block_kernels_isa())

    /// Whether `dotRows` has an integer kernel for `type` on this CPU (Q8_0, Q4_0, Q4_1 on x86-64 with AVX2).
    public static func hasIntegerKernel(_ type: GGMLType) -> Bool {
        guard integerKernelISA != nil else { return false }
        switch type {
        case .q8_0, .q4_0, .q4_1: return true
        default: return false
        }
    }

    /// y[r] (+)= Σ W[r]·x for `rows` rows `rowBytes` apart, each `blocks` blocks of `type`, with x given as int16
    /// blocks of 32 (`quantized[32b + j] · scales[b]`, `sums[b]` = scales[b] · Σ_j quantized[32b + j]).
    /// `type` must pass `hasIntegerKernel`.
    public static func dotRows(
        _ type: GGMLType, _ w: UnsafeRawPointer, rowBytes: Int, rows: Int, blocks: Int,
        quantized: UnsafePointer<Int16>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        let done = dotRows(type, w, rowBytes: rowBytes, rows: rows, blocks: blocks, quantized: quantized,
                           scales: scales, sums: sums, into: y, accumulate: accumulate, on: nil)
        precondition(done, "no integer kernel for \(type.name)")
    }

    /// The instruction sets `dotRows(…, on:)` can name.
    public enum IntegerKernelPath: Int32, CaseIterable, Sendable {
        case portable = 0, avx2 = 1, avx512VNNI = 2
    }

    /// `dotRows` on one path (nil: the best this CPU has); false when this CPU lacks it or `type` has no kernel.
    public static func dotRows(
        _ type: GGMLType, _ w: UnsafeRawPointer, rowBytes: Int, rows: Int, blocks: Int,
        quantized: UnsafePointer<Int16>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, accumulate: Bool, on path: IntegerKernelPath?
    ) -> Bool {
        let x = tailor_int16_blocks(q: quantized, scale: scales, sum: sums)
        let type = Int32(type.rawValue), accumulate: Int32 = accumulate ? 1 : 0
        if let path {
            return tailor_block_dot_rows_on(path.rawValue, type, w, rowBytes, rows, blocks, x, y, accumulate) == 1
        }
        return tailor_block_dot_rows(type, w, rowBytes, rows, blocks, x, y, accumulate) == 1
    }

    /// Decodes `blocks` consecutive blocks of `type` at `source` into `out`. `type` must be in `supportedTypes`.
    public static func decodeBlocks(
        _ type: GGMLType, _ source: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>
    ) {
        kernel(for: type)(source, out, 0..<blocks)
    }

    /// Σ row[i]·x[i] over `blocks` blocks of `type`. Q8_0, Q4_0 and Q4_1 multiply from the blocks directly; other
    /// types decode one block at a time into a small buffer first.
    public static func dot(_ type: GGMLType, _ row: UnsafeRawPointer, blocks: Int, x: UnsafePointer<Float>) -> Float {
        switch type {
        case .q8_0: return dotQ8_0(row, blocks: blocks, x: x)
        case .q4_0: return dotQ4(row, blocks: blocks, x: x, stride: 18, offset: 2, hasMinimum: false)
        case .q4_1: return dotQ4(row, blocks: blocks, x: x, stride: 20, offset: 4, hasMinimum: true)
        default:
            guard let blockSize = type.blockSize, let typeSize = type.typeSize else { return .nan }
            let kernel = kernel(for: type)
            return withUnsafeTemporaryAllocation(of: Float.self, capacity: blockSize) { buffer in
                let values = buffer.baseAddress!
                var total = SIMD16<Float>()
                var tail: Float = 0
                for b in 0..<blocks {
                    kernel(row + b * typeSize, values, 0..<1)
                    let xs = x + b * blockSize
                    var i = 0
                    while i + 16 <= blockSize {
                        total += UnsafeRawPointer(values + i).loadUnaligned(as: SIMD16<Float>.self)
                            * UnsafeRawPointer(xs + i).loadUnaligned(as: SIMD16<Float>.self)
                        i += 16
                    }
                    while i < blockSize {
                        tail += values[i] * xs[i]
                        i += 1
                    }
                }
                return total.sum() + tail
            }
        }
    }

    private static func dotQ8_0(_ row: UnsafeRawPointer, blocks: Int, x: UnsafePointer<Float>) -> Float {
        var total = SIMD16<Float>()
        for b in 0..<blocks {
            let block = row + b &* 34
            let q = block.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self)
            let xs = UnsafeRawPointer(x + b &* 32)
            let sum = widen(q.lowHalf) * xs.loadUnaligned(as: SIMD16<Float>.self)
                + widen(q.highHalf) * xs.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            total += sum * halfToFloat(UInt16(littleEndian: block.loadUnaligned(as: UInt16.self)))
        }
        return total.sum()
    }

    /// Q4_0 (x = d·(q − 8)) and Q4_1 (x = d·q + m): Σ x·v = d·Σ q·v + (m or −8d)·Σ v.
    private static func dotQ4(
        _ row: UnsafeRawPointer, blocks: Int, x: UnsafePointer<Float>, stride: Int, offset: Int, hasMinimum: Bool
    ) -> Float {
        var total = SIMD16<Float>()
        for b in 0..<blocks {
            let block = row + b &* stride
            let q = block.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
            let xs = UnsafeRawPointer(x + b &* 32)
            let x0 = xs.loadUnaligned(as: SIMD16<Float>.self), x1 = xs.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            let products = widen(q & 0x0F) * x0 + widen(q &>> 4) * x1
            let d = halfToFloat(UInt16(littleEndian: block.loadUnaligned(as: UInt16.self)))
            let m = hasMinimum
                ? halfToFloat(UInt16(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
                : -8 * d
            total += products * d + (x0 + x1) * m
        }
        return total.sum()
    }
}
