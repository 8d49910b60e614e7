// A frozen weight matrix held as it came from disk: Float32, bfloat16, or a packed row format (GGUF quant blocks,
// float16) that is widened panel by panel when a product needs it. Products never see the whole model in Float32.

// W: [rows = out, columns = in], row-major; a packed row is `rowBytes` bytes.

/// A packed row encoding (GGUF blocks, float16), implemented where the format is known (Models, over Formats).
public protocol PackedRowFormat: Sendable {
    /// The encoding's short name for reports: `Q4_K`, `F16`.
    var name: String { get }
    /// Bytes one row of `columns` elements occupies.
    func rowBytes(columns: Int) -> Int
    /// Decodes one row of `columns` elements into `out`.
    func decode(row: UnsafeRawPointer, columns: Int, into out: UnsafeMutablePointer<Float>)
    /// Σ row[c]·x[c], straight from the packed bytes (generation's matrix-vector products).
    func dot(row: UnsafeRawPointer, columns: Int, x: UnsafePointer<Float>) -> Float
    /// Whether `dot(rows:…)` has an integer kernel for this encoding on this CPU.
    var hasIntegerDot: Bool { get }
    /// y[r] (+)= Σ row_r·x for `count` rows `rowBytes` apart, x as int16 blocks (generation, where the integer
    /// multiply-add instructions beat widening the blocks). Called only when `hasIntegerDot`.
    func dot(rows: UnsafeRawPointer, rowBytes: Int, count: Int, columns: Int, x: Int16Activations,
             into y: UnsafeMutablePointer<Float>, accumulate: Bool)
}

extension PackedRowFormat {
    public var hasIntegerDot: Bool { false }
    public func dot(rows: UnsafeRawPointer, rowBytes: Int, count: Int, columns: Int, x: Int16Activations,
                    into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        preconditionFailure("\(name) has no integer dot product")
    }
}

/// How a `WeightMatrix` holds its elements.
public enum WeightLayout: Sendable {
    case float32
    case bfloat16
    case packed(any PackedRowFormat)

    /// `F32`, `BF16`, or the packed format's name.
    public var name: String {
        switch self {
        case .float32: return "F32"
        case .bfloat16: return "BF16"
        case .packed(let format): return format.name
        }
    }
}

