// SafetensorsFile against files written by the reference `safetensors` library, and valid edge cases it accepts.
import Foundation
import Testing

@testable import Formats

@Suite struct SafetensorsReaderTests {
    private func checkFixture(_ name: String) throws {
        let expected = try #require(try SafetensorsFixtures.expected()[name], "expected.json lacks \(name)")
        let file = try SafetensorsFile(url: SafetensorsFixtures.folder.appendingPathComponent(name))
        #expect(file.metadata == expected.metadata)
        try SafetensorsFixtures.check(
            expected, names: file.tensors.map(\.name),
            dtype: { file.tensor(named: $0)?.dtype }, shape: { file.tensor(named: $0)?.shape },
            floats: { try file.floats(named: $0) },
            int64s: { name in try file.int64s(#require(file.tensor(named: name))) })
    }

    @Test func readsNumpyWrittenFileWithEveryCommonDType() throws {
        try checkFixture("mixed.safetensors")
    }

    @Test func readsTorchWrittenBFloat16File() throws {
        try checkFixture("bf16.safetensors")
    }

    @Test func tensorsAreSortedByOffsetAndTileTheData() throws {
        let file = try SafetensorsFile(url: SafetensorsFixtures.folder.appendingPathComponent("mixed.safetensors"))
        let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int
        #expect(file.headerLength % 8 == 0)
        var next = 8 + file.headerLength
        for tensor in file.tensors {
            #expect(tensor.dataRange.lowerBound == next, "\(tensor.name) starts where the previous ended")
            #expect(tensor.dataRange.count == tensor.dtype.byteCount(elements: tensor.elementCount))
            #expect(file.rawBytes(of: tensor).count == tensor.dataRange.count)
            next = tensor.dataRange.upperBound
        }
        #expect(next == size)
        #expect(file.tensor(named: "scalar")?.shape == [])
        #expect(file.tensor(named: "scalar")?.elementCount == 1)
        #expect(file.tensor(named: "empty")?.elementCount == 0)
        #expect(file.tensor(named: "missing") == nil)
    }

    @Test func conversionsRefuseOtherDTypesAndForeignInfos() throws {
        let file = try SafetensorsFile(url: SafetensorsFixtures.folder.appendingPathComponent("mixed.safetensors"))
        let ids = try #require(file.tensor(named: "ids.i64"))
        #expect(throws: FormatsError.unsupportedTensorType(path: file.path, tensor: "ids.i64", type: "I64")) {
            try file.floats(ids)
        }
        let weights = try #require(file.tensor(named: "model.embed.weight"))
        #expect(throws: FormatsError.unsupportedTensorType(path: file.path, tensor: "model.embed.weight", type: "F32")) {
            try file.int64s(weights)
        }
        #expect(throws: FormatsError.tensorNotFound(path: file.path, tensor: "nope")) { try file.floats(named: "nope") }
        let foreign = SafetensorsTensorInfo(name: "model.embed.weight", dtype: .f32, shape: [1], dataRange: 0..<4)
        #expect(throws: FormatsError.tensorNotFound(path: file.path, tensor: "model.embed.weight")) {
            try file.floats(foreign)
        }
    }

    @Test func readsUnalignedDataFromAnUnpaddedHeader() throws {
        // 1.5 and -2.0 as F32, 1.0 as F16, after a header padded to an odd length so the F32 data is misaligned.
        var header = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[1],"data_offsets":[8,10]}}"#
        if header.utf8.count % 2 == 0 { header += " " }
        let data: [UInt8] = [0, 0, 0xC0, 0x3F, 0, 0, 0, 0xC0, 0x00, 0x3C]
        let file = try SafetensorsFile(mapped: MappedFile(bytes: safetensorsBytes(header, data: data)))
        #expect((8 + file.headerLength) % 4 != 0)
        #expect(try file.floats(named: "x") == [1.5, -2.0])
        #expect(try file.floats(named: "h") == [1.0])
    }

    @Test func acceptsWhatTheReferenceCrateAccepts() throws {
        // Leading whitespace, null metadata, unknown extra keys, zero-size tensors sharing an offset, no tensors.
        let header = #"  {"__metadata__":null,"z":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"extra":"x"},"#
            + #""b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},"e":{"dtype":"F32","shape":[3,0],"data_offsets":[2,2]}}"#
        let file = try SafetensorsFile(mapped: MappedFile(bytes: safetensorsBytes(header, data: [1, 0])))
        #expect(file.metadata.isEmpty)
        #expect(file.tensors.map(\.name) == ["z", "b", "e"])
        #expect(try file.int64s(#require(file.tensor(named: "b"))) == [1, 0])
        let empty = try SafetensorsFile(mapped: MappedFile(bytes: safetensorsBytes("{}      ")))
        #expect(empty.tensors.isEmpty)
        let packed = #"{"q":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}"#
        #expect(try SafetensorsFile(mapped: MappedFile(bytes: safetensorsBytes(packed, data: [0, 0]))).tensors.count == 1)
    }

    @Test func escapedAndNonASCIINamesDecode() throws {
        let header = #"{"a\"b\\c\u00e9":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"ключ":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
        let file = try SafetensorsFile(mapped: MappedFile(bytes: safetensorsBytes(header, data: [0xFF, 7])))
        #expect(try file.int64s(#require(file.tensor(named: "a\"b\\cé"))) == [-1])
        #expect(try file.int64s(#require(file.tensor(named: "ключ"))) == [7])
    }
}
