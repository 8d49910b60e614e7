import Formats
// Loads every tensor a config requires, by HF name, in HF layout: from a GGUF or from a folder of safetensors.
// Matrices stay as stored (quant blocks, bf16, f16 views into the mapped file; llama's Q/K rows restored to HF
// order by moving whole packed rows); vectors are widened to Float32.
import Foundation
import Tensors

/// One weight tensor in HF orientation (`[out, in]` for matrices): a stored matrix, or row-major Float32 values.
public struct WeightTensor: @unchecked Sendable, Equatable {
    public let shape: [Int]
    /// The matrix in its stored layout, when the tensor was kept as it came; nil once it holds Float32 values.
    public private(set) var matrix: WeightMatrix?
    private var floats: [Float]?

    public init(shape: [Int], values: [Float]) {
        precondition(
            shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        floats = values
        matrix = nil
    }

    /// A 2-D tensor kept in its stored layout.
    public init(matrix: WeightMatrix) {
        shape = [matrix.rows, matrix.columns]
        self.matrix = matrix
        floats = nil
    }

    /// The elements in Float32: decoded from the stored layout on every access (read it once), and setting them
    /// drops the stored matrix.
    public var values: [Float] {
        get {
            if let floats { return floats }
            guard let matrix else { return [] }
            return [Float](unsafeUninitializedCapacity: matrix.rows * matrix.columns) { buffer, count in
                matrix.decodeRows(0..<matrix.rows, into: buffer.baseAddress!, pool: .allCores)
                count = matrix.rows * matrix.columns
            }
        }
        set {
            floats = newValue
            matrix = nil
        }
    }

    /// The stored element type: `F32`, `BF16`, `F16`, `Q4_K`, …
    public var storedType: String { matrix?.layout.name ?? "F32" }

    public static func == (a: WeightTensor, b: WeightTensor) -> Bool {
        a.shape == b.shape && (a.matrix === b.matrix || a.values == b.values)
    }
}

/// GGUF quant blocks (and float16) as a packed row format the engine widens on demand.
struct GGUFRowFormat: PackedRowFormat {
    let type: GGMLType
    let blockSize: Int
    let typeSize: Int

    /// The format for `type`, or nil when Tailor cannot decode it.
    init?(_ type: GGMLType) {
        guard GGUFQuantization.supportedTypes.contains(type), let blockSize = type.blockSize,
            let typeSize = type.typeSize
        else { return nil }
        self.type = type
        self.blockSize = blockSize
        self.typeSize = typeSize
    }

    var name: String { type.name }
    func rowBytes(columns: Int) -> Int { columns / blockSize * typeSize }
    func decode(row: UnsafeRawPointer, columns: Int, into out: UnsafeMutablePointer<Float>) {
        GGUFQuantization.decodeBlocks(type, row, blocks: columns / blockSize, into: out)
    }
    func dot(row: UnsafeRawPointer, columns: Int, x: UnsafePointer<Float>) -> Float {
        GGUFQuantization.dot(type, row, blocks: columns / blockSize, x: x)
    }
    var hasIntegerDot: Bool { blockSize == Int16Activations.blockSize && GGUFQuantization.hasIntegerKernel(type) }
    func dot(rows: UnsafeRawPointer, rowBytes: Int, count: Int, columns: Int, x: Int16Activations,
             into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        GGUFQuantization.dotRows(
            type, rows, rowBytes: rowBytes, rows: count, blocks: columns / blockSize, quantized: x.quantized,
            scales: x.scales, sums: x.sums, into: y, accumulate: accumulate)
    }
}

/// A stored 2-D tensor as a `WeightMatrix` viewing (or, with `rowOrder`, copying) `bytes`, or nil when its
/// element type is kept as Float32 values instead (F32 rows that are not 4-byte aligned, unsupported types).
func storedMatrix(
    _ bytes: UnsafeRawBufferPointer, type: GGMLType, rows: Int, columns: Int, owner: AnyObject, rowOrder: [Int]?
) -> WeightMatrix? {
    guard let base = bytes.baseAddress else { return nil }
    let layout: WeightLayout
    switch type {
    case .f32:
        guard Int(bitPattern: base) % 4 == 0 else { return nil }
        layout = .float32
    case .bf16: layout = .bfloat16
    default:
        guard let format = GGUFRowFormat(type), columns % format.blockSize == 0 else { return nil }
        layout = .packed(format)
    }
    let matrix = WeightMatrix(viewing: base, layout: layout, rows: rows, columns: columns, owner: owner)
    guard matrix.bytes == bytes.count else { return nil }
    guard let rowOrder else { return matrix }
    return WeightMatrix(copying: base, layout: layout, rows: rows, columns: columns, rowOrder: rowOrder)
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
        if tied, name == WeightNames.huggingFaceName(.outputHead, architecture: config.architecture),
            let embedding = tensors[WeightNames.huggingFaceName(.tokenEmbedding, architecture: config.architecture)]
        {
            return embedding
        }
        throw ModelsError.missingTensor(path: path, tensor: name)
    }

    /// Removes and returns the tensor with HF name `name`, so a consumer can move weights into its own buffers
    /// without holding two copies of the model (the embedding stays while it also serves as a tied output head).
    public mutating func take(_ name: String) throws -> WeightTensor {
        let tensor = try self.tensor(name)
        if !(tied && name == WeightNames.huggingFaceName(.tokenEmbedding, architecture: config.architecture)) {
            tensors[name] = nil
        }
        return tensor
    }

