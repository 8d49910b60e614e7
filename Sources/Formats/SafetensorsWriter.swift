// Safetensors writer: named tensors + `__metadata__` → a file the reference `safetensors` library reads back byte for byte.
//
// Output layout (see Safetensors.swift for the format): 8-byte N, then compact JSON padded with spaces so that 8+N is a
// multiple of 8, then the tensors' bytes back to back. Tensors are ordered as the reference crate orders them (by dtype,
// widest alignment first, then by name as UTF-8 bytes), so every tensor starts at a multiple of its element size and a
// file with the same content is byte-identical to one written by Python's `safetensors.torch.save_file` (given at most
// one metadata key: the crate writes a hash map, whose order is not stable; we sort keys).
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Collects tensors and metadata, then writes a `.safetensors` file atomically.
///
/// `add` never fails; problems (a shape that does not match the values, a repeated name) are reported by `write(to:)`
/// or `serialized()` as `FormatsError.malformed`, naming the tensor.
public struct SafetensorsWriter: Sendable {
    /// Written as `__metadata__` (string → string), keys sorted.
    public var metadata: [String: String]

    private struct Entry: Sendable {
        let name: String
        let dtype: SafetensorsDType
        let shape: [Int]
        let bytes: [UInt8]
        let problem: String?
    }

    private var entries: [Entry] = []

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds Float32 values stored as F32, F16 or BF16 (rounded to nearest even), or F64.
    public mutating func add(name: String, shape: [Int], floats: [Float], as dtype: SafetensorsDType = .f32) {
        var problem: String? = Self.countProblem(shape: shape, count: floats.count)
        var bytes: [UInt8] = []
        switch dtype {
        case .f32: bytes = Self.littleEndianBytes(floats) { $0.bitPattern }
        case .f16: bytes = Self.littleEndianBytes(floats) { floatToFloat16Bits($0) }
        case .bf16: bytes = Self.littleEndianBytes(floats) { floatToBFloat16Bits($0) }
        case .f64: bytes = Self.littleEndianBytes(floats) { Double($0).bitPattern }
        default: problem = problem ?? "floats cannot be stored as \(dtype.rawValue); use F32, F16, BF16 or F64"
        }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes, problem: problem))
    }

    /// Adds Int64 values stored as I64.
    public mutating func add(name: String, shape: [Int], int64s: [Int64]) {
        let problem = Self.countProblem(shape: shape, count: int64s.count)
        let bytes = Self.littleEndianBytes(int64s) { UInt64(bitPattern: $0) }
        entries.append(Entry(name: name, dtype: .i64, shape: shape, bytes: bytes, problem: problem))
    }

    /// Adds raw little-endian element bytes of any dtype.
    public mutating func add(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) {
        var problem: String?
        if let elements = Self.elementCount(shape) {
            if let needed = dtype.byteCount(elements: elements), needed == bytes.count {
                problem = nil
            } else {
                problem = "\(bytes.count) bytes given for \(dtype.rawValue) with shape \(shape)"
            }
        } else {
            problem = "shape \(shape) has a negative dimension or overflows"
        }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes, problem: problem))
    }

    /// The whole file in memory.
    public func serialized() throws -> [UInt8] {
        let (header, ordered) = try prepare(path: "<memory>")
        var out = header
        for entry in ordered { out += entry.bytes }
        return out
    }

    /// Writes the file atomically: a temporary file in the same folder, flushed, then renamed over `url`.
    public func write(to url: URL) throws {
        let (header, ordered) = try prepare(path: url.path)
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw FormatsError.io(
                path: url.path, reason: "cannot create a temporary file in \(folder.path); check that the folder"
                    + " exists and is writable")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            do {
                try handle.write(contentsOf: header)
                for entry in ordered where !entry.bytes.isEmpty { try handle.write(contentsOf: entry.bytes) }
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
            guard rename(temporary.path, url.path) == 0 else {
                throw FormatsError.io(path: url.path, reason: "cannot rename the temporary file into place: "
                    + String(cString: strerror(errno)))
            }
        } catch let error as FormatsError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FormatsError.io(path: url.path, reason: "writing failed: \(error.localizedDescription)")
        }
    }

    // MARK: - Layout

    /// Validates the entries and returns the 8-byte length + padded JSON header, and the entries in file order.
    private func prepare(path: String) throws -> (header: [UInt8], ordered: [Entry]) {
        var seen = Set<String>()
        for entry in entries {
            if let problem = entry.problem {
                throw FormatsError.malformed(path: path, reason: "cannot write tensor '\(entry.name)': \(problem)")
            }
            if entry.name == "__metadata__" {
                throw FormatsError.malformed(
                    path: path, reason: "a tensor cannot be named '__metadata__'; that key holds the file's metadata")
            }
            guard seen.insert(entry.name).inserted else {
                throw FormatsError.malformed(path: path, reason: "tensor '\(entry.name)' was added twice")
            }
        }
        let rank = Dictionary(uniqueKeysWithValues: SafetensorsDType.allCases.enumerated().map { ($1, $0) })
        let ordered = entries.sorted { left, right in
            let (l, r) = (rank[left.dtype] ?? 0, rank[right.dtype] ?? 0)
            if l != r { return l > r }
            return Array(left.name.utf8).lexicographicallyPrecedes(Array(right.name.utf8))
        }

        var json = "{"
        var first = true
        if !metadata.isEmpty {
            let pairs = metadata.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            json += "\"__metadata__\":{"
                + pairs.map { "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))" }.joined(separator: ",") + "}"
            first = false
        }
        var offset = 0
        for entry in ordered {
            if !first { json += "," }
            first = false
            let shape = entry.shape.map(String.init).joined(separator: ",")
            json += "\(JSONText.quoted(entry.name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}"
            offset += entry.bytes.count
        }
        json += "}"
        var headerJSON = Array(json.utf8)
        // Spaces, as the reference writer pads, so the data start 8+N is 8-aligned.
        headerJSON += [UInt8](repeating: 0x20, count: (8 - headerJSON.count % 8) % 8)
        guard headerJSON.count <= SafetensorsFile.maxHeaderLength else {
            throw FormatsError.malformed(
                path: path, reason: "the header would be \(headerJSON.count) bytes, over the"
                    + " \(SafetensorsFile.maxHeaderLength)-byte cap readers enforce; use fewer tensors per file")
        }
        let length = UInt64(headerJSON.count)
        let prefix = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
        return (prefix + headerJSON, ordered)
    }

    private static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    private static func countProblem(shape: [Int], count: Int) -> String? {
        guard let elements = elementCount(shape) else {
            return "shape \(shape) has a negative dimension or overflows"
        }
        return elements == count ? nil : "shape \(shape) holds \(elements) elements but \(count) values were given"
    }

    private static func littleEndianBytes<Value, Bits: FixedWidthInteger>(
        _ values: [Value], _ bits: (Value) -> Bits
    ) -> [UInt8] {
        let size = MemoryLayout<Bits>.size
        return [UInt8](unsafeUninitializedCapacity: values.count * size) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            for (i, value) in values.enumerated() {
                raw.storeBytes(of: bits(value).littleEndian, toByteOffset: i * size, as: Bits.self)
            }
            initialized = values.count * size
        }
    }
}
