// The torch backend seen from Tailor: check the Python environment, write the hand-off files, start the program,
// turn its protocol lines into the same TrainingEvents the native Trainer reports, keep metrics.jsonl and the loss
// chart, and map how the program ended onto TrainingError.
//
// Exit statuses of the program: 0 finished, 2 an error it explained, 3 a non-finite loss or gradient norm, 130
// stopped on request after a checkpoint. Anything else (a crash, a kill) is reported with the end of its log.
import Foundation
import Training
import ModelStores
import Models

/// Runs one training through the PyTorch program instead of the native engine.
public final class TorchTrainer: @unchecked Sendable {
    public let prepared: PreparedRun
    public let model: URL
    public let config: ModelConfig
    public let baseModel: String
    public let settings: TorchSettings
    public let launcher: TorchLauncher
    public let runFolder: URL

    private let lock = NSLock()
    private var child: ChildProcess?
    private var stopRequested = false
    private var isMultiProcess = false
    /// The GPUs the last environment check saw.
    private var visibleGPUs = 0

    public init(
        prepared: PreparedRun, model: URL, config: ModelConfig, baseModel: String, settings: TorchSettings,
        launcher: TorchLauncher, runFolder: URL
    ) throws {
        try settings.validate()
        self.prepared = prepared
        self.model = model
        self.config = config
        self.baseModel = baseModel
        self.settings = settings
        self.launcher = launcher
        self.runFolder = runFolder
    }

    /// The torch backend for a planned run, with the Python its settings name.
    public convenience init(plan: TrainingPlan) throws {
        let settings = plan.config.torch ?? TorchSettings()
        try self.init(
            prepared: plan.prepared, model: plan.modelURL, config: plan.modelConfig, baseModel: plan.config.model,
            settings: settings, launcher: try TorchLauncher(explicitPython: settings.python), runFolder: plan.run.url)
    }

    /// `RUN/torch/backend.log`: the program's stderr and every stdout line that is not a protocol line.
    public var logURL: URL { TorchHandOff.folder(in: runFolder).appendingPathComponent("backend.log") }

    /// What these settings need from the Python environment.
    public var needs: TorchNeeds {
        TorchNeeds(settings: settings, modelIsGGUF: FileProbe.isGGUF(model))
    }

    /// Probes the Python environment and throws, naming every missing piece, unless these settings can run there.
    @discardableResult
    public func checkEnvironment() throws -> PythonEnvironment {
        let environment = try launcher.probe()
        let problems = needs.problems(in: environment, python: launcher.python.path)
        guard problems.isEmpty else { throw TorchBackendError.unavailable(reason: problems.joined(separator: "; ")) }
        lock.withLock { visibleGPUs = environment.cudaGPUs.count }
        return environment
    }

    /// Asks the program to stop after its current step and save a checkpoint (Ctrl-C, SIGTERM): the stop file for
    /// every process, and SIGINT as well when it runs alone (it then notices mid-step too).
    public func interrupt() {
        let (running, multiProcess): (ChildProcess?, Bool) = lock.withLock {
            stopRequested = true
            return (child, isMultiProcess)
        }
        _ = FileManager.default.createFile(atPath: TorchHandOff.stopURL(in: runFolder).path, contents: Data())
        if !multiProcess { running?.interrupt() }
    }

    /// Ends the program and its workers at once (a second Ctrl-C); the last checkpoint stays usable.
    public func kill() {
        let running = lock.withLock { child }
        running?.kill()
    }

