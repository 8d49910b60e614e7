// What the loop reports while it runs; the CLI renders these (the library never prints).
import Datasets
import Foundation

/// The shape of a run, reported before the first step.
public struct RunOutline: Sendable, Equatable {
    public var totalSteps: Int
    /// The step the run continues after (0 for a fresh run).
    public var startStep: Int
    public var epochs: Int
    public var trainExamples: Int
    public var validationExamples: Int
    /// Tokens and target tokens in one pass over the training examples.
    public var trainTokens: Int
    public var trainTargets: Int
    public var warmupSteps: Int
    public var evalEvery: Int
    public var saveEvery: Int
}

/// One optimizer step's figures.
public struct StepReport: Sendable, Equatable {
    public var step: Int
    public var totalSteps: Int
    /// Fractional epoch reached at the end of this step (1.5 = half-way through the second pass).
    public var epoch: Double
    /// Mean cross-entropy over the step's target tokens.
    public var loss: Double
    public var learningRate: Float
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    public var tokens: Int
    /// Tokens per second of optimizer steps in this session (evaluation and checkpoint time left out).
    public var tokensPerSecond: Double
    /// Seconds left at the pace of this session so far.
    public var etaSeconds: Double

    public init(
        step: Int, totalSteps: Int, epoch: Double, loss: Double, learningRate: Float, gradNorm: Double, tokens: Int,
        tokensPerSecond: Double, etaSeconds: Double
    ) {
        self.step = step
        self.totalSteps = totalSteps
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.gradNorm = gradNorm
        self.tokens = tokens
        self.tokensPerSecond = tokensPerSecond
        self.etaSeconds = etaSeconds
    }
}

/// How a run ended.
public struct TrainingSummary: Sendable, Equatable {
    public var steps: Int
    public var totalSteps: Int
    public var finalLoss: Double?
    public var bestValidationLoss: Double?
    public var bestStep: Int?
    public var firstValidationLoss: Double?
    public var stoppedEarly: Bool
    /// The folder holding the adapter files.
    public var adapterFolder: URL
    /// True when the adapter written is the best by validation loss rather than the last.
    public var adapterIsBest: Bool
    public var seconds: Double
    public var tokensPerSecond: Double
    /// Peak memory of the torch backend's training process, and where it was measured ("GPU" or "RAM"); nil for the
    /// native engine, whose peak is this process's own.
    public var backendPeakBytes: Int64?
    public var backendMemoryDevice: String?

    public init(
        steps: Int, totalSteps: Int, finalLoss: Double?, bestValidationLoss: Double?, bestStep: Int?,
        firstValidationLoss: Double?, stoppedEarly: Bool, adapterFolder: URL, adapterIsBest: Bool, seconds: Double,
        tokensPerSecond: Double, backendPeakBytes: Int64? = nil, backendMemoryDevice: String? = nil
    ) {
        self.steps = steps
        self.totalSteps = totalSteps
        self.finalLoss = finalLoss
        self.bestValidationLoss = bestValidationLoss
        self.bestStep = bestStep
        self.firstValidationLoss = firstValidationLoss
        self.stoppedEarly = stoppedEarly
        self.adapterFolder = adapterFolder
        self.adapterIsBest = adapterIsBest
        self.seconds = seconds
        self.tokensPerSecond = tokensPerSecond
        self.backendPeakBytes = backendPeakBytes
        self.backendMemoryDevice = backendMemoryDevice
    }
}

/// Reports from a training session and its backend.
public enum TrainingEvent: Sendable {
    /// A dataset file was read: its counts and what was left out.
    case data(DatasetReport)
    case started(RunOutline)
    case step(StepReport)
    case evaluation(step: Int, loss: Double, isBest: Bool)
    case checkpointSaved(step: Int, folder: URL)
    case stoppedEarly(step: Int, bestStep: Int, bestLoss: Double)
    case nonFinite(step: Int, what: String)
    case finished(TrainingSummary)
    /// Something worth a line in the log that is not a figure: which device and precision a backend uses.
    case note(String)
}
