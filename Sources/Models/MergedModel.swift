import Formats
// A base model with its LoRA adapter folded in (W' = W + s·B·A), written as a Hugging Face folder or as a GGUF.
//
// Merging happens in Float32 on HF-layout weights; only the stored copy is rounded (bf16/f16/q8_0). A GGUF of a
// llama-family model gets its q/k rows permuted back to GGUF order (DESIGN.md §4 trap 1), and tied models keep
// no separate output head (trap 3).
import Foundation

/// Folds LoRA into base weights and writes the result.
public enum MergedModel {
    /// `weights` with every adapted projection replaced by W + s·B·A (s = `lora.config.scale`), computed in Float32.
    public static func merge(_ weights: ModelWeights, lora: LoRAParameters) throws -> ModelWeights {
        var tensors = weights.tensors
        let r = lora.config.rank
        let scale = lora.config.scale
        for slot in lora.slots {
            let name = WeightNames.huggingFaceName(slot.target.role, layer: slot.layer, architecture: weights.config.architecture)
            guard var tensor = tensors[name] else {
                throw ModelsError.missingTensor(path: weights.path, tensor: name)
            }
            guard tensor.shape == [slot.outFeatures, slot.inFeatures] else {
                throw ModelsError.shapeMismatch(
                    path: weights.path, tensor: name, expected: [slot.outFeatures, slot.inFeatures],
                    found: tensor.shape)
            }
            let columns = slot.inFeatures
            let a = lora.values.pointer + slot.offsetA
            let b = lora.values.pointer + slot.offsetB
            tensor.values.withUnsafeMutableBufferPointer { w in
                for row in 0..<slot.outFeatures {
                    let out = w.baseAddress! + row * columns
                    for k in 0..<r {
                        let factor = scale * b[row * r + k]
                        if factor == 0 { continue }
                        let aRow = a + k * columns
                        for column in 0..<columns { out[column] += factor * aRow[column] }
                    }
                }
            }
            tensors[name] = tensor
        }
        return ModelWeights(config: weights.config, path: weights.path, tensors: tensors)
    }

    // MARK: Hugging Face folder

    /// A transformers `config.json` describing `config`, with `torch_dtype` = `dtype` ("bfloat16", "float16", "float32").
    ///
    /// Throws for RoPE scaling given only as GGUF per-frequency factors, which config.json cannot express.
    public static func huggingFaceConfigJSON(_ config: ModelConfig, dtype: String) throws -> Data {
        let spec = config.architecture.spec
        var object: [String: Any] = [
            "architectures": [spec.causalLMClass],
            "model_type": spec.huggingFaceModelTypes[0],
            "hidden_size": config.hiddenSize,
            "intermediate_size": config.intermediateSize,
            "num_hidden_layers": config.layerCount,
            "num_attention_heads": config.headCount,
            "num_key_value_heads": config.kvHeadCount,
            "head_dim": config.headDim,
            "vocab_size": config.vocabSize,
            "rms_norm_eps": Double(config.rmsNormEps),
            "rope_theta": Double(config.ropeTheta),
            "max_position_embeddings": config.maxPositionEmbeddings,
            "tie_word_embeddings": config.tieWordEmbeddings,
            "hidden_act": spec.feedForward.huggingFaceActivation,
            "torch_dtype": dtype,
            "use_cache": true,
        ]
        switch config.architecture {
        case .llama:
            object["attention_bias"] = config.attentionBias
            object["mlp_bias"] = false
        case .qwen3:
            object["attention_bias"] = config.attentionBias
        case .gemma2, .gemma3:
            object["attention_bias"] = config.attentionBias
            object["hidden_activation"] = spec.feedForward.huggingFaceActivation
            object["query_pre_attn_scalar"] = Int(Double(1 / (config.attentionScale * config.attentionScale)).rounded())
            object["sliding_window"] = config.slidingWindow ?? JSONNull()
            object["layer_types"] = (0..<config.layerCount).map {
                config.window(layer: $0) == nil ? "full_attention" : "sliding_attention"
            }
            if config.architecture == .gemma3 {
                object["rope_local_base_freq"] = Double(config.localRopeTheta ?? config.ropeTheta)
            }
            object["attn_logit_softcapping"] = config.attentionSoftCap.map { Double($0) as Any } ?? JSONNull()
            object["final_logit_softcapping"] = config.finalSoftCap.map { Double($0) as Any } ?? JSONNull()
        case .granite:
            object["attention_bias"] = config.attentionBias
            object["mlp_bias"] = false
            object["embedding_multiplier"] = Double(config.embeddingMultiplier)
            object["residual_multiplier"] = Double(config.residualMultiplier)
            object["attention_multiplier"] = Double(config.attentionScale)
            object["logits_scaling"] = Double(config.logitsScaling)
        case .mistral:
            object["sliding_window"] = config.slidingWindow ?? JSONNull()
        case .phi:
            object["layer_norm_eps"] = Double(config.rmsNormEps)
            object["partial_rotary_factor"] = Double(config.partialRotaryFactor)
            object["qk_layernorm"] = false
        case .phi3:
            object["attention_bias"] = config.attentionBias
            object["sliding_window"] = config.slidingWindow ?? JSONNull()
            object["partial_rotary_factor"] = Double(config.partialRotaryFactor)
        case .qwen2:
            break
        }
        if let bos = config.bosTokenId { object["bos_token_id"] = bos }
        switch config.eosTokenIds.count {
        case 0: break
        case 1: object["eos_token_id"] = config.eosTokenIds[0]
        default: object["eos_token_id"] = config.eosTokenIds
        }
        switch config.ropeScaling {
        case nil:
            object["rope_scaling"] = JSONNull()
        case .linear(let factor):
            object["rope_scaling"] = ["rope_type": "linear", "factor": Double(factor)]
        case .llama3(let factor, let low, let high, let original):
            object["rope_scaling"] = [
                "rope_type": "llama3", "factor": Double(factor), "low_freq_factor": Double(low),
                "high_freq_factor": Double(high), "original_max_position_embeddings": original,
            ]
        case .longRoPE(let short, let long, let original, let attentionFactor):
            object["rope_scaling"] = [
                "type": "longrope", "short_factor": short.map(Double.init), "long_factor": long.map(Double.init),
                "attention_factor": Double(attentionFactor),
            ]
            object["original_max_position_embeddings"] = original
        case .frequencyFactors:
            throw ModelsError.invalidValue(
                path: "config.json", key: "rope_scaling", found: "GGUF per-frequency factors (rope_freqs.weight)",
                expected: "llama3 or linear parameters; export this model with --to gguf instead")
        }
        // Float fields keep their decimal point (transformers 5 refuses 30 for a float such as a soft cap).
        return Data((JSONText.pretty(object) + "\n").utf8)
    }

