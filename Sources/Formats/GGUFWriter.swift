// GGUF writer: ordered metadata and F32 / F16 / Q8_0 tensors, written atomically (layout in GGUF.swift).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Builds a GGUF version 3 file: metadata in insertion order, tensors in insertion order, each aligned.
public struct GGUFWriter: Sendable {
    /// How `addTensor(name:shape:floats:as:)` stores values.
    public enum Encoding: Sendable {
        case f32, f16
        /// ggml's `quantize_row_q8_0_ref`: per 32 values d = max|x| / 127, q = round(x / d) (half away from zero).
        case q8_0

        var type: GGMLType {
            switch self {
            case .f32: return .f32
            case .f16: return .f16
            case .q8_0: return .q8_0
            }
        }
    }

    private struct PendingTensor: Sendable {
        var name: String
        var shape: [Int]
        var type: GGMLType
        var bytes: [UInt8]
    }

    /// Metadata in the order it will be written.
    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    private var tensors: [PendingTensor] = []
    private var tensorNames: Set<String> = []

    /// Alignment of the data section and tensor offsets; a value other than 32 is recorded as `general.alignment`.
    public let alignment: Int

    /// A writer with the default alignment of 32.
    public init() {
        alignment = 32
    }

    /// `alignment` must be a power of two (GGUF's rule).
    public init(alignment: Int) throws {
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= 1 << 30 else {
            throw FormatsError.malformed(
                path: "<GGUF writer>", reason: "alignment \(alignment) is not a power of two; use 32 (the default)")
        }
        self.alignment = alignment
        if alignment != 32 { metadata.append((key: "general.alignment", value: .uint32(UInt32(alignment)))) }
    }

