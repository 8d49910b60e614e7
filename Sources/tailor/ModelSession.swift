// A loaded model ready to answer: weights, tokenizer, chat template, stop tokens and an optional LoRA adapter.
import ArgumentParser
import ChatTemplates
import Datasets
import Formats
import Foundation
import ModelStores
import Models
import Tensors
import Tokenizers

/// The flags every command that runs a model takes: which model, which adapter, which template, how many threads.
struct ModelSessionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The model: a .gguf file, a Hugging Face folder, or a name from `tailor models` (default with --adapter: "
                + "the run's base model).", valueName: "model"))
    var model: String?

    @Option(
        help: ArgumentHelp(
            "A run folder from `tailor train`, or any PEFT LoRA adapter folder, to apply on top of the model.",
            valueName: "run"))
    var adapter: String?

    @Option(
        help: ArgumentHelp("A Jinja chat template file to use instead of the model's.", valueName: "file"))
    var chatTemplate: String?

    @Option(help: "Threads for kernels and BLAS (default: all cores).")
    var threads: Int?

    @OptionGroup var discovery: DiscoveryOptions
}

/// Sampling flags shared by `chat` and `generate`; each command chooses its own default temperature.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Most new tokens per answer (default 256).") var maxTokens: Int = 256
    @Option(help: "Ignore end-of-turn tokens until this many tokens are generated (default 0).")
    var minTokens: Int = 0
    @Option(help: "Sampling temperature; 0 picks the most likely token (greedy).") var temperature: Float?
    @Option(help: "Keep the smallest set of tokens whose probability reaches P (1 turns it off).") var topP:
        Float = 1
    @Option(help: "Keep only the K most likely tokens (0 turns it off).") var topK: Int = 0
    @Option(help: "Drop tokens less likely than P × the most likely one (0 turns it off).") var minP: Float =
        0
    @Option(help: "Divide the logits of tokens already in the context by R (1 turns it off).")
    var repetitionPenalty: Float = 1
    @Option(help: "Seed for sampling (default: 0 for generate, random for chat).") var seed: UInt64?

    func validate() throws {
        guard maxTokens > 0 else {
            throw ValidationError("--max-tokens must be at least 1, not \(maxTokens)")
        }
        guard minTokens >= 0, minTokens <= maxTokens else {
            throw ValidationError(
                "--min-tokens must be between 0 and --max-tokens (\(maxTokens)), not \(minTokens)")
        }
        if let temperature, temperature < 0 || !temperature.isFinite {
            throw ValidationError("--temperature must be 0 or more, not \(temperature)")
        }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], not \(topP)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more, not \(topK)") }
        guard minP >= 0, minP < 1 else { throw ValidationError("--min-p must be in [0, 1), not \(minP)") }
        guard repetitionPenalty > 0 else {
            throw ValidationError("--repetition-penalty must be positive, not \(repetitionPenalty)")
        }
    }

    func parameters(defaultTemperature: Float, defaultSeed: UInt64) -> SamplingParameters {
        SamplingParameters(
            temperature: temperature ?? defaultTemperature, topK: topK, topP: topP, minP: minP,
            repetitionPenalty: repetitionPenalty, seed: seed ?? defaultSeed)
    }
}

/// A model loaded once, with the adapter (if any) read against it; engines for the base and the tuned model share
/// the same weights.
struct ModelSession {
    let modelName: String
    let modelURL: URL
    let tokenizer: Tokenizer
    let template: ModelChatTemplate
    let weights: TransformerWeights
    let adapter: LoRAParameters?
    let adapterPath: String?
    /// Every token that ends an answer: the model's EOS ids and the usual end-of-turn markers it knows.
    let stopTokens: Set<Int32>
    let threads: Int

    var config: ModelConfig { weights.config }

    /// Resolves the model (from --model, or the run's config.json), loads it and reads the adapter.
    static func load(_ options: ModelSessionOptions) throws -> ModelSession {
        let adapterFolder = options.adapter.map { URL(fileURLWithPath: $0) }
        if let adapterFolder { try checkAdapterFolder(adapterFolder, given: options.adapter ?? "") }
        let reference: String
        if let model = options.model {
            reference = model
        } else if let adapterFolder {
            reference = try runBaseModel(adapterFolder, given: options.adapter ?? "")
        } else {
            throw UseError("no --model given; pass --model PATH or a name from `tailor models`")
        }
        let url = try resolveModelURL(reference, discovery: options.discovery)
        let tokenizer = try Tokenizer.load(url)
        let template = try ChatTemplateLocator.locate(
            model: url, override: options.chatTemplate.map { URL(fileURLWithPath: $0) })
        if template.isFallback {
            FileHandle.standardError.write(
                Data(
                    ("warning: \(url.lastPathComponent) has no chat template; using \(template.fallbackName), which may "
                        + "not be what the model was trained on (--chat-template FILE to choose one)\n").utf8))
        }
        let threadCount =
            (options.threads ?? 0) > 0 ? options.threads ?? 1 : ProcessInfo.processInfo.activeProcessorCount
        setMatmulThreadCount(threadCount)
        // As stored: decoding reads the quantized blocks, so a token costs the bytes of the file, not of a
        // Float32 copy.
        let weights = try TransformerWeights(try ModelWeights.load(from: url), storage: .quantized)
        var adapter: LoRAParameters?
        if let adapterFolder {
            adapter = try readAdapter(
                adapterFolder, given: options.adapter ?? "", model: weights.config, modelURL: url)
        }
        var stops = Set(weights.config.eosTokenIds.map(Int32.init))
        if let eos = tokenizer.eosTokenId { stops.insert(Int32(eos)) }
        for marker in ["<|im_end|>", "<|eot_id|>", "<end_of_turn>"] {
            if let id = tokenizer.tokenId(marker) { stops.insert(Int32(id)) }
        }
        return ModelSession(
            modelName: reference, modelURL: url, tokenizer: tokenizer, template: template, weights: weights,
            adapter: adapter, adapterPath: options.adapter, stopTokens: stops, threads: threadCount)
    }

