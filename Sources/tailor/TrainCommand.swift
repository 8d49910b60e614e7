// `tailor train`: resolve the configuration (flags > --config YAML > defaults), check memory, train, write the adapter.
import ArgumentParser
import Datasets
import Dispatch
import Foundation
import ModelStores
import Models
import Tensors
import Tokenizers
import TorchBackend
import Training
import Yams

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a model with LoRA on a JSONL file and write a PEFT adapter.",
        discussion: """
            The run folder (--output, default runs/<model>-<timestamp>) receives config.json, adapter_config.json and \
            adapter_model.safetensors (PEFT layout), checkpoints/, metrics.jsonl and loss_chart.svg. \
            Ctrl-C finishes the current step, saves a checkpoint and tells you how to resume; --resume continues \
            exactly where the run stopped (the same adapter, bit for bit, as an uninterrupted run).

            --packing fills each micro-batch with whole examples up to batch-size × max-length tokens instead of \
            batch-size examples (sequences never attend to each other, so nothing is padded either way).

            A --config YAML file takes the same names as the flags (`learning-rate: 1e-4`, `targets: [q, v]`); \
            flags given on the command line win.

            Examples:
              tailor train --model SmolLM2-135M-Instruct.Q4_1.gguf --data chats.jsonl
              tailor train --model qwen2.5:0.5b --data d.jsonl --val-split 0.1 --patience 3
              tailor train --model m.gguf --data d.jsonl --max-steps 200 --rank 8 --targets q,v
              tailor train --config run.yaml --epochs 1
              tailor train --resume runs/SmolLM2-135M-Instruct-20260101-120000

            --backend torch trains the same tokenized data with PyTorch + PEFT in a Python you provide (see \
            `tailor doctor`): for CUDA GPUs, 4-bit QLoRA (--quantize 4bit) and several GPUs (--gpus N or all, \
            DDP; --fsdp shards models too big for one GPU). It writes the same adapter, checkpoints and metrics.
              tailor train --backend torch --model ~/models/Qwen2.5-7B-Instruct --data d.jsonl --quantize 4bit
              tailor train --backend torch --python .venv/bin/python --gpus all --model m --data d.jsonl
            """)

    // The settings: help text, types and rules are TrainingSettings.table's; only the flag spelling is here.
    // A new setting is a row there and a declaration here (TrainSettingsTests fails when one is missing).
    @Option(help: ArgumentHelp(TrainingSettings.help("model"))) var model: String?
    @OptionGroup var discovery: DiscoveryOptions
    @Option(help: ArgumentHelp(TrainingSettings.help("data"))) var data: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("val-file"))) var valFile: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("val-split"))) var valSplit: Double?
    @Option(help: ArgumentHelp(TrainingSettings.help("output"), valueName: "dir")) var output: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("epochs"))) var epochs: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("max-steps"))) var maxSteps: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("learning-rate"))) var learningRate: Float?
    @Option(help: ArgumentHelp(TrainingSettings.help("batch-size"))) var batchSize: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("grad-accum"))) var gradAccum: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("max-length"))) var maxLength: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("rank"))) var rank: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("alpha"))) var alpha: Float?
    @Option(help: ArgumentHelp(TrainingSettings.help("dropout"))) var dropout: Float?
    @Option(help: ArgumentHelp(TrainingSettings.help("targets"))) var targets: String?
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(TrainingSettings.help("rslora"))) var rslora: Bool?
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(TrainingSettings.help("packing"))) var packing: Bool?
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(TrainingSettings.help("checkpointing"))) var checkpointing: Bool?
    @Option(help: ArgumentHelp(TrainingSettings.help("schedule"))) var schedule: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("warmup-steps"))) var warmupSteps: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("warmup-ratio"))) var warmupRatio: Double?
    @Option(help: ArgumentHelp(TrainingSettings.help("weight-decay"))) var weightDecay: Float?
    @Option(help: ArgumentHelp(TrainingSettings.help("max-grad-norm"))) var maxGradNorm: Float?
    @Option(help: ArgumentHelp(TrainingSettings.help("eval-every"))) var evalEvery: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("save-every"))) var saveEvery: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("patience"))) var patience: Int?
    @Option(help: ArgumentHelp(TrainingSettings.help("seed"))) var seed: UInt64?
    @Option(help: "A YAML file with any of these settings (the flags' names as keys).") var config: String?
    @Option(help: ArgumentHelp("Continue the run in this folder from its last checkpoint.", valueName: "run"))
    var resume: String?
    @Flag(help: "Print the run's configuration (its config.json) as the defaults, --config, the flags or --resume make it, and stop.")
    var printConfig = false
    @Option(help: ArgumentHelp(TrainingSettings.help("threads"))) var threads: Int?
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(TrainingSettings.help("skip-invalid"))) var skipInvalid: Bool?
    @Option(help: ArgumentHelp(TrainingSettings.help("format"))) var format: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("chat-template"))) var chatTemplate: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("backend"))) var backend: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("python"))) var python: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("gpus"))) var gpus: String?
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(TrainingSettings.help("fsdp"))) var fsdp: Bool?
    @Option(help: ArgumentHelp(TrainingSettings.help("quantize"))) var quantize: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("precision"))) var precision: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("weights"))) var weights: String?
    @Option(help: ArgumentHelp(TrainingSettings.help("device"))) var device: String?

    // Hidden: writes the logits of --model with the PEFT adapter in --dump-adapter for --dump-tokens, for
    // Scripts/reference/peft_adapter_check.py.
    @Option(help: .hidden) var dumpLogits: String?
    @Option(help: .hidden) var dumpAdapter: String?
    @Option(help: .hidden) var dumpTokens: String?

    func run() throws {
        if let dumpLogits { return try writeLogits(to: dumpLogits) }
        let printer = ProgressPrinter()
        var (config, resuming) = try resolveConfiguration()
        if printConfig { return print(String(decoding: try config.json(), as: UTF8.self)) }
        let parameters = config.parameters
        try parameters.validate()
        let runFolder = URL(fileURLWithPath: config.output)
        let modelURL = URL(fileURLWithPath: config.modelPath)

        // Data: read, render with the model's template, tokenize, split.
        let tokenizer = try Tokenizer.load(modelURL)
        let located = try ChatTemplateLocator.locate(
            model: modelURL, override: config.chatTemplate.map { URL(fileURLWithPath: $0) })
        if located.isFallback { printer.say("note: \(located.origin); rendering conversations in it") }
        let format = try config.format.map { text -> RecordFormat in
            guard let format = RecordFormat(argument: text) else {
                throw ValidationError(
                    "unknown --format \(text): use messages, sharegpt, alpaca, prompt-completion or text")
            }
            return format
        }
        let options = DatasetReadOptions(format: format, skipInvalid: config.skipInvalid)
        func load(_ path: String) throws -> [TokenizedExample] {
            let dataset = try DatasetReader.read(url: URL(fileURLWithPath: path), options: options)
            for issue in dataset.issues { printer.say("skipped \(issue.description)") }
            let renderer = Renderer(
                tokenizer: tokenizer, template: located.template, maxLength: parameters.maxLength,
                file: URL(fileURLWithPath: path).lastPathComponent)
            let (examples, report) = renderer.tokenizeAll(dataset.examples)
            for issue in report.dropped { printer.say("left out \(issue.description)") }
            if report.truncated > 0 {
                printer.say(
                    "\(path): \(report.truncated) example(s) cut to --max-length \(parameters.maxLength)")
            }
            return examples
        }
        var train = try load(config.data)
        var validation: [TokenizedExample] = []
        if let valFile = config.valFile {
            validation = try load(valFile)
        } else {
            let fraction = parameters.resolvedValSplit(examples: train.count)
            if parameters.valSplit == nil && fraction > 0 {
                printer.say(
                    "note: holding out \(Int(fraction * 100))% of \(config.data) for validation (--val-split 0 to train on all)"
                )
            }
            (train, validation) = Batching.split(train, fraction: fraction, seed: parameters.seed)
        }

        // The model's shape, the memory it needs, and what this machine has.
        let inspection = try ModelInspection(url: modelURL)
        guard let modelConfig = inspection.config else {
            throw ValidationError(
                "\(modelURL.path) cannot be trained: \(inspection.configProblem ?? "unsupported model")")
        }
        let longest = train.map(\.ids.count).sorted(by: >)
        let microBatchTokens =
            parameters.packing
            ? parameters.batchSize * parameters.maxLength : longest.prefix(parameters.batchSize).reduce(0, +)
        let (precision, precisionReason) = try (PrecisionSetting(rawValue: config.precision ?? "fp32") ?? .auto)
            .resolve()
        let (storage, storageReason) = (WeightSetting(rawValue: config.weights ?? "f32") ?? .auto).resolve(
            parameters: inspection.parameterCount, storedBytes: inspection.totalBytes, precision: precision,
            availableBytes: MemoryEstimate.availableBytes())
        func estimateFor(_ parameters: TrainingParameters, _ storage: WeightStorage) -> MemoryEstimate {
            MemoryEstimate(
                config: modelConfig, parameters: parameters, microBatchTokens: microBatchTokens, precision: precision,
                storage: storage, parameterCount: inspection.parameterCount, storedBytes: inspection.totalBytes)
        }
        let estimate = estimateFor(parameters, storage)
        // A resumed run multiplies exactly as it began: the resolved choices are what config.json keeps.
        if !config.usesTorch {
            config.precision = precision.rawValue
            config.weights = storage.rawValue
        }
        let loraCount = LoRAParameters(model: modelConfig, config: parameters.lora).count
        if config.usesTorch {
            return try runTorch(
                config, prepared: PreparedRun(train: train, validation: validation, parameters: parameters),
                modelURL: modelURL, modelConfig: modelConfig, inspection: inspection, trainable: loraCount,
                resuming: resuming, printer: printer)
        }
        printConfiguration(
            config, modelConfig: modelConfig, dtype: inspection.dominantType, trainable: loraCount,
            train: train.count, validation: validation.count, estimate: estimate,
            engine: "\(precision.rawValue) products (\(precisionReason)) on \(MatmulKernels.current)",
            storage: "\(storage.rawValue) in memory (\(storageReason))", printer: printer)
        if let available = MemoryEstimate.availableBytes(), estimate.total > available {
            let savings = MemoryEstimate.savings(
                parameters: parameters, storage: storage, current: estimate.total, estimate: estimateFor)
            let advice = savings.map { "\($0.change) (about \(formatBytes(Int64($0.total))))" }
            throw ValidationError(
                "this run needs about \(formatBytes(Int64(estimate.total))) but \(formatBytes(Int64(available))) is"
                    + " available; "
                    + (advice.isEmpty
                        ? "try a smaller --batch-size" : "try " + advice.joined(separator: ", or ")
                            + ", or a smaller --batch-size")
                    + " (weights \(formatBytes(Int64(estimate.weights))), activations "
                    + "\(formatBytes(Int64(estimate.activations))))")
        }

        // The engine.
        let threadCount =
            parameters.threads > 0 ? parameters.threads : ProcessInfo.processInfo.activeProcessorCount
        setMatmulThreadCount(threadCount)
        let weights = try TransformerWeights(try ModelWeights.load(from: modelURL), storage: storage)
        let lora = LoRAParameters(model: weights.config, config: parameters.lora)
        let engine = Transformer(
            weights: weights, lora: lora, checkpointing: parameters.checkpointing,
            threads: threadCount, maxPosition: max(parameters.maxLength, 16), precision: precision)
        try FileManager.default.createDirectory(at: runFolder, withIntermediateDirectories: true)
        if !resuming { try config.write(in: runFolder) }
        let trainer = try Trainer(
            model: engine, train: train, validation: validation, parameters: parameters,
            runFolder: runFolder, baseModel: config.model)
        let checkpoint = try resumeCheckpoint(resuming: resuming, runFolder: runFolder)
        let summary = try supervised(printer: printer, onStop: {}, onForce: {}) { stop in
            try trainer.run(resumeFrom: checkpoint, progress: printer.handle, shouldStop: { stop.isSet })
        }
        printSummary(summary, runFolder: runFolder, estimate: estimate)
    }

    /// The newest checkpoint when resuming (an error when there is none), nil for a fresh run.
    func resumeCheckpoint(resuming: Bool, runFolder: URL) throws -> URL? {
        guard resuming else { return nil }
        guard let checkpoint = Checkpoint.latest(in: runFolder) else {
            throw ValidationError("\(runFolder.path) has no checkpoint to resume from; start the run again instead")
        }
        return checkpoint
    }

    /// Runs `train` with Ctrl-C and SIGTERM handled: an interrupted run says how to resume and exits with 130.
    /// `onStop` passes a first request on to a backend process, `onForce` ends it before a second one quits.
    func supervised(
        printer: ProgressPrinter, onStop: @escaping @Sendable () -> Void, onForce: @escaping @Sendable () -> Void,
        _ train: (StopFlag) throws -> TrainingSummary
    ) throws -> TrainingSummary {
        let stop = StopFlag()
        let sources = installSignalHandlers(stop: stop, printer: printer, onStop: onStop, onForce: onForce)
        defer { sources.forEach { $0.cancel() } }
        do { return try train(stop) } catch let error as TrainingError {
            if case .interrupted = error {
                printer.say(error.description)
                throw ExitCode(130)
            }
            throw error
        }
    }

    // MARK: The torch backend

    /// Trains through the PyTorch program: the same data, plan and run folder layout, progress rendered the same way.
    func runTorch(
        _ config: TrainingConfig, prepared: PreparedRun, modelURL: URL, modelConfig: ModelConfig,
        inspection: ModelInspection, trainable: Int, resuming: Bool, printer: ProgressPrinter
    ) throws {
        let settings = config.torch ?? TorchSettings()
        let runFolder = URL(fileURLWithPath: config.output)
        let launcher = try TorchLauncher(explicitPython: settings.python)
        let trainer = try TorchTrainer(
            prepared: prepared, model: modelURL, config: modelConfig, baseModel: config.model, settings: settings,
            launcher: launcher, runFolder: runFolder)
        let environment = try trainer.checkEnvironment()
        let gpus = environment.cudaGPUs
        let device =
            settings.device == "cpu" || gpus.isEmpty
            ? "CPU" : gpus.prefix(settings.gpus == 0 ? gpus.count : settings.gpus).map(\.name).joined(separator: ", ")
        let p = config.parameters
        let rows: [(String, String)] = [
            ("model", "\(config.model) (\(config.modelPath))"),
            ("backend", "torch \(environment.version(of: "torch") ?? "?") via \(launcher.python.path), on \(device)"),
            (
                "weights",
                "\(inspection.dominantType ?? "?") on disk, "
                    + (settings.quantize4Bit ? "4-bit NF4 (QLoRA)" : "precision \(settings.precision.rawValue)")
            ),
            ("targets", p.lora.targets.map(\.rawValue).joined(separator: ",")),
            ("rank / alpha", "\(p.lora.rank) / \(formatDecimal(Double(p.lora.alpha), digits: 1))"),
            ("trainable", "\(formatCount(trainable)) parameters"),
            ("data", "\(config.data): \(prepared.train.count) training, \(prepared.validation.count) validation example(s)"),
            ("steps", "\(prepared.plan.count), lr \(p.learningRate) \(p.schedule.rawValue), seed \(p.seed)"),
            ("output", config.output),
        ]
        for (key, value) in rows { printer.say(key.padding(toLength: 15, withPad: " ", startingAt: 0) + value) }

        try FileManager.default.createDirectory(at: runFolder, withIntermediateDirectories: true)
        if !resuming { try config.write(in: runFolder) }
        let checkpoint = try resumeCheckpoint(resuming: resuming, runFolder: runFolder)
        let summary = try supervised(
            printer: printer, onStop: { trainer.interrupt() }, onForce: { trainer.kill() }
        ) { _ in
            try trainer.run(resumeFrom: checkpoint, visibleGPUs: gpus.count, progress: printer.handle)
        }
        printSummary(summary, runFolder: runFolder, estimate: nil)
    }

    // MARK: Configuration

    /// Defaults, then the YAML file, then flags; or the saved configuration of `--resume` (see
    /// `TrainingSettings.resume` for what may change there).
    func resolveConfiguration() throws -> (TrainingConfig, resuming: Bool) {
        let flags = givenSettings
        if let resume {
            if let config {
                throw TrainingError.settingsFile(
                    path: config, reason: "--resume continues with the run's saved settings; leave out --config")
            }
            var saved = try TrainingConfig.read(runFolder: URL(fileURLWithPath: resume))
            saved.output = resume
            // The run folder is where --resume points, wherever it was first written.
            return (try TrainingSettings.resume(saved, flags: flags), true)
        }
        var file: [String: SettingValue] = [:]
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw TrainingError.settingsFile(path: config, reason: "cannot be read; check the --config path")
            }
            file = try TrainingSettings.settings(yaml: text, file: config)
        }
        var resolved = try TrainingSettings.resolve(file: file, flags: flags)
        let search = ModelDiscovery(paths: discovery.searchPaths())
        if resolved.model.isEmpty {
            guard Picker.canAsk else {
                throw ValidationError("no --model given; pass --model PATH or a name from `tailor models`")
            }
            resolved.model = try Picker.pickModel(discovery: search, purpose: "fine-tune")
        }
        guard !resolved.data.isEmpty else {
            throw ValidationError("no --data given; pass a JSONL file (check it first with `tailor data check`)")
        }
        let found = try search.resolve(resolved.model)
        resolved.modelPath = found.format.url.path
        if resolved.output.isEmpty {
            let runName =
                found.name.split(separator: "/").last.map(String.init)?
                .replacingOccurrences(of: ".gguf", with: "").replacingOccurrences(of: ":", with: "-") ?? "run"
            resolved.output = "runs/\(runName)-\(Self.timestamp())"
        }
        return (resolved, false)
    }

    /// The settings given as flags, read off the declared options by name (an option `fooBar` is the setting
    /// `foo-bar`), so the flags and the table cannot drift apart unnoticed: `TrainSettingsTests` checks both ways.
    var givenSettings: [String: SettingValue] {
        var values: [String: SettingValue] = [:]
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, label.hasPrefix("_") else { continue }
            let name = Self.settingName(property: String(label.dropFirst()))
            guard TrainingSettings.table.contains(where: { $0.name == name }) else { continue }
            let value: SettingValue?
            switch child.value {
            case let option as Option<Int?>: value = option.wrappedValue.map(SettingValue.int)
            case let option as Option<UInt64?>: value = option.wrappedValue.map { .string("\($0)") }
            case let option as Option<Float?>: value = option.wrappedValue.map { .double(Double($0)) }
            case let option as Option<Double?>: value = option.wrappedValue.map(SettingValue.double)
            case let option as Option<String?>: value = option.wrappedValue.map(SettingValue.string)
            case let flag as Flag<Bool?>: value = flag.wrappedValue.map(SettingValue.bool)
            default: preconditionFailure("train option \(name) has a type givenSettings does not read")
            }
            if let value { values[name] = value }
        }
        return values
    }

    /// `learningRate` → `learning-rate`.
    static func settingName(property: String) -> String {
        property.reduce(into: "") { name, character in
            if character.isUppercase { name += "-" + character.lowercased() } else { name.append(character) }
        }
    }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }

    func printConfiguration(
        _ c: TrainingConfig, modelConfig: ModelConfig, dtype: String?, trainable: Int, train: Int,
        validation: Int, estimate: MemoryEstimate, engine: String, storage: String, printer: ProgressPrinter
    ) {
        let p = c.parameters
        let lengths = p.maxSteps.map { "\($0) steps" } ?? "\(p.epochs) epoch(s)"
        let warmup = p.warmupSteps.map { "\($0) steps" } ?? "ratio \(p.warmupRatio)"
        let rows: [(String, String)] = [
            ("model", "\(c.model) (\(c.modelPath))"),
            (
                "architecture",
                "\(modelConfig.architecture.rawValue), \(modelConfig.layerCount) layers, hidden \(modelConfig.hiddenSize)"
            ),
            ("weights", "\(dtype ?? "?") on disk, \(storage)"),
            ("engine", engine),
            ("targets", p.lora.targets.map(\.rawValue).joined(separator: ",")),
            (
                "rank / alpha",
                "\(p.lora.rank) / \(formatDecimal(Double(p.lora.alpha), digits: 1))"
                    + (p.lora.useRSLoRA ? " (rsLoRA)" : "") + ", dropout \(p.lora.dropout)"
            ),
            ("trainable", "\(formatCount(trainable)) parameters"),
            (
                "data",
                "\(c.data): \(train) training, \(validation) validation example(s)"
                    + (c.valFile.map { " (from \($0))" } ?? "")
            ),
            (
                "batch × length",
                "\(p.batchSize) × \(p.maxLength)" + (p.gradAccum > 1 ? ", accumulating \(p.gradAccum)" : "")
                    + (p.packing ? ", packed" : "")
            ),
            (
                "steps",
                lengths + ", lr \(p.learningRate) \(p.schedule.rawValue), warm-up \(warmup), seed \(p.seed)"
            ),
            (
                "memory",
                "about \(formatBytes(Int64(estimate.total))): weights \(formatBytes(Int64(estimate.weights))), "
                    + "activations \(formatBytes(Int64(estimate.activations))), adapter + AdamW "
                    + "\(formatBytes(Int64(estimate.adapterAndOptimizer)))"
            ),
            ("output", c.output),
        ]
        for (key, value) in rows {
            printer.say(key.padding(toLength: 15, withPad: " ", startingAt: 0) + value)
        }
    }

    /// `estimate` is nil for the torch backend, whose memory lives in another process (it reports its own peak).
    func printSummary(_ s: TrainingSummary, runFolder: URL, estimate: MemoryEstimate?) {
        var memory = ""
        if let estimate {
            memory =
                ", peak memory \(formatBytes(Int64(peakResidentBytes()))), estimated \(formatBytes(Int64(estimate.total)))"
        } else if let peak = s.backendPeakBytes {
            memory = ", peak \(s.backendMemoryDevice ?? "memory") \(formatBytes(peak))"
        }
        var lines = [
            "trained \(s.steps) of \(s.totalSteps) steps in \(durationText(s.seconds))"
                + " (\(Int(s.tokensPerSecond.rounded())) tokens/s\(memory))"
        ]
        if let loss = s.finalLoss { lines.append("final training loss \(formatDecimal(loss, digits: 4))") }
        if let best = s.bestValidationLoss, let first = s.firstValidationLoss {
            lines.append(
                "validation loss \(formatDecimal(first, digits: 4)) at the first evaluation, best "
                    + "\(formatDecimal(best, digits: 4)) at step \(s.bestStep ?? 0)")
        }
        lines.append(
            "adapter (PEFT\(s.adapterIsBest ? ", best by validation loss" : "")): \(runFolder.path)/"
                + "\(AdapterFiles.weightsName) + \(AdapterFiles.configName)")
        lines.append("metrics: \(runFolder.path)/metrics.jsonl, chart: \(runFolder.path)/loss_chart.svg")
        lines.append("checkpoints: \(Checkpoint.folder(in: runFolder).path)")
        print(lines.joined(separator: "\n"))
    }

    // MARK: Signals

    /// Ctrl-C or SIGTERM once: finish the step, save, stop (`onStop` passes the request on to a backend process);
    /// twice: quit at once (`onForce` ends the backend process first, which no terminal signal reaches: it runs in
    /// its own process group).
    func installSignalHandlers(
        stop: StopFlag, printer: ProgressPrinter, onStop: @escaping @Sendable () -> Void,
        onForce: @escaping @Sendable () -> Void
    ) -> [any DispatchSourceSignal] {
        let signals: [Int32] = [SIGINT, SIGTERM]
        return signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if stop.set() {
                    onStop()
                    FileHandle.standardError.write(
                        Data(
                            "\nstopping after this step and saving a checkpoint (press Ctrl-C again to quit at once)\n"
                                .utf8))
                } else {
                    onForce()
                    Foundation.exit(130)
                }
            }
            source.resume()
            return source
        }
    }

    // MARK: Debug logits

    func writeLogits(to path: String) throws {
        guard let model, let dumpAdapter, let dumpTokens else {
            throw ValidationError("--dump-logits needs --model, --dump-adapter and --dump-tokens")
        }
        let url = try ModelDiscovery(paths: discovery.searchPaths()).resolve(model).format.url
        let tokens = try dumpTokens.split(separator: ",").map { text -> Int32 in
            guard let id = Int32(text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--dump-tokens takes comma-separated token ids")
            }
            return id
        }
        let weights = try TransformerWeights(try ModelWeights.load(from: url))
        let lora = try AdapterFiles.readPEFT(folder: URL(fileURLWithPath: dumpAdapter), model: weights.config)
        let engine = Transformer(
            weights: weights, lora: lora, threads: threads ?? 0, maxPosition: max(tokens.count, 16))
        let batch = TokenBatch(sequences: [tokens], labels: [Array(repeating: -1, count: tokens.count)])
        let logits = engine.logits(batch)
        let data = logits.withUnsafeBufferPointer { Data(buffer: $0) }
        try data.write(to: URL(fileURLWithPath: path))
    }
}

/// Set by the signal handlers, polled by the training loop between steps.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }

    /// Sets the flag; returns false when it was already set (a second Ctrl-C).
    func set() -> Bool {
        lock.withLock {
            defer { value = true }
            return !value
        }
    }
}