    /// Sets `key`, keeping its original position when it was set before.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) {
            metadata[i].value = value
        } else {
            metadata.append((key: key, value: value))
        }
    }

    /// Adds a tensor of row-major `shape` (outermost first) from Float32 values, stored as `encoding`.
    public mutating func addTensor(name: String, shape: [Int], floats: [Float], as encoding: Encoding) throws {
        try checkTensor(name: name, shape: shape, type: encoding.type, elementCount: floats.count)
        var bytes: [UInt8]
        switch encoding {
        case .f32:
            bytes = [UInt8](repeating: 0, count: floats.count * 4)
            bytes.withUnsafeMutableBytes { raw in
                for (i, value) in floats.enumerated() {
                    raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                }
            }
        case .f16:
            bytes = [UInt8](repeating: 0, count: floats.count * 2)
            bytes.withUnsafeMutableBytes { raw in
                for (i, value) in floats.enumerated() {
                    raw.storeBytes(of: floatToFloat16Bits(value).littleEndian, toByteOffset: i * 2, as: UInt16.self)
                }
            }
        case .q8_0:
            bytes = Self.quantizeQ8_0(floats)
        }
        append(PendingTensor(name: name, shape: shape, type: encoding.type, bytes: bytes))
    }

    /// Adds a tensor whose bytes are already encoded as `type` (any ggml type with a known block size).
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType, bytes: [UInt8]) throws {
        let elements = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        try checkTensor(name: name, shape: shape, type: type, elementCount: elements)
        guard let blockSize = type.blockSize, let typeSize = type.typeSize,
            elements / blockSize * typeSize == bytes.count
        else {
            throw FormatsError.malformed(
                path: "<GGUF writer>",
                reason: "tensor '\(name)' of shape \(shape) as \(type.name) needs"
                    + " \(type.blockSize.map { "\(elements / $0 * (type.typeSize ?? 0))" } ?? "?") bytes, got \(bytes.count)")
        }
        append(PendingTensor(name: name, shape: shape, type: type, bytes: bytes))
    }

    private mutating func append(_ tensor: PendingTensor) {
        tensors.append(tensor)
        tensorNames.insert(tensor.name)
    }

    private func checkTensor(name: String, shape: [Int], type: GGMLType, elementCount: Int) throws {
        guard !tensorNames.contains(name) else {
            throw FormatsError.malformed(path: "<GGUF writer>", reason: "tensor '\(name)' is added twice")
        }
        guard (1...4).contains(shape.count), shape.allSatisfy({ $0 > 0 }) else {
            throw FormatsError.malformed(
                path: "<GGUF writer>", reason: "tensor '\(name)' has shape \(shape); expected 1 to 4 positive dimensions")
        }
        var product = 1
        for dimension in shape {
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw FormatsError.malformed(path: "<GGUF writer>", reason: "tensor '\(name)' has too many elements")
            }
            product = next
        }
        guard product == elementCount else {
            throw FormatsError.malformed(
                path: "<GGUF writer>", reason: "tensor '\(name)' has shape \(shape) (\(product) values) but \(elementCount) values")
        }
        guard let blockSize = type.blockSize, let last = shape.last, last % blockSize == 0 else {
            throw FormatsError.malformed(
                path: "<GGUF writer>",
                reason: "tensor '\(name)' has rows of \(shape.last ?? 0) values; \(type.name) needs a multiple of"
                    + " \(type.blockSize ?? 0)")
        }
    }

    /// ggml's reference Q8_0 quantizer, block by block.
    static func quantizeQ8_0(_ x: [Float]) -> [UInt8] {
        let blocks = x.count / 32
        var bytes = [UInt8](repeating: 0, count: blocks * 34)
        bytes.withUnsafeMutableBytes { raw in
            for b in 0..<blocks {
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(x[b * 32 + j])) }
                let d = amax / 127
                let inverse: Float = d != 0 ? 1 / d : 0
                raw.storeBytes(of: floatToFloat16Bits(d).littleEndian, toByteOffset: b * 34, as: UInt16.self)
                for j in 0..<32 {
                    let q = (x[b * 32 + j] * inverse).rounded(.toNearestOrAwayFromZero)
                    raw.storeBytes(of: Int8(clamping: Int(q)), toByteOffset: b * 34 + 2 + j, as: Int8.self)
                }
            }
        }
        return bytes
    }

    /// The whole file as bytes (tests, fuzz corpora; `write(to:)` streams instead).
    public func encoded() throws -> [UInt8] {
        var out = try header()
        for tensor in tensors {
            out += tensor.bytes
            out += [UInt8](repeating: 0, count: padding(out.count))
        }
        return out
    }

    /// Writes the file atomically: to a temporary file beside `url`, then renamed over it.
    public func write(to url: URL) throws {
        let headerBytes = try header()
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw FormatsError.io(path: url.path, reason: "cannot create \(temporary.path); check that the folder exists and is writable")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: headerBytes)
            var written = headerBytes.count
            for tensor in tensors {
                try handle.write(contentsOf: tensor.bytes)
                written += tensor.bytes.count
                let pad = padding(written)
                if pad > 0 { try handle.write(contentsOf: [UInt8](repeating: 0, count: pad)) }
                written += pad
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FormatsError.io(path: url.path, reason: "writing failed: \(error)")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw FormatsError.io(path: url.path, reason: "cannot move the finished file into place: \(reason)")
        }
    }

    private func padding(_ size: Int) -> Int {
        (alignment - size % alignment) % alignment
    }

    /// Magic, version, counts, metadata, tensor directory and the padding before the data section.
    private func header() throws -> [UInt8] {
        var out: [UInt8] = [0x47, 0x47, 0x55, 0x46]
        out.appendLE(UInt32(3))
        out.appendLE(UInt64(tensors.count))
        out.appendLE(UInt64(metadata.count))
        for (key, value) in metadata {
            out.appendString(key)
            out.appendLE(value.typeID)
            try Self.encode(value, key: key, into: &out)
        }
        var offset = 0
        for tensor in tensors {
            out.appendString(tensor.name)
            out.appendLE(UInt32(tensor.shape.count))
            // GGUF wants ne[] innermost first: the reverse of Tailor's row-major shape.
            for dimension in tensor.shape.reversed() { out.appendLE(UInt64(dimension)) }
            out.appendLE(tensor.type.rawValue)
            out.appendLE(UInt64(offset))
            offset += tensor.bytes.count + padding(tensor.bytes.count)
        }
        out += [UInt8](repeating: 0, count: padding(out.count))
        return out
    }

    private static func encode(_ value: GGUFValue, key: String, into out: inout [UInt8]) throws {
        switch value {
        case .uint8(let v): out.append(v)
        case .int8(let v): out.append(UInt8(bitPattern: v))
        case .uint16(let v): out.appendLE(v)
        case .int16(let v): out.appendLE(v)
        case .uint32(let v): out.appendLE(v)
        case .int32(let v): out.appendLE(v)
        case .uint64(let v): out.appendLE(v)
        case .int64(let v): out.appendLE(v)
        case .float32(let v): out.appendLE(v.bitPattern)
        case .float64(let v): out.appendLE(v.bitPattern)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let v): out.appendString(v)
        case .array(let elements):
            // GGUF arrays are homogeneous; an empty array is written with element type u8.
            let elementType = elements.first?.typeID ?? 0
            guard elements.allSatisfy({ $0.typeID == elementType }) else {
                throw FormatsError.malformed(
                    path: "<GGUF writer>", reason: "metadata '\(key)' mixes value types in one array; GGUF arrays hold one type")
            }
            out.appendLE(elementType)
            out.appendLE(UInt64(elements.count))
            for element in elements { try encode(element, key: key, into: &out) }
        }
    }
}

extension [UInt8] {
    fileprivate mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    fileprivate mutating func appendString(_ s: String) {
        let utf8 = Array(s.utf8)
        appendLE(UInt64(utf8.count))
        append(contentsOf: utf8)
    }
}
