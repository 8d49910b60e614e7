// Every way a model file can be wrong, with what was expected, what was found, and what to do.

/// Errors from reading or writing model files (safetensors, GGUF).
public enum FormatsError: Error, CustomStringConvertible, Equatable {
    /// The file cannot be opened, read, mapped or written.
    case io(path: String, reason: String)
    /// The file ends before a structure that its header announces.
    case truncated(path: String, what: String, needed: Int, available: Int)
    /// The bytes do not follow the format; `reason` says what was expected and what was found.
    case malformed(path: String, reason: String)
    /// A named tensor is not in the file.
    case tensorNotFound(path: String, tensor: String)
    /// A tensor's element type cannot be converted to Float32 by Tailor.
    case unsupportedTensorType(path: String, tensor: String, type: String)

    public var description: String {
        switch self {
        case .io(let path, let reason):
            return "\(path): \(reason)"
        case .truncated(let path, let what, let needed, let available):
            return "\(path): file is truncated: \(what) needs \(needed) bytes but only \(available) remain;"
                + " the download or copy is incomplete, fetch the file again"
        case .malformed(let path, let reason):
            return "\(path): \(reason)"
        case .tensorNotFound(let path, let tensor):
            return "\(path): no tensor named '\(tensor)'; check that the file belongs to this model"
        case .unsupportedTensorType(let path, let tensor, let type):
            return "\(path): tensor '\(tensor)' has type \(type), which Tailor cannot dequantize;"
                + " supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K —"
                + " use a GGUF quantized with one of those, or the original safetensors"
        }
    }
}
