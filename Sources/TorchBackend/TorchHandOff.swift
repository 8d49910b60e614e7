// The files `tailor train --backend torch` hands to the PyTorch program: everything Tailor already decided (tokens,
// loss targets, the step plan, every step's learning rate, the LoRA initial values), so both backends train on the
// same thing and the Python side only runs transformers + peft.
//
//   RUN/torch/job.json                         TorchJob below (snake_case keys, absolute paths)
//   RUN/torch/train.jsonl, validation.jsonl    {"ids": [Int], "targets": [Int]} per example; targets[t] is the token
//                                              position t predicts (-1: none), already shifted like Batching.tokenBatch
//   RUN/torch/plan.jsonl                       {"step", "micro_batches": [[index]], "epoch", "lr"} per optimizer step
//   RUN/torch/initial/adapter_model.safetensors   Tailor's LoRA initialisation in PEFT names (+ adapter_config.json)
// The reader is Python/tailor_torch_train.py; its header repeats this contract.
import Datasets
import Foundation
import Training
import ModelStores
import Models
import Tensors

/// `RUN/torch/job.json`.
public struct TorchJob: Codable, Sendable, Equatable {
    public struct Model: Codable, Sendable, Equatable {
        /// An HF folder, or the folder holding `ggufFile`.
        public var path: String
        public var ggufFile: String?
        public var architecture: String

        enum CodingKeys: String, CodingKey {
            case path
            case ggufFile = "gguf_file"
            case architecture
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(path, forKey: .path)
            try container.encode(ggufFile, forKey: .ggufFile)  // null, not left out: the contract lists every key
            try container.encode(architecture, forKey: .architecture)
        }
    }

    public struct LoRA: Codable, Sendable, Equatable {
        public var r: Int
        public var alpha: Float
        public var dropout: Float
        public var useRSLoRA: Bool
        /// PEFT module names: q_proj, k_proj, …
        public var targetModules: [String]

        enum CodingKeys: String, CodingKey {
            case r, alpha, dropout
            case useRSLoRA = "use_rslora"
            case targetModules = "target_modules"
        }
    }

    public struct Optimizer: Codable, Sendable, Equatable {
        public var beta1: Float
        public var beta2: Float
        public var eps: Float
        public var weightDecay: Float
        public var maxGradNorm: Float

        enum CodingKeys: String, CodingKey {
            case beta1, beta2, eps
            case weightDecay = "weight_decay"
            case maxGradNorm = "max_grad_norm"
        }
    }

    /// Copied verbatim into every `state.json` the backend writes, so `Checkpoint.readState` and resume checks work
    /// on its checkpoints as on the native engine's.
    public struct StateSeed: Codable, Sendable, Equatable {
        public var totalSteps: Int
        public var trainFingerprint: String
        public var validationFingerprint: String
        public var parameters: TrainingParameters
    }

    public var format = 1
    public var model: Model
    public var baseModelName: String
    public var lora: LoRA
    public var initialAdapter: String
    public var train: String
    public var validation: String
    public var plan: String
    public var optimizer: Optimizer
    public var batchSize: Int
    public var evalEvery: Int
    public var saveEvery: Int
    public var patience: Int?
    public var keepCheckpoints: Int
    public var gradientCheckpointing: Bool
    public var precision: String
    public var quantize: String?
    public var device: String
    public var seed: UInt64
    public var output: String
    public var resumeFrom: String?
    /// Tailor creates this file to ask a run of several processes to stop after the current step (a signal to the
    /// launcher would make it tear the workers down); a single process gets SIGINT.
    public var stopFile: String
    public var checkpointState: StateSeed

    enum CodingKeys: String, CodingKey {
        case format, model
        case baseModelName = "base_model_name"
        case lora
        case initialAdapter = "initial_adapter"
        case train, validation, plan, optimizer
        case batchSize = "batch_size"
        case evalEvery = "eval_every"
        case saveEvery = "save_every"
        case patience
        case keepCheckpoints = "keep_checkpoints"
        case gradientCheckpointing = "gradient_checkpointing"
        case precision, quantize, device, seed, output
        case resumeFrom = "resume_from"
        case stopFile = "stop_file"
        case checkpointState = "checkpoint_state"
    }

