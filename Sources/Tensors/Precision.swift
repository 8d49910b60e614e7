// The precision matrix products run in, and the bfloat16 conversions the bf16 path needs.

/// The input precision of the engine's large matrix products.
///
/// `bf16` rounds weights, activations and output gradients to bfloat16 before each product and accumulates in
/// Float32; LoRA parameters, their gradients, the optimizer, norms, softmax and the loss stay Float32 either way.
public enum Precision: String, Sendable, Codable, CaseIterable {
    case fp32
    case bf16

    /// The element size of a product's inputs.
    public var inputBytes: Int { self == .bf16 ? 2 : 4 }
}

/// bfloat16 bits of `value`, rounded to nearest even (NaN stays NaN).
@inline(__always)
public func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

/// The Float32 value of bfloat16 `bits`.
@inline(__always)
public func floatFromBFloat16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

// x, y: [count]

/// y = bf16(x), element-wise, split over the pool for large buffers.
public func convertToBFloat16(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt16>, count: Int, pool: WorkerPool
) {
    pool.forEachChunk(count, minimumChunk: 1 << 15) { range in
        // Sixteen at a time, branch-free: NaN lanes get their quiet bit first, so rounding cannot carry them
        // into infinity.
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            var bits = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<UInt32>.self)
            bits |= ((((bits & 0x7FFF_FFFF) &- 0x7F80_0001) &>> 31) ^ 1) &<< 22  // quiet bit where NaN
            let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
            UnsafeMutableRawPointer(y + i).storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: rounded),
                                                      as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < range.upperBound {
            y[i] = bfloat16Bits(x[i])
            i += 1
        }
    }
}

/// y = Float32(x), element-wise.
public func convertFromBFloat16(
    _ x: UnsafePointer<UInt16>, _ y: UnsafeMutablePointer<Float>, count: Int, pool: WorkerPool
) {
    pool.forEachChunk(count, minimumChunk: 1 << 15) { range in
        for i in range { y[i] = floatFromBFloat16(x[i]) }
    }
}

/// An owned, 64-byte aligned buffer of bfloat16 bit patterns.
public final class BFloat16Buffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<UInt16>

    /// Allocates `count` zeroed elements.
    public init(count: Int) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 2, alignment: 64)
        pointer = raw.bindMemory(to: UInt16.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }
}
