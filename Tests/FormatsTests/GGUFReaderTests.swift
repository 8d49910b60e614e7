// The GGUF reader on the real SmolLM2 file, and the writer → reader round trip.
import Foundation
import TestSupport
import Testing

@testable import Formats

@Suite struct GGUFReaderTests {
    @Test func smolLM2Metadata() throws {
        let file = try GGUFFile(url: try TestPaths.require(TestPaths.smolLM2))
        #expect(file.version == 3)
        #expect(file.architecture == "llama")
        #expect(file.metadata["llama.block_count"]?.int == 30)
        #expect(file.metadata["llama.embedding_length"]?.int == 576)
        #expect(file.metadata["llama.attention.head_count"]?.int == 9)
        #expect(file.metadata["llama.attention.head_count_kv"]?.int == 3)
        #expect(file.metadata["llama.feed_forward_length"]?.int == 1536)
        #expect(file.metadata["llama.rope.freq_base"]?.double == 100_000)
        #expect(file.metadata["llama.rope.freq_base"] == .float32(100_000))
        #expect(file.metadata["tokenizer.ggml.model"]?.string == "gpt2")
        #expect(file.metadata["tokenizer.ggml.add_bos_token"]?.bool != nil)
        let tokens = try #require(file.metadata["tokenizer.ggml.tokens"]?.strings)
        #expect(tokens.count == 49152)
        #expect(tokens.first == "<|endoftext|>")
        #expect(file.metadata["tokenizer.ggml.token_type"]?.ints?.count == 49152)
        #expect((file.metadata["tokenizer.ggml.merges"]?.strings?.count ?? 0) > 40_000)
        #expect(file.metadata["tokenizer.chat_template"]?.string?.contains("<|im_start|>") == true)
        #expect(file.metadataKeys.first == "general.architecture")
        #expect(file.metadataKeys.count == file.metadata.count)
        #expect(file.metadataKeys.last == "general.quantization_version")

        #expect(file.tensors.count == 272)
        let byType = Dictionary(grouping: file.tensors, by: \.type).mapValues(\.count)
        #expect(byType == [.q4_1: 210, .f32: 61, .q8_0: 1])
        let embedding = try #require(file.tensor(named: "token_embd.weight"))
        #expect(embedding.shape == [49152, 576])  // ne = [576, 49152] in the file
        #expect(embedding.type == .q8_0)
        #expect(embedding.offset == 1_785_664)  // gguf.GGUFReader's data_offset of this tensor
        #expect(embedding.byteCount == 30_081_024)
        let down = try #require(file.tensor(named: "blk.0.ffn_down.weight"))
        #expect(down.shape == [576, 1536])
        #expect(down.byteCount == 552_960)
        #expect(file.tensor(named: "blk.0.attn_norm.weight")?.shape == [576])
        #expect(file.tensor(named: "output.weight") == nil)  // tied embeddings
        #expect(file.dataOffset % file.alignment == 0)
        #expect(file.tensors.allSatisfy { $0.offset % file.alignment == 0 })
    }

    @Test func parsingTheVocabularyIsQuick() throws {
        let mapped = try MappedFile(url: try TestPaths.require(TestPaths.smolLM2))
        let start = Date()
        _ = try GGUFFile(mapped: mapped)
        let seconds = Date().timeIntervalSince(start)
        // 49152 tokens + 48900 merges; even a debug build must stay well under this.
        #expect(seconds < 5, "parsing took \(seconds) s")
    }

