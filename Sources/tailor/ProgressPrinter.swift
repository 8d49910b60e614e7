// Renders training events on stderr: one updating line on a terminal, one line per report otherwise.
import Foundation
import Training

/// Prints `TrainingEvent`s for people: a live status line when stderr is a terminal, plain log lines when not.
final class ProgressPrinter {
    let isTerminal: Bool
    private var lastValidation: Double?
    private var lineOpen = false

    init(isTerminal: Bool = isatty(STDERR_FILENO) != 0) {
        self.isTerminal = isTerminal
    }

    /// Writes a permanent line (closing the live line first).
    func say(_ text: String) {
        if lineOpen {
            write("\r\u{1B}[K")
            lineOpen = false
        }
        write(text + "\n")
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .started(let outline):
            let from = outline.startStep > 0 ? ", continuing after step \(outline.startStep)" : ""
            say(
                "training: \(outline.totalSteps) steps over \(outline.epochs) epoch(s)\(from); evaluating every "
                    + "\(outline.evalEvery), saving every \(outline.saveEvery)")
        case .step(let report):
            let line = Self.statusLine(report, validation: lastValidation)
            if isTerminal {
                write("\r\u{1B}[K" + line)
                lineOpen = true
            } else {
                write(line + "\n")
            }
        case .evaluation(let step, let loss, let isBest):
            lastValidation = loss
            say(
                "step \(step): validation loss \(formatDecimal(loss, digits: 4))\(isBest ? " (best so far)" : "")"
            )
        case .checkpointSaved(let step, let folder):
            say("step \(step): checkpoint saved in \(folder.path)")
        case .stoppedEarly(let step, let bestStep, let bestLoss):
            say(
                "step \(step): validation loss has not improved since step \(bestStep) "
                    + "(\(formatDecimal(bestLoss, digits: 4))); stopping early and keeping that adapter")
        case .nonFinite(let step, let what):
            say("step \(step): the \(what) is NaN or infinite")
        case .finished:
            if lineOpen { say("") }
        case .note(let text):
            say(text)
        }
    }

    static func statusLine(_ r: StepReport, validation: Double?) -> String {
        var parts = [
            "step \(r.step)/\(r.totalSteps)", "epoch \(formatDecimal(r.epoch, digits: 2))",
            "loss \(formatDecimal(r.loss, digits: 4))",
        ]
        if let validation { parts.append("val \(formatDecimal(validation, digits: 4))") }
        parts.append("lr " + String(format: "%.2e", Double(r.learningRate)))
        parts.append("\(Int(r.tokensPerSecond.rounded())) tok/s")
        parts.append("ETA \(durationText(r.etaSeconds))")
        return parts.joined(separator: " · ")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// 75 → "1m15s", 4000 → "1h06m".
func durationText(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
}
