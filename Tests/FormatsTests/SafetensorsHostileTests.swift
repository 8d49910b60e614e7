// Hostile and corrupt safetensors files: each must be refused with a typed error that says what is wrong.
import Foundation
import Testing

@testable import Formats

@Suite struct SafetensorsHostileTests {
    private let u8One = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#

    @Test func fileShorterThanTheLengthPrefix() {
        let error = safetensorsOpenError([1, 0, 0])
        #expect(
            error as? FormatsError
                == .truncated(path: "hostile.safetensors", what: "the safetensors header length", needed: 8, available: 3))
    }

    @Test func headerLengthPastEndOfFile() {
        let bytes = safetensorsBytes(u8One, data: [0], declaredLength: 1000)
        let error = safetensorsOpenError(bytes)
        #expect(
            error as? FormatsError
                == .truncated(
                    path: "hostile.safetensors", what: "the safetensors JSON header", needed: 1000,
                    available: bytes.count - 8))
    }

    @Test func absurdHeaderLength() {
        expectMalformed(safetensorsBytes(u8One, data: [0], declaredLength: 1 << 63), containing: "over the 100000000-byte cap")
        expectMalformed(safetensorsBytes(u8One, declaredLength: UInt64.max), containing: "18446744073709551615 bytes")
    }

    @Test func headerNotJSON() {
        expectMalformed(safetensorsBytes(#"{"a": {"dtype": "U8",,}"#), containing: "not valid JSON")
        expectMalformed(safetensorsBytes(#"{"a":1}"# + "\0\0"), containing: "not valid JSON")
        expectMalformed(safetensorsBytes(""), containing: "header is empty")
    }

    @Test func headerJSONNotAnObject() {
        expectMalformed(safetensorsBytes("[1, 2]"), containing: "not an object: it starts with '['")
        expectMalformed(safetensorsBytes(#""text""#), containing: "not an object")
        expectMalformed(safetensorsBytes(#"{"a": [1]}"#), containing: "entry 'a'")
    }

    @Test func unknownDType() {
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
            containing: "unknown dtype 'Q4_K'")
    }

    @Test func offsetsOutOfBounds() {
        let bytes = safetensorsBytes(#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#, data: [1, 2])
        let error = safetensorsOpenError(bytes)
        guard case FormatsError.truncated(_, let what, let needed, let available)? = error else {
            Issue.record("expected truncated, got \(String(describing: error))")
            return
        }
        #expect(what.contains("tensor 'a'"))
        #expect(needed == 4 && available == 2)
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}}"#, data: [1, 2]),
            containing: "expected 0 ≤ begin ≤ end")
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}"#, data: [1]),
            containing: "expected 0 ≤ begin ≤ end")
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}"#, data: [1]),
            containing: "expected [begin, end]")
    }

    @Test func overlappingTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#
        expectMalformed(safetensorsBytes(header, data: [UInt8](repeating: 0, count: 6)), containing: "overlaps tensor 'a'")
        let same = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#
        expectMalformed(safetensorsBytes(same, data: [UInt8](repeating: 0, count: 4)), containing: "overlaps tensor 'a'")
    }

    @Test func holesAndTrailingBytes() {
        let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        expectMalformed(safetensorsBytes(gap, data: [UInt8](repeating: 0, count: 12)), containing: "data bytes 4..<8")
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [0, 0]),
            containing: "data bytes 0..<1")
        expectMalformed(safetensorsBytes(u8One, data: [0, 0, 0]), containing: "tensors cover only 1")
    }

    @Test func byteLengthDiffersFromDTypeTimesShape() {
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
            containing: "holding 4 bytes, but F32 with shape [2] needs 8")
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, data: [0, 0]),
            containing: "do not fill whole bytes")
    }

    @Test func shapeProductOverflow() {
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#),
            containing: "element count overflows")
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}"#),
            containing: "overflow or do not fill whole bytes")
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[18446744073709551617],"data_offsets":[0,0]}}"#),
            containing: "larger than 9223372036854775807")
    }

    @Test func negativeDimensions() {
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[-1,-1],"data_offsets":[0,1]}}"#, data: [0]),
            containing: "negative dimension -1")
    }

    @Test func nonIntegerNumbers() {
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}"#, data: [0]),
            containing: "the number 1.0")
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1e0]}}"#, data: [0]),
            containing: "the number 1e0")
    }

    @Test func badUTF8InTensorName() {
        var header = Array(#"{"ab":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#.utf8)
        header[3] = 0xFF
        expectMalformed(safetensorsBytes(headerBytes: header, data: [0]), containing: "not valid UTF-8 (bad byte at header offset 3")
        let overlong: [UInt8] = Array(#"{"a"#.utf8) + [0xC0, 0xAF] + Array(#"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#.utf8)
        expectMalformed(safetensorsBytes(headerBytes: overlong, data: [0]), containing: "not valid UTF-8")
        expectMalformed(
            safetensorsBytes(#"{"\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
            containing: "not valid JSON")
    }

    @Test func wrongJSONTypesInsideEntries() {
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","data_offsets":[0,1]}}"#, data: [0]), containing: "lacks the key 'shape'")
        expectMalformed(
            safetensorsBytes(#"{"a":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}"#, data: [0]),
            containing: "entry 'a'.shape[0]")
        expectMalformed(safetensorsBytes(#"{"__metadata__":{"k":1}}"#), containing: "entry '__metadata__'.k")
    }
}
