import Formats
// Inspecting the real SmolLM2 GGUF, a vocabulary-only GGUF, and HF folders; numbers from the Python gguf package.
import Foundation
import TestSupport
import Testing

@testable import Models

@Suite struct ModelInspectionTests {
    @Test func smolLM2IsTrainableQ4_1() throws {
        let inspection = try ModelInspection(url: try TestPaths.require(TestPaths.smolLM2))
        #expect(inspection.format == .gguf && inspection.architectureName == "llama")
        #expect(
            inspection.trainable == .yes && inspection.config?.layerCount == 30
                && inspection.configProblem == nil)
        #expect(inspection.dominantType == "Q4_1")
        #expect(inspection.tokenizer == .gguf("gpt2") && inspection.hasChatTemplate)
        // gguf.GGUFReader: per type (count, n_elements, n_bytes).
        #expect(
            inspection.tensorTypes == [
                .init(type: "Q4_1", count: 210, elements: 106_168_320, bytes: 66_355_200),
                .init(type: "Q8_0", count: 1, elements: 28_311_552, bytes: 30_081_024),
                .init(type: "F32", count: 61, elements: 35_136, bytes: 140_544),
            ])
        #expect(inspection.parameterCount == 134_515_008 && inspection.totalBytes == 96_576_768)
    }

    @Test func vocabularyOnlyGGUFIsNotTrainable() throws {
        let url = try TestPaths.require(
            TestPaths.assets.appendingPathComponent("vocab/ggml-vocab-llama-bpe.gguf"))
        let inspection = try ModelInspection(url: url)
        #expect(inspection.config?.vocabSize == 128256 && inspection.config?.ropeTheta == 500_000)
        #expect(
            inspection.trainable == .no(reason: "vocabulary-only GGUF: it holds a tokenizer but no weights"))
        #expect(
            inspection.tensorTypes.isEmpty && inspection.parameterCount == 0 && inspection.dominantType == nil
        )
        #expect(inspection.tokenizer == .gguf("gpt2") && !inspection.hasChatTemplate)
    }

    @Test func unsupportedArchitectureGivesTheReason() throws {
        // A mixture-of-experts encoder: one line saying the architecture is not one Tailor trains.
        let url = try TestPaths.require(
            TestPaths.assets.appendingPathComponent("vocab/ggml-vocab-nomic-bert-moe.gguf"))
        let inspection = try ModelInspection(url: url)
        #expect(inspection.config == nil && inspection.architectureName == "nomic-bert-moe")
        #expect(
            inspection.trainable
                == .no(
                    reason:
                        "\(url.path): unsupported architecture nomic-bert-moe; supported: llama, mistral, qwen2, qwen3,"
                        + " gemma2, gemma3, granite, phi3, phi")
        )
        #expect(inspection.tokenizer == .gguf("t5"))
    }

    @Test func phi3VocabularyGGUFIsRecognisedButHasNoWeights() throws {
        let url = try TestPaths.require(
            TestPaths.assets.appendingPathComponent("vocab/ggml-vocab-phi-3.gguf"))
        let inspection = try ModelInspection(url: url)
        #expect(inspection.config?.architecture == .phi3)
        #expect(inspection.trainable == .no(reason: "vocabulary-only GGUF: it holds a tokenizer but no weights"))
    }

    @Test func unsupportedQuantTypeIsNamed() throws {
        var writer = GGUFWriter()
        let config = WeightNamesTests.tiny
        writer.set("general.architecture", .string("llama"))
        for (key, value) in [
            ("block_count", 2), ("context_length", 64), ("embedding_length", 8), ("feed_forward_length", 12),
            ("attention.head_count", 2), ("attention.head_count_kv", 1), ("vocab_size", 10),
        ] {
            writer.set("llama.\(key)", .uint32(UInt32(value)))
        }
        writer.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
        for (expected, values) in fixedWeights(config) where expected.ggufName != "blk.1.ffn_down.weight" {
            try writer.addTensor(name: expected.ggufName, shape: expected.shape, floats: values, as: .f32)
        }
        // I32 is a valid ggml type with the right size, but not one Tailor dequantizes.
        try writer.addTensor(
            name: "blk.1.ffn_down.weight", shape: [8, 12], type: .i32,
            bytes: [UInt8](repeating: 0, count: 8 * 12 * 4))
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("i32.gguf")
        try writer.write(to: url)
        let inspection = try ModelInspection(url: url)
        #expect(
            inspection.trainable
                == .no(reason: "tensor blk.1.ffn_down.weight has type I32, which Tailor cannot dequantize"))
        #expect(inspection.dominantType == "F32" && inspection.tensorTypes.map(\.type) == ["F32", "I32"])
        #expect(throws: ModelsError.self) { try ModelWeights.load(from: url) }
    }

    @Test func huggingFaceFolderSummary() throws {
        let config = try ModelConfig.fromHuggingFace(
            configJSON: Data(WeightLoaderTests.qwen3JSON.utf8), path: "config.json")
        let folder = try tinyHuggingFaceFolder(config, configJSON: WeightLoaderTests.qwen3JSON)
        defer { try? FileManager.default.removeItem(at: folder) }
        var inspection = try ModelInspection(url: folder)
        #expect(inspection.format == .huggingFace && inspection.architectureName == "qwen3")
        #expect(inspection.trainable == .yes && inspection.dominantType == "BF16")
        #expect(inspection.tokenizer == .none && !inspection.hasChatTemplate)
        #expect(inspection.parameterCount == config.parameterCount)
        let bf16 = inspection.tensorTypes.first { $0.type == "BF16" }
        #expect(bf16?.bytes == 2 * (bf16?.elements ?? 0))

        try Data(#"{"model":{"type":"BPE","vocab":{},"merges":[]}}"#.utf8)
            .write(to: folder.appendingPathComponent("tokenizer.json"))
        try Data(#"{"chat_template":"{{ messages }}"}"#.utf8)
            .write(to: folder.appendingPathComponent("tokenizer_config.json"))
        inspection = try ModelInspection(url: folder)
        #expect(inspection.tokenizer == .tokenizerJSON("BPE") && inspection.hasChatTemplate)
    }

    @Test func unreadableWeightsAreTheReason() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(WeightLoaderTests.qwen3JSON.utf8).write(to: folder.appendingPathComponent("config.json"))
        try Data([1, 2, 3]).write(to: folder.appendingPathComponent("model.safetensors"))
        let inspection = try ModelInspection(url: folder)
        guard case .no(let reason) = inspection.trainable else {
            Issue.record("a 3-byte model.safetensors was called trainable")
            return
        }
        #expect(reason.hasPrefix(folder.appendingPathComponent("model.safetensors").path))
        #expect(inspection.config?.qkNorm == true)
    }

    @Test func notAModel() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(
            throws: ModelsError.notAModel(path: folder.path, reason: "the folder has no readable config.json")
        ) {
            try ModelInspection(url: folder)
        }
    }
}
