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

    /// The module path inside a decoder layer of `architecture`, as PEFT names it: the weight's name without
    /// `.weight` (`self_attn.q_proj`; Phi-2's `self_attn.dense`, `mlp.fc1`).
    public func modulePath(for architecture: Architecture) -> String {
        let name = WeightNames.table(for: architecture).first { $0.role == role }?.huggingFace ?? ""
        return String(name.dropLast(".weight".count))
    }

    /// PEFT's `target_modules` entry (`q_proj`, `dense`).
    public func peftModuleName(for architecture: Architecture) -> String {
        String(modulePath(for: architecture).split(separator: ".").last ?? "")
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

    /// The targets as `architecture` can adapt them: a fused projection (Phi-3's `qkv_proj`) is one module, so
    /// naming any of its parts adapts all of them; a projection the family lacks (Phi-2's gate) is dropped.
    public func expanded(for architecture: Architecture) -> LoRAConfig {
        var copy = self
        let spec = architecture.spec
        copy.targets = LoRATarget.allCases.filter { target in
            guard target != .gate || spec.feedForward.isGated else { return false }  // Phi-2's MLP has no gate
            return targets.contains(target) || (spec.fused(target)?.parts.contains(where: targets.contains) ?? false)
        }
        return copy
    }

    /// PEFT's `target_modules` for `architecture`: `q_proj`, …, or the fused modules' names (`qkv_proj`).
    public func peftTargetModules(for architecture: Architecture) -> [String] {
        let spec = architecture.spec
        var names: [String] = []
        for target in targets {
            let name = spec.fused(target)?.peftModuleName ?? target.peftModuleName(for: architecture)
            if !names.contains(name) { names.append(name) }
        }
        return names
    }
}

/// Where one adapted projection's A and B live in the flat parameter vector.
public struct LoRASlot: Sendable, Equatable {
    public let layer: Int
    public let target: LoRATarget
    public let inFeatures: Int
    public let outFeatures: Int
    /// Offset of A ([R, In]) in the flat vector; the parts of a fused module share one A.
    public let offsetA: Int
    /// Offset of B ([Out, R]); a fused module's parts are consecutive row blocks of its B.
    public let offsetB: Int
}

/// One adapted module as adapter files store it: a projection, or a fused stack of projections (Phi-3's
/// `qkv_proj`) with one A [R, In] and one B [Σ Out, R] whose row blocks are its parts' B.
public struct LoRAModule: Sendable, Equatable {
    public let layer: Int
    /// The module path inside a decoder layer, as PEFT names it (`self_attn.q_proj`, `self_attn.qkv_proj`).
    public let modulePath: String
    /// The projections it adapts, top rows first.
    public let parts: [LoRASlot]
    public var inFeatures: Int { parts[0].inFeatures }
    public var outFeatures: Int { parts.reduce(0) { $0 + $1.outFeatures } }
    public var offsetA: Int { parts[0].offsetA }
    public var offsetB: Int { parts[0].offsetB }

    /// PEFT's key prefix for this module: `base_model.model.model.layers.N.self_attn.q_proj`.
    public var peftPrefix: String { "base_model.model.model.layers.\(layer).\(modulePath)" }
}

/// Every LoRA parameter of a model, with their gradients, in two flat buffers.
public final class LoRAParameters: @unchecked Sendable {
    /// The settings, with targets expanded to whole fused modules (`LoRAConfig.expanded(for:)`).
    public let config: LoRAConfig
    public let architecture: Architecture
    public let slots: [LoRASlot]
    /// The slots grouped as adapter files store them (one per slot, except for fused projections).
    public let modules: [LoRAModule]
    /// A and B of every slot, in slot order.
    public let values: FloatBuffer
    /// ∂loss/∂values, accumulated by backward passes until the optimizer consumes them.
    public let gradients: FloatBuffer
    private let slotIndex: [Int: Int]

    /// Lays out A and B for `targets` in every layer, module after module (A, then B); all zero until
    /// `initialize` or `load`.
    public init(model: ModelConfig, config: LoRAConfig) {
        let config = config.expanded(for: model.architecture)
        let spec = model.architecture.spec
        self.config = config
        architecture = model.architecture
        var slots: [LoRASlot] = []
        var modules: [LoRAModule] = []
        var offset = 0
        let r = config.rank
        for layer in 0..<model.layerCount {
            for target in config.targets {
                let fused = spec.fused(target)
                if let fused, fused.parts[0] != target { continue }  // laid out with its module's first part
                let parts = fused?.parts ?? [target]
                let input = target.features(model).input
                var offsetB = offset + r * input
                let moduleSlots = parts.map { part -> LoRASlot in
                    let output = part.features(model).output
                    defer { offsetB += output * r }
                    return LoRASlot(layer: layer, target: part, inFeatures: input, outFeatures: output,
                                    offsetA: offset, offsetB: offsetB)
                }
                slots += moduleSlots
                modules.append(LoRAModule(
                    layer: layer, modulePath: fused?.modulePath ?? target.modulePath(for: model.architecture),
                    parts: moduleSlots))
                offset = offsetB
            }
        }
        self.slots = slots
        self.modules = modules
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
        for module in modules {
            let bound = 1 / Float(module.inFeatures).squareRoot()
            let a = values.pointer + module.offsetA
            for i in 0..<(config.rank * module.inFeatures) {
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
