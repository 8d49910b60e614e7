// LoRA parameters for every adapted projection of the model, in one flat buffer so the optimizer, checkpoints and
// adapter files treat them as a single vector.
//
// A LoRA linear layer computes y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with A: [R, In], B: [Out, R], s = alpha/R (alpha/√R with rsLoRA).
// A starts as PEFT's kaiming-uniform(a = √5), i.e. U(−1/√In, 1/√In); B starts at zero, so training starts from the base model.
import Foundation
import Tensors

/// A projection LoRA can adapt, named by the short names users type (`--targets q,k,v,o,gate,up,down`).
public enum LoRATarget: String, Sendable, Codable, CaseIterable {
    case q, k, v, o, gate, up, down

    /// The module path inside a decoder layer, as PEFT names it (`self_attn.q_proj`).
    public var modulePath: String {
        switch self {
        case .q: return "self_attn.q_proj"
        case .k: return "self_attn.k_proj"
        case .v: return "self_attn.v_proj"
        case .o: return "self_attn.o_proj"
        case .gate: return "mlp.gate_proj"
        case .up: return "mlp.up_proj"
        case .down: return "mlp.down_proj"
        }
    }

    /// The base-model weight this target adapts.
    public var role: WeightRole {
        switch self {
        case .q: return .query
        case .k: return .key
        case .v: return .value
        case .o: return .attentionOutput
        case .gate: return .gate
        case .up: return .up
        case .down: return .down
        }
    }

    /// PEFT's `target_modules` entry (`q_proj`).
    public var peftModuleName: String { String(modulePath.split(separator: ".").last ?? "") }

    /// (in, out) features of this projection for `config`.
    public func features(_ config: ModelConfig) -> (input: Int, output: Int) {
        let c = config.hiddenSize
        let f = config.intermediateSize
        switch self {
        case .q: return (c, config.headCount * config.headDim)
        case .k, .v: return (c, config.kvHeadCount * config.headDim)
        case .o: return (config.headCount * config.headDim, c)
        case .gate, .up: return (c, f)
        case .down: return (f, c)
        }
    }
}

/// LoRA hyper-parameters.
public struct LoRAConfig: Sendable, Equatable, Codable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var useRSLoRA: Bool
    public var targets: [LoRATarget]

    public init(rank: Int = 16, alpha: Float = 32, dropout: Float = 0, useRSLoRA: Bool = false,
                targets: [LoRATarget] = LoRATarget.allCases) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.useRSLoRA = useRSLoRA
        self.targets = LoRATarget.allCases.filter(targets.contains)
    }

    /// s: alpha/R, or alpha/√R with rsLoRA.
    public var scale: Float { useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }
}

/// Where one adapted projection's A and B live in the flat parameter vector.
public struct LoRASlot: Sendable, Equatable {
    public let layer: Int
    public let target: LoRATarget
    public let inFeatures: Int
    public let outFeatures: Int
    /// Offset of A ([R, In]) in the flat vector; B ([Out, R]) follows it.
    public let offsetA: Int
    public var offsetB: Int { offsetA + rankTimesIn }
    let rankTimesIn: Int

    /// PEFT's key prefix for this module: `base_model.model.model.layers.N.self_attn.q_proj`.
    public var peftPrefix: String { "base_model.model.model.layers.\(layer).\(target.modulePath)" }
}

/// Every LoRA parameter of a model, with their gradients, in two flat buffers.
public final class LoRAParameters: @unchecked Sendable {
    public let config: LoRAConfig
    public let slots: [LoRASlot]
    /// A and B of every slot, in slot order.
    public let values: FloatBuffer
    /// ∂loss/∂values, accumulated by backward passes until the optimizer consumes them.
    public let gradients: FloatBuffer
    private let slotIndex: [Int: Int]

    /// Lays out A and B for `targets` in every layer; all zero until `initialize` or `load`.
    public init(model: ModelConfig, config: LoRAConfig) {
        self.config = config
        var slots: [LoRASlot] = []
        var offset = 0
        for layer in 0..<model.layerCount {
            for target in config.targets {
                let (input, output) = target.features(model)
                slots.append(LoRASlot(layer: layer, target: target, inFeatures: input, outFeatures: output,
                                      offsetA: offset, rankTimesIn: config.rank * input))
                offset += config.rank * (input + output)
            }
        }
        self.slots = slots
        values = FloatBuffer(count: offset)
        gradients = FloatBuffer(count: offset)
        var index: [Int: Int] = [:]
        for (i, slot) in slots.enumerated() { index[Self.key(slot.layer, slot.target)] = i }
        slotIndex = index
    }

    private static func key(_ layer: Int, _ target: LoRATarget) -> Int {
        layer * 16 + (LoRATarget.allCases.firstIndex(of: target) ?? 0)
    }

    /// The slot adapting `target` in `layer`, if that projection is adapted.
    public func slot(layer: Int, target: LoRATarget) -> LoRASlot? {
        slotIndex[Self.key(layer, target)].map { slots[$0] }
    }

    /// Number of trainable parameters.
    public var count: Int { values.count }

    /// PEFT's initialisation: A ~ U(−1/√In, 1/√In) from a seeded generator, B = 0.
    public func initialize(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        values.zero()
        for slot in slots {
            let bound = 1 / Float(slot.inFeatures).squareRoot()
            let a = values.pointer + slot.offsetA
            for i in 0..<(config.rank * slot.inFeatures) {
                a[i] = Float.random(in: -bound..<bound, using: &generator)
            }
        }
    }
}

/// SplitMix64: small, fast and reproducible on every platform (Swift's default generator is not seedable).
public struct SplitMix64: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
