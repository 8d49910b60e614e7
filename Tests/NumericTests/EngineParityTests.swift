// Whole-model parity with transformers + PEFT (fixtures from Scripts/reference/engine_parity.py): logits, loss and every
// LoRA gradient on a padded and a packed batch, and the LoRA weights after three AdamW steps.
import Foundation
import Models
import Tensors
import TestSupport
import Testing

/// One case of the fixture: the model, batches and the expected arrays.
struct ParityCase {
    let name: String
    let meta: [String: Any]
    let arrays: [Float]
    let config: ModelConfig

    init(_ name: String) throws {
        self.name = name
        let folder = TestPaths.fixtures.appendingPathComponent("engine")
        let json = try Data(contentsOf: folder.appendingPathComponent("\(name).json"))
        meta = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let binary = try Data(contentsOf: folder.appendingPathComponent("\(name).bin"))
        arrays = binary.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let configJSON = try JSONSerialization.data(withJSONObject: try #require(meta["config"]))
        config = try ModelConfig.fromHuggingFace(configJSON: configJSON, path: "\(name).json")
    }

    func array(_ key: String) throws -> [Float] {
        let index = try #require((meta["arrays"] as? [String: [Int]])?[key], "no array \(key)")
        return Array(arrays[index[0]..<(index[0] + index[1])])
    }

    var sequences: [[Int32]] { (meta["sequences"] as? [[Int]] ?? []).map { $0.map(Int32.init) } }
    var labels: [[Int32]] { (meta["labels"] as? [[Int]] ?? []).map { $0.map(Int32.init) } }
    var loraNames: [String] { meta["lora_names"] as? [String] ?? [] }

    /// The base model with the script's sin weights: tensor k of the sorted HF names.
    func model(lora: LoRAParameters?) throws -> Transformer {
        let weights = try TransformerWeights(modelWeights())
        return Transformer(weights: weights, lora: lora, threads: 2, maxPosition: 64)
    }

    /// The script fills tensors as the checkpoint stores them (Phi-3's fused `qkv_proj` is one tensor); the
    /// engine's weights are their row blocks.
    func modelWeights() throws -> ModelWeights {
        var tensors: [String: WeightTensor] = [:]
        let stored = WeightNames.storedTensors(for: config).sorted { $0.huggingFaceName < $1.huggingFaceName }
        for (k, tensor) in stored.enumerated() {
            let isNorm = tensor.huggingFaceName.contains("norm")
            let matrices = meta["weight_amplitude"] as? Double ?? 0.2
            let amplitude = tensor.parts[0].role == .tokenEmbedding ? 0.5 : (isNorm ? 0.1 : matrices)
            let count = tensor.shape.reduce(1, *)
            let values = (0..<count).map { i -> Float in
                let x = Double(i)
                return Float(amplitude * sin(1.3 * Double(k) + 0.37 * x + 0.001 * x * x) + (isNorm ? 1 : 0))
            }
            let columns = tensor.shape.count == 2 ? tensor.shape[1] : 1
            for (index, part) in tensor.parts.enumerated() {
                let rows = tensor.rows(of: index)
                tensors[part.huggingFaceName] = WeightTensor(
                    shape: part.shape, values: Array(values[(rows.lowerBound * columns)..<(rows.upperBound * columns)]))
            }
        }
        return ModelWeights(config: config, path: name, tensors: tensors)
    }

    /// LoRA with the script's initial values, PEFT tensor k of the sorted names.
    func lora() throws -> LoRAParameters {
        let rank = try #require(meta["rank"] as? Int)
        let alpha = try #require(meta["alpha"] as? Double)
        let parameters = LoRAParameters(model: config, config: LoRAConfig(rank: rank, alpha: Float(alpha)))
        for (k, name) in loraNames.enumerated() {
            let (offset, count) = try region(name, in: parameters)
            let isA = name.contains("lora_A")
            let base = parameters.values.pointer + offset
            for i in 0..<count {
                let x = Double(i)
                base[i] = isA
                    ? Float(0.1 * sin(0.7 * Double(k) + 0.5 + 0.29 * x + 0.001 * x * x))
                    : Float(0.1 * cos(0.9 * Double(k) + 0.25 + 0.31 * x + 0.001 * x * x))
            }
        }
        return parameters
    }

    /// Where `base_model.model.model.layers.1.mlp.up_proj.lora_B.default.weight` lives in the flat vector:
    /// (offset, count) of its module's A or B (a fused module's B spans all its parts).
    func region(_ peftName: String, in parameters: LoRAParameters) throws -> (offset: Int, count: Int) {
        let module = try #require(parameters.modules.first { peftName.hasPrefix($0.peftPrefix + ".") })
        let r = parameters.config.rank
        return peftName.contains("lora_A")
            ? (module.offsetA, r * module.inFeatures) : (module.offsetB, module.outFeatures * r)
    }

    /// Right-padded rows as transformers sees them: padding tokens belong to no sequence and carry no loss.
    var paddedBatch: TokenBatch {
        let width = sequences.map(\.count).max() ?? 0
        var tokens: [Int32] = [], targets: [Int32] = [], positions: [Int32] = [], ids: [Int32] = []
        for (s, sequence) in sequences.enumerated() {
            let pad = width - sequence.count
            tokens += sequence + Array(repeating: 0, count: pad)
            targets += labels[s] + Array(repeating: -1, count: pad)
            positions += (0..<sequence.count).map(Int32.init) + Array(repeating: 0, count: pad)
            ids += Array(repeating: Int32(s), count: sequence.count) + Array(repeating: -1, count: pad)
        }
        return TokenBatch(tokens: tokens, targets: targets, positions: positions, sequenceIds: ids)
    }
}

/// max |a − b| / max |b|: the error relative to the tensor's scale.
func scaledError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    let scale = b.map(abs).max() ?? 1
    return zip(a, b).map { abs($0 - $1) }.max().map { $0 / max(scale, 1e-12) } ?? 0
}