/// A frozen [rows, columns] matrix in its stored layout.
///
/// Either owns its bytes or views bytes kept alive by `owner` (a memory-mapped file). Immutable, so shared freely.
public final class WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let layout: WeightLayout
    /// Bytes per row.
    public let rowBytes: Int
    private let base: UnsafeRawPointer
    private let allocation: UnsafeMutableRawPointer?
    private let owner: AnyObject?

    /// Views `rows × rowBytes` bytes at `bytes` in `layout`; `owner` keeps them alive (a mapped file).
    public init(viewing bytes: UnsafeRawPointer, layout: WeightLayout, rows: Int, columns: Int, owner: AnyObject) {
        self.rows = rows
        self.columns = columns
        self.layout = layout
        rowBytes = Self.rowBytes(layout, columns: columns)
        base = bytes
        allocation = nil
        self.owner = owner
    }

    /// Copies rows of `bytes` in `layout`; row `i` of the result is source row `rowOrder[i]` (identity when nil).
    /// The llama Q/K un-permutation moves whole packed rows this way.
    public init(copying bytes: UnsafeRawPointer, layout: WeightLayout, rows: Int, columns: Int, rowOrder: [Int]? = nil) {
        self.rows = rows
        self.columns = columns
        self.layout = layout
        let stride = Self.rowBytes(layout, columns: columns)
        rowBytes = stride
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(rows * stride, 1), alignment: 64)
        if let rowOrder {
            precondition(rowOrder.count == rows, "row order length")
            for (i, source) in rowOrder.enumerated() {
                (memory + i * stride).copyMemory(from: bytes + source * stride, byteCount: stride)
            }
        } else {
            memory.copyMemory(from: bytes, byteCount: rows * stride)
        }
        base = UnsafeRawPointer(memory)
        allocation = memory
        owner = nil
    }

    /// Owns `values` (rows × columns, row-major) as Float32 or, with `bfloat16`, rounded to bfloat16.
    public init(values: UnsafePointer<Float>, rows: Int, columns: Int, bfloat16: Bool = false) {
        self.rows = rows
        self.columns = columns
        layout = bfloat16 ? .bfloat16 : .float32
        rowBytes = columns * (bfloat16 ? 2 : 4)
        let count = rows * columns
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(count * (bfloat16 ? 2 : 4), 1), alignment: 64)
        if bfloat16 {
            convertToBFloat16(values, memory.bindMemory(to: UInt16.self, capacity: count), count: count,
                              pool: WorkerPool(threadCount: 1))
        } else {
            memory.copyMemory(from: values, byteCount: count * 4)
        }
        base = UnsafeRawPointer(memory)
        allocation = memory
        owner = nil
    }

    /// Owns a copy of `values` as Float32 (tests, small tensors).
    public convenience init(_ values: [Float], rows: Int, columns: Int, bfloat16: Bool = false) {
        precondition(values.count == rows * columns, "\(values.count) values are not \(rows)×\(columns)")
        self.init(values: values.withUnsafeBufferPointer { $0.baseAddress! }, rows: rows, columns: columns,
                  bfloat16: bfloat16)
    }

    deinit { allocation?.deallocate() }

    private static func rowBytes(_ layout: WeightLayout, columns: Int) -> Int {
        switch layout {
        case .float32: return columns * 4
        case .bfloat16: return columns * 2
        case .packed(let format): return format.rowBytes(columns: columns)
        }
    }

    /// Bytes the elements occupy.
    public var bytes: Int { rows * rowBytes }

    /// The elements, when stored as Float32.
    public var float32: UnsafePointer<Float>? {
        if case .float32 = layout { return base.assumingMemoryBound(to: Float.self) }
        return nil
    }

    /// The elements' bit patterns, when stored as bfloat16.
    public var bfloat16: UnsafePointer<UInt16>? {
        if case .bfloat16 = layout { return base.assumingMemoryBound(to: UInt16.self) }
        return nil
    }

    /// Whether products in `precision` can read the stored elements without widening them first.
    public func isNative(for precision: Precision) -> Bool {
        switch (layout, precision) {
        case (.float32, .fp32), (.bfloat16, .bf16): return true
        default: return false
        }
    }

    // MARK: Widening

    /// Decodes row `row` into `out` (columns floats): the embedding gather.
    public func decodeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        let source = base + row * rowBytes
        switch layout {
        case .float32: out.update(from: source.assumingMemoryBound(to: Float.self), count: columns)
        case .bfloat16:
            let bits = source.assumingMemoryBound(to: UInt16.self)
            for c in 0..<columns { out[c] = floatFromBFloat16(bits[c]) }
        case .packed(let format): format.decode(row: source, columns: columns, into: out)
        }
    }

    /// Rows `range` as Float32, row-major, into `out` (range.count × columns).
    public func decodeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        pool.forEachChunk(range.count, minimumChunk: max(1, 16_384 / max(columns, 1))) { chunk in
            for i in chunk { self.decodeRow(range.lowerBound + i, into: out + i * self.columns) }
        }
    }

    /// Rows `range` rounded to bfloat16, row-major, into `out` (range.count × columns).
    public func decodeRows(_ range: Range<Int>, intoBFloat16 out: UnsafeMutablePointer<UInt16>, pool: WorkerPool) {
        let single = WorkerPool(threadCount: 1)
        pool.forEachChunk(range.count, minimumChunk: max(1, 16_384 / max(columns, 1))) { chunk in
            switch self.layout {
            case .bfloat16:
                let source = self.base.assumingMemoryBound(to: UInt16.self) + range.lowerBound * self.columns
                (out + chunk.lowerBound * self.columns).update(
                    from: source + chunk.lowerBound * self.columns, count: chunk.count * self.columns)
            case .float32:
                let source = self.base.assumingMemoryBound(to: Float.self) + range.lowerBound * self.columns
                convertToBFloat16(source + chunk.lowerBound * self.columns, out + chunk.lowerBound * self.columns,
                                  count: chunk.count * self.columns, pool: single)
            case .packed:
                let row = UnsafeMutablePointer<Float>.allocate(capacity: self.columns)
                defer { row.deallocate() }
                for i in chunk {
                    self.decodeRow(range.lowerBound + i, into: row)
                    convertToBFloat16(row, out + i * self.columns, count: self.columns, pool: single)
                }
            }
        }
    }

    // MARK: Matrix-vector

    // x: [columns]   y: [rows]

    /// y (+)= W·x, read straight from the stored layout (generation: one token at a time).
    /// With `integer`, packed formats that have an integer kernel multiply int16 blocks of x (`Int16Activations`);
    /// without, x stays Float32 (tests of the exact path).
    public func multiply(vector x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
                         pool: WorkerPool, integer: Bool = true) {
        if integer, case .packed(let format) = layout, format.hasIntegerDot,
            columns % Int16Activations.blockSize == 0
        {
            let quantized = Int16Activations(x, count: columns)
            pool.forEachChunk(rows, minimumChunk: 64) { range in
                format.dot(rows: self.base + range.lowerBound * self.rowBytes, rowBytes: self.rowBytes,
                           count: range.count, columns: self.columns, x: quantized, into: y + range.lowerBound,
                           accumulate: accumulate)
            }
            return
        }
        pool.forEachChunk(rows, minimumChunk: 64) { range in
            switch self.layout {
            case .float32:
                let w = self.base.assumingMemoryBound(to: Float.self)
                for r in range {
                    let value = dotProduct(w + r * self.columns, x, count: self.columns)
                    y[r] = accumulate ? y[r] + value : value
                }
            case .bfloat16:
                let w = self.base.assumingMemoryBound(to: UInt16.self)
                for r in range {
                    let value = dotProductBFloat16(w + r * self.columns, x, count: self.columns)
                    y[r] = accumulate ? y[r] + value : value
                }
            case .packed(let format):
                for r in range {
                    let value = format.dot(row: self.base + r * self.rowBytes, columns: self.columns, x: x)
                    y[r] = accumulate ? y[r] + value : value
                }
            }
        }
    }
}

