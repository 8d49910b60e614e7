import Formats
// Loads every tensor a config requires, by HF name, as Float32 in HF layout: from a GGUF (dequantized, Q/K rows
// restored to HF order for llama) or from a folder of safetensors.
import Foundation

/// One weight tensor in HF orientation (`[out, in]` for matrices), row-major Float32.
public struct WeightTensor: Sendable, Equatable {
    public let shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(
            shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// All weights of a model, by HF name, checked against its configuration.
public struct ModelWeights: Sendable {
    public let config: ModelConfig
    /// The file or folder the weights came from.
    public let path: String
    /// True when the output layer is the token embedding (then `lm_head.weight` is not stored separately).
    public let tied: Bool
    /// HF name → tensor, for every entry of `WeightNames.expectedTensors(for: config)`.
    public private(set) var tensors: [String: WeightTensor]

    public init(config: ModelConfig, path: String, tensors: [String: WeightTensor]) {
        self.config = config
        self.path = path
        self.tied = config.tieWordEmbeddings
        self.tensors = tensors
    }

    /// The tensor with HF name `name`; `lm_head.weight` of a tied model is the embedding.
    public func tensor(_ name: String) throws -> WeightTensor {
        if let tensor = tensors[name] { return tensor }
        if tied, name == WeightNames.huggingFaceName(.outputHead),
            let embedding = tensors[WeightNames.huggingFaceName(.tokenEmbedding)]
        {
            return embedding
        }
        throw ModelsError.missingTensor(path: path, tensor: name)
    }

    /// Removes and returns the tensor with HF name `name`, so a consumer can move weights into its own buffers
    /// without holding two copies of the model (the embedding stays while it also serves as a tied output head).
    public mutating func take(_ name: String) throws -> WeightTensor {
        let tensor = try self.tensor(name)
        if !(tied && name == WeightNames.huggingFaceName(.tokenEmbedding)) { tensors[name] = nil }
        return tensor
    }

    /// The tensor playing `role` (in `layer` for per-layer roles).
    public func tensor(_ role: WeightRole, layer: Int? = nil) throws -> WeightTensor {
        try tensor(WeightNames.huggingFaceName(role, layer: layer))
    }

    /// Loads a `.gguf` file or an HF folder (config.json + safetensors), picked by what `url` is.
    public static func load(from url: URL) throws -> ModelWeights {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelsError.notAModel(path: url.path, reason: "no such file or folder")
        }
        if isDirectory.boolValue { return try load(huggingFaceFolder: url) }
        return try load(gguf: try convertingFormatErrors { try GGUFFile(url: url) })
    }

    /// Dequantizes every expected tensor of a GGUF file and restores HF row order of q/k for llama-family files.
    public static func load(gguf file: GGUFFile) throws -> ModelWeights {
        let config = try ModelConfig.fromGGUF(file)
        let unpermute = config.architecture.ggufPermutesQueryKey
        var tensors: [String: WeightTensor] = [:]
        for expected in WeightNames.expectedTensors(for: config) {
            guard let info = file.tensor(named: expected.ggufName) else {
                throw ModelsError.missingTensor(
                    path: file.path, tensor: "\(expected.ggufName) (\(expected.huggingFaceName))")
            }
            guard info.shape == expected.shape else {
                throw ModelsError.shapeMismatch(
                    path: file.path, tensor: expected.ggufName, expected: expected.shape, found: info.shape)
            }
            var values = try convertingFormatErrors { try file.dequantize(info) }
            if unpermute, let heads = permutedHeads(expected.role, config: config) {
                values = QueryKeyPermutation.ggufToHuggingFace(
                    values, rows: expected.shape[0],
                    columns: expected.shape.count == 2 ? expected.shape[1] : 1,
                    heads: heads)
            }
            tensors[expected.huggingFaceName] = WeightTensor(shape: expected.shape, values: values)
        }
        return ModelWeights(config: config, path: file.path, tensors: tensors)
    }

    /// Reads `config.json` and every expected tensor from the folder's safetensors (one file or shards).
    public static func load(huggingFaceFolder folder: URL) throws -> ModelWeights {
        let configURL = folder.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ModelsError.notAModel(path: folder.path, reason: "no readable config.json")
        }
        let config = try ModelConfig.fromHuggingFace(configJSON: data, path: configURL.path)
        let collection = try convertingFormatErrors { try SafetensorsCollection(folder: folder) }
        var tensors: [String: WeightTensor] = [:]
        for expected in WeightNames.expectedTensors(for: config) {
            guard let (file, info) = collection.locate(expected.huggingFaceName) else {
                throw ModelsError.missingTensor(path: folder.path, tensor: expected.huggingFaceName)
            }
            guard info.shape == expected.shape else {
                throw ModelsError.shapeMismatch(
                    path: file.path, tensor: expected.huggingFaceName, expected: expected.shape,
                    found: info.shape)
            }
            let values = try convertingFormatErrors { try file.floats(info) }
            tensors[expected.huggingFaceName] = WeightTensor(shape: expected.shape, values: values)
        }
        return ModelWeights(config: config, path: folder.path, tensors: tensors)
    }