@Suite struct EngineParityTests {
    static let cases = [
        "llama_untied", "llama_tied", "llama3_rope", "qwen2", "qwen3", "mistral", "gemma3", "gemma3_v5", "gemma2", "granite",
        "phi3", "phi3_longrope", "phi",
    ]

    @Test(arguments: cases, ["padded", "packed"])
    func logitsLossAndGradientsMatchPEFT(name: String, mode: String) throws {
        let fixture = try ParityCase(name)
        let lora = try fixture.lora()
        let model = try fixture.model(lora: lora)
        let batch = mode == "padded" ? fixture.paddedBatch : TokenBatch(sequences: fixture.sequences, labels: fixture.labels)

        // Logits at real (non-padding) positions, in sequence order.
        let logits = model.logits(batch)
        let vocab = fixture.config.vocabSize
        var real: [Float] = []
        for n in 0..<batch.count where batch.sequenceIds[n] >= 0 { real += logits[(n * vocab)..<((n + 1) * vocab)] }
        let logitError = scaledError(real, try fixture.array("\(mode)_logits"))
        #expect(logitError <= 1e-4, "\(name) \(mode): logits error \(logitError)")

        lora.gradients.zero()
        let totals = model.run(batch, gradScale: 1 / Float(batch.targetCount))
        let loss = totals.lossSum / Double(totals.targetCount)
        let expectedLoss = try #require(fixture.meta["\(mode)_loss"] as? Double)
        #expect(abs(loss - expectedLoss) <= 1e-5, "\(name) \(mode): loss \(loss) vs \(expectedLoss)")

        for peftName in fixture.loraNames {
            let (start, count) = try fixture.region(peftName, in: lora)
            let gradient = Array(UnsafeBufferPointer(start: lora.gradients.pointer + start, count: count))
            let error = scaledError(gradient, try fixture.array("\(mode)_grad:\(peftName)"))
            #expect(error <= 1e-4, "\(name) \(mode): gradient of \(peftName) off by \(error)")
        }
    }

