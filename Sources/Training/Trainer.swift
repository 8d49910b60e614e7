import Datasets
// The training loop: optimizer steps over planned micro-batches, evaluation, early stopping, checkpoints and resume.
//
// One optimizer step: zero the LoRA gradients; run every micro-batch forward and backward with
// gradScale = 1 / (target tokens of the whole step), so the gradients sum to those of the mean loss over the step
// (as current TRL does); check loss and gradient norm are finite; clip the global norm; AdamW at the scheduled rate.
import Formats
import Foundation
import Models
import Tensors

/// Runs one training: fresh, or continued from a checkpoint of the same run folder.
public final class Trainer {
    public let model: Transformer
    public let lora: LoRAParameters
    public let parameters: TrainingParameters
    public let runFolder: URL
    /// `base_model_name_or_path` written into adapters.
    public let baseModel: String
    /// The examples and the step plan (shared with the torch backend).
    public let prepared: PreparedRun
    public var train: [TokenizedExample] { prepared.train }
    public var validation: [TokenizedExample] { prepared.validation }
    public var plan: [PlannedStep] { prepared.plan }
    public var outline: RunOutline { prepared.outline }

    private let m: FloatBuffer
    private let v: FloatBuffer

    /// Prepares a run of `parameters` on `model` (which must carry the LoRA to train).
    public convenience init(
        model: Transformer, train: [TokenizedExample], validation: [TokenizedExample],
        parameters: TrainingParameters, runFolder: URL, baseModel: String
    ) throws {
        try self.init(
            model: model, prepared: PreparedRun(train: train, validation: validation, parameters: parameters),
            runFolder: runFolder, baseModel: baseModel)
    }

    /// A run of `prepared` on `model` (which must carry the LoRA of `prepared.parameters`).
    public init(model: Transformer, prepared: PreparedRun, runFolder: URL, baseModel: String) throws {
        let parameters = prepared.parameters
        guard let lora = model.lora else {
            throw TrainingError.invalidParameter(
                name: "model", value: "without LoRA", expected: "a model carrying LoRA parameters")
        }
        // The model's LoRA holds the targets as the family has them (fused modules whole, Phi-2 without a gate).
        guard lora.config == parameters.lora.expanded(for: model.config.architecture) else {
            throw TrainingError.invalidParameter(
                name: "lora", value: "\(lora.config)", expected: "\(parameters.lora)")
        }
        self.model = model
        self.lora = lora
        self.parameters = parameters
        self.runFolder = runFolder
        self.baseModel = baseModel
        self.prepared = prepared
        m = FloatBuffer(count: lora.count)
        v = FloatBuffer(count: lora.count)
    }

    /// Mean cross-entropy of the validation examples under the current adapter (forward only).
    public func validationLoss() -> Double? {
        guard !validation.isEmpty else { return nil }
        var sum = 0.0, count = 0
        for start in stride(from: 0, to: validation.count, by: parameters.batchSize) {
            let batch = Batching.tokenBatch(
                Array(validation[start..<min(start + parameters.batchSize, validation.count)]))
            let totals = model.run(batch, gradScale: nil)
            sum += totals.lossSum
            count += totals.targetCount
        }
        return count > 0 ? sum / Double(count) : nil
    }

    /// The dropout seed of micro-batch `index` of `step`: fixed by the run's seed so resume replays the same masks.
    func dropoutSeed(step: Int, index: Int) -> UInt64 {
        var generator = SplitMix64(seed: parameters.seed ^ (UInt64(step) << 20) ^ UInt64(index))
        return generator.next()
    }

    /// One optimizer step's forward/backward passes: loss and gradient norm, gradients left in `lora.gradients`.
    func accumulate(_ step: PlannedStep, stepNumber: Int) -> (loss: Double, norm: Double, tokens: Int) {
        let batches = step.microBatches.map { indices in Batching.tokenBatch(indices.map { train[$0] }) }
        let targets = batches.reduce(0) { $0 + $1.targetCount }
        lora.gradients.zero()
        var lossSum = 0.0
        for (index, batch) in batches.enumerated() {
            lossSum +=
                model.run(
                    batch, gradScale: 1 / Float(targets),
                    dropoutSeed: dropoutSeed(step: stepNumber, index: index)
                ).lossSum
        }
        var squares = 0.0
        let g = lora.gradients.pointer
        for i in 0..<lora.count { squares += Double(g[i]) * Double(g[i]) }
        return (lossSum / Double(max(targets, 1)), squares.squareRoot(), batches.reduce(0) { $0 + $1.count })
    }

    /// Scales the gradients so their global norm is at most `maxNorm`, as torch's clip_grad_norm_.
    static func clip(_ gradients: FloatBuffer, norm: Double, maxNorm: Float) {
        guard maxNorm > 0 else { return }
        let coefficient = maxNorm / (Float(norm) + 1e-6)
        guard coefficient < 1 else { return }
        for i in 0..<gradients.count { gradients.pointer[i] *= coefficient }
    }

