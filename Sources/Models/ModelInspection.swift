import Formats
// What a model file or folder holds and whether Tailor can train it, read from headers only (nothing dequantized).
import Foundation

/// A cheap look at a `.gguf` file or an HF folder: configuration, tokenizer, template, tensors, trainability.
public struct ModelInspection: Sendable {
    /// Which kind of model the path holds.
    public enum Format: String, Sendable, Equatable {
        case gguf, huggingFace
    }

    /// Which tokenizer the model ships.
    public enum TokenizerKind: Sendable, Equatable, CustomStringConvertible {
        /// A GGUF vocabulary; the value is `tokenizer.ggml.model` ("gpt2" byte-level BPE, "llama" SentencePiece, …).
        case gguf(String)
        /// An HF `tokenizer.json`; the value is its `model.type` ("BPE", "Unigram", "WordPiece", …).
        case tokenizerJSON(String)
        /// No tokenizer found.
        case none

        public var description: String {
            switch self {
            case .gguf("gpt2"): return "byte-level BPE (GGUF gpt2)"
            case .gguf("llama"): return "SentencePiece (GGUF llama)"
            case .gguf(let model): return "GGUF \(model)"
            case .tokenizerJSON(let model): return "\(model) (tokenizer.json)"
            case .none: return "none"
            }
        }
    }

    /// Tensors of one storage type.
    public struct TypeSummary: Sendable, Equatable {
        /// The type's label: "Q4_1", "F32", "BF16", and so on.
        public let type: String
        public let count: Int
        public let elements: Int
        public let bytes: Int
    }

    /// Whether Tailor can fine-tune this model, and if not, why.
    public enum Trainability: Sendable, Equatable, CustomStringConvertible {
        case yes
        case no(reason: String)

        public var description: String {
            switch self {
            case .yes: return "yes"
            case .no(let reason): return "no: \(reason)"
            }
        }
    }

    public let url: URL
    public let format: Format
    /// The architecture as the model names it (`general.architecture` or `model_type`), when present.
    public let architectureName: String?
    /// The resolved configuration, or nil when it cannot be resolved (`configProblem` says why).
    public let config: ModelConfig?
    public let configProblem: String?
    public let tokenizer: TokenizerKind
    public let hasChatTemplate: Bool
    /// Tensor totals by storage type, largest byte count first.
    public let tensorTypes: [TypeSummary]
    /// Bytes of tensor data.
    public let totalBytes: Int
    /// Elements over all tensors.
    public let parameterCount: Int
    /// The type holding most elements ("Q4_1", "BF16", …), nil when there are no tensors.
    public let dominantType: String?
    public let trainable: Trainability

    /// Inspects a `.gguf` file or a folder with `config.json`.
    ///
    /// Throws only when the path cannot be read as either;
    /// an unsupported or incomplete model is reported through `config`/`trainable` instead.
    public init(url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelsError.notAModel(path: url.path, reason: "no such file or folder")
        }
        self.url = url
        let facts = isDirectory.boolValue ? try Self.huggingFaceFacts(url) : try Self.ggufFacts(url)
        format = isDirectory.boolValue ? .huggingFace : .gguf
        architectureName = facts.architectureName
        config = facts.config
        configProblem = facts.configProblem
        tokenizer = facts.tokenizer
        hasChatTemplate = facts.hasChatTemplate