// a, b, w: [count]

/// Σ a[i]·b[i] with sixteen-wide partial sums (the order is fixed, so results do not depend on threads).
@inline(__always)
public func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= count {
        s0 += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
            * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
        s1 += UnsafeRawPointer(a + i + 16).loadUnaligned(as: SIMD16<Float>.self)
            * UnsafeRawPointer(b + i + 16).loadUnaligned(as: SIMD16<Float>.self)
        i += 32
    }
    var total = (s0 + s1).sum()
    while i < count {
        total += a[i] * b[i]
        i += 1
    }
    return total
}

/// Σ bf16(w[i])·x[i].
@inline(__always)
public func dotProductBFloat16(_ w: UnsafePointer<UInt16>, _ x: UnsafePointer<Float>, count: Int) -> Float {
    var s0 = SIMD16<Float>()
    var i = 0
    while i + 16 <= count {
        let bits = SIMD16<UInt32>(truncatingIfNeeded: UnsafeRawPointer(w + i).loadUnaligned(as: SIMD16<UInt16>.self))
        s0 += unsafeBitCast(bits &<< 16, to: SIMD16<Float>.self) * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
        i += 16
    }
    var total = s0.sum()
    while i < count {
        total += floatFromBFloat16(w[i]) * x[i]
        i += 1
    }
    return total
}
