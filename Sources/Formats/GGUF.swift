// GGUF reader: metadata, tensor directory and tensor bytes of a llama.cpp model file, treating the file as hostile.
//
// Byte layout (all integers little-endian; `string` = u64 byte length + UTF-8 bytes, no terminator):
//  1. magic      4 bytes "GGUF" (0x47 0x47 0x55 0x46)
//  2. version    u32: 2 or 3 (version 1 used u32 counts and lengths and is not read)
//  3. counts     u64 tensor_count, u64 metadata_kv_count
//  4. metadata   metadata_kv_count × { key: string, value_type: u32, value }
//                value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (1 byte), 8 string,
//                9 array { element_type: u32, count: u64, count × value }, 10 u64, 11 i64, 12 f64
//  5. tensors    tensor_count × { name: string, n_dims: u32, ne: n_dims × u64 (innermost first),
//                                 type: u32 (ggml_type), offset: u64 (relative to the data section) }
//  6. padding    to `general.alignment` (u32, default 32, a power of two)
//  7. data       tensor bytes; each tensor starts at data + offset, offset a multiple of the alignment
import Foundation

/// One metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// Any integer case, when it fits in `Int` (booleans are not integers here).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(exactly: v)
        default: return nil
        }
    }

    /// Any float or integer case as a `Double`.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        case .uint64(let v): return Double(v)
        case .int64(let v): return Double(v)
        default: return int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(let v) = self { return v }
        return nil
    }

    /// An array whose elements are all strings.
    public var strings: [String]? {
        guard let elements = array else { return nil }
        var result: [String] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let s = element.string else { return nil }
            result.append(s)
        }
        return result
    }

    /// An array whose elements are all numbers, as `Float`.
    public var floats: [Float]? {
        guard let elements = array else { return nil }
        var result: [Float] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let d = element.double else { return nil }
            result.append(Float(d))
        }
        return result
    }

    /// An array whose elements are all integers that fit in `Int`.
    public var ints: [Int]? {
        guard let elements = array else { return nil }
        var result: [Int] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let i = element.int else { return nil }
            result.append(i)
        }
        return result
    }

    /// The GGUF value-type id written before this value.
    var typeID: UInt32 {
        switch self {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }
}

/// A ggml tensor element type, kept as the raw id so that files with types Tailor does not know still open.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGMLType(rawValue: 0)
    public static let f16 = GGMLType(rawValue: 1)
    public static let q4_0 = GGMLType(rawValue: 2)
    public static let q4_1 = GGMLType(rawValue: 3)
    public static let q5_0 = GGMLType(rawValue: 6)
    public static let q5_1 = GGMLType(rawValue: 7)
    public static let q8_0 = GGMLType(rawValue: 8)
    public static let q8_1 = GGMLType(rawValue: 9)
    public static let q2_K = GGMLType(rawValue: 10)
    public static let q3_K = GGMLType(rawValue: 11)
    public static let q4_K = GGMLType(rawValue: 12)
    public static let q5_K = GGMLType(rawValue: 13)
    public static let q6_K = GGMLType(rawValue: 14)
    public static let q8_K = GGMLType(rawValue: 15)
    public static let iq4_nl = GGMLType(rawValue: 20)
    public static let i8 = GGMLType(rawValue: 24)
    public static let i16 = GGMLType(rawValue: 25)
    public static let i32 = GGMLType(rawValue: 26)
    public static let i64 = GGMLType(rawValue: 27)
    public static let f64 = GGMLType(rawValue: 28)
    public static let bf16 = GGMLType(rawValue: 30)

    /// (name, elements per block, bytes per block) for every id in ggml's `ggml_type` (ggml-common.h block structs).
    private static let traits: [UInt32: (name: String, blockSize: Int, typeSize: Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
        10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
        14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
        18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
        26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
        34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
    ]

    /// "Q4_K", "F32", …, or "type 42" when the id is unknown.
    public var name: String { Self.traits[rawValue]?.name ?? "type \(rawValue)" }
    /// Elements per block; nil when the id is unknown.
    public var blockSize: Int? { Self.traits[rawValue]?.blockSize }
    /// Bytes per block; nil when the id is unknown.
    public var typeSize: Int? { Self.traits[rawValue]?.typeSize }
    public var description: String { name }
}

/// Where one tensor lives in a GGUF file and what it holds.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Row-major, outermost first: GGUF's `ne = [in, out]` becomes `shape = [out, in]`.
    public let shape: [Int]
    public let type: GGMLType
    /// Absolute byte offset of the data in the file.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed, memory-mapped GGUF file. Tensor bytes stay in the map until dequantized.
