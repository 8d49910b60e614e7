// `tailor train --backend torch` and `tailor doctor` end to end on SmolLM2, with Tests/Fixtures/torch/
// stand_in_backend.py (standard-library Python) in place of PyTorch: the real hand-off files, the real protocol,
// progress rendered like the native engine's, stop and resume, a crash, a missing package, a missing interpreter.
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct TorchCLITests {
    static let standIn = TestPaths.fixtures.appendingPathComponent("torch/stand_in_backend.py")

    static func arguments(output: URL) throws -> [String] {
        [
            "train", "--backend", "torch", "--python", standIn.path, "--model",
            try TestPaths.require(TestPaths.smolLM2).path, "--data", TrainCLITests.data.path, "--max-length", "64",
            "--batch-size", "2", "--max-steps", "6", "--save-every", "2", "--eval-every", "3", "--output",
            output.path,
        ]
    }

    static func metricsSteps(_ run: URL) throws -> [Int] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["loss"] != nil ? object?["step"] as? Int : nil
        }
    }

    @Test func aTorchRunLooksLikeANativeOneAndResumes() throws {
        let run = TrainCLITests.folder("torch")
        defer { try? FileManager.default.removeItem(at: run) }

        let stopped = try TailorProcess.run(
            try Self.arguments(output: run), environment: ["TAILOR_STAND_IN": "stop-after:4"])
        #expect(stopped.status == 130, "\(stopped.stderr)")
        #expect(stopped.stderr.contains("backend        torch 2.5.1 via \(Self.standIn.path), on CPU"))
        #expect(stopped.stderr.contains("torch backend on cpu, fp32"))
        #expect(stopped.stderr.contains("step 4/6"))
        #expect(stopped.stderr.contains("tailor train --resume \(run.path)"))
        #expect(try Self.metricsSteps(run) == [1, 2, 3, 4])

        // The hand-off the program read: the model split into folder + GGUF file, tokens with shifted targets.
        let job = try JSONSerialization.jsonObject(
            with: Data(contentsOf: run.appendingPathComponent("torch/job.json"))) as? [String: Any]
        let model = job?["model"] as? [String: Any]
        #expect(model?["gguf_file"] as? String == TestPaths.smolLM2.lastPathComponent)
        let config = try JSONSerialization.jsonObject(
            with: Data(contentsOf: run.appendingPathComponent("config.json"))) as? [String: Any]
        #expect(config?["backend"] as? String == "torch")
        let firstExample = try String(contentsOf: run.appendingPathComponent("torch/train.jsonl"), encoding: .utf8)
            .split(separator: "\n").first.map(String.init) ?? ""
        let example = try JSONSerialization.jsonObject(with: Data(firstExample.utf8)) as? [String: [Int]]
        let ids = try #require(example?["ids"]), targets = try #require(example?["targets"])
        #expect(ids.count == targets.count && ids.count <= 64)
        for t in 0..<(ids.count - 1) where targets[t] != -1 { #expect(targets[t] == ids[t + 1]) }
        #expect(targets.last == -1)

        let resumed = try TailorProcess.run(
            ["train", "--resume", run.path, "--python", Self.standIn.path], environment: ["TAILOR_STAND_IN": "ok"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("stand-in backend, resuming after step 4"))
        #expect(resumed.stderr.contains("continuing after step 4"))
        #expect(resumed.stdout.contains("trained 6 of 6 steps"))
        #expect(resumed.stdout.contains("peak RAM 1.23 GB"), "\(resumed.stdout)")
        #expect(try Self.metricsSteps(run) == [1, 2, 3, 4, 5, 6])
        for file in ["adapter_model.safetensors", "adapter_config.json", "loss_chart.svg", "torch/backend.log"] {
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "\(file)")
        }
        // The adapter the program wrote is one Tailor itself loads.
        let used = try TailorProcess.run(
            [
                "generate", "--model", try TestPaths.require(TestPaths.smolLM2).path, "--adapter", run.path,
                "--max-tokens", "2", "--prompt", "Hi",
            ])
        #expect(used.status == 0, "\(used.stderr)")
    }

    @Test func aCrashIsOneLineWithTheLogAndTheWayBack() throws {
        let run = TrainCLITests.folder("torch-crash")
        defer { try? FileManager.default.removeItem(at: run) }
        let crashed = try TailorProcess.run(
            try Self.arguments(output: run), environment: ["TAILOR_STAND_IN": "crash-after:3"])
        #expect(crashed.status != 0)
        let last = crashed.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains("exited with status 1 without finishing"), "\(crashed.stderr)")
        #expect(last.contains("RuntimeError: stand-in crash after step 3"))
        #expect(last.contains("\(run.path)/torch/backend.log"))
        #expect(last.contains("tailor train --resume \(run.path)"))  // step 2's checkpoint survives
        #expect(!crashed.stderr.contains("Stack dump") && !crashed.stderr.contains("Fatal error"))
        #expect(try Self.metricsSteps(run) == [1, 2, 3])

        // The folder it left is consistent: resuming continues after the step-2 checkpoint and drops step 3's record.
        let resumed = try TailorProcess.run(
            ["train", "--resume", run.path, "--python", Self.standIn.path], environment: ["TAILOR_STAND_IN": "ok"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("continuing after step 2"))
        #expect(try Self.metricsSteps(run) == [1, 2, 3, 4, 5, 6])
    }

    @Test func missingPiecesAreNamedWithTheFix() throws {
        let run = TrainCLITests.folder("torch-missing")
        defer { try? FileManager.default.removeItem(at: run) }
        let noPeft = try TailorProcess.run(try Self.arguments(output: run), environment: ["TAILOR_STAND_IN": "no-peft"])
        #expect(noPeft.status != 0)
        #expect(noPeft.stderr.contains("missing Python packages: peft"))
        #expect(noPeft.stderr.contains("\(Self.standIn.path) -m pip install \"peft>=0.12\""))
        #expect(!FileManager.default.fileExists(atPath: run.path), "nothing is written before the check passes")

        var noPython = try Self.arguments(output: run)
        noPython[noPython.firstIndex(of: Self.standIn.path)!] = "/nonexistent/python3"
        let missing = try TailorProcess.run(noPython)
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/python3 is not an executable Python"))

        let nativeWithQuantize = try TailorProcess.run(
            ["train", "--model", try TestPaths.require(TestPaths.smolLM2).path, "--data", TrainCLITests.data.path,
             "--quantize", "4bit"])
        #expect(nativeWithQuantize.status != 0 && nativeWithQuantize.stderr.contains("--quantize belongs to --backend torch"))
        let quantizeOnCPU = try TailorProcess.run(try Self.arguments(output: run) + ["--quantize", "4bit"])
        #expect(quantizeOnCPU.status != 0)
        #expect(quantizeOnCPU.stderr.contains("bitsandbytes") && quantizeOnCPU.stderr.contains("needs a CUDA GPU"))
        let badGPUs = try TailorProcess.run(try Self.arguments(output: run) + ["--gpus", "two"])
        #expect(badGPUs.status != 0 && badGPUs.stderr.contains("invalid --gpus two"))
    }

    @Test func aYAMLConfigChoosesTheBackend() throws {
        let run = TrainCLITests.folder("torch-yaml")
        defer { try? FileManager.default.removeItem(at: run) }
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let yaml = run.appendingPathComponent("run.yaml")
        try """
            backend: torch
            python: \(Self.standIn.path)
            gpus: 1
            precision: fp32
            model: \(try TestPaths.require(TestPaths.smolLM2).path)
            data: \(TrainCLITests.data.path)
            max_steps: 2
            max-length: 64
            output: \(run.appendingPathComponent("out").path)
            """.write(to: yaml, atomically: true, encoding: .utf8)
        let result = try TailorProcess.run(["train", "--config", yaml.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("trained 2 of 2 steps"))
        let config = try JSONSerialization.jsonObject(
            with: Data(contentsOf: run.appendingPathComponent("out/config.json"))) as? [String: Any]
        let torch = config?["torch"] as? [String: Any]
        #expect(config?["backend"] as? String == "torch")
        #expect(torch?["precision"] as? String == "fp32" && torch?["gpus"] as? Int == 1)
    }

    @Test func doctorReportsWhatWorks() throws {
        let text = try TailorProcess.run(["doctor", "--python", Self.standIn.path])
        #expect(text.status == 0)
        #expect(text.stdout.contains("native engine  "))
        #expect(text.stdout.contains("  peft         0.13.2"))
        #expect(text.stdout.contains("  bitsandbytes not installed"))
        let json = try TailorProcess.run(["doctor", "--python", Self.standIn.path, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let checks = try #require(object["checks"] as? [[String: Any]])
        let ok = Dictionary(uniqueKeysWithValues: checks.map { ($0["name"] as? String ?? "", $0["ok"] as? Bool) })
        #expect(ok.first { $0.key.hasPrefix("native engine (default, CPU, ") }?.value == true)
        // The kernel path and what --precision auto picks here, in words and in the JSON.
        #expect(text.stdout.contains("  products     "))
        #expect((object["matmul"] as? String)?.isEmpty == false)
        #expect(["fp32", "bf16"].contains((object["precision"] as? String)?.prefix(4).trimmingCharacters(in: .whitespaces)))
        #expect(ok["--backend torch on the CPU (HF folders)"] == true)
        #expect(ok["--quantize 4bit (QLoRA)"] == false)
        let noPeft = try TailorProcess.run(
            ["doctor", "--python", Self.standIn.path], environment: ["TAILOR_STAND_IN": "no-peft"])
        #expect(noPeft.stdout.contains("-m pip install \"peft>=0.12\""))
    }
}
