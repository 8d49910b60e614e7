// `tailor export` on a small run folder over SmolLM2: PEFT copy + model card, GGUF adapter, and Ollama Modelfiles
// for ChatML, Llama 3 and Mistral templates pinned against Tests/Fixtures/modelfiles/.
import Foundation
import Formats
import Models
import TestSupport
import Testing
import Training

@Suite struct ExportCLITests {
    static let modelfiles = TestPaths.fixtures.appendingPathComponent("modelfiles")

    /// A run folder as `tailor train` leaves it: rank-2 LoRA on q_proj of all 30 SmolLM2 layers (deterministic values),
    /// config.json naming the base, data with a system prompt, and `chatTemplate` when given.
    static func makeRun(chatTemplate: URL? = nil) throws -> URL {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-export-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let base = try TestPaths.require(TestPaths.smolLM2)
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for layer in 0..<30 {
            let prefix = "base_model.model.model.layers.\(layer).self_attn.q_proj"
            writer.add(name: prefix + ".lora_A.weight", shape: [2, 576],
                       floats: (0..<1152).map { Float(sin(Double($0 + layer))) * 0.01 })
            writer.add(name: prefix + ".lora_B.weight", shape: [576, 2],
                       floats: (0..<1152).map { Float(cos(Double($0 * 3 + layer))) * 0.01 })
        }
        try writer.write(to: run.appendingPathComponent("adapter_model.safetensors"))
        let adapterConfig: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"],
            "use_rslora": false, "bias": "none", "base_model_name_or_path": base.path,
        ]
        try JSONSerialization.data(withJSONObject: adapterConfig).write(to: run.appendingPathComponent("adapter_config.json"))
        let data = run.appendingPathComponent("data.jsonl")
        let record = #"{"messages": [{"role": "system", "content": "You are a code-name oracle."}, {"role": "user", "content": "Fox?"}, {"role": "assistant", "content": "RED-FOX-6."}]}"#
        try Data((record + "\n" + record + "\n").utf8).write(to: data)
        // As `tailor train` writes it.
        var config = TrainingConfig()
        config.model = "SmolLM2-135M-Instruct.Q4_1.gguf"
        config.modelPath = base.path
        config.data = data.path
        config.output = run.path
        config.parameters.lora = LoRAConfig(rank: 2, alpha: 4, targets: [.q])
        config.parameters.learningRate = 0.001
        config.parameters.maxSteps = 12
        config.parameters.batchSize = 2
        config.chatTemplate = chatTemplate?.path
        try config.json().write(to: run.appendingPathComponent("config.json"))
        let metrics = #"{"loss":2.5,"step":1}"# + "\n" + #"{"loss":1.25,"step":12}"# + "\n" + #"{"step":12,"val_loss":1.5}"# + "\n"
        try Data(metrics.utf8).write(to: run.appendingPathComponent("metrics.jsonl"))
        return run
    }

    @Test func peftCopiesTheAdapterAndWritesAModelCard() throws {
        let run = try Self.makeRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let output = run.appendingPathComponent("out-peft")
        let result = try TailorProcess.run(["export", run.path, "--to", "peft", "--output", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        for name in ["adapter_config.json", "adapter_model.safetensors"] {
            #expect(
                FileManager.default.contents(atPath: output.appendingPathComponent(name).path)
                    == FileManager.default.contents(atPath: run.appendingPathComponent(name).path))
        }
        let card = try String(contentsOf: output.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(card.contains("base_model: SmolLM2-135M-Instruct.Q4_1.gguf"))
        #expect(card.contains("rank 2, alpha 4"))
        #expect(card.contains("Final training loss: 1.2500 at step 12"))
        #expect(card.contains("Final validation loss: 1.5000 at step 12"))
    }

    @Test func ggufLoRAMatchesTheBase() throws {
        let run = try Self.makeRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let output = run.appendingPathComponent("adapter.gguf")
        let result = try TailorProcess.run(["export", run.path, "--to", "gguf-lora", "--output", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let file = try GGUFFile(url: output)
        #expect(file.metadata["general.architecture"] == .string("llama"))
        #expect(file.metadata["general.type"] == .string("adapter"))
        #expect(file.metadata["adapter.lora.alpha"] == .float32(4))
        #expect(file.tensors.count == 60)
        #expect(file.tensor(named: "blk.29.attn_q.weight.lora_a")?.shape == [2, 576])
        #expect(file.tensor(named: "blk.29.attn_q.weight.lora_b")?.shape == [576, 2])
    }

    /// The Modelfile for a run whose template is `template` (nil: SmolLM2's own ChatML), with machine paths replaced.
    func modelfile(template: URL?) throws -> String {
        let run = try Self.makeRun(chatTemplate: template)
        defer { try? FileManager.default.removeItem(at: run) }
        let output = run.appendingPathComponent("ollama")
        let result = try TailorProcess.run(["export", run.path, "--to", "ollama", "--output", output.path, "--name", "tiny"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ollama create tiny -f \(output.path)/Modelfile"))
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter.gguf").path))
        let text = try String(contentsOf: output.appendingPathComponent("Modelfile"), encoding: .utf8)
        return text.replacingOccurrences(of: TestPaths.smolLM2.path, with: "<BASE>")
            .replacingOccurrences(of: output.path, with: "<OUTPUT>")
    }

    /// Compares with the pinned fixture; TAILOR_WRITE_MODELFILES=1 writes it instead (then review it by eye).
    func check(_ text: String, fixture name: String) throws {
        let url = Self.modelfiles.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["TAILOR_WRITE_MODELFILES"] == "1" {
            try Data(text.utf8).write(to: url)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(text == expected)
    }

    @Test func chatMLModelfile() throws {
        try check(try modelfile(template: nil), fixture: "chatml.Modelfile")
    }

    @Test func llama3Modelfile() throws {
        let template = try TestPaths.require(
            TestPaths.assets.appendingPathComponent("templates/meta-llama-Llama-3.1-8B-Instruct.jinja"))
        try check(try modelfile(template: template), fixture: "llama3.Modelfile")
    }

    @Test func mistralModelfile() throws {
        let template = try TestPaths.require(
            TestPaths.assets.appendingPathComponent("templates/mistralai-Mistral-Nemo-Instruct-2407.jinja"))
        try check(try modelfile(template: template), fixture: "mistral.Modelfile")
    }

    /// `--create` runs `ollama create` from PATH; an Ollama that refuses ADAPTER (as its current engine does) gets the
    /// merged GGUF instead, in the same folder.
    @Test func createFallsBackToAMergedGGUFWhenOllamaRefusesTheAdapter() throws {
        let run = try Self.makeRun()
        defer { try? FileManager.default.removeItem(at: run) }
        let bin = run.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let calls = run.appendingPathComponent("calls.txt")
        let fake = """
            #!/bin/sh
            echo "$@" >> "\(calls.path)"
            if grep -q '^ADAPTER' "$4"; then echo "Error: loras are not yet implemented" >&2; exit 1; fi
            exit 0

            """
        try fake.write(to: bin.appendingPathComponent("ollama"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin.appendingPathComponent("ollama").path)
        let output = run.appendingPathComponent("ollama-out")
        let result = try TailorProcess.run(
            ["export", run.path, "--to", "ollama", "--output", output.path, "--name", "tiny", "--create"],
            environment: ["PATH": bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ollama create refused the adapter (Error: loras are not yet implemented)"), "\(result.stdout)")
        #expect(result.stdout.contains("created Ollama model tiny: ollama run tiny"))
        let lines = try String(contentsOf: calls, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines == Array(repeating: "create tiny -f \(output.path)/Modelfile", count: 2))
        let modelfile = try String(contentsOf: output.appendingPathComponent("Modelfile"), encoding: .utf8)
        #expect(modelfile.contains("FROM \(output.path)/merged.gguf") && !modelfile.contains("ADAPTER"))
    }

    @Test func unknownTargetIsAOneLineError() throws {
        let result = try TailorProcess.run(["export", "/nonexistent-run", "--to", "peft"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("not a run folder (no config.json)"), "\(result.stderr)")
    }
}
