// GGUF LoRA adapters and merged models: metadata llama.cpp checks, tensor shapes, the llama q/k row permutation, W + s·B·A.
import Foundation
import Formats
import Testing

@testable import Models

enum ExportFixtures {
    static func config(_ architecture: Architecture, tied: Bool = true) -> ModelConfig {
        let gemma = architecture == .gemma2 || architecture == .gemma3
        let gemma3 = architecture == .gemma3, gemma2 = architecture == .gemma2, granite = architecture == .granite
        let phi3 = architecture == .phi3
        return ModelConfig(
            architecture: architecture, hiddenSize: 16, intermediateSize: 24, layerCount: 2, headCount: 4,
            kvHeadCount: 2, headDim: 4, vocabSize: 40, rmsNormEps: 1e-5, ropeTheta: gemma3 ? 1_000_000 : 10_000,
            ropeScaling: nil, maxPositionEmbeddings: 64, tieWordEmbeddings: tied,
            attentionBias: architecture == .qwen2 || architecture == .phi,
            qkNorm: architecture == .qwen3 || gemma3, bosTokenId: 1, eosTokenIds: [2],
            attentionScale: gemma ? 0.5 : (granite ? 0.0625 : nil),
            embeddingMultiplier: gemma ? 4 : (granite ? 12 : 1), slidingWindow: gemma ? 3 : nil,
            slidingLayers: gemma ? [true, false] : [], localRopeTheta: gemma3 ? 10_000 : nil,
            attentionSoftCap: gemma2 ? 50 : nil, finalSoftCap: gemma2 ? 30 : nil,
            residualMultiplier: granite ? 0.25 : 1, logitsScaling: granite ? 8 : 1, partialRotaryFactor: phi3 ? 0.5 : 1)
    }

    /// Deterministic, distinct values for every LoRA parameter (B non-zero, so merging changes weights).
    static func lora(_ model: ModelConfig, rank: Int = 2, alpha: Float = 8, rsLoRA: Bool = false) -> LoRAParameters {
        let lora = LoRAParameters(
            model: model, config: LoRAConfig(rank: rank, alpha: alpha, useRSLoRA: rsLoRA))
        for i in 0..<lora.count { lora.values.pointer[i] = Float(sin(0.7 * Double(i) + 0.3)) * 0.2 }
        return lora
    }

    static func weights(_ config: ModelConfig) -> ModelWeights {
        var tensors: [String: WeightTensor] = [:]
        for (k, entry) in WeightNames.expectedTensors(for: config).enumerated() {
            let count = entry.shape.reduce(1, *)
            let values = (0..<count).map { Float(0.3 * cos(1.1 * Double(k) + 0.41 * Double($0))) }
            tensors[entry.huggingFaceName] = WeightTensor(shape: entry.shape, values: values)
        }
        return ModelWeights(config: config, path: "tiny", tensors: tensors)
    }

    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tailor-export-\(UUID().uuidString)-\(name)")
    }
}

@Suite struct GGUFAdapterExportTests {
    /// Writes the adapter for `config` and reads it back with the GGUF reader.
    func roundTrip(_ config: ModelConfig, lora: LoRAParameters, architecture: String? = nil) throws -> GGUFFile {
        let url = ExportFixtures.temporary("adapter.gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        try AdapterExport.writeGGUFAdapter(
            lora: lora, model: config, architecture: architecture, name: "tiny-run", to: url)
        // Map into memory before the file is removed.
        let bytes = try Data(contentsOf: url)
        return try GGUFFile(mapped: MappedFile(bytes: [UInt8](bytes), path: url.path))
    }

    @Test func metadataIsWhatLlamaCppChecks() throws {
        let config = ExportFixtures.config(.llama)
        let file = try roundTrip(config, lora: ExportFixtures.lora(config, rank: 2, alpha: 8))
        #expect(file.metadata["general.type"] == .string("adapter"))
        #expect(file.metadata["adapter.type"] == .string("lora"))
        #expect(file.metadata["general.architecture"] == .string("llama"))
        #expect(file.metadata["general.name"] == .string("tiny-run"))
        #expect(file.metadata["adapter.lora.alpha"] == .float32(8))
    }

