import Formats
// Loading tiny GGUF and safetensors models written here: names, shapes, tying, Q/K row order, and the errors.
import Foundation
import Testing

@testable import Models

/// Deterministic, RNG-free weights: tensor `k` holds sin(0.1·i + k).
func fixedWeights(_ config: ModelConfig) -> [(expected: ExpectedTensor, values: [Float])] {
    WeightNames.expectedTensors(for: config).enumerated().map { k, expected in
        (expected, (0..<expected.shape.reduce(1, *)).map { sin(0.1 * Float($0) + Float(k)) })
    }
}

/// A fresh empty folder under the temporary directory.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(
        "tailor-models-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A GGUF writer holding `config`'s hyper-parameters under llama.cpp's key names, with no tensors yet.
func tinyGGUFMetadata(_ config: ModelConfig) -> GGUFWriter {
    var writer = GGUFWriter()
    let a = config.architecture.rawValue
    writer.set("general.architecture", .string(a))
    writer.set("\(a).block_count", .uint32(UInt32(config.layerCount)))
    writer.set("\(a).context_length", .uint32(UInt32(config.maxPositionEmbeddings)))
    writer.set("\(a).embedding_length", .uint32(UInt32(config.hiddenSize)))
    writer.set("\(a).feed_forward_length", .uint32(UInt32(config.intermediateSize)))
    writer.set("\(a).attention.head_count", .uint32(UInt32(config.headCount)))
    writer.set("\(a).attention.head_count_kv", .uint32(UInt32(config.kvHeadCount)))
    writer.set("\(a).attention.key_length", .uint32(UInt32(config.headDim)))
    writer.set("\(a).rope.freq_base", .float32(config.ropeTheta))
    writer.set("\(a).attention.layer_norm_rms_epsilon", .float32(config.rmsNormEps))
    writer.set("\(a).vocab_size", .uint32(UInt32(config.vocabSize)))
    if let bos = config.bosTokenId { writer.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos))) }
    if let eos = config.eosTokenIds.first { writer.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos))) }
    return writer
}

/// Writes a tiny GGUF with `config`'s metadata.
///
/// `transform` may change a tensor's stored values, for example to permute q/k.
func tinyGGUF(
    _ config: ModelConfig, skip: String? = nil, reshape: [String: [Int]] = [:],
    transform: (ExpectedTensor, [Float]) -> [Float] = { $1 }
) throws -> GGUFFile {
    var writer = tinyGGUFMetadata(config)
    for (expected, values) in fixedWeights(config) where expected.ggufName != skip {
        try writer.addTensor(
            name: expected.ggufName, shape: reshape[expected.ggufName] ?? expected.shape,
            floats: transform(expected, values), as: .f32)
    }
    return try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "tiny.gguf"))
}

/// Writes config.json and model.safetensors for `config` into a new folder.
func tinyHuggingFaceFolder(_ config: ModelConfig, configJSON: String, skip: String? = nil) throws -> URL {
    let folder = try temporaryFolder()
    try Data(configJSON.utf8).write(to: folder.appendingPathComponent("config.json"))
    var writer = SafetensorsWriter()
    for (expected, values) in fixedWeights(config) where expected.huggingFaceName != skip {
        // Norms in F32, the rest in BF16 as most checkpoints ship.
        let dtype: SafetensorsDType = expected.shape.count == 1 ? .f32 : .bf16
        writer.add(name: expected.huggingFaceName, shape: expected.shape, floats: values, as: dtype)
    }
    try writer.write(to: folder.appendingPathComponent("model.safetensors"))
    return folder
}

@Suite struct WeightLoaderTests {
    static let llama = WeightNamesTests.tiny

    @Test func llamaGGUFGetsHuggingFaceRowOrderBack() throws {
        let file = try tinyGGUF(Self.llama) { expected, values in
            // Store q/k the way llama.cpp's converter does: per head, HF rows 0,2,1,3.
            switch expected.role {
            case .query, .key:
                let rows = expected.shape[0], heads = rows / 4
                var out: [Float] = []
                for h in 0..<heads {
                    for r in [0, 2, 1, 3] { out += values[((h * 4 + r) * 8)..<((h * 4 + r + 1) * 8)] }
                }
                return out
            default:
                return values
            }
        }
        let weights = try ModelWeights.load(gguf: file)
        #expect(!weights.tied && weights.config == Self.llama)
        for (expected, values) in fixedWeights(Self.llama) {
            let loaded = try weights.tensor(expected.huggingFaceName)
            #expect(loaded.shape == expected.shape && loaded.values == values, "\(expected.huggingFaceName)")
        }
    }

