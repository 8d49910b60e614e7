// TorchTrainer supervising stand-in programs (shell scripts in place of Python): what the user sees and what the
// run folder holds when the program finishes, explains an error, crashes, is killed, speaks garbage, or is stopped.
import Foundation
import Models
import Testing
import TorchBackend
import Training

@Suite(.serialized) struct TorchRunTests {
    /// A run whose "Python" is `body`, a POSIX shell script; it receives the real command line, whose last argument is
    /// the job (`-u SCRIPT --job JOB`, or accelerate's launcher flags before `SCRIPT --job JOB`).
    static func trainer(_ body: String, runFolder: URL? = nil, settings: TorchSettings = TorchSettings()) throws
        -> (TorchTrainer, URL)
    {
        let folder = Tiny.temporaryFolder("torch-run")
        let run = runFolder ?? folder.appendingPathComponent("run")
        let scripts = folder.appendingPathComponent("scripts")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        let python = folder.appendingPathComponent("fake-python")
        try ("#!/bin/sh\nfor JOB; do :; done\nRUN=$(dirname \"$(dirname \"$JOB\")\")\n" + body)
            .write(to: python, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python.path)
        let trainer = try TorchTrainer(
            prepared: try TorchHandOffTests.prepared(), model: URL(fileURLWithPath: "/models/tiny.gguf"),
            config: Tiny.config, baseModel: "tiny", settings: settings,
            launcher: TorchLauncher(python: python, scripts: scripts), runFolder: run)
        return (trainer, run)
    }

    /// Emits one protocol line.
    static func say(_ json: String) -> String { "echo '@tailor \(json)'\n" }

    /// Writes an adapter into RUN the way the program does at the end (a copy of the initial one).
    static let writeAdapter = "cp \"$RUN/torch/initial/adapter_model.safetensors\" \"$RUN/torch/initial/adapter_config.json\" \"$RUN/\"\n"