public final class GGUFFile: Sendable {
    /// The file's path, used in error messages.
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute offset of the (aligned) data section.
    public let dataOffset: Int
    /// Alignment of the data section and of every tensor offset.
    public let alignment: Int
    /// Absolute offsets where each metadata pair, then the tensor directory, begin (tests cut files there).
    let sectionOffsets: (keyValues: [Int], tensorInfos: [Int])

    private let mapped: MappedFile
    private let index: [String: Int]

    /// Maps and parses `url`. Throws `FormatsError` on any problem.
    public convenience init(url: URL) throws {
        try self.init(mapped: try MappedFile(url: url))
    }

    /// Parses an already mapped (or in-memory) file. Throws `FormatsError` on any problem.
    public convenience init(mapped: MappedFile, limits: ByteReaderLimits = .standard) throws {
        try self.init(mapped: mapped, limits: limits, prefixLength: mapped.bytes.count)
    }

    /// Parses only the first `prefixLength` bytes, as if the file ended there (tests cut files without copying).
    init(mapped: MappedFile, limits: ByteReaderLimits, prefixLength: Int) throws {
        self.mapped = mapped
        path = mapped.path
        let visible = UnsafeRawBufferPointer(rebasing: mapped.bytes[0..<min(max(0, prefixLength), mapped.bytes.count)])
        var parser = GGUFParser(reader: ByteReader(visible, path: mapped.path), limits: limits)
        let parsed = try parser.parse()
        version = parsed.version
        metadata = parsed.metadata
        metadataKeys = parsed.keys
        tensors = parsed.tensors
        dataOffset = parsed.dataOffset
        alignment = parsed.alignment
        sectionOffsets = (parsed.keyOffsets, parsed.tensorOffsets)
        index = parsed.index
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// `metadata["general.architecture"]`.
    public var architecture: String? { metadata["general.architecture"]?.string }

    /// The tensor's bytes inside the map (valid while this object lives). Bounds were checked when parsing.
    public func rawBytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapped.bytes[tensor.offset..<(tensor.offset + tensor.byteCount)])
    }

    /// Dequantizes a tensor to Float32, row-major. Throws `FormatsError.unsupportedTensorType` for types Tailor cannot convert.
    public func dequantize(_ tensor: GGUFTensorInfo) throws -> [Float] {
        guard tensor.offset >= 0, tensor.byteCount >= 0, tensor.offset <= mapped.bytes.count - tensor.byteCount else {
            throw FormatsError.truncated(
                path: path, what: "data of tensor '\(tensor.name)'", needed: tensor.byteCount,
                available: max(0, mapped.bytes.count - tensor.offset))
        }
        let count = tensor.elementCount
        let bytes = rawBytes(of: tensor)
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress {
                try GGUFQuantization.dequantize(
                    tensor.type, bytes: bytes, count: count, into: base, tensor: tensor.name, path: path)
            }
            initialized = count
        }
    }
}

/// The parse of one file, kept apart from `GGUFFile` so the file object is built only from a complete, valid parse.
private struct GGUFParser {
    var reader: ByteReader
    let limits: ByteReaderLimits
    var path: String { reader.path }

    struct Result {
        var version: UInt32 = 0
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        var dataOffset = 0
        var alignment = 32
        var keyOffsets: [Int] = []
        var tensorOffsets: [Int] = []
    }

    /// Smallest encodings, used to bound counts by the bytes left: a key–value pair is at least an empty key (8),
    /// a type (4) and a u8 value (1); a tensor entry is at least an empty name (8), n_dims (4), one dim (8),
    /// type (4) and offset (8).
    static let minimumKeyValueSize = 13
    static let minimumTensorInfoSize = 32