    @Test func llamaQueryKeyRowsMoveWholeInQuantizedStorage() throws {
        // hidden 256: Q8_0 rows of whole blocks; q has 4 heads of 64 rows, k 2.
        var config = Self.llama
        config.hiddenSize = 256
        config.intermediateSize = 256
        config.headCount = 4
        config.kvHeadCount = 2
        config.headDim = 64
        var writer = tinyGGUFMetadata(config)
        for (k, expected) in WeightNames.expectedTensors(for: config).enumerated() {
            let count = expected.shape.reduce(1, *)
            let values = (0..<count).map { Float(0.1 * sin(0.37 * Double($0) + Double(k))) }
            try writer.addTensor(
                name: expected.ggufName, shape: expected.shape, floats: values,
                as: expected.shape.count == 2 ? .q8_0 : .f32)
        }
        let file = try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "tiny-q8.gguf"))
        let weights = try ModelWeights.load(gguf: file)
        for role in [WeightRole.query, .key] {
            let expected = try #require(WeightNames.expectedTensors(for: config).first { $0.role == role })
            let info = try #require(file.tensor(named: expected.ggufName))
            let reference = QueryKeyPermutation.ggufToHuggingFace(
                try file.dequantize(info), rows: expected.shape[0], columns: expected.shape[1],
                heads: role == .query ? config.headCount : config.kvHeadCount)
            let loaded = try weights.tensor(role, layer: 0)
            #expect(loaded.storedType == "Q8_0")
            #expect(loaded.values == reference, "\(role)")
        }
    }

    @Test func qwen2GGUFIsNotPermutedAndCarriesBiases() throws {
        var qwen = Self.llama
        qwen.architecture = .qwen2
        qwen.attentionBias = true
        qwen.tieWordEmbeddings = true
        let file = try tinyGGUF(qwen)
        let weights = try ModelWeights.load(gguf: file)
        #expect(weights.tied && weights.config.attentionBias)
        for (expected, values) in fixedWeights(qwen) {
            #expect(
                try weights.tensor(expected.huggingFaceName).values == values, "\(expected.huggingFaceName)")
        }
        #expect(try weights.tensor(.outputHead) == weights.tensor(.tokenEmbedding))
        #expect(weights.tensors["lm_head.weight"] == nil)
    }

    @Test func ggufErrorsNameTheTensor() throws {
        let missing = try tinyGGUF(Self.llama, skip: "blk.1.ffn_up.weight")
        #expect(
            throws: ModelsError.missingTensor(
                path: "tiny.gguf", tensor: "blk.1.ffn_up.weight (model.layers.1.mlp.up_proj.weight)")
        ) {
            try ModelWeights.load(gguf: missing)
        }
        let wrong = try tinyGGUF(Self.llama, reshape: ["blk.0.attn_k.weight": [8, 4]])
        let error = ModelsError.shapeMismatch(
            path: "tiny.gguf", tensor: "blk.0.attn_k.weight", expected: [4, 8], found: [8, 4])
        #expect(throws: error) { try ModelWeights.load(gguf: wrong) }
        #expect(
            error.description
                == "tiny.gguf: tensor 'blk.0.attn_k.weight' has shape [8, 4], expected [4, 8] from the configuration;"
                + " the weights and config.json belong to different models")
    }

    static let qwen3JSON = """
        {"model_type":"qwen3","hidden_size":8,"intermediate_size":12,"num_hidden_layers":2,"num_attention_heads":2,
         "num_key_value_heads":1,"head_dim":6,"vocab_size":10,"rms_norm_eps":1e-6,"rope_theta":1000000,
         "tie_word_embeddings":true,"max_position_embeddings":64,"eos_token_id":2}
        """

    @Test func huggingFaceFolderLoadsBFloat16AndTiesTheHead() throws {
        let config = try ModelConfig.fromHuggingFace(
            configJSON: Data(Self.qwen3JSON.utf8), path: "config.json")
        #expect(config.headDim == 6 && config.qkNorm)
        let folder = try tinyHuggingFaceFolder(config, configJSON: Self.qwen3JSON)
        defer { try? FileManager.default.removeItem(at: folder) }
        let weights = try ModelWeights.load(from: folder)
        #expect(weights.tied)
        for (expected, values) in fixedWeights(config) {
            let loaded = try weights.tensor(expected.huggingFaceName)
            // BF16 keeps 8 significant bits: |error| ≤ 2⁻⁹ of the value for values in [-1, 1].
            let rounded = values.map {
                expected.shape.count == 1 ? $0 : bfloat16BitsToFloat(floatToBFloat16Bits($0))
            }
            #expect(loaded.values == rounded, "\(expected.huggingFaceName)")
        }
        #expect(try weights.tensor("model.layers.1.self_attn.k_norm.weight").shape == [6])
        #expect(try weights.tensor(.query, layer: 1).shape == [12, 8])
    }

    @Test func huggingFaceFolderMissingTensorIsNamed() throws {
        let config = try ModelConfig.fromHuggingFace(
            configJSON: Data(Self.qwen3JSON.utf8), path: "config.json")
        let folder = try tinyHuggingFaceFolder(
            config, configJSON: Self.qwen3JSON, skip: "model.layers.1.self_attn.q_norm.weight")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(
            throws: ModelsError.missingTensor(
                path: folder.path, tensor: "model.layers.1.self_attn.q_norm.weight")
        ) {
            try ModelWeights.load(huggingFaceFolder: folder)
        }
        let inspection = try ModelInspection(url: folder)
        #expect(
            inspection.trainable == .no(reason: "missing tensors: model.layers.1.self_attn.q_norm.weight"))
    }
}
