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

    /// A Gemma 2 2B-shaped config.json (transformers 4.42 layout).
    static let gemma2 = """
        {"architectures":["Gemma2ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,
         "attn_logit_softcapping":50.0,"bos_token_id":2,"cache_implementation":"hybrid","eos_token_id":[1,107],
         "final_logit_softcapping":30.0,"head_dim":256,"hidden_act":"gelu_pytorch_tanh",
         "hidden_activation":"gelu_pytorch_tanh","hidden_size":2304,"intermediate_size":9216,
         "max_position_embeddings":8192,"model_type":"gemma2","num_attention_heads":8,"num_hidden_layers":26,
         "num_key_value_heads":4,"pad_token_id":0,"query_pre_attn_scalar":256,"rms_norm_eps":1e-06,
         "rope_theta":10000.0,"sliding_window":4096,"torch_dtype":"float32","vocab_size":256000}
        """

    @Test func gemma2CapsLogitsAndAlternatesWindowedLayers() throws {
        let c = try config(Self.gemma2)
        #expect(c.architecture == .gemma2 && !c.qkNorm && c.tieWordEmbeddings && c.headDim == 256)
        #expect(c.attentionSoftCap == 50 && c.finalSoftCap == 30)
        #expect(c.slidingWindow == 4096 && c.slidingLayers == (0..<26).map { $0 % 2 == 0 })
        #expect(c.localRopeTheta == nil && c.ropeTheta == 10_000)  // one RoPE base for every layer
        #expect(c.attentionScale == 1 / 16 && c.embeddingMultiplier == Float(2304).squareRoot())
        #expect(WeightNames.layerRoles(for: c).contains(.postMLPNorm))
        // An absent key takes transformers' default; null turns the cap off.
        let absent = Self.gemma2.replacingOccurrences(of: #""attn_logit_softcapping":50.0,"#, with: "")
            .replacingOccurrences(of: #""final_logit_softcapping":30.0,"#, with: #""final_logit_softcapping":null,"#)
        let d = try config(absent)
        #expect(d.attentionSoftCap == 50 && d.finalSoftCap == nil)
        #expect(
            errorText(Self.gemma2.replacingOccurrences(of: "30.0", with: "-1"))
                .hasPrefix("/m/config.json: 'final_logit_softcapping' is -1.0, expected a positive number"))
        // Families without soft-capping refuse a cap rather than ignore it.
        #expect(
            errorText(HuggingFaceConfigTests.llama32.replacingOccurrences(
                of: #""use_cache":true"#, with: #""use_cache":true,"final_logit_softcapping":30.0"#))
                .hasPrefix("/m/config.json: 'final_logit_softcapping' is 30.0, expected null"))
    }

    @Test func graniteReadsItsFourMultipliers() throws {
        // A Granite 3.1 2B-shaped config.json.
        let c = try config(
            """
            {"architectures":["GraniteForCausalLM"],"attention_bias":false,"attention_dropout":0.1,
             "attention_multiplier":0.015625,"bos_token_id":0,"embedding_multiplier":12.0,"eos_token_id":0,
             "hidden_act":"silu","hidden_size":2048,"intermediate_size":8192,"logits_scaling":8.0,
             "max_position_embeddings":131072,"mlp_bias":false,"model_type":"granite","num_attention_heads":32,
             "num_hidden_layers":40,"num_key_value_heads":8,"pad_token_id":0,"residual_multiplier":0.22,
             "rms_norm_eps":1e-05,"rope_scaling":null,"rope_theta":5000000.0,"tie_word_embeddings":true,
             "vocab_size":49155}
            """)
        #expect(c.architecture == .granite && c.tieWordEmbeddings && c.headDim == 64 && c.ropeTheta == 5_000_000)
        #expect(c.embeddingMultiplier == 12 && c.residualMultiplier == Float(0.22))
        #expect(c.attentionScale == 0.015625 && c.logitsScaling == 8)
        #expect(c.attentionSoftCap == nil && c.slidingLayers.isEmpty)
        // transformers' defaults are 1 for all four, including the attention scale (not 1/√D).
        let plain = try config(
            #"{"model_type":"granite","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}"#)
        #expect(plain.attentionScale == 1 && plain.embeddingMultiplier == 1 && plain.logitsScaling == 1)
    }

    @Test func phi2ReadsLayerNormEpsilonAndPartialRotary() throws {
        // A Phi-2-shaped config.json (transformers 4.37 layout).
        let c = try config(
            """
            {"architectures":["PhiForCausalLM"],"attention_dropout":0.0,"bos_token_id":50256,"embd_pdrop":0.0,
             "eos_token_id":50256,"hidden_act":"gelu_new","hidden_size":2560,"initializer_range":0.02,
             "intermediate_size":10240,"layer_norm_eps":1e-05,"max_position_embeddings":2048,"model_type":"phi",
             "num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":32,"partial_rotary_factor":0.4,
             "qk_layernorm":false,"resid_pdrop":0.1,"rope_scaling":null,"rope_theta":10000.0,
             "tie_word_embeddings":false,"torch_dtype":"float16","vocab_size":51200}
            """)
        #expect(c.architecture == .phi && c.headDim == 80 && c.rotaryDim == 32 && c.rmsNormEps == Float(1e-5))
        #expect(c.attentionBias && !c.tieWordEmbeddings)
        let roles = WeightNames.layerRoles(for: c)
        #expect(!roles.contains(.gate) && !roles.contains(.mlpNorm) && roles.contains(.upBias))
        let names = Set(WeightNames.expectedTensors(for: c).map(\.huggingFaceName))
        for name in ["model.final_layernorm.bias", "lm_head.bias", "model.layers.3.self_attn.dense.bias",
                     "model.layers.3.mlp.fc1.weight", "model.layers.3.input_layernorm.bias"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(LoRAConfig().expanded(for: .phi).peftTargetModules(for: .phi)
            == ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"])
        #expect(
            errorText(#"{"model_type":"phi","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,"qk_layernorm":true}"#)
                .hasPrefix("/m/config.json: 'qk_layernorm' is true, expected false"))
    }

    @Test func phi3MiniAndPhi35LongRoPE() throws {
        // Phi-3-mini-4k-instruct-shaped: every layer through a 2047-token window, no RoPE scaling.
        let base = """
            "architectures":["Phi3ForCausalLM"],"attention_bias":false,"bos_token_id":1,"eos_token_id":32000,
            "hidden_act":"silu","hidden_size":3072,"intermediate_size":8192,"model_type":"phi3",
            "num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":32,"pad_token_id":32000,
            "rms_norm_eps":1e-05,"rope_theta":10000.0,"tie_word_embeddings":false,"vocab_size":32064
            """
        let mini = try config("{\(base),\"max_position_embeddings\":4096,\"original_max_position_embeddings\":4096,"
            + #""rope_scaling":null,"sliding_window":2047}"#)
        #expect(mini.architecture == .phi3 && mini.slidingWindow == 2047 && mini.window(layer: 31) == 2047)
        #expect(mini.ropeScaling == nil && mini.rotaryDim == 96)
        let stored = WeightNames.storedTensors(for: mini).map(\.huggingFaceName)
        #expect(stored.contains("model.layers.0.self_attn.qkv_proj.weight") && !stored.contains("model.layers.0.self_attn.q_proj.weight"))
        // Phi-3.5-mini-shaped: LongRoPE with 48 factors per list; the attention factor follows from 131072 / 4096.
        let short = (0..<48).map { "\(1.0 + Double($0) / 100)" }.joined(separator: ","), long = (0..<48).map { "\(2.0 + Double($0))" }.joined(separator: ",")
        let longRoPE = try config("{\(base),\"max_position_embeddings\":131072,\"original_max_position_embeddings\":4096,"
            + #""rope_scaling":{"type":"longrope","short_factor":[\#(short)],"long_factor":[\#(long)]},"sliding_window":262144}"#)
        guard case .longRoPE(let s, let l, let original, let attention)? = longRoPE.ropeScaling else {
            Issue.record("not LongRoPE: \(String(describing: longRoPE.ropeScaling))")
            return
        }
        #expect(s.count == 48 && l.count == 48 && s[1] == Float(1.01) && l[47] == 49 && original == 4096)
        #expect(abs(attention - Float((1 + log(32.0) / log(4096.0)).squareRoot())) < 1e-6)
        #expect(
            errorText("{\(base),\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":[1,2],\"long_factor\":[1,2]}}")
                .hasPrefix("/m/config.json: 'rope_scaling.short_factor' is 2 factors, expected one per rotated pair (48)"))
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
            errorText(#"{"model_type":"mixtral",\#(base),"num_attention_heads":4}"#)
                == "/m/config.json: unsupported architecture mixtral; supported: llama, mistral, qwen2, qwen3, gemma2, gemma3, granite, phi3, phi")
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
                == "x.gguf: unsupported architecture falcon; supported: llama, mistral, qwen2, qwen3, gemma2, gemma3, granite, phi3, phi")
    }

    /// The smallest metadata block of `architecture` that resolves.
    static func minimalMetadata(_ a: String) -> GGUFWriter {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string(a))
        writer.set("\(a).block_count", .uint32(4))
        writer.set("\(a).embedding_length", .uint32(64))
        writer.set("\(a).feed_forward_length", .uint32(96))
        writer.set("\(a).attention.head_count", .uint32(4))
        writer.set("\(a).attention.layer_norm_rms_epsilon", .float32(1e-6))
        writer.set("\(a).context_length", .uint32(4096))
        writer.set("\(a).vocab_size", .uint32(100))
        return writer
    }

    @Test func phi2GGUFReadsItsLayerNormEpsilonAndRotaryDimensions() throws {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("phi2"))
        for (key, value) in [("block_count", 2), ("embedding_length", 64), ("feed_forward_length", 256),
                             ("attention.head_count", 4), ("context_length", 2048), ("vocab_size", 100)] {
            writer.set("phi2.\(key)", .uint32(UInt32(value)))
        }
        let missing = try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "p.gguf"))
        #expect(throws: ModelsError.missingKey(path: "p.gguf", key: "phi2.attention.layer_norm_epsilon")) {
            try ModelConfig.fromGGUF(missing)
        }
        writer.set("phi2.attention.layer_norm_epsilon", .float32(1e-5))
        writer.set("phi2.rope.dimension_count", .uint32(6))
        let c = try ModelConfig.fromGGUF(try GGUFFile(mapped: MappedFile(bytes: try writer.encoded(), path: "p.gguf")))
        #expect(c.architecture == .phi && c.rotaryDim == 6 && c.headDim == 16 && c.attentionBias)
        #expect(WeightNames.expectedTensors(for: c).contains { $0.ggufName == "output.bias" })
    }

    @Test func graniteAndGemma2ScalarsComeFromTheirKeys() throws {
        var granite = Self.minimalMetadata("granite")
        granite.set("granite.embedding_scale", .float32(12))
        granite.set("granite.residual_scale", .float32(0.25))
        granite.set("granite.attention.scale", .float32(0.0625))
        granite.set("granite.logit_scale", .float32(8))
        let g = try ModelConfig.fromGGUF(try GGUFFile(mapped: MappedFile(bytes: try granite.encoded(), path: "g.gguf")))
        #expect(g.architecture == .granite && g.architecture.ggufPermutesQueryKey)
        #expect(g.embeddingMultiplier == 12 && g.residualMultiplier == 0.25 && g.attentionScale == 0.0625)
        #expect(g.logitsScaling == 8)
        var gemma = Self.minimalMetadata("gemma2")
        gemma.set("gemma2.attention.sliding_window", .uint32(4096))
        gemma.set("gemma2.final_logit_softcapping", .float32(30))
        let c = try ModelConfig.fromGGUF(try GGUFFile(mapped: MappedFile(bytes: try gemma.encoded(), path: "c.gguf")))
        // llama.cpp's defaults fill an absent cap; the scale is 1/√D (not the 27B's C/H).
        #expect(c.architecture == .gemma2 && c.attentionSoftCap == 50 && c.finalSoftCap == 30)
        #expect(c.slidingLayers == [true, false, true, false] && c.localRopeTheta == nil)
        #expect(c.attentionScale == 1 / 4 && c.embeddingMultiplier == 8)
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
