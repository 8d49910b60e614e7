// Row-level access to GGUF quant blocks for the engine: decode a row of blocks into Float32, and the dot product of
// a row with a Float32 vector straight from the blocks (generation). Block layouts are in GGUFQuantization.swift.

// row: `blocks` consecutive blocks of `type`   x, out: [blocks · blockSize]

extension GGUFQuantization {
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
