// `tailor train`: resolve the configuration (flags > --config YAML > defaults), check memory, train, write the adapter.
import ArgumentParser
import Dispatch
import Foundation
import ModelStores
import Models
import TorchBackend
import Training

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
    @Option(help: ArgumentHelp(TrainingSettings.help("field"), valueName: "name=field")) var field: [String] = []
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
        let (config, resuming) = try resolveConfiguration()
        if printConfig { return print(String(decoding: try config.json(), as: UTF8.self)) }
        let session = TrainingSession(config: config, resuming: resuming)
        let plan = try session.plan(progress: printer.handle)
        let backend: any TrainingBackend
        if config.usesTorch {
            let trainer = try TorchTrainer(plan: plan)
            printer.header(plan, torch: (trainer, try trainer.checkEnvironment()))
            backend = trainer
        } else {
            printer.header(plan, torch: nil)
            backend = try session.loadNativeEngine(plan)
        }
        let stop = StopFlag()
        let signals = installSignalHandlers(stop: stop, backend: backend)
        defer { signals.forEach { $0.cancel() } }
        let summary: TrainingSummary
        do {
            summary = try session.train(plan, on: backend, progress: printer.handle, shouldStop: { stop.isSet })
        } catch TrainingError.interrupted(let step, let folder) {
            printer.say(TrainingError.interrupted(step: step, runFolder: folder).description)
            throw ExitCode(130)
        }
        print(ProgressPrinter.summary(summary, plan: plan, peakBytes: peakResidentBytes()))
    }

    // MARK: Configuration

    /// The library's configuration for these flags, with the model resolved to a path (asked for on a terminal
    /// when not given) and the run folder named.
    func resolveConfiguration() throws -> (TrainingConfig, resuming: Bool) {
        var (config, resuming) = try TrainingSettings.configure(flags: givenSettings, configFile: config, resume: resume)
        if resuming { return (config, true) }
        let search = ModelDiscovery(paths: discovery.searchPaths())
        if config.model.isEmpty {
            guard Picker.canAsk else {
                throw CLIError("no --model given; pass --model PATH or a name from `tailor models`")
            }
            config.model = try Picker.pickModel(discovery: search, purpose: "fine-tune")
        }
        guard !config.data.isEmpty else {
            throw CLIError("no --data given; pass a JSONL file (check it first with `tailor data check`)")
        }
        let found = try search.resolve(config.model)
        config.modelPath = found.format.url.path
        if config.output.isEmpty { config.output = TrainingSettings.defaultOutput(modelName: found.name) }
        return (config, false)
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
            case let option as Option<[String]>:
                value = option.wrappedValue.isEmpty ? nil : .string(option.wrappedValue.joined(separator: ","))
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

    // MARK: Signals

    /// Ctrl-C or SIGTERM once: finish the step, save, stop (the backend passes the request on to its process);
    /// twice: quit at once (the backend ends its process first, which no terminal signal reaches: it runs in its own
    /// process group).
    func installSignalHandlers(stop: StopFlag, backend: any TrainingBackend) -> [any DispatchSourceSignal] {
        nonisolated(unsafe) let backend = backend
        return [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if stop.set() {
                    backend.requestStop()
                    FileHandle.standardError.write(
                        Data("\nstopping after this step and saving a checkpoint (press Ctrl-C again to quit at once)\n".utf8))
                } else {
                    backend.forceStop()
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
            throw CLIError("--dump-logits needs --model, --dump-adapter and --dump-tokens")
        }
        let url = try ModelDiscovery(paths: discovery.searchPaths()).resolve(model).format.url
        let tokens = try dumpTokens.split(separator: ",").map { text -> Int32 in
            guard let id = Int32(text.trimmingCharacters(in: .whitespaces)) else {
                throw CLIError("--dump-tokens takes comma-separated token ids")
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