    @Test func rsLoRAAlphaMakesLlamaCppScaleEqualPEFTs() throws {
        let config = ExportFixtures.config(.qwen2)
        let lora = ExportFixtures.lora(config, rank: 4, alpha: 8, rsLoRA: true)
        let file = try roundTrip(config, lora: lora)
        let alpha = try #require(file.metadata["adapter.lora.alpha"]?.double)
        #expect(alpha == 16)  // 8·√4
        // llama.cpp: scale = alpha / r with r = ne[0] of lora_b.
        let rank = try #require(file.tensor(named: "blk.0.attn_q.weight.lora_b")).shape[1]
        #expect(Float(alpha) / Float(rank) == lora.config.scale)
        #expect(file.metadata["general.architecture"] == .string("qwen2"))
    }

    @Test func baseArchitectureNameWins() throws {
        let config = ExportFixtures.config(.mistral)
        let file = try roundTrip(config, lora: ExportFixtures.lora(config), architecture: "llama")
        #expect(file.metadata["general.architecture"] == .string("llama"))
        #expect(AdapterExport.ggufArchitectureName(.mistral) == "llama")
        #expect(AdapterExport.ggufArchitectureName(.qwen3) == "qwen3")
    }

    @Test func tensorNamesShapesAndTypes() throws {
        let config = ExportFixtures.config(.llama)
        let lora = ExportFixtures.lora(config, rank: 3)
        let file = try roundTrip(config, lora: lora)
        #expect(file.tensors.count == config.layerCount * LoRATarget.allCases.count * 2)
        let ggufNames: [LoRATarget: String] = [
            .q: "attn_q", .k: "attn_k", .v: "attn_v", .o: "attn_output", .gate: "ffn_gate", .up: "ffn_up",
            .down: "ffn_down",
        ]
        for slot in lora.slots {
            let stem = "blk.\(slot.layer).\(ggufNames[slot.target] ?? "?").weight"
            let a = try #require(file.tensor(named: stem + ".lora_a"))
            let b = try #require(file.tensor(named: stem + ".lora_b"))
            // Row-major shapes: A [r, in] is GGUF ne [in, r]; B [out, r] is ne [r, out].
            #expect(a.shape == [3, slot.inFeatures])
            #expect(b.shape == [slot.outFeatures, 3])
            #expect(a.type == .f32 && b.type == .f32)
        }
    }