    /// An engine over the shared weights: the base model, or the model with the adapter.
    func engine(tuned: Bool, maxPosition: Int? = nil) -> Transformer {
        Transformer(
            weights: weights, lora: tuned ? adapter : nil, threads: threads,
            maxPosition: maxPosition.map { max($0, 16) })
    }

    /// The longest context the model supports (and the RoPE table covers by default).
    var contextLength: Int { min(config.maxPositionEmbeddings, 32_768) }

    // MARK: Prompts

    /// The conversation rendered with the chat template and a generation prompt, tokenized as training does.
    func promptTokens(messages: [Value]) throws -> (text: String, ids: [Int32]) {
        let text: String
        do {
            text = try template.template.render(
                messages: messages, addGenerationPrompt: true,
                bosToken: tokenizer.bosTokenId.flatMap(tokenizer.token) ?? "",
                eosToken: tokenizer.eosTokenId.flatMap(tokenizer.token) ?? "")
        } catch {
            throw UseError("\(template.origin): the chat template failed: \(error)")
        }
        return (text, rawTokens(text))
    }

    /// `text` tokenized as is (special tokens written in it are parsed); BOS is added only when the tokenizer adds
    /// one and the text does not already start with it (DESIGN.md trap 6), as the training renderer does.
    func rawTokens(_ text: String) -> [Int32] {
        var ids = tokenizer.encode(text, addSpecialTokens: false)
        if tokenizer.addsBOS, let bos = tokenizer.bosTokenId, ids.first != bos { ids.insert(bos, at: 0) }
        return ids.map(Int32.init)
    }

    // MARK: Adapter

    private static func checkAdapterFolder(_ folder: URL, given: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue
        else {
            throw UseError("--adapter \(given): no such folder; give a run folder from `tailor train`")
        }
        for name in [AdapterFiles.configName, AdapterFiles.weightsName] {
            guard FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path) else {
                throw UseError(
                    "--adapter \(given) is not an adapter folder (no \(name)); give a run folder from `tailor train` "
                        + "or a PEFT adapter folder")
            }
        }
    }

    /// The run's base model (config.json "modelPath"), for `--adapter RUN` without `--model`.
    private static func runBaseModel(_ folder: URL, given: String) throws -> String {
        let url = folder.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let path = (object["modelPath"] as? String) ?? (object["model"] as? String)
        else {
            throw UseError(
                "--adapter \(given) has no run config.json naming its base model; pass --model as well")
        }
        return path
    }

    /// Reads the adapter for `model`, turning a mismatch into one line that names both sides.
    private static func readAdapter(_ folder: URL, given: String, model: ModelConfig, modelURL: URL) throws
        -> LoRAParameters
    {
        let mismatch = "--adapter \(given) was not trained on \(modelURL.lastPathComponent)"
        // readPEFT checks that every layer of the model has its tensors; an adapter for a deeper model would
        // still pass, so look for layers the model does not have.
        if let file = try? SafetensorsFile(url: folder.appendingPathComponent(AdapterFiles.weightsName)) {
            let deepest = file.tensors.compactMap { Self.layerIndex(of: $0.name) }.max()
            if let deepest, deepest >= model.layerCount {
                throw UseError(
                    "\(mismatch): it adapts \(deepest + 1) layers, the model has \(model.layerCount); "
                        + "use the adapter with the model it was trained on")
            }
        }
        do {
            return try AdapterFiles.readPEFT(folder: folder, model: model)
        } catch let error as ModelsError {
            switch error {
            case .missingTensor, .shapeMismatch:
                throw UseError("\(mismatch) (\(error)); use the adapter with the model it was trained on")
            default:
                throw UseError("--adapter \(given): \(error)")
            }
        }
    }

    /// N in `….layers.N.…`.
    private static func layerIndex(of name: String) -> Int? {
        guard let range = name.range(of: ".layers.") else { return nil }
        return Int(name[range.upperBound...].prefix { $0.isNumber })
    }
}

/// Writes to standard output at once (answers are streamed token by token).
func writeOut(_ text: String) {
    guard !text.isEmpty else { return }
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// One line on standard error.
func writeNote(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A failure of `chat`, `generate` or `eval` once the flags are parsed: one line saying what to do.
struct UseError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
