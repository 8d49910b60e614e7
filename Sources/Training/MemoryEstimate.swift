// How much memory a run needs, estimated before loading anything heavy, and how much the machine has.
import Foundation
import Models

/// Bytes a run needs, by part.
public struct MemoryEstimate: Sendable, Equatable {
    /// Frozen base weights as Float32.
    public var weights: Int
    /// Activations of the largest micro-batch (Transformer.activationBytes).
    public var activations: Int
    /// LoRA values, gradients, two AdamW moments (and a kept best copy with early stopping).
    public var adapterAndOptimizer: Int
    /// The runtime, BLAS buffers, tokenizer and data.
    public var overhead: Int

    public var total: Int { weights + activations + adapterAndOptimizer + overhead }

    public init(config: ModelConfig, parameters: TrainingParameters, microBatchTokens: Int) {
        weights = 4 * config.parameterCount
        activations = Transformer.activationBytes(
            config: config, lora: parameters.lora, tokens: microBatchTokens,
            checkpointing: parameters.checkpointing)
        let loraCount = LoRAParameters(model: config, config: parameters.lora).count
        adapterAndOptimizer = 4 * loraCount * (parameters.patience == nil ? 4 : 5)
        overhead = 200 << 20
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