    /// Values of `slot`'s A and B in the file and in `lora`.
    func values(_ file: GGUFFile, _ lora: LoRAParameters, layer: Int, target: LoRATarget, stem: String) throws
        -> (fileA: [Float], fileB: [Float], a: [Float], b: [Float])
    {
        let slot = try #require(lora.slot(layer: layer, target: target))
        let r = lora.config.rank
        let flat = lora.values.array
        return (
            try file.dequantize(try #require(file.tensor(named: "blk.\(layer).\(stem).weight.lora_a"))),
            try file.dequantize(try #require(file.tensor(named: "blk.\(layer).\(stem).weight.lora_b"))),
            Array(flat[slot.offsetA..<(slot.offsetA + r * slot.inFeatures)]),
            Array(flat[slot.offsetB..<(slot.offsetB + slot.outFeatures * r)])
        )
    }

    @Test func llamaPermutesOnlyQueryAndKeyB() throws {
        let config = ExportFixtures.config(.llama)
        let lora = ExportFixtures.lora(config, rank: 2)
        let file = try roundTrip(config, lora: lora)
        let r = 2
        for (target, stem, heads) in [(LoRATarget.q, "attn_q", 4), (.k, "attn_k", 2)] {
            let v = try values(file, lora, layer: 1, target: target, stem: stem)
            #expect(v.fileA == v.a)
            #expect(v.fileB != v.b)
            // convert_hf_to_gguf.py's permute: reshape(heads, 2, D/2, r).swapaxes(1, 2): GGUF row h·D + 2j + s
            // holds HF row h·D + s·D/2 + j.
            let rows = v.b.count / r, d = rows / heads
            for h in 0..<heads {
                for s in 0..<2 {
                    for j in 0..<(d / 2) {
                        let ggufRow = h * d + 2 * j + s, hfRow = h * d + s * (d / 2) + j
                        #expect(Array(v.fileB[(ggufRow * r)..<(ggufRow * r + r)]) == Array(v.b[(hfRow * r)..<(hfRow * r + r)]))
                    }
                }
            }
            // Loading undoes it exactly.
            #expect(QueryKeyPermutation.ggufToHuggingFace(v.fileB, rows: rows, columns: r, heads: heads) == v.b)
        }
        for (target, stem) in [(LoRATarget.v, "attn_v"), (.o, "attn_output"), (.down, "ffn_down")] {
            let v = try values(file, lora, layer: 0, target: target, stem: stem)
            #expect(v.fileA == v.a)
            #expect(v.fileB == v.b)
        }
    }

    @Test func qwenKeepsBUnchanged() throws {
        let config = ExportFixtures.config(.qwen3)
        let lora = ExportFixtures.lora(config, rank: 2)
        let file = try roundTrip(config, lora: lora)
        for (target, stem) in [(LoRATarget.q, "attn_q"), (.k, "attn_k")] {
            let v = try values(file, lora, layer: 0, target: target, stem: stem)
            #expect(v.fileA == v.a)
            #expect(v.fileB == v.b)
        }
    }
}

@Suite struct MergedModelTests {
    @Test func mergedWeightsEqualWPlusScaledBA() throws {
        for rsLoRA in [false, true] {
            let config = ExportFixtures.config(.llama, tied: false)
            let base = ExportFixtures.weights(config)
            let lora = ExportFixtures.lora(config, rank: 3, alpha: 6, rsLoRA: rsLoRA)
            let merged = try MergedModel.merge(base, lora: lora)
            let s = rsLoRA ? 6 / sqrt(3.0) : 2.0
            let flat = lora.values.array
            for slot in lora.slots {
                let name = WeightNames.huggingFaceName(slot.target.role, layer: slot.layer, architecture: config.architecture)
                let w = try base.tensor(name).values, m = try merged.tensor(name).values
                var worst = 0.0
                for o in 0..<slot.outFeatures {
                    for i in 0..<slot.inFeatures {
                        var delta = 0.0
                        for k in 0..<3 {
                            delta += Double(flat[slot.offsetB + o * 3 + k]) * Double(flat[slot.offsetA + k * slot.inFeatures + i])
                        }
                        let expected = Double(w[o * slot.inFeatures + i]) + s * delta
                        worst = max(worst, abs(expected - Double(m[o * slot.inFeatures + i])))
                    }
                }
                #expect(worst < 1e-6, "\(name): max error \(worst)")
            }
            // Weights LoRA does not touch are unchanged.
            for name in ["model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "lm_head.weight"] {
                #expect(try merged.tensor(name) == base.tensor(name))
            }
        }
    }

    @Test func configJSONRoundTrips() throws {
        for architecture in Architecture.allCases {
            for tied in [false, true] {
                var config = ExportFixtures.config(architecture, tied: tied)
                if architecture == .llama { config.ropeScaling = .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositionEmbeddings: 32) }
                if architecture == .phi3 {
                    config.ropeScaling = .longRoPE(
                        short: [1.5], long: [3], originalMaxPositionEmbeddings: 32, attentionFactor: 1.25)
                    config.slidingWindow = 3
                    config.slidingLayers = [true, true]
                }
                config.eosTokenIds = tied ? [2] : [2, 7]
                let data = try MergedModel.huggingFaceConfigJSON(config, dtype: "bfloat16")
                #expect(try ModelConfig.fromHuggingFace(configJSON: data, path: "config.json") == config)
                let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                #expect(object["torch_dtype"] as? String == "bfloat16")
                // transformers 5 types config fields: a float written as 30 is refused, an int written as 24.0 too.
                let text = String(decoding: data, as: UTF8.self)
                let floats = [
                    "rope_theta", "rms_norm_eps", "attn_logit_softcapping", "final_logit_softcapping",
                    "embedding_multiplier", "residual_multiplier", "attention_multiplier", "logits_scaling",
                    "partial_rotary_factor", "rope_local_base_freq", "layer_norm_eps",
                ]
                for key in floats where object[key] is NSNumber {
                    #expect(text.range(of: "\"\(key)\": -?[0-9]+[,\n]", options: .regularExpression) == nil,
                            "\(architecture) \(key) written as an integer")
                }
                for key in ["query_pre_attn_scalar", "max_position_embeddings", "sliding_window"] where object[key] is NSNumber {
                    #expect(text.range(of: "\"\(key)\": [0-9]+[,\n]", options: .regularExpression) != nil,
                            "\(architecture) \(key) not written as an integer")
                }
            }
        }
        var gguf = ExportFixtures.config(.llama)
        gguf.ropeScaling = .frequencyFactors([1, 2])
        #expect(throws: ModelsError.self) { try MergedModel.huggingFaceConfigJSON(gguf, dtype: "float32") }
    }

    @Test func safetensorsUseHFNamesAndSkipTiedHead() throws {
        let config = ExportFixtures.config(.qwen2, tied: true)
        let weights = ExportFixtures.weights(config)
        let url = ExportFixtures.temporary("model.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try MergedModel.writeSafetensors(weights, dtype: .bf16, to: url)
        let file = try SafetensorsFile(url: url)
        #expect(file.tensor(named: "lm_head.weight") == nil)
        #expect(file.tensors.count == WeightNames.expectedTensors(for: config).count)
        let bias = try #require(file.tensor(named: "model.layers.1.self_attn.q_proj.bias"))
        #expect(bias.dtype == .bf16)
        let back = try file.floats(bias)
        let original = try weights.tensor("model.layers.1.self_attn.q_proj.bias").values
        for (x, y) in zip(back, original) { #expect(abs(x - y) <= abs(y) / 128) }
    }

    /// A GGUF base with the metadata `ModelConfig.fromGGUF` needs, plus tokenizer keys that must survive the export.
    func tinyBaseGGUF(_ config: ModelConfig, url: URL) throws {
        var writer = tinyGGUFMetadata(config)
        writer.set("general.file_type", .uint32(0))
        writer.set("tokenizer.ggml.model", .string("gpt2"))
        writer.set("tokenizer.ggml.bos_token_id", .uint32(1))
        writer.set("tokenizer.ggml.eos_token_id", .uint32(2))
        writer.set("tokenizer.chat_template", .string("{{ '<|im_start|>' }}"))
        let weights = ExportFixtures.weights(config)
        for entry in WeightNames.expectedTensors(for: config) {
            var values = try weights.tensor(entry.huggingFaceName).values
            if entry.role == .query || entry.role == .key {
                values = QueryKeyPermutation.huggingFaceToGGUF(
                    values, rows: entry.shape[0], columns: entry.shape[1],
                    heads: entry.role == .query ? config.headCount : config.kvHeadCount)
            }
            try writer.addTensor(name: entry.ggufName, shape: entry.shape, floats: values, as: .f32)
        }
        try writer.write(to: url)
    }

    @Test func mergedGGUFReloadsAsTheMergedWeights() throws {
        let config = ExportFixtures.config(.llama, tied: true)
        let baseURL = ExportFixtures.temporary("base.gguf"), outURL = ExportFixtures.temporary("merged.gguf")
        defer {
            try? FileManager.default.removeItem(at: baseURL)
            try? FileManager.default.removeItem(at: outURL)
        }
        try tinyBaseGGUF(config, url: baseURL)
        let base = try GGUFFile(url: baseURL)
        let loaded = try ModelWeights.load(gguf: base)
        #expect(loaded.tensors == ExportFixtures.weights(config).tensors)
        let merged = try MergedModel.merge(loaded, lora: ExportFixtures.lora(loaded.config))
        try MergedModel.ggufWriter(merged, base: base, storage: .f32).write(to: outURL)
        let file = try GGUFFile(url: outURL)
        #expect(file.metadata["general.file_type"] == .uint32(0))
        #expect(file.metadata["tokenizer.chat_template"] == .string("{{ '<|im_start|>' }}"))
        #expect(file.metadata["llama.attention.head_count_kv"] == .uint32(2))
        #expect(file.tensor(named: "output.weight") == nil)
        let reloaded = try ModelWeights.load(gguf: file)
        #expect(reloaded.tensors == merged.tensors)
        #expect(reloaded.tensors != loaded.tensors)

        try MergedModel.ggufWriter(merged, base: base, storage: .f16).write(to: outURL)
        let half = try GGUFFile(url: outURL)
        #expect(half.metadata["general.file_type"] == .uint32(1))
        #expect(try #require(half.tensor(named: "blk.0.attn_q.weight")).type == .f16)
        #expect(try #require(half.tensor(named: "blk.0.attn_norm.weight")).type == .f32)
        let q = try ModelWeights.load(gguf: half).tensor("model.layers.0.self_attn.q_proj.weight").values
        let expected = try merged.tensor("model.layers.0.self_attn.q_proj.weight").values
        for (x, y) in zip(q, expected) { #expect(abs(x - y) <= 1e-3) }
    }
}

/// Phi-3 stores q/k/v and gate/up stacked: every reader splits them and every writer stacks them again.
@Suite struct FusedProjectionTests {
    let config = ExportFixtures.config(.phi3, tied: false)

    /// A GGUF base as llama.cpp's converter writes a Phi-3: fused `attn_qkv` and `ffn_up` (gate rows first).
    func phi3GGUF(url: URL) throws {
        var writer = tinyGGUFMetadata(config)
        writer.set("phi3.rope.dimension_count", .uint32(UInt32(config.rotaryDim)))
        let weights = ExportFixtures.weights(config)
        for stored in WeightNames.storedTensors(for: config) {
            let values = try stored.parts.flatMap { try weights.tensor($0.huggingFaceName).values }
            try writer.addTensor(name: stored.ggufName, shape: stored.shape, floats: values, as: .f32)
        }
        try writer.write(to: url)
    }

    @Test func storedTensorsStackTheParts() {
        let stored = WeightNames.storedTensors(for: config).filter { $0.parts.first?.layer == 1 }
        let qkv = stored.first { $0.huggingFaceName == "model.layers.1.self_attn.qkv_proj.weight" }
        #expect(qkv?.ggufName == "blk.1.attn_qkv.weight" && qkv?.shape == [16 + 8 + 8, 16])
        #expect(qkv?.parts.map(\.role) == [.query, .key, .value] && qkv?.rows(of: 2) == 24..<32)
        let gateUp = stored.first { $0.ggufName == "blk.1.ffn_up.weight" }
        #expect(gateUp?.huggingFaceName == "model.layers.1.mlp.gate_up_proj.weight" && gateUp?.shape == [48, 16])
        #expect(!stored.contains { $0.huggingFaceName.hasSuffix("q_proj.weight") || $0.ggufName.hasSuffix("ffn_gate.weight") })
    }

    @Test func ggufAndSafetensorsSplitOnLoadAndStackOnExport() throws {
        let baseURL = ExportFixtures.temporary("phi3.gguf"), mergedURL = ExportFixtures.temporary("merged.gguf")
        let folder = ExportFixtures.temporary("phi3-hf")
        defer {
            for url in [baseURL, mergedURL, folder] { try? FileManager.default.removeItem(at: url) }
        }
        try phi3GGUF(url: baseURL)
        let base = try GGUFFile(url: baseURL)
        let loaded = try ModelWeights.load(gguf: base)
        #expect(loaded.config.partialRotaryFactor == 0.5)
        #expect(loaded.tensors == ExportFixtures.weights(loaded.config).tensors)
        let merged = try MergedModel.merge(loaded, lora: ExportFixtures.lora(loaded.config))
        try MergedModel.ggufWriter(merged, base: base, storage: .f32).write(to: mergedURL)
        let file = try GGUFFile(url: mergedURL)
        #expect(file.tensor(named: "blk.0.attn_qkv.weight")?.shape == [32, 16])
        #expect(file.tensor(named: "blk.0.attn_q.weight") == nil && file.tensor(named: "blk.0.ffn_gate.weight") == nil)
        #expect(try ModelWeights.load(gguf: file).tensors == merged.tensors)

        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try MergedModel.huggingFaceConfigJSON(merged.config, dtype: "float32")
            .write(to: folder.appendingPathComponent("config.json"))
        try MergedModel.writeSafetensors(merged, dtype: .f32, to: folder.appendingPathComponent("model.safetensors"))
        let safetensors = try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors"))
        #expect(safetensors.tensor(named: "model.layers.1.mlp.gate_up_proj.weight")?.shape == [48, 16])
        #expect(safetensors.tensor(named: "model.layers.1.mlp.up_proj.weight") == nil)
        #expect(try ModelWeights.load(huggingFaceFolder: folder).tensors == merged.tensors)
    }

    @Test func loraAdaptsEachFusedModuleWhole() throws {
        // Naming one part adapts its whole module, as PEFT can only adapt qkv_proj as one.
        let partial = LoRAConfig(rank: 2, targets: [.q, .down]).expanded(for: .phi3)
        #expect(partial.targets == [.q, .k, .v, .down])
        #expect(partial.peftTargetModules(for: .phi3) == ["qkv_proj", "down_proj"])
        let lora = ExportFixtures.lora(config, rank: 2)
        #expect(lora.modules.map(\.modulePath).prefix(4)
            == ["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"])
        let q = try #require(lora.slot(layer: 1, target: .q)), v = try #require(lora.slot(layer: 1, target: .v))
        #expect(q.offsetA == v.offsetA && v.offsetB == q.offsetB + (16 + 8) * 2)

        let folder = ExportFixtures.temporary("phi3-adapter")
        defer { try? FileManager.default.removeItem(at: folder) }
        try AdapterFiles.writePEFT(lora: lora, baseModel: "tiny/phi3", to: folder)
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(AdapterFiles.configName)))
                as? [String: Any])
        #expect(json["target_modules"] as? [String] == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
        let weights = try SafetensorsFile(url: folder.appendingPathComponent(AdapterFiles.weightsName))
        #expect(weights.tensor(named: "base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight")?.shape == [32, 2])
        #expect(weights.tensor(named: "base_model.model.model.layers.0.mlp.gate_up_proj.lora_A.weight")?.shape == [2, 16])
        let read = try AdapterFiles.readPEFT(folder: folder, model: config)
        #expect(read.values.array == lora.values.array && read.config.targets == lora.config.targets)

        let adapterURL = ExportFixtures.temporary("phi3-lora.gguf")
        defer { try? FileManager.default.removeItem(at: adapterURL) }
        try AdapterExport.writeGGUFAdapter(lora: lora, model: config, to: adapterURL)
        let adapter = try GGUFFile(url: adapterURL)
        #expect(adapter.tensors.count == config.layerCount * 4 * 2)
        let b = try adapter.dequantize(try #require(adapter.tensor(named: "blk.1.ffn_up.weight.lora_b")))
        let gate = try #require(lora.slot(layer: 1, target: .gate))
        #expect(b == Array(lora.values.array[gate.offsetB..<(gate.offsetB + 48 * 2)]))
    }
}
