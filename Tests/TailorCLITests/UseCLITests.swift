// `tailor generate`, `chat` and `eval` end to end on SmolLM2 against transformers references, plus a tiny
// `tailor train` run whose adapter eval and chat --compare use. Runtime with the debug binary: about 60 s in all.
import Formats
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct UseCLITests {
    static var model: String { get throws { try TestPaths.require(TestPaths.smolLM2).path } }
    static let smoke = TestPaths.repository.appendingPathComponent("Examples/data/smoke.jsonl")

    /// Tests/Fixtures/smollm2/generation.json (Scripts/reference/smollm2_generation.py).
    struct Generation: Decodable {
        var prompt: String
        var prompt_ids: [Int32]
        var greedy_ids: [Int32]
        var greedy_text: String
    }

    static func generation() throws -> Generation {
        let url = TestPaths.fixtures.appendingPathComponent("smollm2/generation.json")
        return try JSONDecoder().decode(Generation.self, from: Data(contentsOf: url))
    }

    static func json(_ text: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(text)")
    }

    /// A tiny `tailor train` run (2 steps, rank 2, 64 tokens) shared by the adapter tests; made once.
    static let run: Result<URL, TrainFailed> = {
        do {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "tailor-use-run-\(UUID().uuidString)")
            let result = try TailorProcess.run([
                "train", "--model", try model, "--data", smoke.path, "--max-steps", "2", "--rank", "2",
                "--max-length", "64", "--batch-size", "2", "--learning-rate", "1e-2", "--output", folder.path,
            ])
            guard result.status == 0 else {
                return .failure(TrainFailed(output: result.stderr + result.stdout))
            }
            return .success(folder)
        } catch {
            return .failure(TrainFailed(output: "\(error)"))
        }
    }()

    struct TrainFailed: Error, CustomStringConvertible {
        let output: String
        var description: String { "tailor train failed: \(output)" }
    }

    // MARK: generate

    @Test func greedyRawGenerationMatchesTransformers() throws {
        let reference = try Self.generation()
        // min-tokens as the reference's min_new_tokens: the end-of-turn token cannot cut the comparison short.
        let result = try TailorProcess.run([
            "generate", "--model", try Self.model, "--raw", "--prompt", reference.prompt, "--max-tokens", "8",
            "--min-tokens", "8", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.json(result.stdout)
        let ids = try #require(object["token_ids"] as? [Int]).map(Int32.init)
        #expect(ids == Array(reference.greedy_ids.prefix(8)))
        #expect(object["tokens"] as? Int == 8)
        #expect(object["finish_reason"] as? String == "length")
        #expect(object["prompt"] as? String == reference.prompt)
        let text = try #require(object["text"] as? String)
        #expect(reference.greedy_text.hasPrefix(text), "\(text)")
        let speed = try #require(object["tokens_per_second"] as? Double)
        #expect(speed > 0)
    }

    @Test func templatedGenerationStopsAtEndOfTurn() throws {
        // Without --raw the question is rendered with the model's ChatML template; the greedy answer ends at
        // <|im_end|> after "Paris." (the reference suppressed end tokens, so it keeps going).
        let reference = try Self.generation()
        let result = try TailorProcess.run([
            "generate", "--model", try Self.model, "--prompt", "What is the capital of France?",
            "--max-tokens", "12",
            "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.json(result.stdout)
        // SmolLM2's template adds its default system message when there is none (as jinja2 renders it).
        let system =
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        #expect(object["prompt"] as? String == system + reference.prompt)
        let ids = try #require(object["token_ids"] as? [Int]).map(Int32.init)
        #expect(ids == Array(reference.greedy_ids.prefix(7)))
        #expect(object["finish_reason"] as? String == "stop")
        #expect(object["text"] as? String == "The capital of France is Paris.")

        // Plain output: the same answer and a newline, prompt read from standard input.
        let plain = try TailorProcess.run(
            ["generate", "--model", try Self.model, "--max-tokens", "12"],
            stdin: "What is the capital of France?\n")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout == "The capital of France is Paris.\n")
    }

    // MARK: chat

    @Test func scriptedChatAnswersTwice() throws {
        let result = try TailorProcess.run(
            ["chat", "--model", try Self.model, "--temperature", "0", "--max-tokens", "16"],
            stdin: "hello\n/reset\nhi\n/exit\nnever read\n")
        #expect(result.status == 0, "\(result.stderr)")
        let answers = result.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(answers.count == 2, "\(result.stdout)")
        #expect(answers.allSatisfy { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
        #expect(!result.stdout.contains("<|im_end|>"))
        #expect(result.stderr.contains("conversation cleared"))
    }

    // MARK: eval

    @Test func evalMatchesTransformersLoss() throws {
        // Scripts/reference/use_eval_loss.py: the reference prompt/completion record scored by transformers.
        let record = TestPaths.fixtures.appendingPathComponent("use/eval_record.jsonl")
        let data = try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("use/eval_reference.json"))
        let reference = try Self.json(String(decoding: data, as: UTF8.self))
        let result = try TailorProcess.run([
            "eval", "--model", try Self.model, "--data", record.path, "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.json(result.stdout)
        let base = try #require(object["base"] as? [String: Any])
        #expect(object["tuned"] == nil)
        #expect(object["tokens"] as? Int == reference["targets"] as? Int)
        #expect(base["correct"] as? Int == reference["correct"] as? Int)
        let loss = try #require(base["loss"] as? Double)
        let expected = try #require(reference["loss"] as? Double)
        #expect(abs(loss - expected) < 2e-3, "loss \(loss), transformers \(expected)")
        let perplexity = try #require(base["perplexity"] as? Double)
        #expect(abs(perplexity - exp(loss)) < 1e-9 * perplexity)
        let accuracy = try #require(base["accuracy"] as? Double)
        #expect(
            abs(
                accuracy - Double(reference["correct"] as? Int ?? 0)
                    / Double(reference["targets"] as? Int ?? 1)) < 1e-12)
    }

    @Test func evalPrintsSaneScores() throws {
        let result = try TailorProcess.run(["eval", "--model", try Self.model, "--data", Self.smoke.path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        func value(_ name: String) -> Double? {
            lines.first { $0.hasPrefix(name + " ") }?.split(separator: " ").last
                .flatMap { Double($0.replacingOccurrences(of: "%", with: "")) }
        }
        let loss = try #require(value("loss"), "\(result.stdout)")
        let perplexity = try #require(value("perplexity"))
        let accuracy = try #require(value("accuracy"))
        #expect(loss > 0.5 && loss < 8, "a 135M instruct model on short chats")
        #expect(abs(perplexity - exp(loss)) < 0.01 * perplexity)
        #expect(accuracy > 10 && accuracy < 95)
        #expect(lines.first?.contains("20 example(s)") == true)
    }

    // MARK: adapter

    @Test func evalWithAdapterShowsBaseAndTuned() throws {
        let run = try Self.run.get()
        let result = try TailorProcess.run([
            "eval", "--adapter", run.path, "--data", Self.smoke.path, "--max-length", "64",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.dropFirst().first == ["base", "tuned"], "\(result.stdout)")
        func row(_ name: String) throws -> [Double] {
            let cells = try #require(lines.first { $0.first == name }, "\(result.stdout)")
            return cells.dropFirst().compactMap { Double($0.replacingOccurrences(of: "%", with: "")) }
        }
        let loss = try row("loss")
        let perplexity = try row("perplexity")
        try #require(loss.count == 2 && perplexity.count == 2 && (try row("accuracy")).count == 2)
        // Two steps at lr 1e-2 on this very data lower its loss; the base column is the model without the adapter.
        #expect(loss[1] < loss[0], "tuned \(loss[1]), base \(loss[0])")
        for (l, p) in zip(loss, perplexity) { #expect(abs(p - exp(l)) < 0.01 * p) }
    }

    @Test func chatCompareLabelsBothAnswers() throws {
        let run = try Self.run.get()
        let chat = try TailorProcess.run(
            ["chat", "--adapter", run.path, "--compare", "--temperature", "0", "--max-tokens", "8"],
            stdin: "What is Zorbia?\n")
        #expect(chat.status == 0, "\(chat.stderr)")
        let lines = chat.stdout.split(separator: "\n").map(String.init)
        let baseIndex = try #require(lines.firstIndex(of: "[base]"), "\(chat.stdout)")
        let tunedIndex = try #require(lines.firstIndex(of: "[tuned]"), "\(chat.stdout)")
        #expect(tunedIndex == baseIndex + 2, "one answer line under each label: \(chat.stdout)")
        #expect(lines.count == 4)
    }

    @Test func adapterForAnotherModelIsRefused() throws {
        let run = try Self.run.get()
        // The run's config with weights shaped for a model of hidden size 100: readPEFT's shape check must speak.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-use-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: run.appendingPathComponent("adapter_config.json"),
            to: folder.appendingPathComponent("adapter_config.json"))
        let original = try SafetensorsFile(url: run.appendingPathComponent("adapter_model.safetensors"))
        var writer = SafetensorsWriter()
        for tensor in original.tensors {
            let shape =
                tensor.name.hasSuffix("lora_A.weight") ? [tensor.shape[0], 100] : [100, tensor.shape[1]]
            writer.add(
                name: tensor.name, shape: shape, floats: Array(repeating: 0, count: shape.reduce(1, *)))
        }
        try writer.write(to: folder.appendingPathComponent("adapter_model.safetensors"))
        let result = try TailorProcess.run(
            [
                "generate", "--model", try Self.model, "--adapter", folder.path, "--prompt", "hi",
                "--max-tokens", "1",
            ])
        #expect(result.status != 0)
        #expect(
            result.stderr.contains("was not trained on SmolLM2-135M-Instruct.Q4_1.gguf"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    // MARK: errors

    @Test func notAnAdapterFolderIsOneLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-use-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try TailorProcess.run([
            "eval", "--model", try Self.model, "--adapter", folder.path, "--data", Self.smoke.path,
        ])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(
            result.stderr.contains("is not an adapter folder (no adapter_config.json)"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test func missingDataFileIsOneLine() throws {
        let result = try TailorProcess.run([
            "eval", "--model", try Self.model, "--data", "/nonexistent/tailor-use.jsonl",
        ])
        #expect(result.status != 0)
        #expect(
            result.stderr
                == "Error: cannot read /nonexistent/tailor-use.jsonl: no such file, or it cannot be read\n")
    }

    @Test func compareNeedsAnAdapter() throws {
        let result = try TailorProcess.run(["chat", "--model", try Self.model, "--compare"], stdin: "")
        #expect(result.status != 0)
        #expect(result.stderr.contains("--compare needs --adapter"), "\(result.stderr)")
    }

    @Test func helpShowsExamples() throws {
        for command in ["chat", "generate", "eval"] {
            let result = try TailorProcess.run([command, "--help"])
            #expect(result.status == 0)
            #expect(result.stdout.contains("Examples:\n  tailor \(command) "), "\(command)")
        }
    }
}
