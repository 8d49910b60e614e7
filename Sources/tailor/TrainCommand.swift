// `tailor train`: resolve the configuration (flags > --config YAML > defaults), check memory, train, write the adapter.
import ArgumentParser
import Datasets
import Dispatch
import Foundation
import ModelStores
import Models
import Tensors
import Tokenizers
import Training
import Yams

/// Everything a run was started with, saved as `config.json` in the run folder; `--resume` reads it back.
struct TrainingConfig: Codable, Equatable {
    var model: String
    var modelPath: String
    var data: String
    var valFile: String?
    var format: String?
    var chatTemplate: String?
    var skipInvalid: Bool
    var output: String
    var parameters: TrainingParameters
    /// "native" (nil in runs saved before backends existed) or "torch".
    var backend: String?
    var torch: TorchSettings?
    /// Native engine: `--precision` and `--weights` as given (auto, fp32, bf16 / auto, f32, bf16, quantized);
    /// nil in runs saved before they existed (fp32 and f32 then).
    var precision: String?
    var weights: String?

    var usesTorch: Bool { backend == "torch" }
}

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

    @Option(
        help:
            "The model: a .gguf file, a Hugging Face folder, or a name from `tailor models`. Asked for on a terminal."
    )
    var model: String?
    @OptionGroup var discovery: DiscoveryOptions
    @Option(
        help: "Training data: JSON Lines (messages, ShareGPT, Alpaca, prompt/completion or text records).")
    var data: String?
    @Option(help: "Validation data (same formats). Without it, --val-split holds out part of --data.")
    var valFile: String?
    @Option(
        help: "Fraction of --data held out for validation (default: 0.1 with 20 or more examples, else none)."
    )
    var valSplit: Double?
    @Option(help: ArgumentHelp("The run folder (default: runs/<model>-<timestamp>).", valueName: "dir"))
    var output: String?
    @Option(help: "Passes over the training data (default 3).") var epochs: Int?
    @Option(help: "Optimizer steps to run instead of whole epochs.") var maxSteps: Int?
    @Option(help: "Peak learning rate (default 2e-4).") var learningRate: Float?
    @Option(help: "Sequences per micro-batch (default 4).") var batchSize: Int?
    @Option(help: "Micro-batches per optimizer step (default 1).") var gradAccum: Int?
    @Option(help: "Longest sequence in tokens; longer examples are cut (default 2048).") var maxLength: Int?
    @Option(help: "LoRA rank r (default 16).") var rank: Int?
    @Option(help: "LoRA alpha (default 32; the scale is alpha/r).") var alpha: Float?
    @Option(help: "LoRA dropout (default 0).") var dropout: Float?
    @Option(help: "Adapted projections, comma-separated from q,k,v,o,gate,up,down (default: all).")
    var targets: String?
    @Flag(inversion: .prefixedNo, help: "rsLoRA scaling alpha/√r.") var rslora: Bool?
    @Flag(inversion: .prefixedNo, help: "Fill micro-batches up to batch-size × max-length tokens.")
    var packing: Bool?
    @Flag(inversion: .prefixedNo, help: "Recompute activations in backward: less memory, about ⅓ slower.")
    var checkpointing: Bool?
    @Option(help: "Learning-rate schedule: constant, linear or cosine (default cosine).") var schedule:
        String?
    @Option(help: "Warm-up steps (default: --warmup-ratio of the run).") var warmupSteps: Int?
    @Option(help: "Warm-up as a fraction of all steps (default 0).") var warmupRatio: Double?
    @Option(help: "AdamW weight decay (default 0).") var weightDecay: Float?
    @Option(help: "Clip the gradient norm to this; 0 turns clipping off (default 1).") var maxGradNorm: Float?
    @Option(help: "Evaluate every N steps (default: a tenth of the run) and at the end.") var evalEvery: Int?
    @Option(help: "Save a checkpoint every N steps (default: a fifth of the run).") var saveEvery: Int?
    @Option(help: "Stop after N evaluations without a better validation loss, keeping the best adapter.")
    var patience: Int?
    @Option(help: "Seed for LoRA initialisation, data order, split and dropout (default 42).") var seed:
        UInt64?
    @Option(help: "A YAML file with any of these settings.") var config: String?
    @Option(help: ArgumentHelp("Continue the run in this folder from its last checkpoint.", valueName: "run"))
    var resume: String?
    @Option(help: "Threads for kernels and BLAS (default: all cores).") var threads: Int?
    @Flag(
        inversion: .prefixedNo,
        help: "Train on the valid records and report the invalid ones instead of stopping.")
    var skipInvalid: Bool?
    @Option(help: "Force the record format: messages, sharegpt, alpaca, prompt-completion or text.")
    var format: String?
    @Option(help: "A Jinja chat template file to use instead of the model's.") var chatTemplate: String?

    @Option(help: "Training engine: native (built in, CPU) or torch (PyTorch + PEFT in Python; GPUs, QLoRA).")
    var backend: String?
    @Option(help: "Python for --backend torch (default: $TAILOR_PYTHON, else python3 on the PATH).")
    var python: String?
    @Option(help: "--backend torch: GPUs to train on, a number or all (several go through accelerate, DDP).")
    var gpus: String?
    @Flag(inversion: .prefixedNo, help: "--backend torch with --gpus: shard the model across GPUs (FSDP).")
    var fsdp: Bool?
    @Option(help: "--backend torch: 4bit loads frozen weights as NF4 (QLoRA, CUDA + bitsandbytes); none.")
    var quantize: String?
    @Option(
        help: """
            Matrix products in auto, fp32 or bf16 (bf16 inputs, Float32 accumulation; LoRA, optimizer, norms and \
            loss stay Float32). auto: bf16 where the CPU (AMX, AVX512-BF16) or GPU has it natively.
            """)
    var precision: String?
    @Option(
        help: """
            Native engine: how frozen weights are held: auto, f32, bf16 or quantized (as stored: GGUF quant blocks \
            are widened a panel at a time in each product). auto widens them when that fits easily, else keeps them.
            """)
    var weights: String?
    @Option(help: "--backend torch: auto, cpu or cuda.")
    var device: String?

    // Hidden: writes the logits of --model with the PEFT adapter in --dump-adapter for --dump-tokens, for
    // Scripts/reference/peft_adapter_check.py.
    @Option(help: .hidden) var dumpLogits: String?
    @Option(help: .hidden) var dumpAdapter: String?
    @Option(help: .hidden) var dumpTokens: String?

    func run() throws {
        if let dumpLogits { return try writeLogits(to: dumpLogits) }
        let printer = ProgressPrinter()
        var (config, resuming) = try resolveConfiguration()
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
        if !resuming { try saveConfiguration(config, in: runFolder) }
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
        if !resuming { try saveConfiguration(config, in: runFolder) }
        let checkpoint = try resumeCheckpoint(resuming: resuming, runFolder: runFolder)
        let summary = try supervised(
            printer: printer, onStop: { trainer.interrupt() }, onForce: { trainer.kill() }
        ) { _ in
            try trainer.run(resumeFrom: checkpoint, visibleGPUs: gpus.count, progress: printer.handle)
        }
        printSummary(summary, runFolder: runFolder, estimate: nil)
    }

    // MARK: Configuration

    /// Defaults, then the YAML file, then flags; or the saved configuration of `--resume`.
    func resolveConfiguration() throws -> (TrainingConfig, resuming: Bool) {
        if let resume {
            let given: [(String, Bool)] = [
                ("--model", model != nil), ("--data", data != nil), ("--val-file", valFile != nil),
                ("--val-split", valSplit != nil), ("--output", output != nil), ("--epochs", epochs != nil),
                ("--max-steps", maxSteps != nil), ("--learning-rate", learningRate != nil),
                ("--batch-size", batchSize != nil), ("--grad-accum", gradAccum != nil),
                ("--max-length", maxLength != nil),
                ("--rank", rank != nil), ("--alpha", alpha != nil), ("--targets", targets != nil),
                ("--seed", seed != nil), ("--config", config != nil), ("--packing", packing != nil),
                ("--backend", backend != nil), ("--gpus", gpus != nil), ("--fsdp", fsdp != nil),
                ("--quantize", quantize != nil), ("--precision", precision != nil), ("--device", device != nil),
                ("--weights", weights != nil),
            ]
            if let flag = given.first(where: \.1)?.0 {
                throw ValidationError(
                    "--resume continues with the run's saved configuration; leave out \(flag)")
            }
            let url = URL(fileURLWithPath: resume).appendingPathComponent("config.json")
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw ValidationError(
                    "\(resume) is not a run folder (no config.json); give the folder `tailor train` wrote")
            }
            var saved = try JSONDecoder().decode(TrainingConfig.self, from: data)
            saved.output = resume
            if let threads { saved.parameters.threads = threads }
            if let python, saved.usesTorch { saved.torch?.python = python }
            return (saved, true)
        }
        var settings: [String: Any] = [:]
        if let config {
            settings = try Self.readYAML(config)
        }
        func setting<T>(_ key: String, _ flag: T?, _ convert: (Any) -> T?) throws -> T? {
            if let flag { return flag }
            guard let raw = settings[key] else { return nil }
            guard let value = convert(raw) else {
                throw ValidationError("\(config ?? "config"): \(key) has the wrong type (\(raw))")
            }
            return value
        }
        let int: (Any) -> Int? = { ($0 as? Int) ?? ($0 as? String).flatMap { Int($0) } }
        let double: (Any) -> Double? = {
            ($0 as? Double) ?? ($0 as? Int).map(Double.init) ?? ($0 as? String).flatMap { Double($0) }
        }
        let float: (Any) -> Float? = { double($0).map(Float.init) }
        let bool: (Any) -> Bool? = { $0 as? Bool }
        let string: (Any) -> String? = {
            ($0 as? String) ?? ($0 as? Int).map(String.init)
                ?? ($0 as? [Any]).map { $0.map { "\($0)" }.joined(separator: ",") }
        }

        var p = TrainingParameters()
        if let v = try setting("epochs", epochs, int) { p.epochs = v }
        p.maxSteps = try setting("max-steps", maxSteps, int)
        if let v = try setting("learning-rate", learningRate, float) { p.learningRate = v }
        if let v = try setting("batch-size", batchSize, int) { p.batchSize = v }
        if let v = try setting("grad-accum", gradAccum, int) { p.gradAccum = v }
        if let v = try setting("max-length", maxLength, int) { p.maxLength = v }
        var lora = LoRAConfig()
        if let v = try setting("rank", rank, int) { lora.rank = v }
        if let v = try setting("alpha", alpha, float) { lora.alpha = v }
        if let v = try setting("dropout", dropout, float) { lora.dropout = v }
        if let v = try setting("rslora", rslora, bool) { lora.useRSLoRA = v }
        if let text = try setting("targets", targets, string) {
            var chosen: [LoRATarget] = []
            for name in text.split(separator: ",").map({
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }) {
                let short = name.hasSuffix("_proj") ? String(name.dropLast(5)) : name
                guard let target = LoRATarget(rawValue: short) else {
                    throw ValidationError("unknown target \(name) in --targets: use q,k,v,o,gate,up,down")
                }
                chosen.append(target)
            }
            lora = LoRAConfig(
                rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, useRSLoRA: lora.useRSLoRA,
                targets: chosen)
        }
        p.lora = lora
        if let v = try setting("packing", packing, bool) { p.packing = v }
        if let v = try setting("checkpointing", checkpointing, bool) { p.checkpointing = v }
        if let text = try setting("schedule", schedule, string) {
            guard let value = LearningRateSchedule(rawValue: text.lowercased()) else {
                throw ValidationError("unknown --schedule \(text): use constant, linear or cosine")
            }
            p.schedule = value
        }
        p.warmupSteps = try setting("warmup-steps", warmupSteps, int)
        if let v = try setting("warmup-ratio", warmupRatio, double) { p.warmupRatio = v }
        if let v = try setting("weight-decay", weightDecay, float) { p.weightDecay = v }
        if let v = try setting("max-grad-norm", maxGradNorm, float) { p.maxGradNorm = v }
        p.evalEvery = try setting("eval-every", evalEvery, int)
        p.saveEvery = try setting("save-every", saveEvery, int)
        p.patience = try setting("patience", patience, int)
        p.valSplit = try setting("val-split", valSplit, double)
        if let v = try setting("seed", seed, { int($0).map(UInt64.init) }) { p.seed = v }
        if let v = try setting("threads", threads, int) { p.threads = v }

        let search = ModelDiscovery(paths: discovery.searchPaths())
        var modelName = try setting("model", model, string)
        if modelName == nil {
            guard Picker.canAsk else {
                throw ValidationError("no --model given; pass --model PATH or a name from `tailor models`")
            }
            modelName = try Picker.pickModel(discovery: search, purpose: "fine-tune")
        }
        guard let modelName else { throw ValidationError("no --model given") }
        guard let dataPath = try setting("data", data, string) else {
            throw ValidationError(
                "no --data given; pass a JSONL file (check it first with `tailor data check`)")
        }
        let (backendName, torchSettings, precisionSetting, weightSetting) = try resolveBackend(setting: { key, flag in try setting(key, flag, string) },
                                                              bool: { key, flag in try setting(key, flag, bool) })
        let found = try search.resolve(modelName)
        let stamp = Self.timestamp()
        let runName =
            found.name.split(separator: "/").last.map(String.init)?
            .replacingOccurrences(of: ".gguf", with: "").replacingOccurrences(of: ":", with: "-") ?? "run"
        let resolved = TrainingConfig(
            model: modelName, modelPath: found.format.url.path, data: dataPath,
            valFile: try setting("val-file", valFile, string), format: try setting("format", format, string),
            chatTemplate: try setting("chat-template", chatTemplate, string),
            skipInvalid: try setting("skip-invalid", skipInvalid, bool) ?? false,
            output: try setting("output", output, string) ?? "runs/\(runName)-\(stamp)", parameters: p,
            backend: backendName, torch: torchSettings, precision: precisionSetting, weights: weightSetting)
        return (resolved, false)
    }

    static let yamlKeys: Set<String> = [
        "model", "data", "val-file", "val-split", "output", "epochs", "max-steps", "learning-rate",
        "batch-size",
        "grad-accum", "max-length", "rank", "alpha", "dropout", "targets", "rslora", "packing",
        "checkpointing",
        "schedule", "warmup-steps", "warmup-ratio", "weight-decay", "max-grad-norm", "eval-every",
        "save-every",
        "patience", "seed", "threads", "skip-invalid", "format", "chat-template", "backend", "python", "gpus",
        "fsdp", "quantize", "precision", "device", "weights",
    ]

    /// The backend and, for torch, its settings; torch-only settings without --backend torch are an error.
    func resolveBackend(
        setting string: (String, String?) throws -> String?, bool: (String, Bool?) throws -> Bool?
    ) throws -> (String, TorchSettings?, precision: String?, weights: String?) {
        let name = try string("backend", backend)?.lowercased() ?? "native"
        let weights = try string("weights", weights)?.lowercased()
        let python = try string("python", python)
        let gpus = try string("gpus", gpus)
        let fsdp = try bool("fsdp", fsdp)
        let quantize = try string("quantize", quantize)?.lowercased()
        let precision = try string("precision", precision)?.lowercased()
        let device = try string("device", device)?.lowercased()
        switch name {
        case "native":
            let torchOnly: [(String, Bool)] = [
                ("--python", python != nil), ("--gpus", gpus != nil), ("--fsdp", fsdp != nil),
                ("--quantize", quantize != nil && quantize != "none"), ("--device", device != nil),
            ]
            if let flag = torchOnly.first(where: \.1)?.0 {
                throw ValidationError(
                    "\(flag) belongs to --backend torch; the native engine trains on this machine's CPU")
            }
            if let precision, PrecisionSetting(rawValue: precision) == nil {
                throw ValidationError("invalid --precision \(precision): expected auto, fp32 or bf16")
            }
            if let weights, WeightSetting(rawValue: weights) == nil {
                throw ValidationError("invalid --weights \(weights): expected auto, f32, bf16 or quantized")
            }
            return ("native", nil, precision ?? "auto", weights ?? "auto")
        case "torch":
            if weights != nil {
                throw ValidationError(
                    "--weights belongs to the native engine; --backend torch loads weights through transformers "
                        + "(--quantize 4bit for QLoRA)")
            }
            var settings = TorchSettings(python: python)
            if let gpus {
                if gpus.lowercased() == "all" {
                    settings.gpus = 0
                } else if let count = Int(gpus), count >= 1 {
                    settings.gpus = count
                } else {
                    throw ValidationError("invalid --gpus \(gpus): expected a number of GPUs (1 or more) or all")
                }
            }
            settings.fsdp = fsdp ?? false
            switch quantize {
            case nil, "none": settings.quantize4Bit = false
            case "4bit", "4-bit", "nf4": settings.quantize4Bit = true
            case let other?: throw ValidationError("invalid --quantize \(other): expected 4bit or none")
            }
            if let precision {
                guard let value = TorchSettings.Precision(rawValue: precision) else {
                    throw ValidationError("invalid --precision \(precision): expected auto, fp32 or bf16")
                }
                settings.precision = value
            }
            if let device { settings.device = device }
            try settings.validate()
            return ("torch", settings, nil, nil)
        default:
            throw ValidationError("unknown --backend \(name): use native or torch")
        }
    }

    /// A flat YAML mapping with flag names as keys (`_` accepted for `-`).
    static func readYAML(_ path: String) throws -> [String: Any] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read --config \(path)")
        }
        let object: Any?
        do { object = try Yams.load(yaml: text) } catch {
            throw ValidationError("\(path) is not valid YAML: \(error)")
        }
        guard let mapping = object as? [String: Any] else {
            throw ValidationError("\(path) must be a YAML mapping of settings (`epochs: 2`)")
        }
        var settings: [String: Any] = [:]
        for (key, value) in mapping {
            let name = key.replacingOccurrences(of: "_", with: "-")
            guard yamlKeys.contains(name) else {
                throw ValidationError(
                    "\(path): unknown setting \(key); known: \(yamlKeys.sorted().joined(separator: ", "))")
            }
            settings[name] = value
        }
        return settings
    }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }

    func saveConfiguration(_ config: TrainingConfig, in folder: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(config).write(to: folder.appendingPathComponent("config.json"), options: .atomic)
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
