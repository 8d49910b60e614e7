// The errors of the training loop; each says what happened, where, and what to do next.
import Foundation

/// Why a run could not be configured, start, continue or be read back.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A setting is out of range or settings contradict each other.
    case invalidParameter(name: String, value: String, expected: String)
    /// `--resume` was given a setting the run keeps, with another value than the run's.
    case changedOnResume(setting: String, saved: String, given: String)
    /// A torch-backend setting without `--backend torch`.
    case torchOnlySetting(setting: String)
    /// A native-engine setting with `--backend torch`; `instead` says what the torch backend offers.
    case nativeOnlySetting(setting: String, instead: String)
    /// A `--config` YAML file that cannot be used.
    case settingsFile(path: String, reason: String)
    /// The model cannot be trained (an architecture Tailor does not know, a file without weights).
    case notTrainable(path: String, reason: String)
    /// The run needs more memory than the machine has free; `savings` are changes that lower it.
    case insufficientMemory(estimate: MemoryEstimate, available: Int, savings: [MemoryEstimate.Saving])
    /// No training example has a single target token.
    case noTrainingData(reason: String)
    /// The loss or the gradient became NaN or infinite; nothing of that step was applied.
    case nonFinite(step: Int, what: String, lastGoodCheckpoint: String?)
    /// Stopped on request (Ctrl-C, SIGTERM) after saving a checkpoint.
    case interrupted(step: Int, runFolder: String)
    /// A checkpoint or run folder is missing, incomplete, or belongs to other data or settings.
    case checkpoint(path: String, reason: String)
    /// An export that cannot be made from this run (`target` is its `--to` name).
    case export(target: String, reason: String)
    /// An adapter folder that cannot be used with the model.
    case adapter(path: String, reason: String)
    /// Writing run files failed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidParameter(let name, let value, let expected):
            return "invalid \(name) \(value): expected \(expected)"
        case .changedOnResume(let setting, let saved, let given):
            return "--resume continues the run as it was saved: \(setting) is \(saved) there, not \(given); "
                + "leave out \(setting) (or start a new run to change it)"
        case .torchOnlySetting(let setting):
            return "\(setting) belongs to --backend torch; the native engine trains on this machine's CPU"
        case .nativeOnlySetting(let setting, let instead):
            return "\(setting) belongs to the native engine; \(instead)"
        case .settingsFile(let path, let reason):
            return "\(path): \(reason)"
        case .notTrainable(let path, let reason):
            return "\(path) cannot be trained: \(reason)"
        case .insufficientMemory(let estimate, let available, let savings):
            let advice = savings.map { "\($0.change) (about \(gigabytes($0.total)))" }
            return "this run needs about \(gigabytes(estimate.total)) but \(gigabytes(available)) is available; "
                + (advice.isEmpty ? "try" : "try " + advice.joined(separator: ", or ") + ", or")
                + " a smaller --batch-size (weights \(gigabytes(estimate.weights)), activations "
                + "\(gigabytes(estimate.activations)))"
        case .noTrainingData(let reason):
            return "nothing to train on: \(reason)"
        case .nonFinite(let step, let what, let lastGood):
            let kept = lastGood.map { "the last good state is saved in \($0)" } ?? "no update was applied"
            return
                "step \(step): the \(what) became NaN or infinite, so training stopped and \(kept). Likely causes: "
                + "a learning rate too high (try half), no gradient clipping (keep --max-grad-norm 1), "
                + "or a model whose weights overflow in Float32 activations"
        case .interrupted(0, _):
            return "stopped before the first step; nothing was saved, so start the run again"
        case .interrupted(let step, let runFolder):
            return
                "stopped at step \(step) with a checkpoint saved; continue with: tailor train --resume \(runFolder)"
        case .checkpoint(let path, let reason):
            return "\(path): \(reason)"
        case .export(let target, let reason):
            return "cannot export --to \(target): \(reason)"
        case .adapter(let path, let reason):
            return "--adapter \(path): \(reason)"
        case .io(let path, let reason):
            return "\(path): \(reason)"
        }
    }
}