        var byType: [String: TypeSummary] = [:]
        for tensor in facts.tensors {
            let old = byType[tensor.type] ?? TypeSummary(type: tensor.type, count: 0, elements: 0, bytes: 0)
            byType[tensor.type] = TypeSummary(
                type: tensor.type, count: old.count + 1, elements: old.elements + tensor.elements,
                bytes: old.bytes + tensor.bytes)
        }
        tensorTypes = byType.values.sorted { ($0.bytes, $0.type) > ($1.bytes, $1.type) }
        totalBytes = tensorTypes.reduce(0) { $0 + $1.bytes }
        parameterCount = tensorTypes.reduce(0) { $0 + $1.elements }
        dominantType = tensorTypes.max { ($0.elements, $1.type) < ($1.elements, $0.type) }?.type
        trainable = Self.trainability(facts: facts, isEmpty: byType.isEmpty, format: format)
    }

    // MARK: - Gathering

    /// One tensor as the header describes it, in the terms both formats share.
    private struct TensorFact {
        let name: String
        let type: String
        let shape: [Int]
        let elements: Int
        let bytes: Int
        let convertible: Bool
    }

    private struct Facts {
        var architectureName: String?
        var config: ModelConfig?
        var configProblem: String?
        var tokenizer: TokenizerKind = .none
        var hasChatTemplate = false
        /// Why the weights could not be listed, when they exist but are unreadable.
        var weightsProblem: String?
        var tensors: [TensorFact] = []
        /// Which of the two names the file uses.
        var naming: KeyPath<StoredTensor, String> = \.huggingFaceName
    }

    private static func ggufFacts(_ url: URL) throws -> Facts {
        let file = try convertingFormatErrors { try GGUFFile(url: url) }
        var facts = Facts()
        facts.architectureName = file.architecture
        do {
            facts.config = try ModelConfig.fromGGUF(file)
        } catch let error as ModelsError {
            facts.configProblem = error.description
        }
        if let model = file.metadata["tokenizer.ggml.model"]?.string { facts.tokenizer = .gguf(model) }
        facts.hasChatTemplate = file.metadata["tokenizer.chat_template"]?.string?.isEmpty == false
        facts.tensors = file.tensors.map {
            TensorFact(
                name: $0.name, type: $0.type.name, shape: $0.shape, elements: $0.elementCount,
                bytes: $0.byteCount,
                convertible: GGUFQuantization.supportedTypes.contains($0.type))
        }
        facts.naming = \.ggufName
        return facts
    }

    private static func huggingFaceFacts(_ folder: URL) throws -> Facts {
        let configURL = folder.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ModelsError.notAModel(path: folder.path, reason: "the folder has no readable config.json")
        }
        var facts = Facts()
        facts.architectureName =
            (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["model_type"] as? String
        do {
            facts.config = try ModelConfig.fromHuggingFace(configJSON: data, path: configURL.path)
        } catch let error as ModelsError {
            facts.configProblem = error.description
        }
        facts.tokenizer = tokenizerKind(folder)
        facts.hasChatTemplate = chatTemplatePresent(folder)
        // Weights are optional for inspection: a folder without them, or with broken ones, is reported as not
        // trainable instead of failing the whole inspection.
        let fileManager = FileManager.default
        let hasWeights = [SafetensorsCollection.singleFileName, SafetensorsCollection.indexFileName].contains
        {
            fileManager.fileExists(atPath: folder.appendingPathComponent($0).path)
        }
        guard hasWeights else { return facts }
        do {
            let collection = try SafetensorsCollection(folder: folder)
            let convertible: Set<SafetensorsDType> = [.f32, .f16, .bf16, .f64]
            for file in collection.files {
                facts.tensors += file.tensors.map {
                    TensorFact(
                        name: $0.name, type: $0.dtype.rawValue, shape: $0.shape, elements: $0.elementCount,
                        bytes: $0.dataRange.count, convertible: convertible.contains($0.dtype))
                }
            }
        } catch {
            facts.weightsProblem = "\(error)"
        }
        return facts
    }

    /// `tokenizer.json`'s `model.type`; the file is parsed as JSON, which is the cost of being sure.
    private static func tokenizerKind(_ folder: URL) -> TokenizerKind {
        let url = folder.appendingPathComponent("tokenizer.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return .none }
        let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        let model = json?["model"] as? [String: Any]
        if let type = model?["type"] as? String { return .tokenizerJSON(type) }
        // Older tokenizer.json files omit `type` for BPE models; `merges` marks them.
        if model?["merges"] != nil { return .tokenizerJSON("BPE") }
        return .tokenizerJSON("unknown")
    }

    /// A template in `tokenizer_config.json` (string or list of named templates) or `chat_template.jinja`.
    private static func chatTemplatePresent(_ folder: URL) -> Bool {
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent("chat_template.jinja").path) {
            return true
        }
        let url = folder.appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: url.path),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return false }
        if let template = json["chat_template"] as? String { return !template.isEmpty }
        if let templates = json["chat_template"] as? [Any] { return !templates.isEmpty }
        return false
    }

    // MARK: - Verdict

    private static func trainability(facts: Facts, isEmpty: Bool, format: Format) -> Trainability {
        guard let config = facts.config else {
            return .no(reason: facts.configProblem ?? "the configuration cannot be read")
        }
        if let problem = facts.weightsProblem { return .no(reason: problem) }
        if isEmpty {
            return .no(
                reason: format == .gguf
                    ? "vocabulary-only GGUF: it holds a tokenizer but no weights"
                    : "the folder has no safetensors weights (model.safetensors or model.safetensors.index.json)"
            )
        }
        let present = Dictionary(facts.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var missing: [String] = []
        for expected in WeightNames.storedTensors(for: config) {
            let name = expected[keyPath: facts.naming]
            guard let tensor = present[name] else {
                missing.append(name)
                continue
            }
            if tensor.shape != expected.shape {
                return .no(reason: "tensor \(name) has shape \(tensor.shape), expected \(expected.shape)")
            }
            if !tensor.convertible {
                return .no(reason: "tensor \(name) has type \(tensor.type), which Tailor cannot dequantize")
            }
        }
        if !missing.isEmpty {
            let shown = missing.prefix(3).joined(separator: ", ")
            let more = missing.count > 3 ? " and \(missing.count - 3) more" : ""
            return .no(reason: "missing tensors: \(shown)\(more)")
        }
        return .yes
    }
}
