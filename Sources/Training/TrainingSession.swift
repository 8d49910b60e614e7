// One training run from its configuration to its adapter: the data read through the dataset pipeline, the model
// inspected, precision and weight storage chosen, memory estimated and checked, the engine loaded, the steps run on a
// backend (the native engine here, or the torch backend's program), the adapter saved. It reports typed events and
// never prints; `tailor train` parses flags, calls this and renders.
import Datasets
import Foundation
import Models
import Tensors

/// What trains a planned run: the native engine in this process, or the torch backend's program.
public protocol TrainingBackend: AnyObject {
    /// Trains from the start or from `checkpoint`, reporting events. When `shouldStop` says so between steps, it saves
    /// a checkpoint and throws ``TrainingError/interrupted(step:runFolder:)``.
    func train(resumeFrom checkpoint: URL?, progress: (TrainingEvent) -> Void, shouldStop: () -> Bool) throws
        -> TrainingSummary
    /// A first Ctrl-C: pass the request on to whatever `shouldStop` does not reach (another process).
    func requestStop()
    /// A second Ctrl-C: end at once; the last checkpoint stays usable.
    func forceStop()
}

/// How the native engine will compute and hold weights for a run, and what that costs in memory.
public struct NativeEngineChoice: Sendable {
    public let precision: Precision
    public let precisionReason: String
    public let storage: WeightStorage
    public let storageReason: String
    /// The library and instruction set the products run on.
    public let kernels: String
    public let estimate: MemoryEstimate
}

/// A run decided and checked, before anything heavy is loaded: what `tailor train` prints as its header.
public struct TrainingPlan: Sendable {
    /// The configuration the run is saved with (the native engine's `auto` choices resolved).
    public let config: TrainingConfig
    public let run: RunFolder
    /// The examples and the step plan every backend trains on.
    public let prepared: PreparedRun
    public let modelURL: URL
    public let model: ModelInspection
    public let modelConfig: ModelConfig
    /// LoRA parameters that train.
    public let trainableParameters: Int
    /// Nil for the torch backend, whose engine and memory live in another process.
    public let native: NativeEngineChoice?
}

/// Runs one training: `plan` checks everything that can be checked cheaply, then `train` runs it on a backend.
public struct TrainingSession: Sendable {
    public let config: TrainingConfig
    /// True when the run continues from the newest checkpoint of its folder (`--resume`).
    public let resuming: Bool

    public init(config: TrainingConfig, resuming: Bool) {
        self.config = config
        self.resuming = resuming
    }

    public var run: RunFolder { RunFolder(URL(fileURLWithPath: config.output)) }

    /// Reads and tokenizes the data (reported as `.data` events), holds out validation examples, inspects the model,
    /// and for the native engine resolves `--precision` and `--weights` and checks that the run fits in memory.
    public func plan(progress: (TrainingEvent) -> Void) throws -> TrainingPlan {
        var config = self.config
        let parameters = config.parameters
        try parameters.validate()
        let modelURL = URL(fileURLWithPath: config.modelPath)
        let pipeline = try DatasetPipeline(
            model: modelURL, chatTemplate: config.chatTemplate.map { URL(fileURLWithPath: $0) },
            settings: try config.dataSettings())
        if pipeline.template.isFallback {
            progress(.note("note: \(pipeline.template.origin); rendering conversations in it"))
        }
        func read(_ path: String) throws -> [TokenizedExample] {
            let prepared = try pipeline.prepare(URL(fileURLWithPath: path))
            progress(.data(prepared.report))
            return prepared.examples
        }
        var train = try read(config.data)
        var validation: [TokenizedExample] = []
        if let valFile = config.valFile {
            validation = try read(valFile)
        } else {
            let fraction = parameters.resolvedValSplit(examples: train.count)
            if parameters.valSplit == nil && fraction > 0 {
                progress(
                    .note(
                        "note: holding out \(Int(fraction * 100))% of \(config.data) for validation (--val-split 0 to "
                            + "train on all)"))
            }
            (train, validation) = Batching.split(train, fraction: fraction, seed: parameters.seed)
        }
        let prepared = try PreparedRun(train: train, validation: validation, parameters: parameters)

        let model = try ModelInspection(url: modelURL)
        guard let modelConfig = model.config else {
            throw TrainingError.notTrainable(path: modelURL.path, reason: model.configProblem ?? "unsupported model")
        }
        let trainable = LoRAParameters(model: modelConfig, config: parameters.lora).count
        var native: NativeEngineChoice?
        if !config.usesTorch {
            native = try Self.chooseEngine(config, model: model, modelConfig: modelConfig, train: prepared.train)
            // A resumed run multiplies exactly as it began: the resolved choices are what config.json keeps.
            config.precision = native?.precision.rawValue
            config.weights = native?.storage.rawValue
        }
        return TrainingPlan(
            config: config, run: run, prepared: prepared, modelURL: modelURL, model: model, modelConfig: modelConfig,
            trainableParameters: trainable, native: native)
    }

