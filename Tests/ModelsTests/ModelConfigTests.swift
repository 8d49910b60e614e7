import Formats
// ModelConfig from real config.json files of each family, from GGUF metadata, and the errors for bad input.
import Foundation
import TestSupport
import Testing

@testable import Models

private func config(_ json: String, path: String = "config.json") throws -> ModelConfig {
    try ModelConfig.fromHuggingFace(configJSON: Data(json.utf8), path: path)
}

/// The error text thrown for `json`, or a marker when nothing was thrown.
private func errorText(_ json: String) -> String {
    do {
        _ = try config(json, path: "/m/config.json")
        return "<no error>"
    } catch {
        return "\(error)"
    }
}

@Suite struct HuggingFaceConfigTests {
    /// meta-llama/Llama-3.2-1B-Instruct's config.json (transformers 4.45 layout).
    static let llama32 = """
        {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
         "eos_token_id":[128001,128008,128009],"head_dim":64,"hidden_act":"silu","hidden_size":2048,
         "initializer_range":0.02,"intermediate_size":8192,"max_position_embeddings":131072,"mlp_bias":false,
         "model_type":"llama","num_attention_heads":32,"num_hidden_layers":16,"num_key_value_heads":8,
         "pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,
         "low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,
         "tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.45.0.dev0","use_cache":true,
         "vocab_size":128256}
        """

