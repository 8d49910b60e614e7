// A run's adapter turned into what other runtimes load: a PEFT folder with a model card, a GGUF LoRA adapter
// (llama.cpp, Ollama), a merged Hugging Face folder, a merged GGUF, and an Ollama Modelfile. Each export writes its
// files and returns what it wrote; `tailor export` says it.
import Datasets
import Formats
import Foundation
import Models
import Tokenizers

/// The exports of one run folder.
public struct RunExport: Sendable {
    public let run: RunFolder
    public let config: TrainingConfig
    /// The base model the run trained on (a GGUF file or a Hugging Face folder).
    public let baseURL: URL

    /// The run's configuration and adapter; throws when the folder is not a finished (or checkpointed) run.
    public init(_ run: RunFolder) throws {
        self.run = run
        config = try run.readConfig()
        try run.requireAdapter()
        baseURL = URL(fileURLWithPath: config.modelPath)
    }

    public var baseIsGGUF: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: baseURL.path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// The base model's configuration, and its GGUF file when it is one.
    public func baseConfig() throws -> (config: ModelConfig, gguf: GGUFFile?) {
        if baseIsGGUF {
            let file: GGUFFile
            do { file = try GGUFFile(url: baseURL) } catch let error as FormatsError { throw ModelsError.format(error) }
            return (try ModelConfig.fromGGUF(file), file)
        }
        let configURL = baseURL.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ModelsError.notAModel(path: baseURL.path, reason: "the run's base model is gone")
        }
        return (try ModelConfig.fromHuggingFace(configJSON: data, path: configURL.path), nil)
    }

    /// The base weights with the run's adapter folded in.
    func mergedWeights() throws -> ModelWeights {
        let weights = try ModelWeights.load(from: baseURL)
        return try MergedModel.merge(weights, lora: try run.readAdapter(model: weights.config))
    }

    // MARK: PEFT

    /// The adapter files and a model card (`README.md`) in `folder`.
    public func peft(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for source in [run.adapterConfigURL, run.adapterWeightsURL] {
            let target = folder.appendingPathComponent(source.lastPathComponent)
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: source, to: target)
        }
        try Data(modelCard().utf8).write(to: folder.appendingPathComponent("README.md"), options: .atomic)
    }

    /// A short model card: base model, data, settings and the last losses.
    public func modelCard() -> String {
        let p = config.parameters, lora = p.lora
        let metrics = run.metrics()
        var lines = [
            "---", "library_name: peft", "base_model: \(config.model)", "tags: [lora, tailor]", "---", "",
            "# \(run.name)", "", "A LoRA adapter trained with Tailor.", "",
            "- Base model: `\(config.model)` (`\(baseURL.path)`)",
            "- Data: `\(config.data)`" + (config.valFile.map { ", validation `\($0)`" } ?? ""),
            "- LoRA: rank \(lora.rank), alpha \(lora.alpha.formatted()), dropout \(lora.dropout.formatted()), "
                + "targets \(lora.targets.map(\.rawValue).joined(separator: ", ")), rsLoRA \(lora.useRSLoRA)",
            "- Training: learning rate \(p.learningRate), schedule \(p.schedule.rawValue), epochs \(p.epochs), "
                + "max steps \(p.maxSteps.map(String.init) ?? "—"), batch size \(p.batchSize) × grad accum \(p.gradAccum), "
                + "max length \(p.maxLength), seed \(p.seed)",
            "", "## Results", "",
        ]
        if let train = metrics.train.last {
            lines.append("- Final training loss: \(String(format: "%.4f", train.loss)) at step \(train.step)")
        }
        if let validation = metrics.validation.last {
            lines.append("- Final validation loss: \(String(format: "%.4f", validation.loss)) at step \(validation.step)")
        }
        if metrics.train.isEmpty && metrics.validation.isEmpty { lines.append("- No metrics recorded.") }
        lines += ["", "Load with PEFT: `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), PATH)`."]
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: GGUF adapter

    /// What a GGUF LoRA adapter export wrote.
    public struct GGUFAdapter: Sendable {
        public let url: URL
        public let tensors: Int
        /// `adapter.lora.alpha` as written (alpha·√r for rsLoRA, since llama.cpp divides by r).
        public let alpha: Float
        public let rank: Int
        public let rsLoRA: Bool
    }

    /// The adapter as a GGUF LoRA file for llama.cpp (`--lora`) and Ollama (`ADAPTER`).
    public func ggufAdapter(to url: URL) throws -> GGUFAdapter {
        let base = try baseConfig()
        let lora = try run.readAdapter(model: base.config)
        try AdapterExport.writeGGUFAdapter(
            lora: lora, model: base.config, architecture: base.gguf?.architecture, name: run.name, to: url)
        return GGUFAdapter(
            url: url, tensors: lora.modules.count * 2, alpha: AdapterExport.ggufAlpha(lora.config),
            rank: lora.config.rank, rsLoRA: lora.config.useRSLoRA)
    }

    // MARK: Merged

    /// How a merged Hugging Face folder stores its weights.
    public enum MergedType: String, Sendable, CaseIterable {
        case bf16, f16, f32

        var safetensors: SafetensorsDType {
            switch self {
            case .bf16: return .bf16
            case .f16: return .f16
            case .f32: return .f32
            }
        }

        /// transformers' `torch_dtype` name.
        public var torchName: String {
            switch self {
            case .bf16: return "bfloat16"
            case .f16: return "float16"
            case .f32: return "float32"
            }
        }
    }

    /// A Hugging Face folder with W + s·B·A folded in, and the tokenizer files transformers needs. Returns notes on
    /// what was written or copied besides the weights.
    public func merged(to folder: URL, type: MergedType) throws -> [String] {
        let weights = try mergedWeights()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let config = try MergedModel.huggingFaceConfigJSON(weights.config, dtype: type.torchName)
        try config.write(to: folder.appendingPathComponent("config.json"), options: .atomic)
        try MergedModel.writeSafetensors(
            weights, dtype: type.safetensors, to: folder.appendingPathComponent("model.safetensors"))
        guard baseIsGGUF else {
            var copied: [String] = []
            for name in [
                "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                "generation_config.json", "tokenizer.model",
            ] {
                let source = baseURL.appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: source.path) else { continue }
                let target = folder.appendingPathComponent(name)
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.copyItem(at: source, to: target)
                copied.append(name)
            }
            return ["copied \(copied.isEmpty ? "no tokenizer files" : copied.joined(separator: ", "))"]
        }
        var notes: [String] = []
        let located = try ChatTemplateLocator.locate(model: baseURL)
        let template = located.isFallback ? nil : located.template.source
        if let template {
            try Data(template.utf8).write(to: folder.appendingPathComponent("chat_template.jinja"), options: .atomic)
            notes.append("wrote the base GGUF's chat template to chat_template.jinja")
        }
        // transformers reads the tokenizer from these two files, written from the GGUF's vocabulary.
        let base = try GGUFFile(url: baseURL)
        let files = try Tokenizer.huggingFaceFiles(ggufMetadata: base.metadata, path: base.path, chatTemplate: template)
        try files.tokenizer.write(to: folder.appendingPathComponent("tokenizer.json"), options: .atomic)
        try files.config.write(to: folder.appendingPathComponent("tokenizer_config.json"), options: .atomic)
        notes.append("wrote tokenizer.json and tokenizer_config.json from the base GGUF's vocabulary")
        return notes
    }

    /// The merged model as one GGUF with the base GGUF's metadata (tokenizer, template).
    public func gguf(to url: URL, storage: MergedModel.GGUFStorage) throws {
        guard let base = try baseConfig().gguf else {
            throw TrainingError.export(
                target: "gguf",
                reason: "the base model \(baseURL.path) is a Hugging Face folder; a GGUF needs its tokenizer metadata. "
                    + "Export --to merged and convert that folder with llama.cpp's convert_hf_to_gguf.py")
        }
        let writer = try MergedModel.ggufWriter(try mergedWeights(), base: base, storage: storage)
        do { try writer.write(to: url) } catch let error as FormatsError { throw ModelsError.format(error) }
    }

    // MARK: Ollama

    /// How an Ollama export reaches the tuned model.
    public enum OllamaRoute: Sendable, Equatable {
        /// FROM the base GGUF + ADAPTER: Ollama is known to apply GGUF adapters to the family.
        case adapter
        /// FROM a merged GGUF, and why.
        case merged(reason: String)
    }

    /// What an Ollama export wrote.
    public struct Ollama: Sendable {
        public let route: OllamaRoute
        public let modelfileURL: URL
        public let modelfile: Modelfile
        /// The file FROM or ADAPTER points to that this export wrote (the merged GGUF or the adapter).
        public let written: URL
    }

    /// A Modelfile in `folder`, with the merged GGUF or the GGUF adapter it names (DESIGN.md trap 11): the adapter
    /// route only where Ollama applies adapters to the family and the base is a GGUF, unless `merged` forces it.
    public func ollama(to folder: URL, merged: Bool, storage: MergedModel.GGUFStorage) throws -> Ollama {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let family = try chatFamily()
        let system = systemPrompt()
        let architecture = try baseConfig().config.architecture
        let route: OllamaRoute
        if merged {
            route = .merged(reason: "--merged")
        } else if !baseIsGGUF {
            route = .merged(reason: "the base is a Hugging Face folder; Ollama's ADAPTER needs a GGUF base")
        } else if !architecture.spec.ollamaAppliesAdapters {
            route = .merged(
                reason: "Ollama is not known to apply LoRA adapters to \(architecture.rawValue): its own engine, which "
                    + "runs gemma3, qwen3 and others, refuses them")
        } else {
            route = .adapter
        }
        let modelfile: Modelfile
        let written: URL
        switch route {
        case .merged:
            written = folder.appendingPathComponent("merged.gguf")
            try gguf(to: written, storage: storage)
            modelfile = Modelfile(from: written.path, adapter: nil, family: family, system: system)
        case .adapter:
            written = try ggufAdapter(to: folder.appendingPathComponent("adapter.gguf")).url
            modelfile = Modelfile(from: baseURL.path, adapter: written.path, family: family, system: system)
        }
        let url = folder.appendingPathComponent("Modelfile")
        try Data(modelfile.text.utf8).write(to: url, options: .atomic)
        return Ollama(route: route, modelfileURL: url, modelfile: modelfile, written: written)
    }

    /// The chat family of the template the run rendered its data with (nil when Ollama's own TEMPLATE is needed).
    func chatFamily() throws -> ChatFamily? {
        let located = try ChatTemplateLocator.locate(
            model: baseURL, override: config.chatTemplate.map { URL(fileURLWithPath: $0) })
        return ChatFamily.detect(jinja: located.template.source)
    }

    /// The most common system prompt of the training data's conversations (read as training read them), nil when
    /// they have none or the data is gone.
    func systemPrompt() -> String? {
        guard var settings = try? config.dataSettings() else { return nil }
        settings.skipInvalid = true
        guard let loaded = try? DatasetReader.scan(url: URL(fileURLWithPath: config.data), options: settings.readOptions)
        else { return nil }
        var counts: [String: Int] = [:]
        for example in loaded.examples {
            guard case .conversation(let conversation) = example.body else { continue }
            for message in conversation.messages where message.role == "system" {
                if let content = message.content, !content.isEmpty { counts[content, default: 0] += 1 }
            }
        }
        return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }
}
