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

    /// Base weights; `poisonToken` gets a NaN embedding row (to provoke a non-finite loss).
    static func weights(poisonToken: Int? = nil) throws -> TransformerWeights {
        let config = poisonToken == nil ? config : untied
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
