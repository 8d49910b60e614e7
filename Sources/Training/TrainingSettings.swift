// The one table of `tailor train`'s settings: name (flag and YAML key), type, help, where it lives in
// config.json, and whether `--resume` may change it. Flags, the YAML file, config.json and the resume rules all
// go through it, so a setting cannot be known to one of them and missed by another.
import Datasets
import Foundation
import Models
import Yams

/// A setting's value as the command line or a YAML file gives it.
public enum SettingValue: Equatable, Sendable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)

    public var description: String {
        switch self {
        case .int(let v): return "\(v)"
        case .double(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let v): return v
        }
    }
}

/// What `--resume` does with a setting given again.
public enum ResumeRule: Sendable {
    /// The run keeps its saved value; giving a different one is refused by name.
    case kept
    /// Belongs to the machine, not the run (threads, the Python): the new value is used.
    case changeable
}

/// One setting of a training run.
public struct TrainingSetting: Sendable {
    public enum Kind: Sendable {
        case int, double, bool, string
        /// A comma-separated list (a YAML sequence is accepted too).
        case list
    }

    /// The flag without `--`, and the YAML key (`_` is accepted for `-` there).
    public let name: String
    public let kind: Kind
    /// The flag's help text.
    public let help: String
    public let resume: ResumeRule
    /// The value a configuration holds for this setting (nil: unset, the default applies).
    public let read: @Sendable (TrainingConfig) -> SettingValue?
    /// Sets this setting in a configuration; throws for a value outside the setting's range.
    public let apply: @Sendable (inout TrainingConfig, SettingValue) throws -> Void

    /// `--name`.
    public var flag: String { "--" + name }

    /// The value a run has when nothing sets this setting (nil: unset; the help says what is decided instead).
    public var defaultValue: SettingValue? { read(TrainingConfig()) }
}

/// `tailor train`'s settings and the rules that combine them.
public enum TrainingSettings {
    /// Settings that only the torch backend reads.
    static let torchOnly: Set<String> = ["python", "gpus", "fsdp", "quantize", "device"]