    @Test(arguments: cases)
    func threeAdamWStepsMatchTorch(name: String) throws {
        let fixture = try ParityCase(name)
        let lora = try fixture.lora()
        let model = try fixture.model(lora: lora)
        let batch = TokenBatch(sequences: fixture.sequences, labels: fixture.labels)
        let m = FloatBuffer(count: lora.count), v = FloatBuffer(count: lora.count)
        for step in 1...3 {
            lora.gradients.zero()
            model.run(batch, gradScale: 1 / Float(batch.targetCount))
            adamWStep(parameters: lora.values.pointer, gradients: lora.gradients.pointer, m: m.pointer, v: v.pointer,
                      count: lora.count, step: step, learningRate: 1e-2, hyper: AdamWParameters(weightDecay: 0.01))
        }
        for peftName in fixture.loraNames {
            let (start, count) = try fixture.region(peftName, in: lora)
            let values = Array(UnsafeBufferPointer(start: lora.values.pointer + start, count: count))
            let expected = try fixture.array("adamw3:\(peftName)")
            let error = zip(values, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(error <= 1e-5, "\(name): \(peftName) after 3 AdamW steps off by \(error)")
        }
    }

    @Test(arguments: ["qwen3", "gemma3", "gemma2", "granite", "phi3", "phi"])
    func checkpointingGivesTheSameGradients(name: String) throws {
        let fixture = try ParityCase(name)
        let batch = TokenBatch(sequences: fixture.sequences, labels: fixture.labels)
        var results: [[Float]] = []
        for checkpointing in [false, true] {
            let lora = try fixture.lora()
            let plain = try fixture.model(lora: lora)
            let model = Transformer(weights: plain.weights, lora: lora, checkpointing: checkpointing, threads: 2,
                                    maxPosition: 64)
            model.run(batch, gradScale: 1 / Float(batch.targetCount))
            results.append(lora.gradients.array)
        }
        #expect(results[0] == results[1])
    }
}

@Suite struct EngineMemoryTests {
    @Test func bfloat16WeightsEqualFloat32WeightsRoundedToBFloat16() throws {
        let fixture = try ParityCase("qwen2")
        let batch = TokenBatch(sequences: fixture.sequences, labels: fixture.labels)
        var results: [[Float]] = []
        var bytes: [Int] = []
        for storage in [WeightStorage.float32, .bfloat16] {
            let lora = try fixture.lora()
            var tensors: [String: WeightTensor] = [:]
            let plain = try fixture.modelWeights()
            for (name, tensor) in plain.tensors {
                // Matrices (projections, embedding, head) rounded to bfloat16 by hand; the bfloat16 model must see
                // exactly these values.
                let isMatrix = tensor.shape.count == 2
                let values = isMatrix && storage == .float32
                    ? tensor.values.map { Float(bitPattern: UInt32(floatToBFloat16BitsForTest($0)) << 16) } : tensor.values
                tensors[name] = WeightTensor(shape: tensor.shape, values: values)
            }
            let weights = try TransformerWeights(
                ModelWeights(config: fixture.config, path: "qwen2", tensors: tensors), storage: storage)
            let model = Transformer(weights: weights, lora: lora, threads: 2, maxPosition: 64)
            model.run(batch, gradScale: 1 / Float(batch.targetCount))
            results.append(lora.gradients.array)
            bytes.append(weights.bytes)
        }
        #expect(results[0] == results[1])
        #expect(Double(bytes[1]) < 0.6 * Double(bytes[0]), "bfloat16 holds \(bytes[1]) bytes, float32 \(bytes[0])")
    }

    @Test func noBufferHoldsTokensTimesVocabulary() throws {
        // A tiny model with a large vocabulary: 512 tokens × 50,000 entries would be 25.6M floats.
        let config = ModelConfig(
            architecture: .llama, hiddenSize: 32, intermediateSize: 64, layerCount: 1, headCount: 2, kvHeadCount: 1,
            headDim: 16, vocabSize: 50_000, rmsNormEps: 1e-5, ropeTheta: 10_000, ropeScaling: nil,
            maxPositionEmbeddings: 512, tieWordEmbeddings: true, attentionBias: false, qkNorm: false, bosTokenId: nil,
            eosTokenIds: [])
        var tensors: [String: WeightTensor] = [:]
        for (k, tensor) in WeightNames.expectedTensors(for: config).enumerated() {
            let count = tensor.shape.reduce(1, *)
            tensors[tensor.huggingFaceName] = WeightTensor(
                shape: tensor.shape, values: (0..<count).map { Float(0.05 * sin(Double($0 * 7 + k))) })
        }
        let lora = LoRAParameters(model: config, config: LoRAConfig(rank: 2, alpha: 4))
        lora.initialize(seed: 1)
        let model = Transformer(
            weights: try TransformerWeights(ModelWeights(config: config, path: "tiny", tensors: tensors)), lora: lora,
            threads: 2, maxPosition: 512)
        let tokens = (0..<512).map { Int32(($0 * 7919) % 50_000) }
        let batch = TokenBatch(sequences: [tokens], labels: [Array(tokens.dropFirst()) + [-1]])
        let totals = model.run(batch, gradScale: 1 / 511)
        #expect(totals.targetCount == 511)
        #expect(totals.lossSum.isFinite)
        #expect(model.largestBufferFloats < 512 * 50_000 / 2)
        #expect(model.largestBufferFloats <= 128 * 50_000 + 2 * 128 * 32)
    }
}

/// bfloat16 rounding as Formats does it, restated so the test does not trust the code under test.
func floatToBFloat16BitsForTest(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
}