    @Test func llama32WithLlama3RopeScalingAndEosList() throws {
        let c = try config(Self.llama32)
        #expect(c.architecture == .llama)
        #expect(c.hiddenSize == 2048 && c.intermediateSize == 8192 && c.layerCount == 16)
        #expect(c.headCount == 32 && c.kvHeadCount == 8 && c.headDim == 64 && c.vocabSize == 128256)
        #expect(c.rmsNormEps == Float(1e-5) && c.ropeTheta == 500_000 && c.maxPositionEmbeddings == 131072)
        #expect(
            c.ropeScaling
                == .llama3(
                    factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                    originalMaxPositionEmbeddings: 8192))
        #expect(c.tieWordEmbeddings && !c.attentionBias && !c.qkNorm)
        #expect(c.bosTokenId == 128000 && c.eosTokenIds == [128001, 128008, 128009])
    }

    @Test func transformers5RopeParametersCarryThetaAndScaling() throws {
        // The same model as transformers 5.24 writes it (checked with LlamaConfig(**d).to_json_string()).
        let json = """
            {"attention_bias":false,"bos_token_id":128000,"eos_token_id":[128001,128008,128009],"head_dim":64,
             "hidden_size":2048,"intermediate_size":8192,"max_position_embeddings":131072,"model_type":"llama",
             "num_attention_heads":32,"num_hidden_layers":16,"num_key_value_heads":8,"pad_token_id":null,
             "rms_norm_eps":1e-05,"rope_parameters":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
             "original_max_position_embeddings":8192,"rope_theta":500000.0,"rope_type":"llama3"},
             "tie_word_embeddings":true,"vocab_size":128256}
            """
        #expect(try config(json) == config(Self.llama32))
        let plain = """
            {"model_type":"qwen2","hidden_size":64,"intermediate_size":10,"num_hidden_layers":1,
             "num_attention_heads":4,"num_key_value_heads":2,"vocab_size":10,"bos_token_id":null,"eos_token_id":null,
             "rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"}}
            """
        let c = try config(plain)
        #expect(c.ropeTheta == 1_000_000 && c.ropeScaling == nil)
        #expect(c.bosTokenId == nil && c.eosTokenIds.isEmpty)
    }

    @Test func mistralWithoutHeadDimDerivesIt() throws {
        // mistralai/Mistral-7B-v0.1.
        let c = try config(
            """
            {"architectures":["MistralForCausalLM"],"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu",
             "hidden_size":4096,"initializer_range":0.02,"intermediate_size":14336,"max_position_embeddings":32768,
             "model_type":"mistral","num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,
             "rms_norm_eps":1e-05,"rope_theta":10000.0,"sliding_window":4096,"tie_word_embeddings":false,
             "torch_dtype":"bfloat16","transformers_version":"4.34.0.dev0","use_cache":true,"vocab_size":32000}
            """)
        #expect(c.architecture == .mistral && c.headDim == 128 && c.kvHeadCount == 8)
        #expect(!c.tieWordEmbeddings && c.ropeScaling == nil && c.eosTokenIds == [2] && c.bosTokenId == 1)
        #expect(WeightNames.expectedTensors(for: c).last?.huggingFaceName == "lm_head.weight")
    }

    @Test func qwen2AlwaysHasAttentionBias() throws {
        // Qwen/Qwen2.5-0.5B-Instruct: no attention_bias key, yet q/k/v carry biases.
        let c = try config(
            """
            {"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151645,
             "hidden_act":"silu","hidden_size":896,"initializer_range":0.02,"intermediate_size":4864,
             "max_position_embeddings":32768,"max_window_layers":21,"model_type":"qwen2","num_attention_heads":14,
             "num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_theta":1000000.0,
             "sliding_window":32768,"tie_word_embeddings":true,"torch_dtype":"bfloat16",
             "transformers_version":"4.43.1","use_cache":true,"use_sliding_window":false,"vocab_size":151936}
            """)
        #expect(c.architecture == .qwen2 && c.attentionBias && !c.qkNorm)
        #expect(
            c.headDim == 64 && c.kvHeadCount == 2 && c.ropeTheta == 1_000_000 && c.rmsNormEps == Float(1e-6))
        let layer0 = WeightNames.expectedTensors(for: c).filter { $0.layer == 0 }.map(\.huggingFaceName)
        #expect(layer0.contains("model.layers.0.self_attn.k_proj.bias"))
        #expect(!layer0.contains("model.layers.0.self_attn.o_proj.bias"))
    }

    @Test func qwen3HasExplicitHeadDimAndQKNorm() throws {
        // Qwen/Qwen3-0.6B: head_dim 128 although 1024 / 16 = 64.
        let c = try config(
            """
            {"architectures":["Qwen3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":151643,
             "eos_token_id":151645,"head_dim":128,"hidden_act":"silu","hidden_size":1024,"initializer_range":0.02,
             "intermediate_size":3072,"max_position_embeddings":40960,"max_window_layers":28,"model_type":"qwen3",
             "num_attention_heads":16,"num_hidden_layers":28,"num_key_value_heads":8,"rms_norm_eps":1e-06,
             "rope_scaling":null,"rope_theta":1000000,"sliding_window":null,"tie_word_embeddings":true,
             "torch_dtype":"bfloat16","transformers_version":"4.51.0","use_cache":true,"use_sliding_window":false,
             "vocab_size":151936}
            """)
        #expect(c.architecture == .qwen3 && c.qkNorm && !c.attentionBias && c.headDim == 128)
        #expect(WeightNames.shape(.query, config: c) == [2048, 1024])
        #expect(WeightNames.shape(.attentionOutput, config: c) == [1024, 2048])
        #expect(WeightNames.shape(.keyNorm, config: c) == [128])
        #expect(c.maxPositionEmbeddings == 40960 && c.ropeScaling == nil)
    }

    @Test func linearRopeScaling() throws {
        let c = try config(
            """
            {"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,
             "num_attention_heads":4,"vocab_size":100,"rope_scaling":{"type":"linear","factor":2.0}}
            """)
        #expect(c.ropeScaling == .linear(factor: 2))
        #expect(
            c.kvHeadCount == 4 && c.headDim == 16 && c.ropeTheta == 10_000 && c.maxPositionEmbeddings == 2048)
    }

    @Test func errorsNameTheFileAndKey() {
        let base = #""hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"vocab_size":100"#
        #expect(
            errorText(#"{"model_type":"gemma2",\#(base),"num_attention_heads":4}"#)
                == "/m/config.json: unsupported architecture gemma2; supported: llama, mistral, qwen2, qwen3, gemma3")
        #expect(
            errorText(#"{\#(base),"num_attention_heads":4}"#)
                == "/m/config.json: missing 'model_type'; the model description is incomplete, re-export or"
                + " re-download the model")
        #expect(
            errorText(
                #"{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}"#
            )
            .hasPrefix("/m/config.json: missing 'intermediate_size'"))
        #expect(
            errorText(#"{"model_type":"llama",\#(base),"num_attention_heads":6}"#)
                == "/m/config.json: 'hidden_size' is 64, expected a multiple of the head count 6 (or an explicit head"
                + " dimension); fix the value or re-download the model")
        #expect(
            errorText(#"{"model_type":"llama",\#(base),"num_attention_heads":4,"num_key_value_heads":3}"#)
                .hasPrefix(
                    "/m/config.json: 'num_key_value_heads' is 3, expected a divisor of the head count 4"))
        #expect(
            errorText(#"{"model_type":"llama",\#(base),"num_attention_heads":0}"#)
                .hasPrefix("/m/config.json: 'num_attention_heads' is 0, expected a positive integer"))
        #expect(
            errorText(#"{"model_type":"llama",\#(base),"num_attention_heads":4,"rms_norm_eps":-1}"#)
                .hasPrefix("/m/config.json: 'rms_norm_eps' is -1.0, expected a small positive number"))
        #expect(
            errorText(
                #"{"model_type":"llama","hidden_size":"64","intermediate_size":128,"num_hidden_layers":2,"vocab_size":100,"num_attention_heads":4}"#
            )
            .hasPrefix("/m/config.json: 'hidden_size' is a JSON value of another type, expected Int"))
        #expect(
            errorText(
                #"{"model_type":"llama",\#(base),"num_attention_heads":4,"rope_scaling":{"rope_type":"yarn","factor":4}}"#
            )
            .hasPrefix("/m/config.json: RoPE scaling 'yarn' is not supported"))
        #expect(
            errorText(
                #"{"model_type":"llama",\#(base),"num_attention_heads":4,"rope_scaling":{"rope_type":"llama3","factor":8}}"#
            )
            .hasPrefix("/m/config.json: missing 'rope_scaling.low_freq_factor'"))
        #expect(errorText("{not json").hasPrefix("/m/config.json: not valid JSON"))
    }
}

