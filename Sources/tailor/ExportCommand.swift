// `tailor export`: turn a run folder's adapter into what other runtimes load (PEFT, GGUF adapter, merged HF/GGUF, Ollama).
import ArgumentParser
import Datasets
import Formats
import Foundation
import Models
import Tokenizers

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a run's adapter for PEFT, llama.cpp, Ollama, or as a merged model.",
        discussion: """
            --to peft        a PEFT adapter folder (adapter_config.json, adapter_model.safetensors) with a README.md
            --to gguf-lora   a GGUF LoRA adapter for llama.cpp (--lora) and Ollama (ADAPTER)
            --to merged      a Hugging Face folder with W + s·B·A folded in (--dtype bf16, f16 or f32)
            --to gguf        the merged model as a GGUF with the base GGUF's tokenizer and template (--dtype f16, q8_0 or f32)
            --to ollama      a Modelfile: FROM base + ADAPTER where Ollama applies adapters to the family (llama, mistral,
                             qwen2 GGUFs), else FROM a merged GGUF (always with --merged); --create runs ollama create

            Examples:
              tailor export runs/X --to peft --output my-adapter
              tailor export runs/X --to gguf-lora --output adapter.gguf
              tailor export runs/X --to merged --dtype f16 --output merged/
              tailor export runs/X --to ollama --output ollama/ --create --name my-model
            """)

    enum Target: String, ExpressibleByArgument, CaseIterable {
        case peft, ggufLoRA = "gguf-lora", merged, gguf, ollama
    }

    @Argument(help: ArgumentHelp("The run folder written by `tailor train`.", valueName: "run")) var runPath: String
    @Option(help: "peft, gguf-lora, merged, gguf or ollama.") var to: Target
    @Option(help: "Where to write (default: a name inside the run folder).") var output: String?
    @Option(help: "Storage type: bf16 (default), f16 or f32 for merged; f16 (default), q8_0 or f32 for gguf.")
    var dtype: String?
    @Flag(help: "ollama: build from a merged GGUF instead of base + ADAPTER.") var merged = false
    @Flag(help: "ollama: run `ollama create` when ollama is on PATH.") var create = false
    @Option(help: "ollama: the model name for `ollama create` (default: the run folder's name).") var name: String?

    func run() throws {
        let run = try RunFolder(URL(fileURLWithPath: runPath))
        switch to {
        case .peft: try exportPEFT(run)
        case .ggufLoRA: try exportGGUFAdapter(run)
        case .merged: try exportMerged(run)
        case .gguf: try exportGGUF(run)
        case .ollama: try exportOllama(run)
        }
    }

    private func outputURL(_ run: RunFolder, default name: String) -> URL {
        output.map { URL(fileURLWithPath: $0) } ?? run.url.appendingPathComponent(name)
    }

    // MARK: peft

    func exportPEFT(_ run: RunFolder) throws {
        let folder = outputURL(run, default: "export-peft")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in [AdapterFiles.configName, AdapterFiles.weightsName] {
            let target = folder.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: run.url.appendingPathComponent(name), to: target)
        }
        try Data(run.modelCard().utf8).write(to: folder.appendingPathComponent("README.md"), options: .atomic)
        print("wrote PEFT adapter to \(folder.path)")
        print("load it with: PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), \"\(folder.path)\")")
    }

    // MARK: gguf-lora

    @discardableResult
    func exportGGUFAdapter(_ run: RunFolder, to explicit: URL? = nil) throws -> URL {
        let url = explicit ?? outputURL(run, default: "adapter.gguf")
        let base = try run.baseConfig()
        let lora = try AdapterFiles.readPEFT(folder: run.url, model: base.config)
        try AdapterExport.writeGGUFAdapter(
            lora: lora, model: base.config, architecture: base.gguf?.architecture,
            name: run.url.lastPathComponent, to: url)
        let alpha = AdapterExport.ggufAlpha(lora.config)
        print("wrote GGUF LoRA adapter to \(url.path) (\(lora.modules.count * 2) tensors, alpha \(alpha), rank \(lora.config.rank))")
        if lora.config.useRSLoRA {
            print("note: rsLoRA scale alpha/√r is stored as adapter.lora.alpha = alpha·√r, since llama.cpp divides by r")
        }
        return url
    }

    // MARK: merged

    func exportMerged(_ run: RunFolder) throws {
        let storage: (dtype: SafetensorsDType, torch: String)
        switch dtype ?? "bf16" {
        case "bf16": storage = (.bf16, "bfloat16")
        case "f16": storage = (.f16, "float16")
        case "f32": storage = (.f32, "float32")
        case let other: throw ValidationError("--dtype \(other) is not available for merged: use bf16, f16 or f32")
        }
        let folder = outputURL(run, default: "export-merged")
        let mergedWeights = try run.mergedWeights()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let config = try MergedModel.huggingFaceConfigJSON(mergedWeights.config, dtype: storage.torch)
        try config.write(to: folder.appendingPathComponent("config.json"), options: .atomic)
        try MergedModel.writeSafetensors(
            mergedWeights, dtype: storage.dtype, to: folder.appendingPathComponent("model.safetensors"))
        var notes: [String] = []
        if run.baseIsGGUF {
            let located = try ChatTemplateLocator.locate(model: run.baseURL)
            let template = located.isFallback ? nil : located.template.source
            if let template {
                try Data(template.utf8).write(to: folder.appendingPathComponent("chat_template.jinja"), options: .atomic)
                notes.append("wrote the base GGUF's chat template to chat_template.jinja")
            }
            // transformers reads the tokenizer from these two files, written from the GGUF's vocabulary.
            let base = try GGUFFile(url: run.baseURL)
            let files = try Tokenizer.huggingFaceFiles(
                ggufMetadata: base.metadata, path: base.path, chatTemplate: template)
            try files.tokenizer.write(to: folder.appendingPathComponent("tokenizer.json"), options: .atomic)
            try files.config.write(to: folder.appendingPathComponent("tokenizer_config.json"), options: .atomic)
            notes.append("wrote tokenizer.json and tokenizer_config.json from the base GGUF's vocabulary")
        } else {
            var copied: [String] = []
            for name in [
                "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                "generation_config.json", "tokenizer.model",
            ] {
                let source = run.baseURL.appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: source.path) else { continue }
                let target = folder.appendingPathComponent(name)
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.copyItem(at: source, to: target)
                copied.append(name)
            }
            notes.append("copied \(copied.isEmpty ? "no tokenizer files" : copied.joined(separator: ", "))")
        }
        print("wrote merged model (\(storage.torch)) to \(folder.path)")
        for note in notes { print("note: \(note)") }
    }

    // MARK: gguf

    @discardableResult
    func exportGGUF(_ run: RunFolder, to explicit: URL? = nil, storageName: String? = nil) throws -> URL {
        let name = storageName ?? dtype ?? "f16"
        guard let storage = MergedModel.GGUFStorage(rawValue: name) else {
            throw ValidationError("--dtype \(name) is not available for gguf: use f16, q8_0 or f32")
        }
        guard let base = try run.baseConfig().gguf else {
            throw ValidationError(
                "the base model \(run.baseURL.path) is a Hugging Face folder; a GGUF needs its tokenizer metadata. "
                    + "Export --to merged and convert that folder with llama.cpp's convert_hf_to_gguf.py")
        }
        let url = explicit ?? outputURL(run, default: "merged-\(storage.rawValue).gguf")
        let writer = try MergedModel.ggufWriter(try run.mergedWeights(), base: base, storage: storage)
        do { try writer.write(to: url) } catch let error as FormatsError { throw ModelsError.format(error) }
        print("wrote merged GGUF (\(storage.rawValue.uppercased())) to \(url.path)")
        return url
    }

    // MARK: ollama

    func exportOllama(_ run: RunFolder) throws {
        let folder = outputURL(run, default: "export-ollama")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let family = try run.chatFamily()
        let system = run.systemPrompt()
        let modelName = name ?? run.url.lastPathComponent.lowercased()
        let modelfileURL = folder.appendingPathComponent("Modelfile")

        func writeMerged() throws -> Modelfile {
            let merged = try exportGGUF(run, to: folder.appendingPathComponent("merged.gguf"), storageName: dtype ?? "f16")
            return Modelfile(from: merged.path, adapter: nil, family: family, system: system)
        }
        // The merged GGUF is the route unless FROM base + ADAPTER is known to work for the family.
        let architecture = try run.baseConfig().config.architecture
        var modelfile: Modelfile
        if merged {
            print("route: merged GGUF (--merged)")
            modelfile = try writeMerged()
        } else if !run.baseIsGGUF {
            print("route: merged GGUF (the base is a Hugging Face folder; Ollama's ADAPTER needs a GGUF base)")
            modelfile = try writeMerged()
        } else if !architecture.spec.ollamaAppliesAdapters {
            print(
                "route: merged GGUF (Ollama is not known to apply LoRA adapters to \(architecture.rawValue): its own"
                    + " engine, which runs gemma3, qwen3 and others, refuses them)")
            modelfile = try writeMerged()
        } else {
            print("route: FROM base + ADAPTER (Ollama applies GGUF adapters to \(architecture.rawValue); --merged writes a merged GGUF instead)")
            let adapter = try exportGGUFAdapter(run, to: folder.appendingPathComponent("adapter.gguf"))
            modelfile = Modelfile(from: run.baseURL.path, adapter: adapter.path, family: family, system: system)
        }
        try Data(modelfile.text.utf8).write(to: modelfileURL, options: .atomic)
        print("wrote \(modelfileURL.path)")
        if family == nil {
            print("note: the chat template is not ChatML, Llama 3 or Mistral; no TEMPLATE written, Ollama uses the GGUF's own")
        }
        let command = ["ollama", "create", modelName, "-f", modelfileURL.path]
        print("create it with: \(command.joined(separator: " "))")
        guard create else { return }
        guard let ollama = Self.findOnPath("ollama") else {
            throw ValidationError("--create needs `ollama` on PATH; install Ollama or run the command above yourself")
        }
        var result = Self.runProcess(ollama, Array(command.dropFirst()))
        if result.status != 0 && modelfile.adapter != nil {
            // DESIGN.md §4 trap 11: newer Ollama refuses ADAPTER at create time; a merged GGUF always works.
            print("ollama create refused the adapter (\(result.output.trimmingCharacters(in: .whitespacesAndNewlines)));")
            print("falling back to a merged GGUF, since some Ollama versions no longer create models with ADAPTER")
            modelfile = try writeMerged()
            try Data(modelfile.text.utf8).write(to: modelfileURL, options: .atomic)
            result = Self.runProcess(ollama, Array(command.dropFirst()))
        }
        guard result.status == 0 else {
            throw ValidationError("ollama create failed (exit \(result.status)): \(result.output)")
        }
        print("created Ollama model \(modelName): ollama run \(modelName)")
    }

    static func findOnPath(_ program: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":") {
            let url = URL(fileURLWithPath: String(directory)).appendingPathComponent(program)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    static func runProcess(_ executable: URL, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// A run folder and what export needs from it: the resolved training config, the base model, the metrics.
struct RunFolder {
    let url: URL
    /// `config.json` as written by `tailor train` (read loosely so older runs still export).
    let config: [String: Any]
    let baseURL: URL

    init(_ url: URL) throws {
        self.url = url
        let configURL = url.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw ValidationError("\(configURL.path): no readable run config; give a run folder written by `tailor train`")
        }
        guard let modelPath = object["modelPath"] as? String else {
            throw ValidationError("\(configURL.path): no \"modelPath\"; give a run folder written by `tailor train`")
        }
        for name in [AdapterFiles.configName, AdapterFiles.weightsName]
        where !FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path) {
            throw ValidationError("\(url.path): no \(name); the run has not saved an adapter yet")
        }
        config = object
        baseURL = URL(fileURLWithPath: modelPath)
    }

    var baseIsGGUF: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: baseURL.path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// The base model's configuration, and its GGUF file when it is one.
    func baseConfig() throws -> (config: ModelConfig, gguf: GGUFFile?) {
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
        let lora = try AdapterFiles.readPEFT(folder: url, model: weights.config)
        return try MergedModel.merge(weights, lora: lora)
    }

    func chatFamily() throws -> ChatFamily? {
        let override = (config["chatTemplate"] as? String).map { URL(fileURLWithPath: $0) }
        let located = try ChatTemplateLocator.locate(model: baseURL, override: override)
        return ChatFamily.detect(jinja: located.template.source)
    }

    /// The most common system prompt of the training data's conversations, nil when they have none.
    func systemPrompt() -> String? {
        guard let path = config["data"] as? String,
            let data = FileManager.default.contents(atPath: path)
        else { return nil }
        var counts: [String: Int] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                continue
            }
            if let system = object["system"] as? String, !system.isEmpty { counts[system, default: 0] += 1 }
            let turns = (object["messages"] ?? object["conversations"]) as? [[String: Any]] ?? []
            for turn in turns {
                let role = (turn["role"] ?? turn["from"]) as? String
                if role == "system", let content = (turn["content"] ?? turn["value"]) as? String, !content.isEmpty {
                    counts[content, default: 0] += 1
                }
            }
        }
        return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
    }

    /// A short model card: base model, data, settings and final metrics.
    func modelCard() -> String {
        let parameters = config["parameters"] as? [String: Any] ?? [:]
        let lora = parameters["lora"] as? [String: Any] ?? [:]
        func show(_ value: Any?) -> String {
            switch value {
            case nil, is NSNull: return "—"
            case let list as [Any]: return list.map { "\($0)" }.joined(separator: ", ")
            case let some?: return "\(some)"
            }
        }
        var lines = [
            "---", "library_name: peft", "base_model: \(show(config["model"]))", "tags: [lora, tailor]", "---", "",
            "# \(url.lastPathComponent)", "",
            "A LoRA adapter trained with Tailor.", "",
            "- Base model: `\(show(config["model"]))` (`\(baseURL.path)`)",
            "- Data: `\(show(config["data"]))`" + ((config["valFile"] as? String).map { ", validation `\($0)`" } ?? ""),
            "- LoRA: rank \(show(lora["rank"])), alpha \(show(lora["alpha"])), dropout \(show(lora["dropout"])), "
                + "targets \(show(lora["targets"])), rsLoRA \(show(lora["useRSLoRA"]))",
            "- Training: learning rate \(show(parameters["learningRate"])), schedule \(show(parameters["schedule"])), "
                + "epochs \(show(parameters["epochs"])), max steps \(show(parameters["maxSteps"])), "
                + "batch size \(show(parameters["batchSize"])) × grad accum \(show(parameters["gradAccum"])), "
                + "max length \(show(parameters["maxLength"])), seed \(show(parameters["seed"]))",
        ]
        let metrics = finalMetrics()
        lines.append("")
        lines.append("## Results")
        lines.append("")
        if let train = metrics.train {
            lines.append("- Final training loss: \(String(format: "%.4f", train.loss)) at step \(train.step)")
        }
        if let val = metrics.validation {
            lines.append("- Final validation loss: \(String(format: "%.4f", val.loss)) at step \(val.step)")
        }
        if metrics.train == nil && metrics.validation == nil { lines.append("- No metrics recorded.") }
        lines.append("")
        lines.append("Load with PEFT: `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), PATH)`.")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The last training and validation losses in `metrics.jsonl`.
    func finalMetrics() -> (train: (step: Int, loss: Double)?, validation: (step: Int, loss: Double)?) {
        guard let data = FileManager.default.contents(atPath: url.appendingPathComponent("metrics.jsonl").path) else {
            return (nil, nil)
        }
        var train: (step: Int, loss: Double)?
        var validation: (step: Int, loss: Double)?
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let step = object["step"] as? Int
            else { continue }
            if let loss = object["loss"] as? Double { train = (step, loss) }
            if let loss = object["val_loss"] as? Double { validation = (step, loss) }
        }
        return (train, validation)
    }
}
