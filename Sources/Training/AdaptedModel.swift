// A model loaded to answer or be scored: weights as stored, tokenizer, chat template, stop tokens, and the LoRA adapter
// of a run folder (or any PEFT adapter folder) read against it. `tailor chat`, `generate` and `eval` load through it;
// engines for the base and the tuned model share the same weights.
import ChatTemplates
import Datasets
import Formats
import Foundation
import Models
import Tensors
import Tokenizers

/// A base model and, optionally, an adapter trained on it.
public struct AdaptedModel {
    public let modelURL: URL
    public let tokenizer: Tokenizer
    public let template: ModelChatTemplate
    public let weights: TransformerWeights
    public let adapter: LoRAParameters?
    /// Every token that ends an answer: the model's EOS ids and the usual end-of-turn markers it knows.
    public let stopTokens: Set<Int32>
    public let threads: Int

    public var config: ModelConfig { weights.config }

    /// The base model a run folder was trained on (its config.json), for `--adapter RUN` without `--model`.
    public static func baseModel(ofAdapter folder: URL) throws -> URL {
        let run = RunFolder(folder)
        guard run.hasConfig else {
            throw TrainingError.adapter(
                path: folder.path, reason: "has no run config.json naming its base model; pass --model as well")
        }
        return URL(fileURLWithPath: try run.readConfig().modelPath)
    }

    /// Loads `model` (a GGUF file or a Hugging Face folder) with its weights as stored (decoding reads the quantized
    /// blocks, so a token costs the bytes of the file, not of a Float32 copy), and the adapter in `adapter`.
    public init(model: URL, adapter: URL?, chatTemplate: URL?, threads: Int?) throws {
        modelURL = model
        if let adapter { try Self.checkAdapterFolder(adapter) }
        tokenizer = try Tokenizer.load(model)
        template = try ChatTemplateLocator.locate(model: model, override: chatTemplate)
        self.threads = threads.flatMap { $0 > 0 ? $0 : nil } ?? ProcessInfo.processInfo.activeProcessorCount
        setMatmulThreadCount(self.threads)
        weights = try TransformerWeights(try ModelWeights.load(from: model), storage: .quantized)
        let config = weights.config
        self.adapter = try adapter.map { try Self.readAdapter($0, model: config, modelURL: model) }
        var stops = Set(weights.config.eosTokenIds.map(Int32.init))
        if let eos = tokenizer.eosTokenId { stops.insert(Int32(eos)) }
        for marker in ["<|im_end|>", "<|eot_id|>", "<end_of_turn>"] {
            if let id = tokenizer.tokenId(marker) { stops.insert(Int32(id)) }
        }
        stopTokens = stops
    }

    /// An engine over the shared weights: the base model, or the model with the adapter.
    public func engine(tuned: Bool, maxPosition: Int? = nil) -> Transformer {
        Transformer(
            weights: weights, lora: tuned ? adapter : nil, threads: threads, maxPosition: maxPosition.map { max($0, 16) })
    }

    /// The longest context the model supports (and the RoPE table covers by default).
    public var contextLength: Int { min(config.maxPositionEmbeddings, 32_768) }

    /// How the dataset pipeline reads data for this model.
    public func pipeline(_ settings: DataSettings) -> DatasetPipeline {
        DatasetPipeline(tokenizer: tokenizer, template: template, settings: settings)
    }

    // MARK: Prompts

    /// The conversation rendered with the chat template and a generation prompt, tokenized as training does.
    public func promptTokens(messages: [Value]) throws -> (text: String, ids: [Int32]) {
        let text: String
        do {
            text = try template.template.render(
                messages: messages, addGenerationPrompt: true,
                bosToken: tokenizer.bosTokenId.flatMap(tokenizer.token) ?? "",
                eosToken: tokenizer.eosTokenId.flatMap(tokenizer.token) ?? "")
        } catch {
            throw DatasetsError.chatTemplate(path: template.origin, reason: "it failed on this conversation: \(error)")
        }
        return (text, rawTokens(text))
    }

    /// `text` tokenized as is, as training tokenizes rendered text (special tokens parsed, BOS by the same rule).
    public func rawTokens(_ text: String) -> [Int32] {
        Renderer(tokenizer: tokenizer, template: template.template, maxLength: nil).promptTokens(text)
    }

    // MARK: Adapter

    private static func checkAdapterFolder(_ folder: URL) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw TrainingError.adapter(path: folder.path, reason: "no such folder; give a run folder from `tailor train`")
        }
        if let missing = RunFolder(folder).missingAdapterFile {
            throw TrainingError.adapter(
                path: folder.path,
                reason: "is not an adapter folder (no \(missing)); give a run folder from `tailor train` or a PEFT "
                    + "adapter folder")
        }
    }

    /// Reads the adapter for `model`, turning a mismatch into one line that names both sides.
    private static func readAdapter(_ folder: URL, model: ModelConfig, modelURL: URL) throws -> LoRAParameters {
        let mismatch = "was not trained on \(modelURL.lastPathComponent)"
        // readPEFT checks that every layer of the model has its tensors; an adapter for a deeper model would
        // still pass, so look for layers the model does not have.
        if let file = try? SafetensorsFile(url: RunFolder(folder).adapterWeightsURL) {
            let deepest = file.tensors.compactMap { layerIndex(of: $0.name) }.max()
            if let deepest, deepest >= model.layerCount {
                throw TrainingError.adapter(
                    path: folder.path,
                    reason: "\(mismatch): it adapts \(deepest + 1) layers, the model has \(model.layerCount); use the "
                        + "adapter with the model it was trained on")
            }
        }
        do {
            return try RunFolder(folder).readAdapter(model: model)
        } catch let error as ModelsError {
            switch error {
            case .missingTensor, .shapeMismatch:
                throw TrainingError.adapter(
                    path: folder.path, reason: "\(mismatch) (\(error)); use the adapter with the model it was trained on")
            default:
                throw TrainingError.adapter(path: folder.path, reason: "\(error)")
            }
        }
    }

    /// N in `….layers.N.…`.
    private static func layerIndex(of name: String) -> Int? {
        guard let range = name.range(of: ".layers.") else { return nil }
        return Int(name[range.upperBound...].prefix { $0.isNumber })
    }
}

/// A model's scores on a dataset's trained tokens: the loss training reports, its perplexity, and how often the
/// model ranks the target first.
public struct EvaluationScore: Sendable, Equatable, Encodable {
    public var loss: Double
    public var perplexity: Double
    public var accuracy: Double
    public var correct: Int

    public init(_ totals: CrossEntropyTotals) {
        let count = Double(max(totals.targetCount, 1))
        loss = totals.lossSum / count
        perplexity = exp(loss)
        accuracy = Double(totals.correctCount) / count
        correct = totals.correctCount
    }

    /// Sums the loss of `engine` over `examples`, in batches of whole examples of about `tokensPerBatch` tokens.
    public static func totals(_ examples: [TokenizedExample], engine: Transformer, tokensPerBatch: Int) -> CrossEntropyTotals {
        var totals = CrossEntropyTotals()
        var batch: [TokenizedExample] = []
        var tokens = 0
        func flush() {
            guard !batch.isEmpty else { return }
            let result = engine.run(Batching.tokenBatch(batch), gradScale: nil)
            totals.lossSum += result.lossSum
            totals.targetCount += result.targetCount
            totals.correctCount += result.correctCount
            batch = []
            tokens = 0
        }
        for example in examples {
            if !batch.isEmpty && tokens + example.ids.count > tokensPerBatch { flush() }
            batch.append(example)
            tokens += example.ids.count
        }
        flush()
        return totals
    }
}