    /// The tensor playing `role` (in `layer` for per-layer roles).
    public func tensor(_ role: WeightRole, layer: Int? = nil) throws -> WeightTensor {
        try tensor(WeightNames.huggingFaceName(role, layer: layer, architecture: config.architecture))
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

    /// Reads every expected tensor of a GGUF file, restoring HF row order of q/k for llama-family files and HF's w
    /// for Gemma's norms (the file stores 1 + w). Matrices stay in their stored layout (views into the mapped
    /// file, a fused tensor's parts as views of its rows); vectors are dequantized.
    public static func load(gguf file: GGUFFile) throws -> ModelWeights {
        let config = try ModelConfig.fromGGUF(file)
        let unpermute = config.architecture.ggufPermutesQueryKey
        let normOffset = config.architecture.spec.norm.offset
        var tensors: [String: WeightTensor] = [:]
        for stored in WeightNames.storedTensors(for: config) {
            guard let info = file.tensor(named: stored.ggufName) else {
                let parts = stored.parts.map(\.huggingFaceName).joined(separator: ", ")
                throw ModelsError.missingTensor(path: file.path, tensor: "\(stored.ggufName) (\(parts))")
            }
            guard info.shape == stored.shape else {
                throw ModelsError.shapeMismatch(
                    path: file.path, tensor: stored.ggufName, expected: stored.shape, found: info.shape)
            }
            let bytes = file.rawBytes(of: info)
            var values: [Float]?  // the whole tensor dequantized, once, when a part cannot stay stored
            for (index, expected) in stored.parts.enumerated() {
                let rows = stored.rows(of: index)
                let heads = unpermute ? permutedHeads(expected.role, config: config) : nil
                if expected.shape.count == 2, bytes.count == info.byteCount,
                    let matrix = storedMatrix(
                        slice(bytes, rows: rows, of: stored.shape[0]), type: info.type, rows: expected.shape[0],
                        columns: expected.shape[1], owner: file,
                        rowOrder: heads.map {
                            QueryKeyPermutation.huggingFaceRowSources(rows: expected.shape[0], heads: $0)
                        })
                {
                    tensors[expected.huggingFaceName] = WeightTensor(matrix: matrix)
                    continue
                }
                if values == nil { values = try convertingFormatErrors { try file.dequantize(info) } }
                var part = rowSlice(values ?? [], rows: rows, columns: stored.shape.count == 2 ? stored.shape[1] : 1)
                if normOffset != 0, expected.role.isNorm { part = part.map { $0 - normOffset } }
                if let heads {
                    part = QueryKeyPermutation.ggufToHuggingFace(
                        part, rows: expected.shape[0],
                        columns: expected.shape.count == 2 ? expected.shape[1] : 1,
                        heads: heads)
                }
                tensors[expected.huggingFaceName] = WeightTensor(shape: expected.shape, values: part)
            }
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
        for stored in WeightNames.storedTensors(for: config) {
            guard let (file, info) = collection.locate(stored.huggingFaceName) else {
                throw ModelsError.missingTensor(path: folder.path, tensor: stored.huggingFaceName)
            }
            guard info.shape == stored.shape else {
                throw ModelsError.shapeMismatch(
                    path: file.path, tensor: stored.huggingFaceName, expected: stored.shape, found: info.shape)
            }
            var values: [Float]?
            for (index, expected) in stored.parts.enumerated() {
                let rows = stored.rows(of: index)
                if expected.shape.count == 2, let type = ggmlType(info.dtype),
                    let matrix = storedMatrix(
                        slice(file.rawBytes(of: info), rows: rows, of: stored.shape[0]), type: type,
                        rows: expected.shape[0], columns: expected.shape[1], owner: file, rowOrder: nil)
                {
                    tensors[expected.huggingFaceName] = WeightTensor(matrix: matrix)
                    continue
                }
                if values == nil { values = try convertingFormatErrors { try file.floats(info) } }
                tensors[expected.huggingFaceName] = WeightTensor(
                    shape: expected.shape,
                    values: rowSlice(values ?? [], rows: rows, columns: stored.shape.count == 2 ? stored.shape[1] : 1))
            }
        }
        return ModelWeights(config: config, path: folder.path, tensors: tensors)
    }

    /// The bytes of `rows` out of a row-major tensor of `total` rows.
    private static func slice(_ bytes: UnsafeRawBufferPointer, rows: Range<Int>, of total: Int) -> UnsafeRawBufferPointer {
        guard rows.count != total, total > 0 else { return bytes }
        let rowBytes = bytes.count / total
        return UnsafeRawBufferPointer(rebasing: bytes[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
    }

    /// `rows` of row-major `values` with `columns` per row.
    private static func rowSlice(_ values: [Float], rows: Range<Int>, columns: Int) -> [Float] {
        guard rows.count * columns != values.count else { return values }
        return Array(values[(rows.lowerBound * columns)..<(rows.upperBound * columns)])
    }

    /// The GGUF element type with the same bytes as a safetensors dtype the engine keeps stored.
    private static func ggmlType(_ dtype: SafetensorsDType) -> GGMLType? {
        switch dtype {
        case .f32: return .f32
        case .bf16: return .bf16
        case .f16: return .f16
        default: return nil
        }
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

    /// For each HF row, the GGUF row it comes from (`ggufToHuggingFace` as a row order, for packed matrices).
    public static func huggingFaceRowSources(rows: Int, heads: Int) -> [Int] {
        precondition(heads > 0 && rows % (2 * heads) == 0, "\(rows) rows do not split into \(heads) heads of pairs")
        let headRows = rows / heads, half = headRows / 2
        var sources = [Int](repeating: 0, count: rows)
        for head in 0..<heads {
            for s in 0..<2 {
                for j in 0..<half { sources[head * headRows + s * half + j] = head * headRows + 2 * j + s }
            }
        }
        return sources
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
