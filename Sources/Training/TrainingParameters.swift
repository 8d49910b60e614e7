// Every setting of a training run, as one Codable value saved in the run folder (resume reads it back).
import Foundation
import Models

/// How the learning rate moves after warm-up.
public enum LearningRateSchedule: String, Codable, Sendable, CaseIterable {
    case constant, linear, cosine
}

/// The settings of a run.
///
/// Optional fields mean "decided from the data" (see `resolved…` helpers).
public struct TrainingParameters: Codable, Sendable, Equatable {
    /// Passes over the training data (ignored when `maxSteps` is set).
    public var epochs: Int = 3
    /// Optimizer steps to run; cycles through the data as many epochs as needed.
    public var maxSteps: Int?
    public var learningRate: Float = 2e-4
    /// Sequences per micro-batch (with packing: the micro-batch holds up to batchSize × maxLength tokens).
    public var batchSize: Int = 4
    /// Micro-batches per optimizer step.
    public var gradAccum: Int = 1
    /// Longest sequence in tokens; longer examples are cut to this.
    public var maxLength: Int = 2048
    public var lora = LoRAConfig()
    public var schedule: LearningRateSchedule = .cosine
    /// Warm-up steps; when nil, `warmupRatio` × total steps.
    public var warmupSteps: Int?
    public var warmupRatio: Double = 0
    public var weightDecay: Float = 0
    /// Clip the global gradient norm to this; 0 turns clipping off.
    public var maxGradNorm: Float = 1
    /// Fill each micro-batch with whole examples up to batchSize × maxLength tokens instead of batchSize examples.
    public var packing = false
    /// Recompute activations in backward (less memory, about a third more compute).
    public var checkpointing = false
    public var seed: UInt64 = 42
    /// Evaluate every N steps (nil: a tenth of the run) and always at the end.
    public var evalEvery: Int?
    /// Save a checkpoint every N steps (nil: a fifth of the run).
    public var saveEvery: Int?
    /// Stop after this many evaluations without a better validation loss, keeping the best adapter.
    public var patience: Int?
    /// Fraction of the training file held out for validation when there is no validation file
    /// (nil: 10% when the file has at least 20 examples, else none).
    public var valSplit: Double?
    /// Threads for kernels and BLAS (0: all cores).
    public var threads: Int = 0
    /// Checkpoints kept on disk (older ones are deleted).
    public var keepCheckpoints: Int = 2

    public init() {}

    /// Throws on settings no run can use.
    public func validate() throws {
        func check(_ ok: Bool, _ name: String, _ value: Any, _ expected: String) throws {
            if !ok { throw TrainingError.invalidParameter(name: name, value: "\(value)", expected: expected) }
        }
        try check(epochs >= 1, "--epochs", epochs, "at least 1")
        try check(maxSteps.map { $0 >= 1 } ?? true, "--max-steps", maxSteps ?? 0, "at least 1")
        try check(
            learningRate > 0 && learningRate.isFinite, "--learning-rate", learningRate, "a positive number")
        try check(batchSize >= 1, "--batch-size", batchSize, "at least 1")
        try check(gradAccum >= 1, "--grad-accum", gradAccum, "at least 1")
        try check(maxLength >= 2, "--max-length", maxLength, "at least 2 tokens")
        try check(lora.rank >= 1, "--rank", lora.rank, "at least 1")
        try check(lora.alpha > 0, "--alpha", lora.alpha, "a positive number")
        try check(lora.dropout >= 0 && lora.dropout < 1, "--dropout", lora.dropout, "in [0, 1)")
        try check(!lora.targets.isEmpty, "--targets", "(none)", "at least one of q,k,v,o,gate,up,down")
        try check(warmupSteps.map { $0 >= 0 } ?? true, "--warmup-steps", warmupSteps ?? 0, "0 or more")
        try check(warmupRatio >= 0 && warmupRatio < 1, "--warmup-ratio", warmupRatio, "in [0, 1)")
        try check(weightDecay >= 0, "--weight-decay", weightDecay, "0 or more")
        try check(maxGradNorm >= 0, "--max-grad-norm", maxGradNorm, "0 (off) or more")
        try check(evalEvery.map { $0 >= 1 } ?? true, "--eval-every", evalEvery ?? 0, "at least 1")
        try check(saveEvery.map { $0 >= 1 } ?? true, "--save-every", saveEvery ?? 0, "at least 1")
        try check(patience.map { $0 >= 1 } ?? true, "--patience", patience ?? 0, "at least 1")
        try check(valSplit.map { $0 >= 0 && $0 < 1 } ?? true, "--val-split", valSplit ?? 0, "in [0, 1)")
        try check(threads >= 0, "--threads", threads, "0 (all cores) or more")
        try check(keepCheckpoints >= 1, "keep-checkpoints", keepCheckpoints, "at least 1")
    }

    /// Warm-up steps for a run of `total` steps.
    public func resolvedWarmup(total: Int) -> Int {
        min(warmupSteps ?? Int((warmupRatio * Double(total)).rounded(.up)), total)
    }

    /// Evaluation interval for a run of `total` steps.
    public func resolvedEvalEvery(total: Int) -> Int { evalEvery ?? max(1, total / 10) }

    /// Checkpoint interval for a run of `total` steps.
    public func resolvedSaveEvery(total: Int) -> Int { saveEvery ?? max(1, total / 5) }

    /// The validation fraction used for a training file of `count` examples.
    public func resolvedValSplit(examples count: Int) -> Double { valSplit ?? (count >= 20 ? 0.1 : 0) }
}
