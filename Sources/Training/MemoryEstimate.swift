// How much memory a run needs, estimated before loading anything heavy, and how much the machine has.
import Foundation
import Models
import Tensors

/// Bytes a run needs, by part.
public struct MemoryEstimate: Sendable, Equatable {
    /// Frozen base weights in their storage (and the Float32 norm vectors).
    public var weights: Int
    /// Activations of the largest micro-batch and the products' widening scratch (Transformer.activationBytes).
    public var activations: Int
    /// LoRA values, gradients, two AdamW moments (and a kept best copy with early stopping).
    public var adapterAndOptimizer: Int
    /// The mapped model file while matrices are widened or rounded at load (0 when they are kept as stored).
    public var loading: Int
    /// The runtime, BLAS buffers, tokenizer and data.
    public var overhead: Int

    /// The peak: loading happens before activations and the optimizer state exist.
    public var total: Int { weights + max(loading, activations + adapterAndOptimizer) + overhead }

    /// `parameterCount` and `storedBytes` describe the model's tensors on disk (ModelInspection); without them the
    /// weights are taken as Float32.
    public init(
        config: ModelConfig, parameters: TrainingParameters, microBatchTokens: Int, precision: Precision = .fp32,
        storage: WeightStorage = .float32, parameterCount: Int? = nil, storedBytes: Int? = nil
    ) {
        let elements = parameterCount ?? config.parameterCount
        let stored = storedBytes ?? 4 * elements
        weights = storage.bytes(elements: elements, storedBytes: stored)
        loading = storage == .quantized ? 0 : stored
        let c = config.hiddenSize
        let widened: Int
        switch (storage, precision) {
        case (.float32, .fp32), (.bfloat16, .bf16): widened = 0
        default: widened = max(config.vocabSize * c, config.intermediateSize * c, config.headCount * config.headDim * c)
        }
        activations = Transformer.activationBytes(
            config: config, lora: parameters.lora, tokens: microBatchTokens,
            checkpointing: parameters.checkpointing, precision: precision, widenedElements: widened)
        let loraCount = LoRAParameters(model: config, config: parameters.lora).count
        adapterAndOptimizer = 4 * loraCount * (parameters.patience == nil ? 4 : 5)
        overhead = 200 << 20
    }

    /// One change that lowers the estimate, and the total with it.
    public struct Saving: Sendable, Equatable {
        /// The flag to add: `--weights quantized`, `--checkpointing`, `--max-length 1024`.
        public let change: String
        public let total: Int
    }

    /// The changes that make the run need less, most saving first: quantized weights, bf16 weights,
    /// checkpointing, half the length. `estimate` rebuilds the estimate for changed settings.
    public static func savings(
        parameters: TrainingParameters, storage: WeightStorage, current: Int,
        estimate: (_ parameters: TrainingParameters, _ storage: WeightStorage) -> MemoryEstimate
    ) -> [Saving] {
        var options: [Saving] = []
        if storage != .quantized {
            options.append(Saving(change: "--weights quantized", total: estimate(parameters, .quantized).total))
        }
        if storage == .float32 {
            options.append(Saving(change: "--weights bf16", total: estimate(parameters, .bfloat16).total))
        }
        if !parameters.checkpointing {
            var changed = parameters
            changed.checkpointing = true
            options.append(Saving(change: "--checkpointing", total: estimate(changed, storage).total))
        }
        if parameters.maxLength >= 256 {
            var changed = parameters
            changed.maxLength = parameters.maxLength / 2
            options.append(Saving(change: "--max-length \(changed.maxLength)", total: estimate(changed, storage).total))
        }
        return options.filter { $0.total < current }.sorted { $0.total < $1.total }
    }

    /// Memory available to a new process: MemAvailable on Linux, free + inactive + purgeable pages on macOS.
    public static func availableBytes() -> Int? {
        #if os(Linux)
            guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
            }
            return nil
        #else
            var stats = vm_statistics64()
            var count = mach_msg_type_number_t(
                MemoryLayout<vm_statistics64>.size / MemoryLayout<integer_t>.size)
            let result = withUnsafeMutablePointer(to: &stats) {
                $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                    host_statistics64(mach_host_self(), HOST_VM_INFO64, $0, &count)
                }
            }
            guard result == KERN_SUCCESS else { return nil }
            let pages = Int(stats.free_count) + Int(stats.inactive_count) + Int(stats.purgeable_count)
            return pages * Int(vm_kernel_page_size)
        #endif
    }
}