    mutating func parse() throws(FormatsError) -> Result {
        var result = Result()
        try reader.need(4, "the GGUF magic")
        let magic = Array(reader.bytes[0..<4])
        guard magic == [0x47, 0x47, 0x55, 0x46] else {
            let shown = magic.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            throw .malformed(
                path: path,
                reason: "not a GGUF file: expected the magic bytes 'GGUF', found '\(shown)'; pass a .gguf model file")
        }
        try reader.skip(4, "the GGUF magic")
        let version = try reader.u32("the GGUF version")
        if version == 1 {
            throw .malformed(
                path: path,
                reason: "GGUF version 1 is not supported (found version 1, expected 2 or 3);"
                    + " convert the model again with a current llama.cpp")
        }
        guard version == 2 || version == 3 else {
            if version.byteSwapped >= 1 && version.byteSwapped <= 3 {
                throw .malformed(
                    path: path,
                    reason: "GGUF version reads as \(version), which is version \(version.byteSwapped) byte-swapped:"
                        + " this is a big-endian GGUF file; Tailor reads little-endian files only, use a little-endian conversion")
            }
            throw .malformed(
                path: path,
                reason: "unsupported GGUF version \(version), expected 2 or 3; the file is corrupt or from a newer llama.cpp")
        }
        result.version = version
        let tensorCount = try reader.count(
            cap: limits.maxTensorCount, capName: "maxTensorCount", minimumElementSize: Self.minimumTensorInfoSize,
            "the tensor count")
        let keyValueCount = try reader.count(
            cap: limits.maxMetadataCount, capName: "maxMetadataCount", minimumElementSize: Self.minimumKeyValueSize,
            "the metadata count")

        result.keys.reserveCapacity(keyValueCount)
        result.keyOffsets.reserveCapacity(keyValueCount)
        for i in 0..<keyValueCount {
            result.keyOffsets.append(reader.position)
            let key = try reader.string(maxLength: limits.maxStringLength, "metadata key #\(i)")
            let type = try reader.u32("value type of metadata '\(key)'")
            let value = try readValue(type: type, key: key, depth: 0)
            guard result.metadata.updateValue(value, forKey: key) == nil else {
                throw .malformed(path: path, reason: "metadata key '\(key)' appears twice; the file is corrupt")
            }
            result.keys.append(key)
        }

        if let declared = result.metadata["general.alignment"] {
            guard let alignment = declared.int, alignment > 0, alignment <= 1 << 30, alignment & (alignment - 1) == 0 else {
                throw .malformed(
                    path: path, reason: "general.alignment is \(declared), expected a power of two (the default is 32)")
            }
            result.alignment = alignment
        }

        var relative: [(name: String, ne: [Int], type: GGMLType, offset: Int, byteCount: Int)] = []
        relative.reserveCapacity(tensorCount)
        result.tensorOffsets.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            result.tensorOffsets.append(reader.position)
            let name = try reader.string(maxLength: limits.maxStringLength, "name of tensor #\(i)")
            guard result.index.updateValue(i, forKey: name) == nil else {
                throw .malformed(path: path, reason: "tensor name '\(name)' appears twice; the file is corrupt")
            }
            let dimensionCount = try reader.u32("dimension count of tensor '\(name)'")
            guard dimensionCount >= 1, dimensionCount <= UInt32(limits.maxDimensions) else {
                throw .malformed(
                    path: path,
                    reason: "tensor '\(name)' has \(dimensionCount) dimensions, expected 1 to \(limits.maxDimensions)")
            }
            var ne: [Int] = []
            var elements = 1
            for d in 0..<Int(dimensionCount) {
                let raw = try reader.u64("dimension \(d) of tensor '\(name)'")
                // ggml stores ne as int64: anything past Int64.max is a negative size.
                guard raw >= 1, raw <= UInt64(Int64.max) else {
                    throw .malformed(
                        path: path,
                        reason: "dimension \(d) of tensor '\(name)' is \(Int64(bitPattern: raw)), expected a positive size")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(raw))
                guard !overflow else {
                    throw .malformed(
                        path: path, reason: "tensor '\(name)' has more elements than fit in 64 bits; the file is corrupt")
                }
                elements = product
                ne.append(Int(raw))
            }
            let type = GGMLType(rawValue: try reader.u32("type of tensor '\(name)'"))
            guard let blockSize = type.blockSize, let typeSize = type.typeSize else {
                throw .malformed(
                    path: path,
                    reason: "tensor '\(name)' has unknown ggml type id \(type.rawValue); the file is corrupt or needs a newer Tailor")
            }
            guard ne[0] % blockSize == 0 else {
                throw .malformed(
                    path: path,
                    reason: "tensor '\(name)' has rows of \(ne[0]) elements, not a multiple of the \(type.name) block size \(blockSize)")
            }
            let (byteCount, overflow) = (elements / blockSize).multipliedReportingOverflow(by: typeSize)
            guard !overflow else {
                throw .malformed(path: path, reason: "tensor '\(name)' is larger than 64-bit offsets allow; the file is corrupt")
            }
            let rawOffset = try reader.u64("data offset of tensor '\(name)'")
            guard rawOffset <= UInt64(Int.max), Int(rawOffset) % result.alignment == 0 else {
                throw .malformed(
                    path: path,
                    reason: "tensor '\(name)' has data offset \(rawOffset), expected a multiple of the alignment \(result.alignment)")
            }
            relative.append((name, ne, type, Int(rawOffset), byteCount))
        }