    /// Every key is written, absent values as null (synthesized encoding would leave them out).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(model, forKey: .model)
        try c.encode(baseModelName, forKey: .baseModelName)
        try c.encode(lora, forKey: .lora)
        try c.encode(initialAdapter, forKey: .initialAdapter)
        try c.encode(train, forKey: .train)
        try c.encode(validation, forKey: .validation)
        try c.encode(plan, forKey: .plan)
        try c.encode(optimizer, forKey: .optimizer)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(evalEvery, forKey: .evalEvery)
        try c.encode(saveEvery, forKey: .saveEvery)
        try c.encode(patience, forKey: .patience)
        try c.encode(keepCheckpoints, forKey: .keepCheckpoints)
        try c.encode(gradientCheckpointing, forKey: .gradientCheckpointing)
        try c.encode(precision, forKey: .precision)
        try c.encode(quantize, forKey: .quantize)
        try c.encode(device, forKey: .device)
        try c.encode(seed, forKey: .seed)
        try c.encode(output, forKey: .output)
        try c.encode(resumeFrom, forKey: .resumeFrom)
        try c.encode(stopFile, forKey: .stopFile)
        try c.encode(checkpointState, forKey: .checkpointState)
    }
}

/// One line of `train.jsonl` / `validation.jsonl`.
public struct TorchExample: Codable, Sendable, Equatable {
    public var ids: [Int32]
    public var targets: [Int32]
}

/// One line of `plan.jsonl`.
public struct TorchPlannedStep: Codable, Sendable, Equatable {
    public var step: Int
    public var microBatches: [[Int]]
    public var epoch: Double
    public var lr: Float

    enum CodingKeys: String, CodingKey {
        case step
        case microBatches = "micro_batches"
        case epoch, lr
    }
}

/// Writes the hand-off folder of a torch run.
public enum TorchHandOff {
    /// `RUN/torch`.
    public static func folder(in runFolder: URL) -> URL { runFolder.appendingPathComponent("torch") }

    /// `RUN/torch/job.json`.
    public static func jobURL(in runFolder: URL) -> URL { folder(in: runFolder).appendingPathComponent("job.json") }

    /// `RUN/torch/stop`: present means "stop after the current step" (see `TorchJob.stopFile`).
    public static func stopURL(in runFolder: URL) -> URL { folder(in: runFolder).appendingPathComponent("stop") }

    /// The examples as the backend reads them: ids and the shifted next-token targets.
    public static func examples(_ examples: [TokenizedExample]) -> [TorchExample] {
        examples.map { TorchExample(ids: $0.ids, targets: Batching.targets($0)) }
    }

    /// The plan as the backend reads it, with each step's learning rate from Tailor's schedule.
    public static func plan(_ prepared: PreparedRun) -> [TorchPlannedStep] {
        prepared.plan.enumerated().map { index, step in
            TorchPlannedStep(
                step: index + 1, microBatches: step.microBatches, epoch: prepared.epochReached(step: index + 1),
                lr: prepared.learningRate(step: index + 1))
        }
    }

    /// Writes every hand-off file of `prepared` into `RUN/torch/` and returns the job.
    ///
    /// `model` is the resolved model file or folder and `config` its description; the LoRA initial values come
    /// from the run's seed exactly as the native engine draws them. `resumeFrom` names the checkpoint to continue from.
    @discardableResult
    public static func write(
        prepared: PreparedRun, model: URL, config: ModelConfig, baseModelName: String, settings: TorchSettings,
        runFolder: URL, resumeFrom: URL? = nil
    ) throws -> TorchJob {
        let p = prepared.parameters
        let root = folder(in: runFolder).standardizedFileURL
        let output = runFolder.standardizedFileURL
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw TorchBackendError.io(path: root.path, reason: "cannot create the hand-off folder: \(error.localizedDescription)")
        }

        // A stop request left over from an earlier session of this run must not end the new one at once.
        try? FileManager.default.removeItem(at: stopURL(in: runFolder))
        let lora = LoRAParameters(model: config, config: p.lora)
        lora.initialize(seed: p.seed)
        let initial = root.appendingPathComponent("initial")
        do { try AdapterFiles.writePEFT(lora: lora, baseModel: baseModelName, to: initial) } catch {
            throw TorchBackendError.io(path: initial.path, reason: "cannot write the initial adapter: \(error)")
        }

