// The torch backend's settings as a run saves them in config.json; the backend itself is the TorchBackend target.
import Foundation

/// How the torch backend is to run: which Python, how many GPUs, and the precision and quantization it may use.
public struct TorchSettings: Codable, Sendable, Equatable {
    /// How frozen weights are held and the forward runs.
    public enum Precision: String, Codable, Sendable, CaseIterable {
        /// bf16 autocast on CUDA GPUs that support it (compute capability 8.0 or newer), fp32 elsewhere.
        case auto
        case fp32
        case bf16
    }

    /// The Python interpreter; nil means `TAILOR_PYTHON`, else `python3` on the PATH.
    public var python: String?
    /// GPUs to train on: 1 runs one process; more go through `accelerate launch`; 0 means every visible GPU.
    public var gpus: Int
    /// Shard the model across the GPUs (FSDP) instead of replicating it (DDP).
    public var fsdp: Bool
    /// Load the frozen base weights as 4-bit NF4 (QLoRA; CUDA with bitsandbytes only).
    public var quantize4Bit: Bool
    public var precision: Precision
    /// "auto" (cuda, then mps, then cpu), "cpu" or "cuda".
    public var device: String

    public init(
        python: String? = nil, gpus: Int = 1, fsdp: Bool = false, quantize4Bit: Bool = false,
        precision: Precision = .auto, device: String = "auto"
    ) {
        self.python = python
        self.gpus = gpus
        self.fsdp = fsdp
        self.quantize4Bit = quantize4Bit
        self.precision = precision
        self.device = device
    }

    /// Throws on combinations no run can use.
    public func validate() throws {
        guard gpus >= 0 else {
            throw TrainingError.invalidParameter(name: "--gpus", value: "\(gpus)", expected: "a count of GPUs or all")
        }
        guard ["auto", "cpu", "cuda"].contains(device) else {
            throw TrainingError.invalidParameter(name: "--device", value: device, expected: "auto, cpu or cuda")
        }
        if fsdp && gpus == 1 {
            throw TrainingError.invalidParameter(
                name: "--fsdp", value: "with one GPU", expected: "--gpus 2 or more (or all); one GPU needs no sharding")
        }
        if device == "cpu" && (quantize4Bit || gpus != 1) {
            throw TrainingError.invalidParameter(
                name: "--device", value: "cpu", expected: "cuda for --quantize 4bit and --gpus (they need CUDA GPUs)")
        }
    }
}