    /// Trains: fresh, or from `resumeFrom` (a checkpoint folder of this run). `visibleGPUs` is the probe's count.
    public func run(resumeFrom checkpoint: URL?, visibleGPUs: Int, progress: (TrainingEvent) -> Void) throws
        -> TrainingSummary
    {
        var startStep = 0
        if let checkpoint {
            let state = try Checkpoint.readState(checkpoint)
            try prepared.checkResumable(state, checkpoint: checkpoint)
            startStep = state.step
        }
        try TorchHandOff.write(
            prepared: prepared, model: model, config: config, baseModelName: baseModel, settings: settings,
            runFolder: runFolder, resumeFrom: checkpoint)
        var metrics = try RunFolder(runFolder).openMetrics(keepingThrough: startStep)
        let log = try openLog()
        defer { try? log.close() }
        let arguments = launcher.trainArguments(
            job: TorchHandOff.jobURL(in: runFolder), settings: settings, visibleGPUs: visibleGPUs)
        log.write(Data("$ \(arguments.joined(separator: " "))\n".utf8))

        let started = Date()
        let process: ChildProcess
        do {
            process = try ChildProcess(
                executable: URL(fileURLWithPath: arguments[0]), arguments: Array(arguments.dropFirst()),
                environment: TorchLauncher.childEnvironment(), stderrLog: log)
        } catch {
            throw TorchBackendError.unavailable(reason: "\(error)")
        }
        let stopAlreadyRequested = lock.withLock {
            child = process
            isMultiProcess = TorchLauncher.isMultiProcess(settings, visibleGPUs: visibleGPUs)
            return stopRequested
        }
        if stopAlreadyRequested { interrupt() }
        defer { lock.withLock { child = nil } }

        var session = Session(
            outline: prepared.outline, startStep: startStep, started: started,
            epochs: (0..<prepared.plan.count).map { prepared.epochReached(step: $0 + 1) })
        var failure: (any Error)?
        process.readLines { line in
            guard failure == nil else { return }
            do { try session.handle(TorchProtocol.parse(line), log: log, metrics: &metrics, progress: progress) } catch {
                failure = error
                process.kill()
            }
        }
        let status = process.wait()
        RunFolder(runFolder).writeChart(metrics)
        if let failure { throw failure }
        switch (status, session.ending) {
        case (0, .finished(let finish)?):
            let summary = TrainingSummary(
                steps: finish.steps, totalSteps: prepared.plan.count, finalLoss: finish.finalLoss,
                bestValidationLoss: finish.bestValidationLoss, bestStep: finish.bestStep,
                firstValidationLoss: finish.firstValidationLoss, stoppedEarly: finish.stoppedEarly,
                adapterFolder: runFolder, adapterIsBest: finish.adapterIsBest,
                seconds: Date().timeIntervalSince(started), tokensPerSecond: session.tokensPerSecond,
                backendPeakBytes: finish.peakMemoryBytes, backendMemoryDevice: finish.memoryDevice)
            guard FileManager.default.fileExists(atPath: runFolder.appendingPathComponent(AdapterFiles.weightsName).path)
            else {
                throw TorchBackendError.unavailable(
                    reason: "the program reported success but wrote no \(AdapterFiles.weightsName) in \(runFolder.path)"
                        + " (log: \(logURL.path))")
            }
            progress(.finished(summary))
            return summary
        case (_, .interrupted(let step)?):
            // Step 0: stopped while loading; a resumed run still has the checkpoint it started from.
            throw TrainingError.interrupted(step: max(step, startStep), runFolder: runFolder.path)
        case (_, .nonFinite(let step, let what, let kept)?):
            throw TrainingError.nonFinite(step: step, what: what, lastGoodCheckpoint: kept)
        case (_, .error(let message)?):
            throw TorchBackendError.unavailable(reason: message + " (log: \(logURL.path))")
        default:
            throw TorchBackendError.crashed(
                status: status, log: logURL.path, lastLines: lastLogLines(4),
                resumable: RunFolder(runFolder).latestCheckpoint == nil ? nil : runFolder.path)
        }
    }

    /// The protocol state of one program run.
    struct Session {
        enum Ending {
            case finished(TorchFinish)
            case interrupted(Int)
            case nonFinite(step: Int, what: String, checkpoint: String?)
            case error(String)
        }

        var outline: RunOutline
        let started: Date
        var ending: Ending?
        var sessionTokens = 0
        var sessionSeconds = 0.0
        var sessionSteps = 0
        /// Fractional epochs reached after each step, from the plan.
        let epochs: [Double]

        init(outline: RunOutline, startStep: Int, started: Date, epochs: [Double]) {
            self.outline = outline
            self.outline.startStep = startStep
            self.started = started
            self.epochs = epochs
        }

