// A bounds-checked little-endian cursor over untrusted bytes: every read is checked before it happens.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caps on what a file may announce, so a crafted header cannot make a parser allocate, loop or recurse without bound.
///
/// A count or length is always checked twice: against its cap here, and against the bytes actually left in the file.
public struct ByteReaderLimits: Sendable, Equatable {
    /// Longest string accepted (bytes). Chat templates are the longest real strings, a few tens of KiB.
    public var maxStringLength: Int
    /// Most elements in one metadata array. Real vocabularies hold up to a few hundred thousand tokens.
    public var maxArrayCount: Int
    /// Deepest nesting of arrays inside arrays (an array of scalars has depth 1).
    public var maxNestingDepth: Int
    /// Most tensors in one file.
    public var maxTensorCount: Int
    /// Most metadata key–value pairs in one file.
    public var maxMetadataCount: Int
    /// Most dimensions of one tensor (ggml's GGML_MAX_DIMS).
    public var maxDimensions: Int

    /// Limits generous enough for every real model and small enough to stop a hostile file early.
    public static let standard = ByteReaderLimits(
        maxStringLength: 1 << 24, maxArrayCount: 1 << 24, maxNestingDepth: 4,
        maxTensorCount: 1 << 20, maxMetadataCount: 1 << 20, maxDimensions: 4)

    public init(
        maxStringLength: Int, maxArrayCount: Int, maxNestingDepth: Int,
        maxTensorCount: Int, maxMetadataCount: Int, maxDimensions: Int
    ) {
        self.maxStringLength = maxStringLength
        self.maxArrayCount = maxArrayCount
        self.maxNestingDepth = maxNestingDepth
        self.maxTensorCount = maxTensorCount
        self.maxMetadataCount = maxMetadataCount
        self.maxDimensions = maxDimensions
    }
}

/// Reads little-endian scalars and length-prefixed strings from a byte buffer, throwing `FormatsError` instead of
/// reading past the end. Not `Sendable`: it borrows the buffer of the `MappedFile` it was made from.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var position: Int

    init(_ bytes: UnsafeRawBufferPointer, path: String, position: Int = 0) {
        self.bytes = bytes
        self.path = path
        self.position = position
    }

    /// Bytes between the cursor and the end of the buffer.
    var remaining: Int { bytes.count - position }

    /// Throws `truncated` unless `count` more bytes are available; `what` names the structure for the message.
    func need(_ count: Int, _ what: @autoclosure () -> String) throws(FormatsError) {
        guard count >= 0, count <= remaining else {
            throw .truncated(path: path, what: what(), needed: count, available: remaining)
        }
    }

    mutating func skip(_ count: Int, _ what: @autoclosure () -> String) throws(FormatsError) {
        try need(count, what())
        position += count
    }

    /// Moves the cursor to `offset`, which must lie within the buffer (the end included).
    mutating func seek(to offset: Int, _ what: @autoclosure () -> String) throws(FormatsError) {
        guard offset >= 0, offset <= bytes.count else {
            throw .truncated(path: path, what: what(), needed: offset, available: bytes.count)
        }
        position = offset
    }

    @inline(__always)
    private mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(FormatsError) -> T {
        try need(MemoryLayout<T>.size, what())
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func u8(_ what: @autoclosure () -> String) throws(FormatsError) -> UInt8 { try load(UInt8.self, what()) }
    mutating func i8(_ what: @autoclosure () -> String) throws(FormatsError) -> Int8 { try load(Int8.self, what()) }
    mutating func u16(_ what: @autoclosure () -> String) throws(FormatsError) -> UInt16 { try load(UInt16.self, what()) }
    mutating func i16(_ what: @autoclosure () -> String) throws(FormatsError) -> Int16 { try load(Int16.self, what()) }
    mutating func u32(_ what: @autoclosure () -> String) throws(FormatsError) -> UInt32 { try load(UInt32.self, what()) }
    mutating func i32(_ what: @autoclosure () -> String) throws(FormatsError) -> Int32 { try load(Int32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws(FormatsError) -> UInt64 { try load(UInt64.self, what()) }
    mutating func i64(_ what: @autoclosure () -> String) throws(FormatsError) -> Int64 { try load(Int64.self, what()) }
    mutating func f32(_ what: @autoclosure () -> String) throws(FormatsError) -> Float {
        Float(bitPattern: try load(UInt32.self, what()))
    }
    mutating func f64(_ what: @autoclosure () -> String) throws(FormatsError) -> Double {
        Double(bitPattern: try load(UInt64.self, what()))
    }

    /// Reads a u64 count and checks it against `cap` and against the bytes left, assuming each element takes at
    /// least `minimumElementSize` bytes, so no caller ever reserves memory for elements that cannot be there.
    mutating func count(
        cap: Int, capName: String, minimumElementSize: Int, _ what: @autoclosure () -> String
    ) throws(FormatsError) -> Int {
        let raw = try u64(what())
        guard raw <= UInt64(cap) else {
            throw .malformed(
                path: path,
                reason: "\(what()) is \(raw), over the limit of \(cap) (\(capName)); the file is corrupt or not a model file")
        }
        let count = Int(raw)
        let (minimumBytes, overflow) = count.multipliedReportingOverflow(by: minimumElementSize)
        if overflow || minimumBytes > remaining {
            throw .truncated(
                path: path, what: "\(count) entries of \(what())", needed: overflow ? Int.max : minimumBytes,
                available: remaining)
        }
        return count
    }

    /// Reads a u64 byte length and that many bytes of UTF-8. Invalid UTF-8 is an error, never silently replaced.
    mutating func string(maxLength: Int, _ what: @autoclosure () -> String) throws(FormatsError) -> String {
        let raw = try u64("length of \(what())")
        guard raw <= UInt64(maxLength) else {
            throw .malformed(
                path: path,
                reason: "length of \(what()) is \(raw) bytes, over the limit of \(maxLength) (maxStringLength);"
                    + " the file is corrupt")
        }
        let length = Int(raw)
        try need(length, what())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)])
        guard let text = decodeUTF8(slice) else {
            throw .malformed(path: path, reason: "\(what()) at byte \(position) is not valid UTF-8")
        }
        position += length
        return text
    }
}

/// Decodes strictly: `String(decoding:)` repairs bad bytes with U+FFFD, so the result is accepted only when its
/// UTF-8 is byte-for-byte the input. (Pure ASCII, the common case in vocabularies, skips the comparison.)
func decodeUTF8(_ raw: UnsafeRawBufferPointer) -> String? {
    let units = raw.assumingMemoryBound(to: UInt8.self)
    var ascii = true
    for byte in units where byte >= 0x80 {
        ascii = false
        break
    }
    let text = String(decoding: units, as: UTF8.self)
    if ascii { return text }
    var copy = text
    let same = copy.withUTF8 { decoded -> Bool in
        guard decoded.count == units.count else { return false }
        guard let left = decoded.baseAddress, let right = units.baseAddress else { return true }
        return memcmp(left, right, units.count) == 0
    }
    return same ? text : nil
}
