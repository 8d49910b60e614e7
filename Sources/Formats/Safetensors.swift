// Safetensors reader: validates a `.safetensors` header as hostile input and hands out its tensors from a memory map.
//
// Byte layout (all integers little-endian):
//  1. bytes 0..<8        UInt64 N, the length of the JSON header (capped at 100 MB, like the reference crate).
//  2. bytes 8..<8+N      UTF-8 JSON object. Each key is a tensor name mapping to
//                        {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, where the offsets are
//                        relative to the data start 8+N. The optional key "__metadata__" maps to a string → string object.
//                        Writers pad the JSON with trailing spaces so that 8+N is a multiple of 8.
//  3. bytes 8+N..<end    the data buffer: each tensor's elements, row-major, little-endian, packed with no gaps.
//
// What is enforced (matching the `safetensors` crate 0.8, which Python's `safetensors` wraps): the header length fits
// the file; the header is valid UTF-8 and a JSON object; every dtype is known; shapes and offsets are non-negative
// integers (`2.0` and `2e0` are rejected, as serde rejects them); the element count and byte count do not overflow;
// `end - begin` equals dtype size × element count; and the tensors, sorted by offset, tile the data buffer exactly
// (no overlap, no hole, nothing after the last tensor). Stricter than the crate only in rejecting non-integer numbers
// inside unknown extra keys, which no writer produces.
import Foundation

