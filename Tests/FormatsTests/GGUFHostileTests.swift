// Crafted and truncated GGUF files: each must give its specific FormatsError, never a crash, hang or huge allocation.
import Foundation
import TestSupport
import Testing

@testable import Formats

/// Builds GGUF bytes by hand, so a test can write exactly the wrong thing it means to.
struct RawGGUF {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += Array(s.utf8)
    }

    /// Magic, version and counts.
    static func header(version: UInt32 = 3, tensors: UInt64, keyValues: UInt64) -> RawGGUF {
        var g = RawGGUF()
        g.raw(Array("GGUF".utf8))
        g.u32(version)
        g.u64(tensors)
        g.u64(keyValues)
        return g
    }

    /// One tensor-directory entry; `ne` innermost first as in the file.
    mutating func tensor(_ name: String, ne: [UInt64], type: UInt32 = 0, offset: UInt64 = 0) {
        string(name)
        u32(UInt32(ne.count))
        for d in ne { u64(d) }
        u32(type)
        u64(offset)
    }

    mutating func padTo(_ alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
}

private func parse(_ bytes: [UInt8]) throws -> GGUFFile {
    try GGUFFile(mapped: MappedFile(bytes: bytes, path: "hostile.gguf"))
}

/// Asserts that parsing throws `.malformed` whose reason contains `fragment`.
private func expectMalformed(
    _ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        _ = try parse(bytes)
        Issue.record("parsed a hostile file; expected malformed(…\(fragment)…)", sourceLocation: sourceLocation)
    } catch let FormatsError.malformed(path, reason) {
        #expect(path == "hostile.gguf", sourceLocation: sourceLocation)
        #expect(reason.contains(fragment), "reason: \(reason)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected malformed(…\(fragment)…), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Asserts that parsing throws `.truncated` whose `what` contains `fragment`.
private func expectTruncated(
    _ bytes: [UInt8], _ fragment: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        _ = try parse(bytes)
        Issue.record("parsed a truncated file of \(bytes.count) bytes", sourceLocation: sourceLocation)
    } catch let FormatsError.truncated(_, what, needed, available) {
        #expect(what.contains(fragment), "what: \(what)", sourceLocation: sourceLocation)
        #expect(needed > available, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected truncated(…\(fragment)…), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct GGUFHostileTests {
    @Test func wrongMagic() {
        var g = RawGGUF()
        g.raw(Array("PK\u{3}\u{4}".utf8))
        g.u32(3)
        g.u64(0)
        g.u64(0)
        expectMalformed(g.bytes, "not a GGUF file")
        expectMalformed(Array("{\"__metadata__\": {}}".utf8), "not a GGUF file")
    }

    @Test func versionOne() {
        expectMalformed(RawGGUF.header(version: 1, tensors: 0, keyValues: 0).bytes, "version 1 is not supported")
    }

    @Test func unknownVersion() {
        expectMalformed(RawGGUF.header(version: 7, tensors: 0, keyValues: 0).bytes, "unsupported GGUF version 7")
    }

    @Test func bigEndianFile() {
        expectMalformed(RawGGUF.header(version: UInt32(3).byteSwapped, tensors: 0, keyValues: 0).bytes, "big-endian")
    }

    @Test func absurdTensorCount() {
        expectMalformed(RawGGUF.header(tensors: 1 << 60, keyValues: 0).bytes, "tensor count is 1152921504606846976")
    }

    @Test func tensorCountBeyondTheBytesLeft() {
        // Under the cap, but 1000 entries cannot fit in the 8 bytes that follow.
        var g = RawGGUF.header(tensors: 1000, keyValues: 0)
        g.u64(0)
        expectTruncated(g.bytes, "1000 entries of the tensor count")
    }

    @Test func absurdMetadataCount() {
        expectMalformed(RawGGUF.header(tensors: 0, keyValues: UInt64.max).bytes, "metadata count")
    }

    @Test func stringLengthPastEndOfFile() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.string("general.name")
        g.u32(8)
        g.u64(1000)  // a 1000-byte string, but only 5 bytes follow
        g.raw(Array("short".utf8))
        expectTruncated(g.bytes, "string value of 'general.name'")
    }

    @Test func absurdStringLength() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.u64(UInt64.max)  // key length
        g.raw([UInt8](repeating: 0x61, count: 16))
        expectMalformed(g.bytes, "maxStringLength")
    }

    @Test func absurdArrayCount() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.string("tokenizer.ggml.tokens")
        g.u32(9)
        g.u32(8)
        g.u64(1 << 62)
        expectMalformed(g.bytes, "element count of array 'tokenizer.ggml.tokens' is 4611686018427387904")
    }

    @Test func arrayCountBeyondTheBytesLeft() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.string("tokenizer.ggml.scores")
        g.u32(9)
        g.u32(6)
        g.u64(1_000_000)  // a million f32 values need 4 MB; a few bytes follow
        g.u64(0)
        expectTruncated(g.bytes, "element count of array 'tokenizer.ggml.scores'")
    }

    @Test func nestingTooDeep() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.string("deep")
        g.u32(9)
        for _ in 0..<8 {  // arrays of one array, eight levels
            g.u32(9)
            g.u64(1)
        }
        g.u32(0)
        g.u64(0)
        expectMalformed(g.bytes, "nests arrays 5 deep")
    }

    @Test func unknownMetadataValueType() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.string("general.name")
        g.u32(13)
        g.u64(0)
        expectMalformed(g.bytes, "unknown value type 13")
    }

    @Test func unknownArrayElementType() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.string("list")
        g.u32(9)
        g.u32(200)
        g.u64(1)
        expectMalformed(g.bytes, "unknown element type 200")
    }

    @Test func duplicateMetadataKey() {
        var g = RawGGUF.header(tensors: 0, keyValues: 2)
        for _ in 0..<2 {
            g.string("general.name")
            g.u32(4)
            g.u32(1)
        }
        expectMalformed(g.bytes, "metadata key 'general.name' appears twice")
    }

    @Test func alignmentNotAPowerOfTwo() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.string("general.alignment")
        g.u32(4)
        g.u32(48)
        expectMalformed(g.bytes, "general.alignment")
    }

    /// A valid file with one F32 tensor of 32 values at `offset` in a data section of `dataBytes`.
    private func oneTensor(ne: [UInt64] = [32], type: UInt32 = 0, offset: UInt64 = 0, dataBytes: Int = 128) -> [UInt8] {
        var g = RawGGUF.header(tensors: 1, keyValues: 0)
        g.tensor("w", ne: ne, type: type, offset: offset)
        g.padTo(32)
        g.raw([UInt8](repeating: 0, count: dataBytes))
        return g.bytes
    }

    @Test func validBaselineParses() throws {
        let file = try parse(oneTensor())
        #expect(file.tensors.first?.shape == [32])
        #expect(try file.dequantize(file.tensors[0]) == [Float](repeating: 0, count: 32))
    }

    @Test func tensorOffsetOutOfBounds() {
        expectTruncated(oneTensor(offset: 1 << 20), "data of tensor 'w'")
        expectTruncated(oneTensor(offset: UInt64(Int.max) / 32 * 32), "data of tensor 'w'")
        expectTruncated(oneTensor(offset: 96), "data of tensor 'w'")  // 96 + 128 bytes > 128
    }

    @Test func misalignedTensorOffset() {
        expectMalformed(oneTensor(offset: 4), "expected a multiple of the alignment 32")
    }

    @Test func tooManyDimensions() {
        expectMalformed(oneTensor(ne: [32, 1, 1, 1, 1]), "has 5 dimensions, expected 1 to 4")
    }

    @Test func zeroDimensions() {
        var g = RawGGUF.header(tensors: 1, keyValues: 0)
        g.tensor("w", ne: [])
        expectMalformed(g.bytes, "has 0 dimensions")
    }

    @Test func negativeLookingDimension() {
        expectMalformed(oneTensor(ne: [32, UInt64.max]), "dimension 1 of tensor 'w' is -1")
    }

    @Test func zeroDimension() {
        expectMalformed(oneTensor(ne: [32, 0]), "dimension 1 of tensor 'w' is 0")
    }

    @Test func elementCountOverflow() {
        expectMalformed(oneTensor(ne: [1 << 32, 1 << 32]), "more elements than fit in 64 bits")
    }

    @Test func byteCountOverflow() {
        // 2^62 F32 elements fit in Int, their 2^64 bytes do not.
        expectMalformed(oneTensor(ne: [1 << 31, 1 << 31]), "larger than 64-bit offsets allow")
    }

    @Test func rowNotAMultipleOfTheBlockSize() {
        expectMalformed(oneTensor(ne: [33], type: 8), "not a multiple of the Q8_0 block size 32")
    }

    @Test func unknownTensorType() {
        expectMalformed(oneTensor(type: 77), "unknown ggml type id 77")
    }

    @Test func badUTF8InKey() {
        var g = RawGGUF.header(tensors: 0, keyValues: 1)
        g.u64(4)
        g.raw([0x61, 0xF0, 0x9F, 0x98])  // "a" + a 4-byte sequence cut after 3 bytes
        g.u32(4)
        g.u32(1)
        expectMalformed(g.bytes, "metadata key #0 at byte 32 is not valid UTF-8")
    }

    @Test func badUTF8InTensorName() {
        var g = RawGGUF.header(tensors: 1, keyValues: 0)
        g.u64(3)
        g.raw([0xC0, 0xAF, 0x41])  // overlong encoding of "/"
        g.u32(1)
        g.u64(32)
        g.u32(0)
        g.u64(0)
        expectMalformed(g.bytes, "name of tensor #0")
    }

    @Test func duplicateTensorNames() {
        var g = RawGGUF.header(tensors: 2, keyValues: 0)
        g.tensor("blk.0.attn_q.weight", ne: [32])
        g.tensor("blk.0.attn_q.weight", ne: [32], offset: 128)
        g.padTo(32)
        g.raw([UInt8](repeating: 0, count: 256))
        expectMalformed(g.bytes, "tensor name 'blk.0.attn_q.weight' appears twice")
    }

    @Test func emptyFile() {
        expectTruncated([], "magic")
    }

    /// Cuts the real SmolLM2 file at every section boundary and inside each section: header, each metadata pair,
    /// the tensor directory, the padding and the tensor data. Every prefix must give `truncated`.
    @Test func truncatedRealFileAtEverySection() throws {
        let mapped = try MappedFile(url: try TestPaths.require(TestPaths.smolLM2))
        let full = try GGUFFile(mapped: mapped)
        let size = mapped.bytes.count
        var cuts: Set<Int> = [0, 1, 3, 4, 5, 7, 8, 12, 16, 20, 23]  // header: magic, version, counts
        let keyStarts = full.sectionOffsets.keyValues
        let tensorStarts = full.sectionOffsets.tensorInfos
        #expect(keyStarts.count == full.metadataKeys.count)
        #expect(tensorStarts.count == full.tensors.count)
        let boundaries = keyStarts + [tensorStarts[0]]
        for (start, next) in zip(boundaries, boundaries.dropFirst()) {
            // At the pair, inside its key length, in its middle, one byte short of its end.
            cuts.formUnion([start, start + 4, (start + next) / 2, next - 1])
        }
        // Every tensor entry has the same layout; cut a few of them, including the first and the last.
        let count = tensorStarts.count
        for i in [0, 1, count / 2, count - 2, count - 1] {
            let start = tensorStarts[i]
            cuts.formUnion([start, start + 3, start + 10, start + 30])
        }
        let lastTensor = full.tensors[full.tensors.count - 1]
        cuts.formUnion([
            full.dataOffset - 1, full.dataOffset, full.dataOffset + 1000, full.tensors[1].offset + 1,
            lastTensor.offset, size - 1,
        ])
        let sorted = cuts.filter { $0 >= 0 && $0 < size }.sorted()
        #expect(sorted.count > 150)
        for cut in sorted {
            do {
                _ = try GGUFFile(mapped: mapped, limits: .standard, prefixLength: cut)
                Issue.record("a prefix of \(cut) of \(size) bytes parsed")
            } catch let FormatsError.truncated(path, _, needed, available) {
                #expect(path == mapped.path)
                #expect(needed > available, "cut at \(cut)")
            } catch {
                Issue.record("cut at \(cut): expected truncated, got \(error)")
            }
        }
    }
}