        var tokensPerSecond: Double { sessionSeconds > 0 ? Double(sessionTokens) / sessionSeconds : 0 }

        mutating func handle(
            _ line: TorchProtocol.Line, log: FileHandle, metrics: inout MetricsLog, progress: (TrainingEvent) -> Void
        ) throws {
            switch line {
            case .text(let text):
                log.write(Data((text + "\n").utf8))
            case .unknown:
                break
            case .malformed(let text, let reason):
                throw TorchBackendError.unavailable(
                    reason: "the program sent a progress line this Tailor cannot read (\(reason)): \(text.prefix(200))")
            case .message(let message):
                try handle(message, metrics: &metrics, progress: progress)
            }
        }

        mutating func handle(_ message: TorchMessage, metrics: inout MetricsLog, progress: (TrainingEvent) -> Void)
            throws
        {
            switch message {
            case .note(let text):
                progress(.note(text))
            case .started(let device, let precision, let worldSize, _):
                progress(
                    .note(
                        "torch backend on \(device), \(precision)"
                            + (worldSize > 1 ? ", \(worldSize) processes" : "")))
                progress(.started(outline))
            case .step(let step, let loss, let rate, let norm, let tokens, let seconds):
                guard step >= 1, step <= outline.totalSteps else {
                    throw TorchBackendError.unavailable(
                        reason: "the program reported step \(step) of a \(outline.totalSteps)-step plan")
                }
                sessionTokens += tokens
                sessionSeconds += seconds
                sessionSteps += 1
                let elapsed = Date().timeIntervalSince(started)
                let planned = outline.totalSteps
                let report = StepReport(
                    step: step, totalSteps: planned,
                    epoch: epochs[step - 1], loss: loss, learningRate: rate, gradNorm: norm, tokens: tokens,
                    tokensPerSecond: tokensPerSecond,
                    etaSeconds: elapsed / Double(sessionSteps) * Double(planned - step))
                try metrics.record(report)
                progress(.step(report))
            case .evaluation(let step, let loss, let isBest):
                if loss.isFinite { try metrics.recordValidation(step: step, loss: loss) }
                progress(.evaluation(step: step, loss: loss, isBest: isBest))
            case .checkpoint(let step, let folder):
                progress(.checkpointSaved(step: step, folder: URL(fileURLWithPath: folder)))
            case .stoppedEarly(let step, let bestStep, let bestLoss):
                progress(.stoppedEarly(step: step, bestStep: bestStep, bestLoss: bestLoss))
            case .nonFinite(let step, let what, let checkpoint):
                progress(.nonFinite(step: step, what: what))
                ending = .nonFinite(step: step, what: what, checkpoint: checkpoint)
            case .interrupted(let step):
                ending = .interrupted(step)
            case .finished(let finish):
                ending = .finished(finish)
            case .error(let text):
                ending = .error(text)
            }
        }
    }

    private func openLog() throws -> FileHandle {
        let url = logURL
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: url.path) {
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
            return handle
        } catch {
            throw TorchBackendError.io(path: url.path, reason: "cannot open the backend log: \(error.localizedDescription)")
        }
    }

    private func lastLogLines(_ count: Int) -> [String] {
        guard let data = FileManager.default.contents(atPath: logURL.path) else { return [] }
        return String(decoding: data.suffix(8192), as: UTF8.self).split(separator: "\n")
            .map { String($0.prefix(300)) }.filter { !$0.hasPrefix("$ ") }.suffix(count).map { $0 }
    }
}

extension TorchTrainer: TrainingBackend {
    /// Trains on the GPUs `checkEnvironment()` saw; a stop request reaches the program through `requestStop()`.
    public func train(resumeFrom checkpoint: URL?, progress: (TrainingEvent) -> Void, shouldStop: () -> Bool) throws
        -> TrainingSummary
    {
        try run(resumeFrom: checkpoint, visibleGPUs: lock.withLock { visibleGPUs }, progress: progress)
    }

    public func requestStop() { interrupt() }
    public func forceStop() { kill() }
}
