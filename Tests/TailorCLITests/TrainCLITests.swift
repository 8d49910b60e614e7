// `tailor train` end to end on SmolLM2: a run that lowers the validation loss, a run SIGKILLed after its first
// checkpoint and resumed (same adapter bytes), SIGTERM saving a checkpoint, and one-line errors; a Gemma 3 run
// and its exports.
// Runtime with the debug tailor binary on 2 cores: about 60–90 s for the whole suite (steps are tiny on purpose).
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct TrainCLITests {
    static let data = TestPaths.fixtures.appendingPathComponent("training/smoke.jsonl")

    /// The run's flags: 12 steps of 2 × ≤64 tokens, rank 4, two threads (so both runs use the same kernels' order).
    static func arguments(output: URL) throws -> [String] {
        [
            "train", "--model", try TestPaths.require(TestPaths.smolLM2).path, "--data", data.path,
            "--max-length", "64", "--batch-size", "2", "--rank", "4", "--max-steps", "12", "--learning-rate",
            "1e-3",
            "--save-every", "4", "--eval-every", "6", "--threads", "2", "--output", output.path,
        ]
    }

    static func folder(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-train-\(name)-\(UUID().uuidString)")
    }

    /// Starts tailor without waiting, output to a file (a pipe nobody reads could block it), in the same minimal
    /// environment as `TailorProcess.run`: OpenBLAS picks its kernels from `OPENBLAS_CORETYPE`, and runs meant to be
    /// bit-identical must use the same kernels.
    static func start(_ arguments: [String], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = try TailorProcess.executable
        process.arguments = arguments
        let home = log.appendingPathExtension("home")  // removed with the log by the caller
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        process.environment = [
            "HOME": home.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Polls until `condition` holds or `seconds` pass.
    static func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    static func validationLosses(_ run: URL) throws -> [Int: Double] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        var losses: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            if let step = object?["step"] as? Int, let loss = object?["val_loss"] as? Double {
                losses[step] = loss
            }
        }
        return losses
    }

    @Test func killedAndResumedRunWritesTheSameAdapterAsAnUninterruptedOne() throws {
        let straight = Self.folder("straight"), broken = Self.folder("broken")
        defer {
            try? FileManager.default.removeItem(at: straight)
            try? FileManager.default.removeItem(at: broken)
        }
        // The uninterrupted run, with a YAML file the flags override (rank 8 and 30 steps in the file, 4 and 12 on
        // the command line).
        let yaml = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-train-\(UUID().uuidString).yaml")
        try "rank: 8\nmax_steps: 30\ntargets: [q, k, v, o, gate, up, down]\nschedule: cosine\n"
            .write(to: yaml, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: yaml) }
        let full = try TailorProcess.run(try Self.arguments(output: straight) + ["--config", yaml.path])
        #expect(full.status == 0, "tailor train failed: \(full.stderr)")
        #expect(full.stderr.contains("rank / alpha   4 / 32.0"))
        #expect(full.stdout.contains("adapter (PEFT): \(straight.path)/adapter_model.safetensors"))
        let config = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: straight.appendingPathComponent("adapter_config.json")))
                as? [String: Any])
        #expect(config["r"] as? Int == 4 && config["peft_type"] as? String == "LORA")
        #expect(
            FileManager.default.fileExists(atPath: straight.appendingPathComponent("loss_chart.svg").path))

        // Validation loss: from the base model's (step 0) to the end of 12 steps it falls by at least 40%.
        let losses = try Self.validationLosses(straight)
        let baseline = try #require(losses[0]), last = try #require(losses[12])
        #expect(last < 0.6 * baseline, "validation loss \(baseline) → \(last)")

        // The same run, SIGKILLed as soon as its first checkpoint (step 4) is in place, then resumed.
        let log = broken.appendingPathExtension("log")
        defer {
            try? FileManager.default.removeItem(at: log)
            try? FileManager.default.removeItem(at: log.appendingPathExtension("home"))
        }
        let process = try Self.start(try Self.arguments(output: broken), log: log)
        let checkpoint = broken.appendingPathComponent("checkpoints/step-000004")
        let appeared = Self.wait(seconds: 90) { FileManager.default.fileExists(atPath: checkpoint.path) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(appeared, "no checkpoint appeared: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(
            !FileManager.default.fileExists(
                atPath: broken.appendingPathComponent("adapter_model.safetensors").path))

        let resumed = try TailorProcess.run(["train", "--resume", broken.path, "--threads", "2"])
        #expect(resumed.status == 0, "resume failed: \(resumed.stderr)")
        #expect(resumed.stderr.contains("continuing after step 4"))
        for name in ["adapter_model.safetensors", "adapter_config.json"] {
            let a = try Data(contentsOf: straight.appendingPathComponent(name))
            let b = try Data(contentsOf: broken.appendingPathComponent(name))
            // Compared as one Bool: a failing `a == b` on megabytes would make the test library diff them for minutes.
            let same = a == b
            #expect(same, "\(name) of the resumed run differs from the uninterrupted run's")
        }
    }

    /// The real Gemma 3 270M GGUF (Q4_K_M; sandwich norms, GeGLU, q/k norm, sliding-window layers): a short run
    /// lowers the validation loss, and the adapter exports to every target.
    @Test func gemma3RunLowersValidationLossAndExportsEverywhere() throws {
        let run = Self.folder("gemma3")
        defer { try? FileManager.default.removeItem(at: run) }
        let train = try TailorProcess.run([
            "train", "--model", try TestPaths.require(TestPaths.gemma3).path, "--data", Self.data.path,
            "--max-length", "64", "--batch-size", "2", "--rank", "4", "--max-steps", "6", "--learning-rate", "2e-3",
            "--eval-every", "6", "--threads", "2", "--output", run.path,
        ])
        #expect(train.status == 0, "tailor train failed: \(train.stderr)")
        let losses = try Self.validationLosses(run)
        let baseline = try #require(losses[0]), last = try #require(losses[6])
        #expect(last < 0.8 * baseline, "validation loss \(baseline) → \(last)")
        for (target, output) in [
            ("peft", "peft"), ("gguf-lora", "adapter.gguf"), ("merged", "merged"), ("gguf", "merged.gguf"),
            ("ollama", "ollama"),
        ] {
            let url = run.appendingPathComponent("export-\(output)")
            var arguments = ["export", run.path, "--to", target, "--output", url.path]
            if target == "gguf" { arguments += ["--dtype", "q8_0"] }
            let export = try TailorProcess.run(arguments)
            #expect(export.status == 0, "export --to \(target) failed: \(export.stderr)")
            #expect(FileManager.default.fileExists(atPath: url.path), "export --to \(target) wrote nothing")
            if target == "ollama" {
                // Ollama's engine runs gemma3 itself and applies no adapters: the route is the merged GGUF.
                #expect(export.stdout.contains("route: merged GGUF"), "\(export.stdout)")
            }
        }
        let config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("export-merged/config.json")))
                as? [String: Any])
        #expect(config["model_type"] as? String == "gemma3_text" && config["query_pre_attn_scalar"] as? Double == 256)
        // From a GGUF base the merged folder still gets a tokenizer (written from the GGUF's vocabulary).
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("export-merged/\(name)").path))
        }
    }

    @Test func sigtermFinishesTheStepSavesAndSaysHowToResume() throws {
        let run = Self.folder("term")
        defer { try? FileManager.default.removeItem(at: run) }
        let log = run.appendingPathExtension("log")
        defer {
            try? FileManager.default.removeItem(at: log)
            try? FileManager.default.removeItem(at: log.appendingPathExtension("home"))
        }
        var arguments = try Self.arguments(output: run)
        arguments[try #require(arguments.firstIndex(of: "--save-every")) + 1] = "100"
        let process = try Self.start(arguments, log: log)
        let metrics = run.appendingPathComponent("metrics.jsonl")
        let stepped = Self.wait(seconds: 90) {
            ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").contains("\"loss\"")
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(stepped)
        #expect(process.terminationStatus == 130, "\(output)")
        #expect(output.contains("tailor train --resume \(run.path)"))
        let saved = try FileManager.default.contentsOfDirectory(
            atPath: run.appendingPathComponent("checkpoints").path)
        #expect(saved.count == 1 && saved[0].hasPrefix("step-"))
    }

    @Test func mistakesAreOneClearLine() throws {
        let noModel = try TailorProcess.run(["train", "--data", Self.data.path])
        #expect(noModel.status != 0)
        #expect(noModel.stderr.contains("no --model given"))
        let badResume = try TailorProcess.run(["train", "--resume", "/nonexistent-run", "--rank", "8"])
        #expect(badResume.status != 0 && badResume.stderr.contains("/nonexistent-run: not a run folder"))
        let badTarget = try TailorProcess.run(
            [
                "train", "--model", try TestPaths.require(TestPaths.smolLM2).path, "--data", Self.data.path,
                "--targets", "q,x",
            ])
        #expect(badTarget.status != 0 && badTarget.stderr.contains("invalid --targets x"))
    }
}
