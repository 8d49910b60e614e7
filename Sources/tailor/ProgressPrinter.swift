// Renders training events on stderr: one line redrawn in place on a terminal, whole lines otherwise (a log file or a
// pipe gets one report per line, never a line glued to the next).
import Datasets
import Foundation
import TorchBackend
import Training

/// Prints `TrainingEvent`s for people.
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

    /// A line that the next one replaces on a terminal; elsewhere a line of its own.
    func update(_ text: String) {
        if isTerminal {
            write("\r\u{1B}[K" + text)
            lineOpen = true
        } else {
            write(text + "\n")
        }
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .data(let report):
            Self.lines(report).forEach(say)
        case .started(let outline):
            let from = outline.startStep > 0 ? ", continuing after step \(outline.startStep)" : ""
            say(
                "training: \(outline.totalSteps) steps over \(outline.epochs) epoch(s)\(from); evaluating every "
                    + "\(outline.evalEvery), saving every \(outline.saveEvery)")
        case .step(let report):
            update(Self.statusLine(report, validation: lastValidation))
        case .evaluation(let step, let loss, let isBest):
            lastValidation = loss
            say("step \(step): validation loss \(formatDecimal(loss, digits: 4))\(isBest ? " (best so far)" : "")")
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

    /// What reading a dataset left out, then its counts: the same lines for every command that reads data.
    static func lines(_ report: DatasetReport) -> [String] {
        report.skipped.map { "skipped \($0)" } + report.leftOut.map { "left out \($0)" } + [report.summary.description]
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

    // MARK: A run's header and summary

    /// The run's resolved configuration, one `key  value` row each, before anything heavy is loaded.
    func header(_ plan: TrainingPlan, torch: (trainer: TorchTrainer, environment: PythonEnvironment)?) {
        let c = plan.config, p = plan.prepared.parameters, m = plan.modelConfig
        var rows: [(String, String)] = [("model", "\(c.model) (\(c.modelPath))")]
        if let (trainer, environment) = torch {
            let settings = trainer.settings
            let gpus = environment.cudaGPUs
            let device =
                settings.device == "cpu" || gpus.isEmpty
                ? "CPU" : gpus.prefix(settings.gpus == 0 ? gpus.count : settings.gpus).map(\.name).joined(separator: ", ")
            rows.append(
                ("backend", "torch \(environment.version(of: "torch") ?? "?") via \(trainer.launcher.python.path), on \(device)"))
            rows.append(
                ("weights", "\(plan.model.dominantType ?? "?") on disk, "
                    + (settings.quantize4Bit ? "4-bit NF4 (QLoRA)" : "precision \(settings.precision.rawValue)")))
        } else if let native = plan.native {
            rows.append(("architecture", "\(m.architecture.rawValue), \(m.layerCount) layers, hidden \(m.hiddenSize)"))
            rows.append(
                ("weights", "\(plan.model.dominantType ?? "?") on disk, \(native.storage.rawValue) in memory "
                    + "(\(native.storageReason))"))
            rows.append(("engine", "\(native.precision.rawValue) products (\(native.precisionReason)) on \(native.kernels)"))
        }
        rows.append(("targets", p.lora.targets.map(\.rawValue).joined(separator: ",")))
        rows.append(
            ("rank / alpha", "\(p.lora.rank) / \(formatDecimal(Double(p.lora.alpha), digits: 1))"
                + (p.lora.useRSLoRA ? " (rsLoRA)" : "") + ", dropout \(p.lora.dropout)"))
        rows.append(("trainable", "\(formatCount(plan.trainableParameters)) parameters"))
        rows.append(
            ("data", "\(c.data): \(plan.prepared.train.count) training, \(plan.prepared.validation.count) validation "
                + "example(s)" + (c.valFile.map { " (from \($0))" } ?? "")))
        rows.append(
            ("batch × length", "\(p.batchSize) × \(p.maxLength)" + (p.gradAccum > 1 ? ", accumulating \(p.gradAccum)" : "")
                + (p.packing ? ", packed" : "")))
        let length = p.maxSteps.map { "\($0) steps" } ?? "\(p.epochs) epoch(s)"
        let warmup = p.warmupSteps.map { "\($0) steps" } ?? "ratio \(p.warmupRatio)"
        rows.append(("steps", "\(length) (\(plan.prepared.plan.count)), lr \(p.learningRate) \(p.schedule.rawValue), "
            + "warm-up \(warmup), seed \(p.seed)"))
        if let estimate = plan.native?.estimate {
            rows.append(
                ("memory", "about \(formatBytes(Int64(estimate.total))): weights \(formatBytes(Int64(estimate.weights))), "
                    + "activations \(formatBytes(Int64(estimate.activations))), adapter + AdamW "
                    + "\(formatBytes(Int64(estimate.adapterAndOptimizer)))"))
        }
        rows.append(("output", c.output))
        for (key, value) in rows { say(key.padding(toLength: 15, withPad: " ", startingAt: 0) + value) }
    }

    /// The lines printed on stdout when a run ends; `peakBytes` is this process's peak (the native engine's).
    static func summary(_ s: TrainingSummary, plan: TrainingPlan, peakBytes: Int) -> String {
        let run = plan.run
        var memory = ""
        if let estimate = plan.native?.estimate {
            memory = ", peak memory \(formatBytes(Int64(peakBytes))), estimated \(formatBytes(Int64(estimate.total)))"
        } else if let peak = s.backendPeakBytes {
            memory = ", peak \(s.backendMemoryDevice ?? "memory") \(formatBytes(peak))"
        }
        var lines = [
            "trained \(s.steps) of \(s.totalSteps) steps in \(durationText(s.seconds))"
                + " (\(Int(s.tokensPerSecond.rounded())) tokens/s\(memory))"
        ]
        if let loss = s.finalLoss { lines.append("final training loss \(formatDecimal(loss, digits: 4))") }
        if let best = s.bestValidationLoss, let first = s.firstValidationLoss {
            lines.append(
                "validation loss \(formatDecimal(first, digits: 4)) at the first evaluation, best "
                    + "\(formatDecimal(best, digits: 4)) at step \(s.bestStep ?? 0)")
        }
        lines.append(
            "adapter (PEFT\(s.adapterIsBest ? ", best by validation loss" : "")): \(run.adapterWeightsURL.path) + "
                + run.adapterConfigURL.lastPathComponent)
        lines.append("metrics: \(run.metricsURL.path), chart: \(run.chartURL.path)")
        lines.append("checkpoints: \(run.checkpointsURL.path)")
        return lines.joined(separator: "\n")
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