    /// The head count whose rows llama.cpp interleaved for `role`, or nil when the role is not permuted.
    private static func permutedHeads(_ role: WeightRole, config: ModelConfig) -> Int? {
        switch role {
        case .query, .queryBias: return config.headCount
        case .key, .keyBias: return config.kvHeadCount
        default: return nil
        }
    }
}

/// Runs a Formats call and reports its error as this module's.
func convertingFormatErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as FormatsError {
        throw ModelsError.format(error)
    }
}

// MARK: - Q/K row order

/// llama.cpp's converter reorders the rows of q_proj and k_proj (weights and biases) of llama-family models so that
/// RoPE can rotate adjacent pairs (interleaved) instead of HF's halves (DESIGN.md §4 trap 1).
///
/// Within each head of D rows, HF row `s·D/2 + j` (s ∈ {0, 1}, j < D/2) becomes GGUF row `2j + s`; in numpy,
/// `w.reshape(heads, 2, D/2, in).swapaxes(1, 2).reshape(w.shape)` (llama.cpp `convert_hf_to_gguf.py`, `permute`).
/// For k, `heads` is the KV head count.
public enum QueryKeyPermutation {
    /// HF row order → GGUF row order, as the converter writes it.
    ///
    /// The export uses it for lora_B of q/k in llama GGUF adapters.
    /// `values` holds `rows × columns` row-major; `rows` must be a multiple of `2·heads`.
    public static func huggingFaceToGGUF(_ values: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        reorder(values, rows: rows, columns: columns, heads: heads) { half, s, j in
            (destination: 2 * j + s, source: s * half + j)
        }
    }

    /// GGUF row order → HF row order (the inverse of `huggingFaceToGGUF`), applied when loading a llama GGUF.
    public static func ggufToHuggingFace(_ values: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        reorder(values, rows: rows, columns: columns, heads: heads) { half, s, j in
            (destination: s * half + j, source: 2 * j + s)
        }
    }

    /// Copies row `source` to row `destination` within every head, for each (s, j) of the head's D rows.
    private static func reorder(
        _ values: [Float], rows: Int, columns: Int, heads: Int,
        _ map: (_ half: Int, _ s: Int, _ j: Int) -> (destination: Int, source: Int)
    ) -> [Float] {
        precondition(
            heads > 0 && rows % (2 * heads) == 0, "\(rows) rows do not split into \(heads) heads of pairs")
        precondition(values.count == rows * columns, "\(values.count) values are not \(rows)×\(columns)")
        let headRows = rows / heads, half = headRows / 2
        var result = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { input in
            result.withUnsafeMutableBufferPointer { output in
                for head in 0..<heads {
                    let base = head * headRows
                    for s in 0..<2 {
                        for j in 0..<half {
                            let (destination, source) = map(half, s, j)
                            let to = (base + destination) * columns, from = (base + source) * columns
                            for c in 0..<columns { output[to + c] = input[from + c] }
                        }
                    }
                }
            }
        }
        return result
    }
}