    @Test func writerRoundTrip() throws {
        var writer = GGUFWriter()
        let metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("u8", .uint8(200)), ("i8", .int8(-100)), ("u16", .uint16(60000)), ("i16", .int16(-30000)),
            ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)),
            ("u64", .uint64(UInt64.max)), ("i64", .int64(Int64.min)),
            ("f32", .float32(1.5)), ("f64", .float64(-2.25e300)), ("yes", .bool(true)), ("no", .bool(false)),
            ("text", .string("héllo ▁wörld 🙂")), ("empty", .string("")),
            ("strings", .array([.string("a"), .string("ß"), .string("")])),
            ("ints", .array([.int32(1), .int32(-2), .int32(3)])),
            ("nested", .array([.array([.uint8(1), .uint8(2)]), .array([.string("x")])])),
            ("none", .array([])),
        ]
        for (key, value) in metadata { writer.set(key, value) }
        writer.set("u8", .uint8(201))  // replacing keeps the original position

        let rows = 3, columns = 64
        let values = (0..<(rows * columns)).map { Float(sin(Double($0) * 0.37)) * 2 }
        try writer.addTensor(name: "w.f32", shape: [rows, columns], floats: values, as: .f32)
        try writer.addTensor(name: "w.f16", shape: [rows, columns], floats: values, as: .f16)
        try writer.addTensor(name: "w.q8", shape: [rows, columns], floats: values, as: .q8_0)
        try writer.addTensor(name: "bias", shape: [5], floats: [1, 2, 3, 4, 5], as: .f32)

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-gguf-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        try writer.write(to: url)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
            .filter { $0.hasPrefix(".\(url.lastPathComponent)") }
        #expect(leftovers.isEmpty, "temporary file left behind: \(leftovers)")
        #expect(try Data(contentsOf: url) == Data(try writer.encoded()))

        let file = try GGUFFile(url: url)
        #expect(file.version == 3)
        #expect(file.metadataKeys == metadata.map(\.0))
        for (key, value) in metadata where key != "u8" {
            #expect(file.metadata[key] == value, "\(key)")
        }
        #expect(file.metadata["u8"] == .uint8(201))
        #expect(file.metadata["u64"]?.int == nil)  // does not fit in Int
        #expect(file.metadata["ints"]?.ints == [1, -2, 3])
        #expect(file.metadata["ints"]?.floats == [1, -2, 3])
        #expect(file.metadata["strings"]?.strings == ["a", "ß", ""])
        #expect(file.tensors.map(\.name) == ["w.f32", "w.f16", "w.q8", "bias"])
        #expect(file.tensors.map(\.type) == [.f32, .f16, .q8_0, .f32])

        let f32 = try file.dequantize(try #require(file.tensor(named: "w.f32")))
        #expect(f32 == values)
        #expect(file.tensor(named: "w.f32")?.shape == [rows, columns])
        let f16 = try file.dequantize(try #require(file.tensor(named: "w.f16")))
        #expect(f16 == values.map { float16BitsToFloat(floatToFloat16Bits($0)) })
        let q8 = try file.dequantize(try #require(file.tensor(named: "w.q8")))
        for block in 0..<(values.count / 32) {
            let slice = values[(block * 32)..<(block * 32 + 32)]
            let amax = slice.map(abs).max() ?? 0
            let d = float16BitsToFloat(floatToFloat16Bits(amax / 127))
            for i in slice.indices {
                // Each value is recovered to within half a quantization step (plus f16 rounding of d).
                #expect(abs(q8[i] - values[i]) <= d * 0.5 + amax * 1e-3)
            }
        }
        #expect(try file.dequantize(try #require(file.tensor(named: "bias"))) == [1, 2, 3, 4, 5])
    }

    @Test func versionTwoReadsLikeVersionThree() throws {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("qwen2"))
        try writer.addTensor(name: "w", shape: [32], floats: (0..<32).map(Float.init), as: .f32)
        var bytes = try writer.encoded()
        bytes[4] = 2  // the version's low byte; v2 and v3 share the layout (v3 only allowed big-endian files)
        let file = try GGUFFile(mapped: MappedFile(bytes: bytes))
        #expect(file.version == 2)
        #expect(file.architecture == "qwen2")
        #expect(try file.dequantize(file.tensors[0]) == (0..<32).map(Float.init))
    }

    @Test func q8_0QuantizationMatchesGGMLReference() throws {
        // Expected bytes from gguf.quants.quantize (bit-exact with ggml's quantize_row_q8_0_ref): amax = 2.54 →
        // d = 0.02, q = round(x / d) with halves away from zero.
        var block = [Float](repeating: 0, count: 32)
        block[0] = 2.54
        block[1] = -1.27
        block[2] = 0.01  // x / d is exactly 0.5 in Float32: rounds away from zero to 1
        block[3] = -0.03  // −1.5 → −2
        let bytes = GGUFWriter.quantizeQ8_0(block)
        #expect(bytes.count == 34)
        let d = float16BitsToFloat(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        #expect(d == float16BitsToFloat(floatToFloat16Bits(Float(2.54) / 127)))
        let q = bytes[2...].map { Int8(bitPattern: $0) }
        #expect(Array(q[0..<4]) == [127, -64, 1, -2])
        #expect(q[4...].allSatisfy { $0 == 0 })
    }

    @Test func customAlignmentIsRecordedAndHonoured() throws {
        var writer = try GGUFWriter(alignment: 64)
        writer.set("general.name", .string("aligned"))
        try writer.addTensor(name: "a", shape: [32], floats: Array(repeating: 1, count: 32), as: .f16)
        try writer.addTensor(name: "b", shape: [32], floats: Array(repeating: 2, count: 32), as: .f32)
        let file = try GGUFFile(mapped: MappedFile(bytes: try writer.encoded()))
        #expect(file.alignment == 64)
        #expect(file.metadata["general.alignment"] == .uint32(64))
        #expect(file.dataOffset % 64 == 0)
        #expect(file.tensors.allSatisfy { $0.offset % 64 == 0 })
        #expect(try file.dequantize(file.tensors[1]) == Array(repeating: 2, count: 32))
        #expect(throws: FormatsError.self) { try GGUFWriter(alignment: 48) }
    }

    @Test func unsupportedTypeNamesTensorAndType() throws {
        var writer = GGUFWriter()
        // IQ4_NL: a real ggml type with a known block size (32 values in 18 bytes) that Tailor does not dequantize.
        try writer.addTensor(name: "blk.0.attn_q.weight", shape: [2, 32], type: .iq4_nl, bytes: [UInt8](repeating: 0, count: 36))
        let file = try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "iq.gguf"))
        let tensor = try #require(file.tensor(named: "blk.0.attn_q.weight"))
        #expect(tensor.byteCount == 36)
        #expect(throws: FormatsError.unsupportedTensorType(path: "iq.gguf", tensor: "blk.0.attn_q.weight", type: "IQ4_NL")) {
            try file.dequantize(tensor)
        }
        #expect(GGMLType(rawValue: 99).name == "type 99")
        #expect(GGMLType(rawValue: 99).blockSize == nil)
    }

    @Test func writerRejectsBadInput() throws {
        var writer = GGUFWriter()
        try writer.addTensor(name: "x", shape: [32], floats: Array(repeating: 0, count: 32), as: .f32)
        #expect(throws: FormatsError.self) {
            try writer.addTensor(name: "x", shape: [32], floats: Array(repeating: 0, count: 32), as: .f32)
        }
        #expect(throws: FormatsError.self) {
            try writer.addTensor(name: "y", shape: [2, 16], floats: Array(repeating: 0, count: 32), as: .q8_0)
        }
        #expect(throws: FormatsError.self) {
            try writer.addTensor(name: "z", shape: [31], floats: Array(repeating: 0, count: 32), as: .f32)
        }
        writer.set("mixed", .array([.uint8(1), .string("a")]))
        #expect(throws: FormatsError.self) { try writer.encoded() }
    }
}