@Suite struct GGUFConfigTests {
    @Test func smolLM2MetadataResolvesExactly() throws {
        let file = try GGUFFile(url: try TestPaths.require(TestPaths.smolLM2))
        let c = try ModelConfig.fromGGUF(file)
        #expect(c.architecture == .llama)
        #expect(c.layerCount == 30 && c.hiddenSize == 576 && c.headCount == 9 && c.kvHeadCount == 3)
        #expect(c.headDim == 64 && c.intermediateSize == 1536 && c.vocabSize == 49152)
        #expect(c.ropeTheta == 100_000 && c.ropeScaling == nil && c.tieWordEmbeddings)
        #expect(c.rmsNormEps == Float(1e-5) && c.maxPositionEmbeddings == 8192)
        #expect(!c.attentionBias && !c.qkNorm && c.bosTokenId == 1 && c.eosTokenIds == [2])
        // Every tensor of the file is expected, and nothing more (tied: no output.weight).
        #expect(Set(WeightNames.expectedTensors(for: c).map(\.ggufName)) == Set(file.tensors.map(\.name)))
        #expect(c.parameterCount == 134_515_008)
    }

    @Test func vocabOnlyQwen2MetadataResolves() throws {
        let file = try GGUFFile(
            url: try TestPaths.require(TestPaths.assets.appendingPathComponent("vocab/ggml-vocab-qwen2.gguf"))
        )
        let c = try ModelConfig.fromGGUF(file)
        #expect(c.architecture == .qwen2 && c.attentionBias && c.vocabSize == 151936 && c.headDim == 128)
        #expect(c.ropeTheta == 1_000_000 && c.kvHeadCount == 32 && c.eosTokenIds == [151643])
    }

    @Test func unsupportedArchitectureIsNamed() throws {
        let url = try TestPaths.require(
            TestPaths.assets.appendingPathComponent("vocab/ggml-vocab-falcon.gguf"))
        let file = try GGUFFile(url: url)
        #expect(throws: ModelsError.unsupportedArchitecture(path: url.path, found: "falcon")) {
            try ModelConfig.fromGGUF(file)
        }
        #expect(
            ModelsError.unsupportedArchitecture(path: "x.gguf", found: "falcon").description
                == "x.gguf: unsupported architecture falcon; supported: llama, mistral, qwen2, qwen3, gemma3")
    }

    @Test func missingAndBadMetadataNameTheKey() throws {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("qwen3"))
        writer.set("qwen3.block_count", .uint32(2))
        writer.set("qwen3.embedding_length", .uint32(64))
        writer.set("qwen3.attention.head_count", .uint32(4))
        writer.set("qwen3.attention.layer_norm_rms_epsilon", .float32(1e-6))
        writer.set("qwen3.context_length", .uint32(4096))
        writer.set("qwen3.vocab_size", .uint32(100))
        let missing = try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "t.gguf"))
        #expect(throws: ModelsError.missingKey(path: "t.gguf", key: "qwen3.feed_forward_length")) {
            try ModelConfig.fromGGUF(missing)
        }
        writer.set("qwen3.feed_forward_length", .uint32(96))
        writer.set("qwen3.attention.head_count_kv", .uint32(3))
        let bad = try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "t.gguf"))
        #expect(
            throws: ModelsError.invalidValue(
                path: "t.gguf", key: "qwen3.attention.head_count_kv", found: "3",
                expected: "a divisor of the head count 4")
        ) { try ModelConfig.fromGGUF(bad) }
        writer.set("qwen3.attention.head_count_kv", .uint32(2))
        writer.set("qwen3.attention.key_length", .uint32(32))
        writer.set("qwen3.rope.scaling.type", .string("yarn"))
        let yarn = try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "t.gguf"))
        #expect(throws: ModelsError.unsupportedRopeScaling(path: "t.gguf", type: "yarn")) {
            try ModelConfig.fromGGUF(yarn)
        }
        writer.set("qwen3.rope.scaling.type", .string("linear"))
        writer.set("qwen3.rope.scaling.factor", .float32(4))
        let linear = try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "t.gguf"))
        #expect(try ModelConfig.fromGGUF(linear).ropeScaling == .linear(factor: 4))
        // A Llama 3.1 style GGUF: the llama3 scaling is baked into one divisor per frequency.
        var withFactors = writer
        let factors: [Float] = (0..<16).map { $0 < 8 ? 1 : 8 }
        try withFactors.addTensor(name: "rope_freqs.weight", shape: [16], floats: factors, as: .f32)
        let baked = try GGUFFile(mapped: MappedFile(bytes: try withFactors.encoded(), path: "t.gguf"))
        #expect(try ModelConfig.fromGGUF(baked).ropeScaling == .frequencyFactors(factors))
        writer.set("qwen3.rope.scaling.type", .string("none"))
        let c = try ModelConfig.fromGGUF(
            try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "t.gguf")))
        #expect(
            c.headDim == 32 && c.qkNorm && c.tieWordEmbeddings && c.ropeTheta == 10_000 && c.bosTokenId == nil
        )
    }
}
