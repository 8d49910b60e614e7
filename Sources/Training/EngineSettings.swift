// `--precision` and `--weights` for the native engine: what the user asked for, and what it resolves to on this
// machine for this model, with the reason printed in the run's header.
import Models
import Tensors

/// `--precision auto|fp32|bf16` (the same flag and meaning as the torch backend's).
public enum PrecisionSetting: String, Sendable, Codable, CaseIterable {
    case auto, fp32, bf16

    /// The precision to run in and why; bf16 where the CPU has no native bf16 products is an error.
    public func resolve(kernels: MatmulKernels = .current) throws -> (precision: Precision, reason: String) {
        switch self {
        case .auto: return kernels.automaticPrecision()
        case .fp32: return (.fp32, "--precision fp32")
        case .bf16:
            guard kernels.nativeBFloat16 else {
                throw TrainingError.invalidParameter(
                    name: "--precision", value: "bf16",
                    expected: "fp32 or auto on this machine (\(kernels.description) has no native bf16 products)")
            }
            return (.bf16, "--precision bf16")
        }
    }
}

/// `--weights auto|f32|bf16|quantized`: how the frozen weight matrices are held.
public enum WeightSetting: String, Sendable, Codable, CaseIterable {
    case auto, f32, bf16, quantized

    /// The storage and why. `auto` widens the matrices to the products' precision (the fastest) when that copy
    /// takes at most a quarter of the available memory, and keeps them as stored (quant blocks, bf16) otherwise.
    ///
    /// `parameters`: elements of the model's tensors; `storedBytes`: their bytes on disk.
    public func resolve(parameters: Int, storedBytes: Int, precision: Precision, availableBytes: Int?)
        -> (storage: WeightStorage, reason: String)
    {
        switch self {
        case .f32: return (.float32, "--weights f32")
        case .bf16: return (.bfloat16, "--weights bf16")
        case .quantized: return (.quantized, "--weights quantized")
        case .auto:
            let dense: WeightStorage = precision == .bf16 ? .bfloat16 : .float32
            let denseBytes = dense.bytes(elements: parameters, storedBytes: storedBytes)
            if denseBytes <= storedBytes {
                return (dense, "stored as \(dense.rawValue) or wider")
            }
            guard let available = availableBytes else { return (.quantized, "memory unknown: kept as stored") }
            if denseBytes <= available / 4 {
                return (dense, "\(dense.rawValue) copy fits easily (\(gigabytes(denseBytes)) of \(gigabytes(available)) free)")
            }
            return (.quantized,
                    "a \(dense.rawValue) copy would take \(gigabytes(denseBytes)) of \(gigabytes(available)) free")
        }
    }
}

/// `12 GB`, `3.4 GB`, `850 MB`.
func gigabytes(_ bytes: Int) -> String {
    let value = Double(bytes) / 1e9
    if value >= 10 { return "\(Int(value.rounded())) GB" }
    if value >= 1 { return "\((value * 10).rounded() / 10) GB" }
    return "\(Int((value * 1000).rounded())) MB"
}