        // The data section starts at the first multiple of the alignment after the directory. A file without
        // tensors may end before that padding.
        let (padded, overflow) = reader.position.addingReportingOverflow(result.alignment - 1)
        guard !overflow else { throw .malformed(path: path, reason: "header is too large") }
        let dataOffset = padded / result.alignment * result.alignment
        if !relative.isEmpty && dataOffset > reader.bytes.count {
            throw .truncated(
                path: path, what: "padding before the tensor data", needed: dataOffset - reader.position,
                available: reader.remaining)
        }
        result.dataOffset = dataOffset

        let fileSize = reader.bytes.count
        result.tensors.reserveCapacity(relative.count)
        for entry in relative {
            let (start, overflowStart) = dataOffset.addingReportingOverflow(entry.offset)
            let (end, overflowEnd) = start.addingReportingOverflow(entry.byteCount)
            guard !overflowStart, !overflowEnd, end <= fileSize else {
                throw .truncated(
                    path: path, what: "data of tensor '\(entry.name)' (\(entry.type.name), at data offset \(entry.offset))",
                    needed: entry.byteCount,
                    available: overflowStart ? 0 : max(0, fileSize - min(start, fileSize)))
            }
            // GGUF lists dimensions innermost first (ne[0] is the contiguous one); Tailor uses row-major shapes,
            // outermost first, everywhere else — this is the one place that converts.
            result.tensors.append(
                GGUFTensorInfo(
                    name: entry.name, shape: entry.ne.reversed(), type: entry.type, offset: start,
                    byteCount: entry.byteCount))
        }
        return result
    }

    /// Reads one value of type id `type`; `depth` counts enclosing arrays.
    mutating func readValue(type: UInt32, key: String, depth: Int) throws(FormatsError) -> GGUFValue {
        switch type {
        case 0: return .uint8(try reader.u8("value of '\(key)'"))
        case 1: return .int8(try reader.i8("value of '\(key)'"))
        case 2: return .uint16(try reader.u16("value of '\(key)'"))
        case 3: return .int16(try reader.i16("value of '\(key)'"))
        case 4: return .uint32(try reader.u32("value of '\(key)'"))
        case 5: return .int32(try reader.i32("value of '\(key)'"))
        case 6: return .float32(try reader.f32("value of '\(key)'"))
        case 7: return .bool(try reader.u8("value of '\(key)'") != 0)
        case 8: return .string(try reader.string(maxLength: limits.maxStringLength, "string value of '\(key)'"))
        case 9: return .array(try readArray(key: key, depth: depth + 1))
        case 10: return .uint64(try reader.u64("value of '\(key)'"))
        case 11: return .int64(try reader.i64("value of '\(key)'"))
        case 12: return .float64(try reader.f64("value of '\(key)'"))
        default:
            throw .malformed(
                path: path,
                reason: "metadata '\(key)' has unknown value type \(type), expected 0…12; the file is corrupt or from a newer GGUF version")
        }
    }

    mutating func readArray(key: String, depth: Int) throws(FormatsError) -> [GGUFValue] {
        guard depth <= limits.maxNestingDepth else {
            throw .malformed(
                path: path,
                reason: "metadata '\(key)' nests arrays \(depth) deep, over the limit of \(limits.maxNestingDepth) (maxNestingDepth)")
        }
        let elementType = try reader.u32("element type of array '\(key)'")
        let minimumSize: Int
        switch elementType {
        case 0, 1, 7: minimumSize = 1
        case 2, 3: minimumSize = 2
        case 4, 5, 6: minimumSize = 4
        case 8, 10, 11, 12: minimumSize = 8
        case 9: minimumSize = 12
        default:
            throw .malformed(
                path: path,
                reason: "array '\(key)' has unknown element type \(elementType), expected 0…12; the file is corrupt")
        }
        let count = try reader.count(
            cap: limits.maxArrayCount, capName: "maxArrayCount", minimumElementSize: minimumSize,
            "element count of array '\(key)'")
        var elements: [GGUFValue] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            elements.append(try readValue(type: elementType, key: key, depth: depth))
        }
        return elements
    }
}