    /// Writes every tensor of `weights` under its HF name into one safetensors file, stored as `dtype`
    /// (F32, F16 or BF16). A tied model gets no `lm_head.weight`.
    public static func writeSafetensors(
        _ weights: ModelWeights, dtype: SafetensorsDType, to url: URL
    ) throws {
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for stored in WeightNames.storedTensors(for: weights.config) {
            // A fused projection is written stacked again, as the family's checkpoints store it.
            let values = try stored.parts.flatMap { try weights.tensor($0.huggingFaceName).values }
            writer.add(name: stored.huggingFaceName, shape: stored.shape, floats: values, as: dtype)
        }
        try convertingFormatErrors { try writer.write(to: url) }
    }

    // MARK: GGUF

    /// How matrices are stored in a merged GGUF; vectors (norms, biases) always stay F32, as llama.cpp's converter keeps them.
    public enum GGUFStorage: String, Sendable, CaseIterable {
        case f32, f16, q8_0

        var encoding: GGUFWriter.Encoding {
            switch self {
            case .f32: return .f32
            case .f16: return .f16
            case .q8_0: return .q8_0
            }
        }

        /// llama.cpp's `general.file_type` (LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7).
        var fileType: UInt32 {
            switch self {
            case .f32: return 0
            case .f16: return 1
            case .q8_0: return 7
            }
        }
    }

    /// A GGUF of `weights`, with all of `base`'s metadata (architecture hyper-parameters, `tokenizer.*`, chat
    /// template) except `general.file_type`, and the base tensors that are not weights of the table
    /// (such as `rope_freqs.weight`) copied byte for byte.
    public static func ggufWriter(
        _ weights: ModelWeights, base: GGUFFile, storage: GGUFStorage
    ) throws -> GGUFWriter {
        var writer = GGUFWriter()
        for key in base.metadataKeys {
            // The writer records its own alignment; the file type changes with the storage.
            if key == "general.alignment" || key == "general.file_type" { continue }
            if let value = base.metadata[key] { writer.set(key, value) }
        }
        writer.set("general.file_type", .uint32(storage.fileType))
        let config = weights.config
        let stored = WeightNames.storedTensors(for: config)
        let known = Set(stored.map(\.ggufName))
        let normOffset = config.architecture.spec.norm.offset
        for tensor in stored {
            let values = try tensor.parts.flatMap { entry in
                var values = try weights.tensor(entry.huggingFaceName).values
                // llama.cpp's converter stores Gemma's norms as 1 + w.
                if normOffset != 0, entry.role.isNorm { values = values.map { $0 + normOffset } }
                if config.architecture.ggufPermutesQueryKey, let heads = permutedHeads(entry.role, config: config) {
                    values = QueryKeyPermutation.huggingFaceToGGUF(
                        values, rows: entry.shape[0], columns: entry.shape.count == 2 ? entry.shape[1] : 1,
                        heads: heads)
                }
                return values
            }
            let encoding: GGUFWriter.Encoding = tensor.shape.count == 1 ? .f32 : storage.encoding
            try convertingFormatErrors {
                try writer.addTensor(name: tensor.ggufName, shape: tensor.shape, floats: values, as: encoding)
            }
        }
        for info in base.tensors where !known.contains(info.name) {
            let bytes = [UInt8](base.rawBytes(of: info))
            try convertingFormatErrors {
                try writer.addTensor(name: info.name, shape: info.shape, type: info.type, bytes: bytes)
            }
        }
        return writer
    }

    private static func permutedHeads(_ role: WeightRole, config: ModelConfig) -> Int? {
        switch role {
        case .query, .queryBias: return config.headCount
        case .key, .keyBias: return config.kvHeadCount
        default: return nil
        }
    }
}