    /// Precision and storage for this machine and model, and the memory check.
    static func chooseEngine(
        _ config: TrainingConfig, model: ModelInspection, modelConfig: ModelConfig, train: [TokenizedExample]
    ) throws -> NativeEngineChoice {
        let parameters = config.parameters
        let longest = train.map(\.ids.count).sorted(by: >)
        let microBatchTokens =
            parameters.packing
            ? parameters.batchSize * parameters.maxLength : longest.prefix(parameters.batchSize).reduce(0, +)
        let (precision, precisionReason) = try (PrecisionSetting(rawValue: config.precision ?? "fp32") ?? .auto)
            .resolve()
        let available = MemoryEstimate.availableBytes()
        let (storage, storageReason) = (WeightSetting(rawValue: config.weights ?? "f32") ?? .auto).resolve(
            parameters: model.parameterCount, storedBytes: model.totalBytes, precision: precision,
            availableBytes: available)
        func estimate(_ parameters: TrainingParameters, _ storage: WeightStorage) -> MemoryEstimate {
            MemoryEstimate(
                config: modelConfig, parameters: parameters, microBatchTokens: microBatchTokens, precision: precision,
                storage: storage, parameterCount: model.parameterCount, storedBytes: model.totalBytes)
        }
        let chosen = estimate(parameters, storage)
        if let available, chosen.total > available {
            throw TrainingError.insufficientMemory(
                estimate: chosen, available: available,
                savings: MemoryEstimate.savings(
                    parameters: parameters, storage: storage, current: chosen.total, estimate: estimate))
        }
        return NativeEngineChoice(
            precision: precision, precisionReason: precisionReason, storage: storage, storageReason: storageReason,
            kernels: "\(MatmulKernels.current)", estimate: chosen)
    }

    /// The native engine for `plan`: the base weights loaded in the chosen storage, the LoRA, the training loop.
    public func loadNativeEngine(_ plan: TrainingPlan) throws -> Trainer {
        guard let native = plan.native else {
            preconditionFailure("loadNativeEngine needs a plan made for the native engine")
        }
        let parameters = plan.prepared.parameters
        let threads = parameters.threads > 0 ? parameters.threads : ProcessInfo.processInfo.activeProcessorCount
        setMatmulThreadCount(threads)
        let weights = try TransformerWeights(try ModelWeights.load(from: plan.modelURL), storage: native.storage)
        let engine = Transformer(
            weights: weights, lora: LoRAParameters(model: weights.config, config: parameters.lora),
            checkpointing: parameters.checkpointing, threads: threads, maxPosition: max(parameters.maxLength, 16),
            precision: native.precision)
        return try Trainer(model: engine, prepared: plan.prepared, runFolder: plan.run.url, baseModel: plan.config.model)
    }

    /// Runs `plan` on `backend`: a fresh run saves its configuration first; a resumed one continues from the newest
    /// checkpoint of its folder.
    public func train(
        _ plan: TrainingPlan, on backend: any TrainingBackend, progress: (TrainingEvent) -> Void,
        shouldStop: () -> Bool
    ) throws -> TrainingSummary {
        var checkpoint: URL?
        if resuming {
            guard let latest = plan.run.latestCheckpoint else {
                throw TrainingError.checkpoint(
                    path: plan.run.path, reason: "has no checkpoint to resume from; start the run again instead")
            }
            checkpoint = latest
        } else {
            try plan.run.write(plan.config)
        }
        return try backend.train(resumeFrom: checkpoint, progress: progress, shouldStop: shouldStop)
    }
}

extension Trainer: TrainingBackend {
    public func train(resumeFrom checkpoint: URL?, progress: (TrainingEvent) -> Void, shouldStop: () -> Bool) throws
        -> TrainingSummary
    {
        try run(resumeFrom: checkpoint, progress: progress, shouldStop: shouldStop)
    }

    /// The loop polls `shouldStop` between steps; nothing else runs that needs telling.
    public func requestStop() {}
    public func forceStop() {}
}
