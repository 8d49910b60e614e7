// What every backend trains on: examples cut to the maximum length, the seeded step plan, the run's outline and the
// data fingerprints that resume checks. The native Trainer and the torch hand-off both start from this value.
import Datasets
import Foundation

/// The examples and the step plan of one run, decided up front from the data and the settings.
public struct PreparedRun: Sendable {
    public let parameters: TrainingParameters
    public let train: [TokenizedExample]
    public let validation: [TokenizedExample]
    /// Every optimizer step of the run, decided up front from the seed.
    public let plan: [PlannedStep]
    public let outline: RunOutline
    /// Examples cut to `maxLength` and examples dropped for having no target left.
    public let truncatedExamples: Int
    public let droppedExamples: Int
    /// FNV-1a of the token ids and masks (see `Batching.fingerprint`): resume refuses data that changed.
    public let trainFingerprint: String
    public let validationFingerprint: String

    /// Cuts examples to `parameters.maxLength`, drops those with no target token left, and plans every step.
    public init(train: [TokenizedExample], validation: [TokenizedExample], parameters: TrainingParameters) throws {
        try parameters.validate()
        self.parameters = parameters
        var truncated = 0, dropped = 0
        func prepare(_ examples: [TokenizedExample]) -> [TokenizedExample] {
            examples.compactMap { example in
                var e = example
                if e.ids.count > parameters.maxLength {
                    e.ids = Array(e.ids.prefix(parameters.maxLength))
                    e.trained = Array(e.trained.prefix(parameters.maxLength))
                    truncated += 1
                }
                guard e.trained.count == e.ids.count, Batching.targetCount(e) > 0 else {
                    dropped += 1
                    return nil
                }
                return e
            }
        }
        self.train = prepare(train)
        self.validation = prepare(validation)
        truncatedExamples = truncated
        droppedExamples = dropped
        guard !self.train.isEmpty else {
            throw TrainingError.noTrainingData(
                reason:
                    "none of the \(train.count) training examples has a trained token (check the loss mask or --max-length)"
            )
        }
        plan = Batching.plan(lengths: self.train.map(\.ids.count), parameters: parameters)
        let total = plan.count
        outline = RunOutline(
            totalSteps: total, startStep: 0, epochs: (plan.last?.epoch ?? 0) + 1,
            trainExamples: self.train.count,
            validationExamples: self.validation.count,
            trainTokens: self.train.reduce(0) { $0 + $1.ids.count },
            trainTargets: self.train.reduce(0) { $0 + Batching.targetCount($1) },
            warmupSteps: parameters.resolvedWarmup(total: total),
            evalEvery: parameters.resolvedEvalEvery(total: total),
            saveEvery: parameters.resolvedSaveEvery(total: total))
        trainFingerprint = Batching.fingerprint(self.train)
        validationFingerprint = Batching.fingerprint(self.validation)
    }

    /// The learning rate of 1-based `step`.
    public func learningRate(step: Int) -> Float {
        parameters.schedule.learningRate(
            step: step, total: plan.count, warmup: outline.warmupSteps, peak: parameters.learningRate)
    }

    /// The fractional epoch reached at the end of 1-based `step`.
    public func epochReached(step: Int) -> Double {
        let planned = plan[step - 1]
        return Double(planned.epoch) + Double(planned.indexInEpoch + 1) / Double(planned.epochLength)
    }

    /// The state a fresh run starts from.
    public func initialState() -> CheckpointState {
        CheckpointState(
            step: 0, totalSteps: plan.count, parameters: parameters, trainFingerprint: trainFingerprint,
            validationFingerprint: validationFingerprint, bestValidationLoss: nil, bestStep: nil,
            firstValidationLoss: nil, evaluationsWithoutImprovement: 0, lastLoss: nil)
    }

    /// Throws unless a checkpoint `state` read from `checkpoint` belongs to this run's data and settings.
    public func checkResumable(_ state: CheckpointState, checkpoint: URL) throws {
        guard state.trainFingerprint == trainFingerprint, state.validationFingerprint == validationFingerprint else {
            throw TrainingError.checkpoint(
                path: checkpoint.path,
                reason:
                    "the training or validation data differ from the run's (file, template or tokenizer changed);"
                    + " start a new run instead of resuming")
        }
        guard state.parameters == parameters, state.totalSteps == plan.count else {
            throw TrainingError.checkpoint(
                path: checkpoint.path,
                reason: "the run's settings differ from the checkpoint's; resume with the saved configuration")
        }
    }
}
