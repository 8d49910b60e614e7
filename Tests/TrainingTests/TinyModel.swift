// A tiny llama-shaped model with deterministic sin weights (no RNG, as EngineParityTests builds them) and synthetic data.
import Datasets
import Foundation
import Models
import Training

enum Tiny {
    static let config = makeConfig(tied: true)
    /// Untied, so a poisoned embedding row stays out of the output layer.
    static let untied = makeConfig(tied: false)

    static func makeConfig(tied: Bool) -> ModelConfig {
        ModelConfig(
            architecture: .llama, hiddenSize: 16, intermediateSize: 32, layerCount: 2, headCount: 4,
            kvHeadCount: 2,
            headDim: 4, vocabSize: 32, rmsNormEps: 1e-5, ropeTheta: 10_000, ropeScaling: nil,
            maxPositionEmbeddings: 128,
            tieWordEmbeddings: tied, attentionBias: false, qkNorm: false, bosTokenId: 1, eosTokenIds: [2])
    }

    /// Phi-2's layer (LayerNorm with biases, parallel attention and GELU MLP, half of each head rotated) at the
    /// same size.
    static let phi = try! ModelConfig.fromHuggingFace(
        configJSON: Data("""
            {"model_type": "phi", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 32, "layer_norm_eps": 1e-5,
             "rope_theta": 10000.0, "partial_rotary_factor": 0.5, "max_position_embeddings": 128,
             "hidden_act": "gelu_new", "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2}
            """.utf8), path: "phi/config.json")

    /// Base weights; `poisonToken` gets a NaN embedding row (to provoke a non-finite loss).
    static func weights(poisonToken: Int? = nil) throws -> TransformerWeights {
        try weights(of: poisonToken == nil ? config : untied, poisonToken: poisonToken)
    }

    static func weights(of config: ModelConfig, poisonToken: Int? = nil) throws -> TransformerWeights {
        var tensors: [String: WeightTensor] = [:]
        let expected = WeightNames.expectedTensors(for: config).sorted {
            $0.huggingFaceName < $1.huggingFaceName
        }
        for (k, tensor) in expected.enumerated() {
            let isNorm = tensor.huggingFaceName.contains("norm")
            let amplitude = tensor.role == .tokenEmbedding ? 0.5 : (isNorm ? 0.1 : 0.3)
            let count = tensor.shape.reduce(1, *)
            var values = (0..<count).map { i -> Float in
                let x = Double(i)
                return Float(amplitude * sin(1.3 * Double(k) + 0.37 * x + 0.001 * x * x) + (isNorm ? 1 : 0))
            }
            if let poisonToken, tensor.role == .tokenEmbedding {
                for c in 0..<config.hiddenSize { values[poisonToken * config.hiddenSize + c] = .nan }
            }
            tensors[tensor.huggingFaceName] = WeightTensor(shape: tensor.shape, values: values)
        }
        return try TransformerWeights(ModelWeights(config: config, path: "tiny", tensors: tensors))
    }

    static func model(_ lora: LoRAConfig, poisonToken: Int? = nil) throws -> Transformer {
        Transformer(
            weights: try weights(poisonToken: poisonToken),
            lora: LoRAParameters(model: poisonToken == nil ? config : untied, config: lora), threads: 2,
            maxPosition: 64)
    }

    /// Examples that follow a learnable rule.
    ///
    /// Each token is the previous + `stride`, mod 28, offset by 3; the first third of each is masked like a prompt.
    /// Lengths vary from 6 to 6 + 9.
    static func examples(_ count: Int, stride: Int = 1, seed: Int = 0) -> [TokenizedExample] {
        (0..<count).map { i in
            let length = 6 + (i * 7 + seed) % 10
            let start = (i * 5 + seed) % 28
            let ids = (0..<length).map { Int32(3 + (start + $0 * stride) % 28) }
            let trained = (0..<length).map { $0 >= length / 3 }
            return TokenizedExample(ids: ids, trained: trained)
        }
    }

    static func temporaryFolder(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-training-\(name)-\(UUID().uuidString)")
    }
}