    static func stepLines(_ steps: ClosedRange<Int>) -> String {
        steps.map { say(#"{"event":"step","step":\#($0),"loss":\#(3.0 - Double($0) * 0.1),"lr":0.0001,"grad_norm":0.5,"tokens":40,"seconds":0.01}"#) }
            .joined()
    }

    @Test func aFinishedRunReportsLikeTheNativeEngineAndKeepsMetrics() throws {
        let total = try TorchHandOffTests.prepared().plan.count
        let (trainer, run) = try Self.trainer(
            Self.say(#"{"event":"note","message":"loading /models/tiny.gguf"}"#)
                + "echo 'Some weights were not initialized (library chatter)'\n"
                + "echo 'a warning on stderr' >&2\n"
                + Self.say(#"{"event":"started","device":"cpu","precision":"fp32","world_size":1,"start_step":0}"#)
                + Self.say(#"{"event":"evaluation","step":0,"loss":3.5,"is_best":true}"#)
                + Self.stepLines(1...total)
                + Self.say(#"{"event":"evaluation","step":\#(total),"loss":2.5,"is_best":true}"#)
                + Self.writeAdapter
                + Self.say(#"{"event":"finished","steps":\#(total),"final_loss":2.1,"best_validation_loss":2.5,"best_step":\#(total),"first_validation_loss":3.5,"stopped_early":false,"adapter_is_best":false}"#)
        )
        var events: [TrainingEvent] = []
        let summary = try trainer.run(resumeFrom: nil, visibleGPUs: 0) { events.append($0) }
        #expect(summary.steps == total && summary.finalLoss == 2.1 && summary.bestValidationLoss == 2.5)
        #expect(summary.tokensPerSecond == 4000)

        guard case .note(let note) = events.first else {
            Issue.record("expected the program's note first, got \(events)")
            return
        }
        #expect(note == "loading /models/tiny.gguf")
        let steps = events.compactMap { event -> StepReport? in
            if case .step(let report) = event { return report }
            return nil
        }
        #expect(steps.map(\.step) == Array(1...total))
        #expect(steps.last?.epoch == 2)
        #expect(events.contains { if case .started(let outline) = $0 { outline.totalSteps == total } else { false } })
        guard case .finished = events.last else {
            Issue.record("the last event must be finished")
            return
        }

        let metrics = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == total + 2)
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("loss_chart.svg").path))
        let log = try String(contentsOf: trainer.logURL, encoding: .utf8)
        #expect(log.contains("library chatter") && log.contains("a warning on stderr"))
        #expect(!log.contains("@tailor"))
        #expect(log.contains("--job \(run.standardizedFileURL.path)/torch/job.json"))
    }

    @Test func anExplainedErrorBecomesOneLineNamingTheLog() throws {
        let (trainer, _) = try Self.trainer(
            Self.say(#"{"event":"error","message":"CUDA out of memory: try --quantize 4bit"}"#) + "exit 2\n")
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 1) { _ in }
        } throws: { error in
            guard case .unavailable(let reason) = error as? TorchBackendError else { return false }
            return reason.hasPrefix("CUDA out of memory: try --quantize 4bit") && reason.contains("backend.log")
        }
    }

    @Test func aCrashShowsTheEndOfTheLogAndLeavesMetricsConsistent() throws {
        let (trainer, run) = try Self.trainer(
            Self.stepLines(1...2)
                + "echo 'Traceback (most recent call last):' >&2\necho 'RuntimeError: boom in the kernel' >&2\nexit 1\n")
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 0) { _ in }
        } throws: { error in
            guard case .crashed(let status, let log, let lines, let resumable) = error as? TorchBackendError else {
                return false
            }
            return status == 1 && log.hasSuffix("torch/backend.log") && lines.last == "RuntimeError: boom in the kernel"
                && resumable == nil && "\(error)".contains("exited with status 1")
        }
        let metrics = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == 2)
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("adapter_model.safetensors").path))
    }

    @Test func aKilledProgramIsReportedAsKilled() throws {
        let (trainer, _) = try Self.trainer(Self.stepLines(1...1) + "kill -9 $$\n")
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 0) { _ in }
        } throws: { "\($0)".contains("was killed by signal 9") }
    }

    @Test func aMissingInterpreterIsAClearError() throws {
        let folder = Tiny.temporaryFolder("torch-missing")
        let trainer = try TorchTrainer(
            prepared: try TorchHandOffTests.prepared(), model: URL(fileURLWithPath: "/models/tiny.gguf"),
            config: Tiny.config, baseModel: "tiny", settings: TorchSettings(),
            launcher: TorchLauncher(
                python: folder.appendingPathComponent("no-python"), scripts: folder),
            runFolder: folder.appendingPathComponent("run"))
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 0) { _ in }
        } throws: { "\($0)".contains("cannot start") && "\($0)".contains("no-python") }
        #expect { try trainer.checkEnvironment() } throws: { "\($0)".contains("cannot start") }
    }

    @Test func garbageOnTheProtocolStopsTheRun() throws {
        let (trainer, _) = try Self.trainer(
            "trap 'exit 143' TERM\n" + Self.say(#"{"event":"step","step":"one"}"#)
                + "i=0\nwhile [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\n")
        let started = Date()
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 0) { _ in }
        } throws: { "\($0)".contains("cannot read") }
        #expect(Date().timeIntervalSince(started) < 4.5, "the program must be stopped, not waited for")
    }

    @Test func successWithoutAnAdapterIsNotSuccess() throws {
        let (trainer, _) = try Self.trainer(
            Self.say(#"{"event":"finished","steps":1,"stopped_early":false,"adapter_is_best":false}"#))
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 0) { _ in }
        } throws: { "\($0)".contains("wrote no adapter_model.safetensors") }
    }

    @Test func stopRequestsReachTheProgramAndEndAsInterrupted() throws {
        // The stand-in answers SIGINT like the real program: finish, report, exit 130.
        let (trainer, _) = try Self.trainer(
            "stop() {\n" + Self.say(#"{"event":"interrupted","step":1}"#) + "exit 130\n}\ntrap stop INT\n"
                + Self.say(#"{"event":"started","device":"cpu","precision":"fp32"}"#)
                + "i=0\nwhile [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\nexit 0\n")
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 0) { event in
                if case .started = event { trainer.interrupt() }
            }
        } throws: { error in
            guard case .interrupted(let step, _) = error as? TrainingError else { return false }
            return step == 1
        }
    }

    @Test func severalProcessesAreAskedThroughTheStopFileNotASignal() throws {
        // A signal would reach accelerate's launcher, which tears the workers down; the program polls the file.
        let (trainer, run) = try Self.trainer(
            "trap 'exit 99' INT\n"
                + "if [ -f \"$RUN/torch/stop\" ]; then\n" + Self.say(#"{"event":"interrupted","step":7}"#) + "exit 130\nfi\n"
                + Self.say(#"{"event":"started","device":"cuda:0","precision":"bf16","world_size":2}"#)
                + "i=0\nwhile [ $i -lt 100 ]; do\n  if [ -f \"$RUN/torch/stop\" ]; then\n"
                + Self.say(#"{"event":"interrupted","step":1}"#) + "    exit 130\n  fi\n  sleep 0.05; i=$((i+1))\ndone\nexit 0\n",
            settings: TorchSettings(gpus: 2))
        try FileManager.default.createDirectory(
            at: TorchHandOff.folder(in: run), withIntermediateDirectories: true)
        // A stop file left from an earlier session must not end this one (the stand-in would report step 7).
        _ = FileManager.default.createFile(atPath: TorchHandOff.stopURL(in: run).path, contents: Data())
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 2) { event in
                if case .started = event { trainer.interrupt() }
            }
        } throws: { error in
            guard case .interrupted(1, _) = error as? TrainingError else { return false }
            return true
        }
        let job = try TorchHandOff.readJob(in: run)
        #expect(job.stopFile == TorchHandOff.stopURL(in: run.standardizedFileURL).path)
    }

    @Test func aSecondCtrlCEndsTheProgramAtOnce() throws {
        let (trainer, _) = try Self.trainer(
            "trap '' INT TERM\n" + Self.say(#"{"event":"started","device":"cpu","precision":"fp32"}"#)
                + "i=0\nwhile [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\nexit 0\n")
        let started = Date()
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 0) { event in
                if case .started = event { trainer.kill() }
            }
        } throws: { "\($0)".contains("was killed by signal 9") }
        #expect(Date().timeIntervalSince(started) < 4)
    }

    @Test func aNonFiniteLossKeepsTheProgramsCheckpoint() throws {
        let (trainer, _) = try Self.trainer(
            Self.say(#"{"event":"non_finite","step":4,"what":"loss","checkpoint":"/r/checkpoints/step-000003"}"#)
                + "exit 3\n")
        #expect {
            try trainer.run(resumeFrom: nil, visibleGPUs: 0) { _ in }
        } throws: { error in
            error as? TrainingError
                == .nonFinite(step: 4, what: "loss", lastGoodCheckpoint: "/r/checkpoints/step-000003")
        }
    }

    @Test func resumeChecksTheCheckpointAndHandsItOn() throws {
        let prepared = try TorchHandOffTests.prepared()
        let run = Tiny.temporaryFolder("torch-resume")
        let checkpoint = Checkpoint.folder(in: run).appendingPathComponent("step-000002")
        try FileManager.default.createDirectory(at: checkpoint, withIntermediateDirectories: true)
        var state = prepared.initialState()
        state.step = 2
        try JSONEncoder().encode(state).write(to: checkpoint.appendingPathComponent("state.json"))
        let metrics = run.appendingPathComponent("metrics.jsonl")
        try (1...4).map { #"{"loss":3,"step":\#($0)}"# + "\n" }.joined().write(
            to: metrics, atomically: true, encoding: .utf8)

        let total = prepared.plan.count
        let (trainer, _) = try Self.trainer(
            "grep -q '\"resume_from\" : \".*step-000002\"' \"$JOB\" || exit 9\n"
                + Self.say(#"{"event":"started","device":"cpu","precision":"fp32","start_step":2}"#)
                + Self.stepLines(3...total) + Self.writeAdapter
                + Self.say(#"{"event":"finished","steps":\#(total),"stopped_early":false,"adapter_is_best":false}"#),
            runFolder: run)
        var outline: RunOutline?
        _ = try trainer.run(resumeFrom: checkpoint, visibleGPUs: 0) { event in
            if case .started(let o) = event { outline = o }
        }
        #expect(outline?.startStep == 2)
        let lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == total, "steps 1–2 kept, 3–4 of the old session dropped, 3…\(total) appended")

        // A checkpoint of other data is refused before anything starts.
        state.trainFingerprint = "0"
        try JSONEncoder().encode(state).write(to: checkpoint.appendingPathComponent("state.json"))
        #expect {
            try trainer.run(resumeFrom: checkpoint, visibleGPUs: 0) { _ in }
        } throws: { "\($0)".contains("data differ") }
    }
}