    /// Runs the remaining steps.
    ///
    /// With `resumeFrom`, restores that checkpoint first (it must come from this run's
    /// data and settings). Calls `progress` on this thread; polls `shouldStop` after every step and, when it says
    /// yes, saves a checkpoint and throws `TrainingError.interrupted`.
    public func run(
        resumeFrom checkpoint: URL? = nil, progress: (TrainingEvent) -> Void, shouldStop: () -> Bool
    )
        throws -> TrainingSummary
    {
        let total = plan.count
        var state = prepared.initialState()
        var best: [Float]?
        let keepBest = parameters.patience != nil && !validation.isEmpty
        if let checkpoint {
            let restored = try Checkpoint.read(checkpoint, model: model.config, into: lora, m: m, v: v)
            let saved = restored.state
            try prepared.checkResumable(saved, checkpoint: checkpoint)
            state = saved
            best = restored.best
        } else {
            lora.initialize(seed: parameters.seed)
            m.zero()
            v.zero()
        }
        let run = RunFolder(runFolder)
        try FileManager.default.createDirectory(at: runFolder, withIntermediateDirectories: true)
        var metrics = try run.openMetrics(keepingThrough: state.step)
        var outline = self.outline
        outline.startStep = state.step
        progress(.started(outline))

        // A fresh run first measures the untrained adapter (B = 0: the base model), so the first validation loss is
        // a baseline and early stopping can fall back to it.
        if state.step == 0, let baseline = validationLoss() {
            try metrics.recordValidation(step: 0, loss: baseline)
            state.firstValidationLoss = baseline
            state.bestValidationLoss = baseline
            state.bestStep = 0
            if keepBest { best = lora.values.array }
            progress(.evaluation(step: 0, loss: baseline, isBest: true))
        }

        let hyper = AdamWParameters(weightDecay: parameters.weightDecay)
        let started = Date()
        // tokens/s counts optimizer steps only; the ETA also counts evaluations and checkpoints.
        var sessionTokens = 0, sessionSteps = 0, lastSaved = state.step, trainingSeconds = 0.0
        var stoppedEarly = false

        func save() throws {
            guard lastSaved != state.step || run.latestCheckpoint == nil else { return }
            let url = try Checkpoint.write(
                state: state, lora: lora, m: m, v: v, best: best, baseModel: baseModel,
                runFolder: runFolder, keep: parameters.keepCheckpoints)
            lastSaved = state.step
            progress(.checkpointSaved(step: state.step, folder: url))
        }
        var stepNumber = state.step
        while stepNumber < total {
            stepNumber += 1
            let planned = plan[stepNumber - 1]
            let stepStart = Date()
            let (loss, norm, tokens) = accumulate(planned, stepNumber: stepNumber)
            guard loss.isFinite, norm.isFinite else {
                let what = loss.isFinite ? "gradient norm" : "loss"
                progress(.nonFinite(step: stepNumber, what: what))
                var kept: String?
                if state.step > 0 {
                    try save()
                    kept = run.latestCheckpoint?.path
                }
                throw TrainingError.nonFinite(step: stepNumber, what: what, lastGoodCheckpoint: kept)
            }
            Self.clip(lora.gradients, norm: norm, maxNorm: parameters.maxGradNorm)
            let rate = prepared.learningRate(step: stepNumber)
            adamWStep(
                parameters: lora.values.pointer, gradients: lora.gradients.pointer, m: m.pointer,
                v: v.pointer,
                count: lora.count, step: stepNumber, learningRate: rate, hyper: hyper)
            state.step = stepNumber
            state.lastLoss = loss
            sessionTokens += tokens
            sessionSteps += 1
            trainingSeconds += Date().timeIntervalSince(stepStart)
            let elapsed = Date().timeIntervalSince(started)
            let report = StepReport(
                step: stepNumber, totalSteps: total,
                epoch: prepared.epochReached(step: stepNumber),
                loss: loss,
                learningRate: rate, gradNorm: norm, tokens: tokens,
                tokensPerSecond: trainingSeconds > 0 ? Double(sessionTokens) / trainingSeconds : 0,
                etaSeconds: elapsed / Double(sessionSteps) * Double(total - stepNumber))
            try metrics.record(report)
            progress(.step(report))

            if stepNumber % outline.evalEvery == 0 || stepNumber == total,
                let validationLoss = validationLoss()
            {
                try metrics.recordValidation(step: stepNumber, loss: validationLoss)
                if state.firstValidationLoss == nil { state.firstValidationLoss = validationLoss }
                let isBest = state.bestValidationLoss.map { validationLoss < $0 } ?? true
                if isBest {
                    state.bestValidationLoss = validationLoss
                    state.bestStep = stepNumber
                    state.evaluationsWithoutImprovement = 0
                    if keepBest { best = lora.values.array }
                } else {
                    state.evaluationsWithoutImprovement += 1
                }
                progress(.evaluation(step: stepNumber, loss: validationLoss, isBest: isBest))
                run.writeChart(metrics)
                if let patience = parameters.patience, state.evaluationsWithoutImprovement >= patience,
                    stepNumber < total
                {
                    progress(
                        .stoppedEarly(
                            step: stepNumber, bestStep: state.bestStep ?? stepNumber,
                            bestLoss: state.bestValidationLoss ?? validationLoss))
                    stoppedEarly = true
                    break
                }
            }
            if stepNumber % outline.saveEvery == 0 && stepNumber < total { try save() }
            if stepNumber < total && shouldStop() {
                try save()
                throw TrainingError.interrupted(step: stepNumber, runFolder: runFolder.path)
            }
        }

        let useBest = keepBest && best != nil
        try run.writeAdapter(lora, values: useBest ? best : nil, baseModel: baseModel)
        run.writeChart(metrics)
        let elapsed = Date().timeIntervalSince(started)
        let summary = TrainingSummary(
            steps: state.step, totalSteps: total, finalLoss: state.lastLoss,
            bestValidationLoss: state.bestValidationLoss,
            bestStep: state.bestStep, firstValidationLoss: state.firstValidationLoss,
            stoppedEarly: stoppedEarly,
            adapterFolder: runFolder, adapterIsBest: useBest, seconds: elapsed,
            tokensPerSecond: trainingSeconds > 0 ? Double(sessionTokens) / trainingSeconds : 0)
        progress(.finished(summary))
        return summary
    }
}