/// An element type of a safetensors tensor, spelled as in the header.
///
/// Declared in the reference crate's order (increasing alignment); `SafetensorsWriter` sorts by it.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL", f4 = "F4", f6E2M3 = "F6_E2M3", f6E3M2 = "F6_E3M2", u8 = "U8", i8 = "I8"
    case f8E5M2 = "F8_E5M2", f8E4M3 = "F8_E4M3", f8E8M0 = "F8_E8M0", f8E4M3FNUZ = "F8_E4M3FNUZ", f8E5M2FNUZ = "F8_E5M2FNUZ"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16", i32 = "I32", u32 = "U32", f32 = "F32", c64 = "C64"
    case f64 = "F64", i64 = "I64", u64 = "U64"

    /// Bits per element; sub-byte types (F4, F6_*) pack several elements per byte.
    public var bitSize: Int {
        switch self {
        case .f4: return 4
        case .f6E2M3, .f6E3M2: return 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// Whole bytes per element; 0 for the sub-byte types, whose sizes come from `byteCount(elements:)`.
    public var byteSize: Int { bitSize % 8 == 0 ? bitSize / 8 : 0 }

    /// Bytes taken by `elements` elements, or nil when that overflows or ends inside a byte.
    public func byteCount(elements: Int) -> Int? {
        let (bits, overflow) = elements.multipliedReportingOverflow(by: bitSize)
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }
}

/// One tensor's entry in a safetensors header, with its data range resolved to absolute file offsets.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The header key, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public let name: String
    /// The element type as declared in the header.
    public let dtype: SafetensorsDType
    /// Row-major, outermost first (as PyTorch's `tensor.shape`).
    public let shape: [Int]
    /// Absolute byte offsets of the tensor's data in the file.
    public let dataRange: Range<Int>
    /// The product of `shape` (1 for a scalar); validated not to overflow when the file was opened.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A validated, memory-mapped `.safetensors` file.
public final class SafetensorsFile: Sendable {
    /// The largest header accepted, as in the reference crate: a bigger one is a corrupt or hostile file.
    public static let maxHeaderLength = 100_000_000

    public let path: String
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Every tensor, sorted by data offset.
    public let tensors: [SafetensorsTensorInfo]
    /// N, the JSON header's length in bytes; the data starts at 8 + N.
    public let headerLength: Int

    private let mapped: MappedFile
    private let indexByName: [String: Int]

    /// Maps and validates the file at `url`. Throws `FormatsError` on any problem.
    public convenience init(url: URL) throws {
        try self.init(mapped: MappedFile(url: url))
    }

    /// Validates an already mapped (or in-memory) file. Throws `FormatsError` on any problem.
    public init(mapped: MappedFile) throws {
        let bytes = mapped.bytes
        let path = mapped.path
        guard bytes.count >= 8 else {
            throw FormatsError.truncated(
                path: path, what: "the safetensors header length", needed: 8, available: bytes.count)
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(Self.maxHeaderLength) else {
            throw FormatsError.malformed(
                path: path,
                reason: "safetensors header length is \(declared) bytes, over the \(Self.maxHeaderLength)-byte cap;"
                    + " the file is not safetensors or is corrupt")
        }
        let headerLength = Int(declared)
        let dataStart = 8 + headerLength
        guard dataStart <= bytes.count else {
            throw FormatsError.truncated(
                path: path, what: "the safetensors JSON header", needed: headerLength, available: bytes.count - 8)
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])
        let raw = try Self.decodeHeader(header, path: path)
        let tensors = try Self.validate(raw.entries, dataLength: bytes.count - dataStart, dataStart: dataStart, path: path)

        self.path = path
        self.mapped = mapped
        self.headerLength = headerLength
        self.metadata = raw.metadata
        self.tensors = tensors
        var index: [String: Int] = [:]
        for (position, tensor) in tensors.enumerated() { index[tensor.name] = position }
        self.indexByName = index
    }

    /// The tensor called `name`, or nil.
    public func tensor(named name: String) -> SafetensorsTensorInfo? {
        indexByName[name].map { tensors[$0] }
    }

    /// The tensor's bytes, straight from the map (valid while this object lives).
    /// `tensor` must come from this file.
    public func rawBytes(of tensor: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        precondition(tensor.dataRange.upperBound <= mapped.bytes.count, "tensor info from another file")
        return UnsafeRawBufferPointer(rebasing: mapped.bytes[tensor.dataRange])
    }

    /// The tensor converted to Float32: F32 as is, F16/BF16 exactly, F64 rounded to nearest.
    /// Throws `unsupportedTensorType` for other dtypes and `tensorNotFound` for an info from another file.
    public func floats(_ tensor: SafetensorsTensorInfo) throws -> [Float] {
        let raw = try checkedBytes(of: tensor)
        let count = tensor.elementCount
        switch tensor.dtype {
        case .f32:
            return Self.convert(raw, count: count, as: UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
        case .f16:
            return Self.convert(raw, count: count, as: UInt16.self) { float16BitsToFloat(UInt16(littleEndian: $0)) }
        case .bf16:
            return Self.convert(raw, count: count, as: UInt16.self) { bfloat16BitsToFloat(UInt16(littleEndian: $0)) }
        case .f64:
            return Self.convert(raw, count: count, as: UInt64.self) {
                Float(Double(bitPattern: UInt64(littleEndian: $0)))
            }
        default:
            throw FormatsError.unsupportedTensorType(path: path, tensor: tensor.name, type: tensor.dtype.rawValue)
        }
    }

    /// The tensor named `name` converted to Float32 (see `floats(_:)`).
    public func floats(named name: String) throws -> [Float] {
        guard let info = tensor(named: name) else { throw FormatsError.tensorNotFound(path: path, tensor: name) }
        return try floats(info)
    }

    /// The tensor widened to Int64: I64, I32, I16, I8, U32, U16, U8 and BOOL (0/1).
    /// Throws `unsupportedTensorType` for floating and U64 tensors.
    public func int64s(_ tensor: SafetensorsTensorInfo) throws -> [Int64] {
        let raw = try checkedBytes(of: tensor)
        let count = tensor.elementCount
        switch tensor.dtype {
        case .i64: return Self.convert(raw, count: count, as: Int64.self) { Int64(littleEndian: $0) }
        case .i32: return Self.convert(raw, count: count, as: Int32.self) { Int64(Int32(littleEndian: $0)) }
        case .i16: return Self.convert(raw, count: count, as: Int16.self) { Int64(Int16(littleEndian: $0)) }
        case .i8: return Self.convert(raw, count: count, as: Int8.self) { Int64($0) }
        case .u32: return Self.convert(raw, count: count, as: UInt32.self) { Int64(UInt32(littleEndian: $0)) }
        case .u16: return Self.convert(raw, count: count, as: UInt16.self) { Int64(UInt16(littleEndian: $0)) }
        case .u8: return Self.convert(raw, count: count, as: UInt8.self) { Int64($0) }
        case .bool: return Self.convert(raw, count: count, as: UInt8.self) { $0 == 0 ? 0 : 1 }
        default:
            throw FormatsError.unsupportedTensorType(path: path, tensor: tensor.name, type: tensor.dtype.rawValue)
        }
    }

    private func checkedBytes(of tensor: SafetensorsTensorInfo) throws -> UnsafeRawBufferPointer {
        guard let position = indexByName[tensor.name], tensors[position] == tensor else {
            throw FormatsError.tensorNotFound(path: path, tensor: tensor.name)
        }
        return rawBytes(of: tensor)
    }

    /// Element-wise conversion with unaligned loads: the data start 8+N need not be aligned in files from other writers.
    private static func convert<Element, Output>(
        _ raw: UnsafeRawBufferPointer, count: Int, as element: Element.Type, _ transform: (Element) -> Output
    ) -> [Output] {
        let stride = MemoryLayout<Element>.size
        return [Output](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                buffer[i] = transform(raw.loadUnaligned(fromByteOffset: i * stride, as: Element.self))
            }
            initialized = count
        }
    }
}

// MARK: - Header decoding

extension SafetensorsFile {
    fileprivate struct RawEntry: Decodable {
        let dtype: String
        let shape: [Int]
        let dataOffsets: [Int]

        enum CodingKeys: String, CodingKey {
            case dtype, shape
            case dataOffsets = "data_offsets"
        }
    }

    fileprivate struct RawHeader: Decodable {
        var metadata: [String: String] = [:]
        var entries: [(name: String, entry: RawEntry)] = []

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: NameKey.self)
            for key in container.allKeys {
                if key.stringValue == "__metadata__" {
                    // The crate accepts `null` here, so do we.
                    metadata = try container.decodeIfPresent([String: String].self, forKey: key) ?? [:]
                } else {
                    entries.append((key.stringValue, try container.decode(RawEntry.self, forKey: key)))
                }
            }
        }
    }

    fileprivate struct NameKey: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    fileprivate static func decodeHeader(_ header: UnsafeRawBufferPointer, path: String) throws -> RawHeader {
        if let offset = firstInvalidUTF8Offset(header) {
            throw FormatsError.malformed(
                path: path,
                reason: "safetensors header is not valid UTF-8 (bad byte at header offset \(offset), file offset"
                    + " \(8 + offset)); the file is corrupt")
        }
        guard let first = header.first(where: { !isJSONWhitespace($0) }) else {
            throw FormatsError.malformed(path: path, reason: "safetensors header is empty; expected a JSON object")
        }
        guard first == UInt8(ascii: "{") else {
            throw FormatsError.malformed(
                path: path,
                reason: "safetensors header JSON is not an object: it starts with '\(UnicodeScalar(first))',"
                    + " expected '{'")
        }
        try checkIntegerLiterals(header, path: path)
        do {
            return try JSONDecoder().decode(RawHeader.self, from: Data(header))
        } catch let error as DecodingError {
            throw FormatsError.malformed(path: path, reason: "safetensors header: \(describe(error))")
        } catch {
            throw FormatsError.malformed(path: path, reason: "safetensors header is not valid JSON: \(error)")
        }
    }

    /// JSONDecoder reads `2.0` and `2e0` as the integer 2; the crate refuses them, so numbers are checked as written.
    /// Also refuses integers beyond Int.max with a clearer message than the decoder's.
    private static func checkIntegerLiterals(_ header: UnsafeRawBufferPointer, path: String) throws {
        var inString = false
        var escaped = false
        var i = 0
        while i < header.count {
            let byte = header[i]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                i += 1
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inString = true
                i += 1
                continue
            }
            guard byte == UInt8(ascii: "-") || isDigit(byte) else {
                i += 1
                continue
            }
            let start = i
            var isInteger = true
            var magnitude: UInt64 = 0
            var tooLarge = false
            while i < header.count, isNumberByte(header[i]) {
                let scalar = header[i]
                if isDigit(scalar) {
                    let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                    let (sum, o2) = times10.addingReportingOverflow(UInt64(scalar - UInt8(ascii: "0")))
                    if o1 || o2 || sum > UInt64(Int.max) { tooLarge = true }
                    magnitude = sum
                } else if scalar != UInt8(ascii: "-") || i != start {
                    isInteger = false
                }
                i += 1
            }
            let literal = String(decoding: UnsafeRawBufferPointer(rebasing: header[start..<i]), as: UTF8.self)
            if !isInteger {
                throw FormatsError.malformed(
                    path: path,
                    reason: "safetensors header has the number \(literal) at header offset \(start);"
                        + " shapes and data_offsets must be plain integers")
            }
            if tooLarge {
                throw FormatsError.malformed(
                    path: path,
                    reason: "safetensors header has the integer \(literal) at header offset \(start),"
                        + " larger than \(Int.max); the file is corrupt")
            }
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func firstInvalidUTF8Offset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func location(_ path: [any CodingKey]) -> String {
            guard let first = path.first else { return "the header" }
            let rest = path.dropFirst().map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return "entry '\(first.stringValue)'\(rest)"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(location(context.codingPath)) should be \(type): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "\(location(context.codingPath)) should be \(type) but is null"
        case .keyNotFound(let key, let context):
            return "\(location(context.codingPath)) lacks the key '\(key.stringValue)'"
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { " (\($0))" } ?? ""
            return "not valid JSON at \(location(context.codingPath)): \(context.debugDescription)\(underlying)"
        @unknown default:
            return "\(error)"
        }
    }

    // MARK: - Entry validation

    fileprivate static func validate(
        _ entries: [(name: String, entry: RawEntry)], dataLength: Int, dataStart: Int, path: String
    ) throws -> [SafetensorsTensorInfo] {
        var checked: [(name: String, dtype: SafetensorsDType, shape: [Int], begin: Int, end: Int)] = []
        checked.reserveCapacity(entries.count)
        for (name, entry) in entries {
            guard let dtype = SafetensorsDType(rawValue: entry.dtype) else {
                throw FormatsError.malformed(
                    path: path,
                    reason: "tensor '\(name)' has unknown dtype '\(entry.dtype)'; expected one of "
                        + SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard entry.dataOffsets.count == 2 else {
                throw FormatsError.malformed(
                    path: path,
                    reason: "tensor '\(name)' has data_offsets \(entry.dataOffsets); expected [begin, end]")
            }
            let (begin, end) = (entry.dataOffsets[0], entry.dataOffsets[1])
            if let negative = entry.shape.first(where: { $0 < 0 }) {
                throw FormatsError.malformed(
                    path: path, reason: "tensor '\(name)' has shape \(entry.shape) with negative dimension \(negative)")
            }
            var elements = 1
            for dimension in entry.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw FormatsError.malformed(
                        path: path, reason: "tensor '\(name)' has shape \(entry.shape), whose element count overflows")
                }
                elements = product
            }
            guard let byteCount = dtype.byteCount(elements: elements) else {
                throw FormatsError.malformed(
                    path: path,
                    reason: "tensor '\(name)': \(elements) elements of \(dtype.rawValue) overflow or do not fill whole bytes")
            }
            guard begin >= 0, end >= begin else {
                throw FormatsError.malformed(
                    path: path, reason: "tensor '\(name)' has data_offsets [\(begin), \(end)]; expected 0 ≤ begin ≤ end")
            }
            guard end - begin == byteCount else {
                throw FormatsError.malformed(
                    path: path,
                    reason: "tensor '\(name)' has data_offsets [\(begin), \(end)] holding \(end - begin) bytes,"
                        + " but \(dtype.rawValue) with shape \(entry.shape) needs \(byteCount)")
            }
            guard end <= dataLength else {
                throw FormatsError.truncated(
                    path: path, what: "the data of tensor '\(name)' (data_offsets [\(begin), \(end)])",
                    needed: end, available: dataLength)
            }
            checked.append((name, dtype, entry.shape, begin, end))
        }
        // Like the crate: sorted by (begin, end), each tensor must start where the previous one ended.
        checked.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        var previous: String?
        for tensor in checked {
            if tensor.begin < covered {
                throw FormatsError.malformed(
                    path: path,
                    reason: "tensor '\(tensor.name)' (bytes \(tensor.begin)..<\(tensor.end)) overlaps tensor"
                        + " '\(previous ?? "")', which ends at \(covered)")
            }
            if tensor.begin > covered {
                throw FormatsError.malformed(
                    path: path,
                    reason: "data bytes \(covered)..<\(tensor.begin) before tensor '\(tensor.name)' belong to no"
                        + " tensor; safetensors data must be contiguous")
            }
            covered = tensor.end
            previous = tensor.name
        }
        if covered != dataLength {
            throw FormatsError.malformed(
                path: path,
                reason: "the data buffer has \(dataLength) bytes but the tensors cover only \(covered);"
                    + " extra bytes at the end mean the header and data disagree")
        }
        return checked.map {
            SafetensorsTensorInfo(
                name: $0.name, dtype: $0.dtype, shape: $0.shape, dataRange: (dataStart + $0.begin)..<(dataStart + $0.end))
        }
    }
}