        try writeLines(examples(prepared.train), to: root.appendingPathComponent("train.jsonl"))
        try writeLines(examples(prepared.validation), to: root.appendingPathComponent("validation.jsonl"))
        try writeLines(plan(prepared), to: root.appendingPathComponent("plan.jsonl"))

        let isGGUF = FileProbe.isGGUF(model)
        let ggufURL = isGGUF ? try ggufNamedForTransformers(model, in: root) : model
        let hyper = AdamWParameters(weightDecay: p.weightDecay)
        let job = TorchJob(
            model: TorchJob.Model(
                path: isGGUF ? ggufURL.deletingLastPathComponent().standardizedFileURL.path : model.standardizedFileURL.path,
                ggufFile: isGGUF ? ggufURL.lastPathComponent : nil, architecture: config.architecture.rawValue),
            baseModelName: baseModelName,
            lora: TorchJob.LoRA(
                r: p.lora.rank, alpha: p.lora.alpha, dropout: p.lora.dropout, useRSLoRA: p.lora.useRSLoRA,
                targetModules: lora.config.peftTargetModules(for: config.architecture)),
            initialAdapter: initial.appendingPathComponent(AdapterFiles.weightsName).path,
            train: root.appendingPathComponent("train.jsonl").path,
            validation: root.appendingPathComponent("validation.jsonl").path,
            plan: root.appendingPathComponent("plan.jsonl").path,
            optimizer: TorchJob.Optimizer(
                beta1: hyper.beta1, beta2: hyper.beta2, eps: hyper.epsilon, weightDecay: p.weightDecay,
                maxGradNorm: p.maxGradNorm),
            batchSize: p.batchSize, evalEvery: prepared.outline.evalEvery, saveEvery: prepared.outline.saveEvery,
            patience: p.patience, keepCheckpoints: p.keepCheckpoints, gradientCheckpointing: p.checkpointing,
            precision: settings.precision.rawValue, quantize: settings.quantize4Bit ? "4bit" : nil,
            device: settings.device, seed: p.seed, output: output.path,
            resumeFrom: resumeFrom?.standardizedFileURL.path, stopFile: stopURL(in: output).path,
            checkpointState: TorchJob.StateSeed(
                totalSteps: prepared.plan.count, trainFingerprint: prepared.trainFingerprint,
                validationFingerprint: prepared.validationFingerprint, parameters: p))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let url = root.appendingPathComponent("job.json")
        do { try encoder.encode(job).write(to: url, options: .atomic) } catch {
            throw TorchBackendError.io(path: url.path, reason: "cannot write the job file: \(error.localizedDescription)")
        }
        return job
    }

    /// transformers picks the loader from the file name, so a GGUF without the extension (an Ollama blob) is reached
    /// through a link `RUN/torch/model/model.gguf`; a `.gguf` file is used where it is.
    static func ggufNamedForTransformers(_ model: URL, in root: URL) throws -> URL {
        guard model.pathExtension.lowercased() != "gguf" else { return model }
        let folder = root.appendingPathComponent("model")
        let link = folder.appendingPathComponent("model.gguf")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: link)
            try FileManager.default.createSymbolicLink(
                at: link, withDestinationURL: model.standardizedFileURL.resolvingSymlinksInPath())
        } catch {
            throw TorchBackendError.io(path: link.path, reason: "cannot link the GGUF model: \(error.localizedDescription)")
        }
        return link
    }

    /// Reads `RUN/torch/job.json` back.
    public static func readJob(in runFolder: URL) throws -> TorchJob {
        let url = jobURL(in: runFolder)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TorchBackendError.io(path: url.path, reason: "missing; the torch run was never prepared")
        }
        do { return try JSONDecoder().decode(TorchJob.self, from: data) } catch {
            throw TorchBackendError.io(path: url.path, reason: "unreadable job file: \(error)")
        }
    }

    /// One JSON object per line, written to a temporary file and renamed into place.
    static func writeLines<T: Encodable>(_ values: [T], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        do {
            for value in values {
                data.append(try encoder.encode(value))
                data.append(0x0A)
            }
            try data.write(to: url, options: .atomic)
        } catch {
            throw TorchBackendError.io(path: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
