// Every way a model description or its weights can be wrong, with what was expected, what was found, and what to do.
import Formats

/// Errors from reading a model's configuration and weights.
public enum ModelsError: Error, CustomStringConvertible, Equatable {
    /// The model's architecture is not one Tailor implements.
    case unsupportedArchitecture(path: String, found: String)
    /// A configuration key is absent that has no safe default.
    case missingKey(path: String, key: String)
    /// A configuration key holds a value that cannot describe a working model.
    case invalidValue(path: String, key: String, found: String, expected: String)
    /// `config.json` is not valid JSON or a key has the wrong JSON type.
    case malformedConfig(path: String, reason: String)
    /// The model uses a RoPE scaling scheme Tailor does not implement.
    case unsupportedRopeScaling(path: String, type: String)
    /// A tensor the configuration requires is not in the weights.
    case missingTensor(path: String, tensor: String)
    /// A tensor's shape differs from the one the configuration implies.
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    /// The path is neither a `.gguf` file nor a folder with `config.json`.
    case notAModel(path: String, reason: String)
    /// The underlying file could not be read.
    case format(FormatsError)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let path, let found):
            let supported = Architecture.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(path): unsupported architecture \(found); supported: \(supported)"
        case .missingKey(let path, let key):
            return
                "\(path): missing '\(key)'; the model description is incomplete, re-export or re-download the model"
        case .invalidValue(let path, let key, let found, let expected):
            return
                "\(path): '\(key)' is \(found), expected \(expected); fix the value or re-download the model"
        case .malformedConfig(let path, let reason):
            return "\(path): \(reason); the file must be the model's Hugging Face config.json"
        case .unsupportedRopeScaling(let path, let type):
            return "\(path): RoPE scaling '\(type)' is not supported; supported: llama3, linear, default"
                + " — use a model without it or with a supported scaling"
        case .missingTensor(let path, let tensor):
            return "\(path): missing tensor '\(tensor)', which the model's configuration requires;"
                + " the weights are incomplete or belong to another model"
        case .shapeMismatch(let path, let tensor, let expected, let found):
            return
                "\(path): tensor '\(tensor)' has shape \(found), expected \(expected) from the configuration;"
                + " the weights and config.json belong to different models"
        case .notAModel(let path, let reason):
            return "\(path): \(reason); give a .gguf file or a folder with config.json and *.safetensors"
        case .format(let error):
            return error.description
        }
    }
}
