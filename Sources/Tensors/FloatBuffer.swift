// An owned, aligned Float32 buffer: activations, gradients, LoRA parameters and optimizer moments live in these.

/// A fixed-size, 64-byte aligned, zero-initialised Float32 buffer.
///
/// A reference type so layers can share it without copies; `@unchecked Sendable` because kernels write
/// disjoint ranges of it from several threads, which the type system cannot express.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of Float32 elements.
    public let count: Int
    /// The first element; valid for `count` elements while this buffer lives.
    public let pointer: UnsafeMutablePointer<Float>

    /// Allocates `count` zeroed elements.
    public init(count: Int) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// Allocates a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { pointer.deallocate() }

    /// The elements as an array (tests, checkpoints).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }
}