    /// Every setting, in the order help and errors list them.
    public static let table: [TrainingSetting] = [
        text("model", "The model: a .gguf file, a Hugging Face folder, or a name from `tailor models`. Asked for on a terminal.",
             \.model, allowEmpty: false),
        text("data", "Training data: JSON Lines (messages, ShareGPT, Alpaca, prompt/completion or text records).",
             \.data, allowEmpty: false),
        optionalText("val-file", "Validation data (same formats). Without it, --val-split holds out part of --data.",
                     \.valFile),
        double("val-split", "Fraction of --data held out for validation (default: 0.1 with 20 or more examples, else none).",
               get: { $0.parameters.valSplit }, set: { $0.parameters.valSplit = $1 }),
        text("output", "The run folder (default: runs/<model>-<timestamp>).", \.output, allowEmpty: false),
        int("epochs", "Passes over the training data (default 3).", \.epochs),
        optionalInt("max-steps", "Optimizer steps to run instead of whole epochs.", \.maxSteps),
        float("learning-rate", "Peak learning rate (default 2e-4).", \.learningRate),
        int("batch-size", "Sequences per micro-batch (default 4).", \.batchSize),
        int("grad-accum", "Micro-batches per optimizer step (default 1).", \.gradAccum),
        int("max-length", DataSettings.Help.maxLength, \.maxLength),
        int("rank", "LoRA rank r (default 16).", \.lora.rank),
        float("alpha", "LoRA alpha (default 32; the scale is alpha/r).", \.lora.alpha),
        float("dropout", "LoRA dropout (default 0).", \.lora.dropout),
        TrainingSetting(
            name: "targets", kind: .list,
            help: "Adapted projections, comma-separated from q,k,v,o,gate,up,down (default: all).", resume: .kept,
            read: { .string($0.parameters.lora.targets.map(\.rawValue).joined(separator: ",")) },
            apply: { config, value in
                var chosen: [LoRATarget] = []
                for part in "\(value)".split(separator: ",") {
                    let name = part.trimmingCharacters(in: .whitespaces).lowercased()
                    let short = name.hasSuffix("_proj") ? String(name.dropLast(5)) : name
                    guard let target = LoRATarget(rawValue: short) else {
                        throw TrainingError.invalidParameter(
                            name: "--targets", value: name, expected: "names from q,k,v,o,gate,up,down")
                    }
                    if !chosen.contains(target) { chosen.append(target) }
                }
                config.parameters.lora.targets = LoRATarget.allCases.filter(chosen.contains)
            }),
        bool("rslora", "rsLoRA scaling alpha/√r.", \.parameters.lora.useRSLoRA),
        bool("packing", "Fill micro-batches up to batch-size × max-length tokens.", \.parameters.packing),
        bool("checkpointing", "Recompute activations in backward: less memory, about ⅓ slower.",
             \.parameters.checkpointing),
        choice("schedule", "Learning-rate schedule: constant, linear or cosine (default cosine).",
               LearningRateSchedule.self, \.parameters.schedule),
        optionalInt("warmup-steps", "Warm-up steps (default: --warmup-ratio of the run).", \.warmupSteps),
        double("warmup-ratio", "Warm-up as a fraction of all steps (default 0).",
               get: { $0.parameters.warmupRatio }, set: { $0.parameters.warmupRatio = $1 }),
        float("weight-decay", "AdamW weight decay (default 0).", \.weightDecay),
        float("max-grad-norm", "Clip the gradient norm to this; 0 turns clipping off (default 1).", \.maxGradNorm),
        optionalInt("eval-every", "Evaluate every N steps (default: a tenth of the run) and at the end.", \.evalEvery),
        optionalInt("save-every", "Save a checkpoint every N steps (default: a fifth of the run).", \.saveEvery),
        optionalInt("patience", "Stop after N evaluations without a better validation loss, keeping the best adapter.",
                    \.patience),
        TrainingSetting(
            name: "seed", kind: .int, help: "Seed for LoRA initialisation, data order, split and dropout (default 42).",
            resume: .kept, read: { .string("\($0.parameters.seed)") },
            apply: { config, value in
                guard let seed = UInt64("\(value)") else {
                    throw TrainingError.invalidParameter(name: "--seed", value: "\(value)", expected: "a whole number ≥ 0")
                }
                config.parameters.seed = seed
            }),
        TrainingSetting(
            name: "threads", kind: .int, help: "Threads for kernels and BLAS (default: all cores).",
            resume: .changeable, read: { .int($0.parameters.threads) },
            apply: { config, value in
                config.parameters.threads = try whole(value, "--threads")
            }),
        bool("skip-invalid", DataSettings.Help.skipInvalid,
             \.skipInvalid),
        TrainingSetting(
            name: "format", kind: .string,
            help: DataSettings.Help.format, resume: .kept,
            read: { $0.format.map(SettingValue.string) },
            apply: { config, value in
                guard RecordFormat(argument: "\(value)") != nil else {
                    throw TrainingError.invalidParameter(
                        name: "--format", value: "\(value)",
                        expected: "messages, sharegpt, alpaca, prompt-completion or text")
                }
                config.format = "\(value)"
            }),
        TrainingSetting(
            name: "field", kind: .list, help: DataSettings.Help.field, resume: .kept,
            read: { config in
                config.fields.map { .string($0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")) }
            },
            apply: { config, value in
                let parts = "\(value)".split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                do {
                    config.fields = try DatasetReadOptions.fieldMapping(from: parts)
                } catch {
                    throw TrainingError.invalidParameter(
                        name: "--field", value: "\(value)", expected: "NAME=FIELD, e.g. role=from or messages=dialog")
                }
            }),
        optionalText("chat-template", DataSettings.Help.chatTemplate, \.chatTemplate),
        TrainingSetting(
            name: "backend", kind: .string,
            help: "Training engine: native (built in, CPU) or torch (PyTorch + PEFT in Python; GPUs, QLoRA).",
            resume: .kept, read: { .string($0.backend ?? "native") },
            apply: { config, value in
                let name = "\(value)".lowercased()
                guard ["native", "torch"].contains(name) else {
                    throw TrainingError.invalidParameter(name: "--backend", value: name, expected: "native or torch")
                }
                config.backend = name
            }),
        TrainingSetting(
            name: "python", kind: .string,
            help: "Python for --backend torch (default: $TAILOR_PYTHON, else python3 on the PATH).",
            resume: .changeable, read: { $0.torch?.python.map(SettingValue.string) },
            apply: { config, value in config.torch = with(config.torch) { $0.python = "\(value)" } }),
        TrainingSetting(
            name: "gpus", kind: .string,
            help: "--backend torch: GPUs to train on, a number or all (several go through accelerate, DDP).",
            resume: .kept, read: { $0.torch.map { .string($0.gpus == 0 ? "all" : "\($0.gpus)") } },
            apply: { config, value in
                let text = "\(value)".lowercased()
                let count: Int
                if text == "all" {
                    count = 0
                } else if let n = Int(text), n >= 1 {
                    count = n
                } else {
                    throw TrainingError.invalidParameter(
                        name: "--gpus", value: text, expected: "a number of GPUs (1 or more) or all")
                }
                config.torch = with(config.torch) { $0.gpus = count }
            }),
        TrainingSetting(
            name: "fsdp", kind: .bool, help: "--backend torch with --gpus: shard the model across GPUs (FSDP).",
            resume: .kept, read: { $0.torch.map { .bool($0.fsdp) } },
            apply: { config, value in
                let on = try flag(value, "--fsdp")
                config.torch = with(config.torch) { $0.fsdp = on }
            }),
        TrainingSetting(
            name: "quantize", kind: .string,
            help: "--backend torch: 4bit loads frozen weights as NF4 (QLoRA, CUDA + bitsandbytes); none.",
            resume: .kept, read: { $0.torch.map { .string($0.quantize4Bit ? "4bit" : "none") } },
            apply: { config, value in
                let four: Bool
                switch "\(value)".lowercased() {
                case "none": four = false
                case "4bit", "4-bit", "nf4": four = true
                case let other:
                    throw TrainingError.invalidParameter(name: "--quantize", value: other, expected: "4bit or none")
                }
                // `none` is what the native engine does anyway: it needs no torch settings.
                if four || config.torch != nil { config.torch = with(config.torch) { $0.quantize4Bit = four } }
            }),
        TrainingSetting(
            name: "precision", kind: .string,
            help: """
                Matrix products in auto, fp32 or bf16 (bf16 inputs, Float32 accumulation; LoRA, optimizer, norms \
                and loss stay Float32). auto: bf16 where the CPU (AMX, AVX512-BF16) or GPU has it natively.
                """,
            resume: .kept, read: { config in (config.torch?.precision.rawValue ?? config.precision).map(SettingValue.string) },
            apply: { config, value in
                let text = "\(value)".lowercased()
                guard PrecisionSetting(rawValue: text) != nil else {
                    throw TrainingError.invalidParameter(name: "--precision", value: text, expected: "auto, fp32 or bf16")
                }
                config.precision = text
            }),
        TrainingSetting(
            name: "weights", kind: .string,
            help: """
                Native engine: how frozen weights are held: auto, f32, bf16 or quantized (as stored: GGUF quant \
                blocks are widened a panel at a time in each product). auto widens them when that fits easily, \
                else keeps them.
                """,
            resume: .kept, read: { $0.weights.map(SettingValue.string) },
            apply: { config, value in
                let text = "\(value)".lowercased()
                guard WeightSetting(rawValue: text) != nil else {
                    throw TrainingError.invalidParameter(
                        name: "--weights", value: text, expected: "auto, f32, bf16 or quantized")
                }
                config.weights = text
            }),
        TrainingSetting(
            name: "device", kind: .string, help: "--backend torch: auto, cpu or cuda.", resume: .kept,
            read: { $0.torch.map { .string($0.device) } },
            apply: { config, value in
                let text = "\(value)".lowercased()
                config.torch = with(config.torch) { $0.device = text }
            }),
    ]

    /// The setting called `name`; a programmer's error when there is none.
    public static func named(_ name: String) -> TrainingSetting {
        guard let setting = table.first(where: { $0.name == name }) else {
            preconditionFailure("no training setting \(name)")
        }
        return setting
    }

    /// The help text of the setting called `name`.
    public static func help(_ name: String) -> String { named(name).help }

    // MARK: Resolving

    /// The configuration `tailor train` is asked for: with `resume`, that run's saved configuration continued (see
    /// `resume(_:flags:)`); else the defaults, the `configFile` YAML and the flags (see `resolve(file:flags:)`).
    /// `model` and `output` may still be empty for the caller to ask for, resolve or derive.
    public static func configure(flags: [String: SettingValue], configFile: String?, resume folder: String?) throws
        -> (config: TrainingConfig, resuming: Bool)
    {
        if let folder {
            if let configFile {
                throw TrainingError.settingsFile(
                    path: configFile, reason: "--resume continues with the run's saved settings; leave out --config")
            }
            var saved = try RunFolder(URL(fileURLWithPath: folder)).readConfig()
            // The run folder is where --resume points, wherever it was first written.
            saved.output = folder
            return (try resume(saved, flags: flags), true)
        }
        var file: [String: SettingValue] = [:]
        if let configFile {
            guard let text = try? String(contentsOfFile: configFile, encoding: .utf8) else {
                throw TrainingError.settingsFile(path: configFile, reason: "cannot be read; check the --config path")
            }
            file = try settings(yaml: text, file: configFile)
        }
        return (try resolve(file: file, flags: flags), false)
    }

    /// `runs/<model>-<yyyyMMdd-HHmmss>`: the run folder when `--output` is not given, named after the model's
    /// last path component (`.gguf` and `:` dropped, so `smollm2:135m` gives `smollm2-135m`).
    public static func defaultOutput(modelName: String, date: Date = Date()) -> String {
        let name =
            modelName.split(separator: "/").last.map(String.init)?
            .replacingOccurrences(of: ".gguf", with: "").replacingOccurrences(of: ":", with: "-") ?? "run"
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "runs/\(name)-\(formatter.string(from: date))"
    }

    /// A new run's configuration: the defaults, then `file`'s settings (from `settings(yaml:file:)`), then the
    /// flags given. Checks the combination (torch-only settings need `--backend torch`, `--weights` the native
    /// engine); `model`, `data` and `output` may still be empty for the caller to ask for or derive.
    public static func resolve(file: [String: SettingValue] = [:], flags: [String: SettingValue]) throws
        -> TrainingConfig
    {
        var config = TrainingConfig()
        let merged = file.merging(flags) { _, flag in flag }
        for setting in table {
            if let value = merged[setting.name] { try setting.apply(&config, value) }
        }
        try finish(&config, given: Set(merged.keys))
        try config.parameters.validate()
        return config
    }

    /// The saved configuration of a run, continued: a `.changeable` setting given again takes the new value; any
    /// other given with a value different from the saved one is refused by name (the same value is accepted).
    public static func resume(_ saved: TrainingConfig, flags: [String: SettingValue]) throws -> TrainingConfig {
        var config = saved
        for setting in table {
            guard let value = flags[setting.name] else { continue }
            switch setting.resume {
            case .changeable:
                try setting.apply(&config, value)
            case .kept:
                var probe = saved
                try setting.apply(&probe, value)
                if setting.read(probe) != setting.read(saved) {
                    throw TrainingError.changedOnResume(
                        setting: setting.flag, saved: setting.read(saved)?.description ?? "unset",
                        given: value.description)
                }
            }
        }
        if !config.usesTorch, let name = flags.keys.sorted().first(where: torchOnly.contains) {
            throw TrainingError.torchOnlySetting(setting: "--" + name)
        }
        return config
    }

    /// The combination rules of a new run; moves `precision` into the torch settings for the torch backend.
    static func finish(_ config: inout TrainingConfig, given: Set<String>) throws {
        let backend = config.backend ?? "native"
        config.backend = backend
        if backend == "native" {
            let torchGiven = given.filter(torchOnly.contains).sorted()
            if let name = torchGiven.first(where: { $0 != "quantize" || config.torch != nil }) {
                throw TrainingError.torchOnlySetting(setting: "--" + name)
            }
            config.torch = nil
            config.precision = config.precision ?? "auto"
            config.weights = config.weights ?? "auto"
        } else {
            if given.contains("weights") {
                throw TrainingError.nativeOnlySetting(
                    setting: "--weights",
                    instead: "--backend torch loads weights through transformers (--quantize 4bit for QLoRA)")
            }
            var torch = config.torch ?? TorchSettings()
            if let precision = config.precision {
                guard let value = TorchSettings.Precision(rawValue: precision) else {
                    throw TrainingError.invalidParameter(
                        name: "--precision", value: precision, expected: "auto, fp32 or bf16")
                }
                torch.precision = value
            }
            try torch.validate()
            config.torch = torch
            config.precision = nil
            config.weights = nil
        }
    }

    // MARK: YAML

    /// The settings of a `--config` YAML file: a flat mapping with the flags' names as keys (`_` accepted for `-`),
    /// each value checked against its setting's type.
    public static func settings(yaml text: String, file: String) throws -> [String: SettingValue] {
        let object: Any?
        do { object = try Yams.load(yaml: text) } catch {
            throw TrainingError.settingsFile(path: file, reason: "not valid YAML (\(error))")
        }
        guard let mapping = object as? [String: Any] else {
            throw TrainingError.settingsFile(path: file, reason: "expected a mapping of settings, such as `epochs: 2`")
        }
        var values: [String: SettingValue] = [:]
        for (key, raw) in mapping {
            let name = key.replacingOccurrences(of: "_", with: "-")
            guard let setting = table.first(where: { $0.name == name }) else {
                throw TrainingError.settingsFile(
                    path: file,
                    reason: "unknown setting \(key); known: \(table.map(\.name).joined(separator: ", "))")
            }
            guard let value = convert(raw, to: setting.kind) else {
                throw TrainingError.settingsFile(
                    path: file, reason: "\(key) should be \(describe(setting.kind)), found \(raw)")
            }
            values[name] = value
        }
        return values
    }

    static func convert(_ raw: Any, to kind: TrainingSetting.Kind) -> SettingValue? {
        switch kind {
        case .int:
            if raw is Bool { return nil }
            return (raw as? Int).map(SettingValue.int) ?? (raw as? String).flatMap(Int.init).map(SettingValue.int)
        case .double:
            if raw is Bool { return nil }
            return ((raw as? Double) ?? (raw as? Int).map(Double.init) ?? (raw as? String).flatMap(Double.init))
                .map(SettingValue.double)
        case .bool:
            return (raw as? Bool).map(SettingValue.bool)
        case .string:
            return (raw as? String).map(SettingValue.string) ?? (raw as? Int).map { .string("\($0)") }
        case .list:
            if let mapping = raw as? [String: Any] {
                return .string(mapping.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))
            }
            if let items = raw as? [Any] { return .string(items.map { "\($0)" }.joined(separator: ",")) }
            return (raw as? String).map(SettingValue.string)
        }
    }

    static func describe(_ kind: TrainingSetting.Kind) -> String {
        switch kind {
        case .int: return "a whole number"
        case .double: return "a number"
        case .bool: return "true or false"
        case .string: return "a string"
        case .list: return "a list or a comma-separated string"
        }
    }
}

// MARK: Table builders

private func with(_ torch: TorchSettings?, _ change: (inout TorchSettings) -> Void) -> TorchSettings {
    var settings = torch ?? TorchSettings()
    change(&settings)
    return settings
}

/// Types only: ranges are `TrainingParameters.validate()`'s, which names the flag too.
private func whole(_ value: SettingValue, _ flag: String) throws -> Int {
    let number: Int?
    switch value {
    case .int(let v): number = v
    case .string(let s): number = Int(s)
    case .double(let d): number = d.rounded() == d ? Int(exactly: d) : nil
    case .bool: number = nil
    }
    guard let number else {
        throw TrainingError.invalidParameter(name: flag, value: "\(value)", expected: "a whole number")
    }
    return number
}

private func real(_ value: SettingValue, _ flag: String) throws -> Double {
    let number: Double?
    switch value {
    case .int(let v): number = Double(v)
    case .double(let d): number = d
    case .string(let s): number = Double(s)
    case .bool: number = nil
    }
    guard let number, number.isFinite else {
        throw TrainingError.invalidParameter(name: flag, value: "\(value)", expected: "a number")
    }
    return number
}

private func flag(_ value: SettingValue, _ flag: String) throws -> Bool {
    switch value {
    case .bool(let b): return b
    case .string(let s) where ["true", "false"].contains(s.lowercased()): return s.lowercased() == "true"
    default: throw TrainingError.invalidParameter(name: flag, value: "\(value)", expected: "true or false")
    }
}

private func text(
    _ name: String, _ help: String, _ field: any WritableKeyPath<TrainingConfig, String> & Sendable, allowEmpty: Bool
) -> TrainingSetting {
    TrainingSetting(
        name: name, kind: .string, help: help, resume: .kept,
        read: { $0[keyPath: field].isEmpty ? nil : .string($0[keyPath: field]) },
        apply: { config, value in
            guard allowEmpty || !"\(value)".isEmpty else {
                throw TrainingError.invalidParameter(name: "--" + name, value: "\"\"", expected: "a non-empty value")
            }
            config[keyPath: field] = "\(value)"
        })
}

private func optionalText(
    _ name: String, _ help: String, _ field: any WritableKeyPath<TrainingConfig, String?> & Sendable
) -> TrainingSetting {
    TrainingSetting(
        name: name, kind: .string, help: help, resume: .kept, read: { $0[keyPath: field].map(SettingValue.string) },
        apply: { config, value in config[keyPath: field] = "\(value)" })
}

private func int(_ name: String, _ help: String, _ field: any WritableKeyPath<TrainingParameters, Int> & Sendable)
    -> TrainingSetting
{
    TrainingSetting(
        name: name, kind: .int, help: help, resume: .kept, read: { .int($0.parameters[keyPath: field]) },
        apply: { config, value in config.parameters[keyPath: field] = try whole(value, "--" + name) })
}

private func optionalInt(
    _ name: String, _ help: String, _ field: any WritableKeyPath<TrainingParameters, Int?> & Sendable
) -> TrainingSetting {
    TrainingSetting(
        name: name, kind: .int, help: help, resume: .kept,
        read: { $0.parameters[keyPath: field].map(SettingValue.int) },
        apply: { config, value in config.parameters[keyPath: field] = try whole(value, "--" + name) })
}

private func float(_ name: String, _ help: String, _ field: any WritableKeyPath<TrainingParameters, Float> & Sendable)
    -> TrainingSetting
{
    TrainingSetting(
        name: name, kind: .double, help: help, resume: .kept,
        read: { .double(Double($0.parameters[keyPath: field])) },
        apply: { config, value in config.parameters[keyPath: field] = Float(try real(value, "--" + name)) })
}

private func double(
    _ name: String, _ help: String, get: @escaping @Sendable (TrainingConfig) -> Double?,
    set: @escaping @Sendable (inout TrainingConfig, Double) -> Void
) -> TrainingSetting {
    TrainingSetting(
        name: name, kind: .double, help: help, resume: .kept, read: { get($0).map(SettingValue.double) },
        apply: { config, value in set(&config, try real(value, "--" + name)) })
}

private func bool(_ name: String, _ help: String, _ field: any WritableKeyPath<TrainingConfig, Bool> & Sendable)
    -> TrainingSetting
{
    TrainingSetting(
        name: name, kind: .bool, help: help, resume: .kept, read: { .bool($0[keyPath: field]) },
        apply: { config, value in config[keyPath: field] = try flag(value, "--" + name) })
}

private func choice<Choice: RawRepresentable & CaseIterable & Sendable>(
    _ name: String, _ help: String, _ type: Choice.Type,
    _ field: any WritableKeyPath<TrainingConfig, Choice> & Sendable
) -> TrainingSetting where Choice.RawValue == String {
    TrainingSetting(
        name: name, kind: .string, help: help, resume: .kept, read: { .string($0[keyPath: field].rawValue) },
        apply: { config, value in
            guard let choice = Choice(rawValue: "\(value)".lowercased()) else {
                throw TrainingError.invalidParameter(
                    name: "--" + name, value: "\(value)",
                    expected: Choice.allCases.map(\.rawValue).joined(separator: ", "))
            }
            config[keyPath: field] = choice
        })
}
