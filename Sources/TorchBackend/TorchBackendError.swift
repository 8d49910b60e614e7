// The one error type of the torch backend: the Python side cannot start here, explained an error, or ended without
// saying why. Stops every backend shares (Ctrl-C, a non-finite loss) stay `TrainingError`s.
import Foundation

/// Why the torch backend cannot run, or stopped.
public enum TorchBackendError: Error, CustomStringConvertible, Equatable {
    /// The backend cannot start here (no Python, missing packages, no scripts), or stopped with an error it explained.
    case unavailable(reason: String)
    /// The program ended without saying why (a crash, a kill, an out-of-memory kill); `resumable` is the run folder
    /// when a checkpoint of it exists.
    case crashed(status: Int32, log: String, lastLines: [String], resumable: String?)
    /// Writing or reading the hand-off files failed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .unavailable(let reason):
            return "torch backend: \(reason)"
        case .crashed(let status, let log, let lastLines, let resumable):
            let how = status > 128 ? "was killed by signal \(status - 128)" : "exited with status \(status)"
            let tail = lastLines.isEmpty ? "" : "; it last wrote: " + lastLines.joined(separator: " | ")
            let resume =
                resumable.map { "; continue from the last checkpoint with: tailor train --resume \($0)" }
                ?? "; no checkpoint was saved yet"
            return "the torch backend \(how) without finishing (full log: \(log))\(tail)\(resume)"
        case .io(let path, let reason):
            return "\(path): \(reason)"
        }
    }
}
