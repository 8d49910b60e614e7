// End-to-end: `tailor models` and `tailor inspect` on the real SmolLM2 GGUF that `make test` fetches.
import Foundation
import TestSupport
import Testing

@Suite struct ModelFilesCLITests {
    @Test func helpListsCommandsWithExamples() throws {
        let result = try TailorProcess.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("models"))
        #expect(result.stdout.contains("inspect"))
        for command in ["models", "inspect"] {
            let help = try TailorProcess.run([command, "--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("Examples:"), "\(command) --help has no examples")
        }
    }

    @Test func modelsListsSmolLM2AsTrainable() throws {
        _ = try TestPaths.require(TestPaths.smolLM2)
        let result = try TailorProcess.run(["models", "--dir", TestPaths.assets.path])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("SmolLM2-135M-Instruct.Q4_1") })
        #expect(line.contains("llama"))
        #expect(line.contains("yes"))
        #expect(line.contains("Q4_1"))
        // Vocabulary-only GGUFs in the same folder are listed but not trainable.
        let vocab = try #require(result.stdout.split(separator: "\n").first { $0.contains("ggml-vocab-llama-bpe") })
        #expect(vocab.contains("no"))
    }

    @Test func modelsJSONIsMachineReadable() throws {
        _ = try TestPaths.require(TestPaths.smolLM2)
        let result = try TailorProcess.run(["models", "--dir", TestPaths.smolLM2.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(rows.first?["architecture"] as? String == "llama")
        #expect(rows.first?["trainable"] as? Bool == true)
        #expect(rows.first?["parameters"] as? Int ?? 0 > 100_000_000)
    }

    @Test func inspectPrintsTheResolvedConfiguration() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let result = try TailorProcess.run(["inspect", model.path])
        #expect(result.status == 0, "\(result.stderr)")
        let text = result.stdout
        for expected in [
            "architecture   llama", "layers         30", "hidden size    576",
            "heads          9 (KV heads 3, head dim 64)", "intermediate   1536", "vocabulary     49152",
            "rope theta     100000.0", "tied embedding yes", "chat template  yes", "trainable      yes",
        ] {
            #expect(text.contains(expected), "missing '\(expected)' in:\n\(text)")
        }
        #expect(text.contains("Q4_1"))
        #expect(text.contains("Q8_0"))
    }

    @Test func unknownModelIsOneClearLineAndNonZeroExit() throws {
        let result = try TailorProcess.run(["inspect", "no-such-model:7b"])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count >= 1)
        #expect(result.stderr.contains("no-such-model:7b"))
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test func corruptGGUFIsAnErrorNamingTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("broken.gguf")
        try Data("GGUF\u{3}\0\0\0garbage".utf8).write(to: file)
        let result = try TailorProcess.run(["inspect", file.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("broken.gguf"))
        #expect(!result.stderr.contains("Fatal error"))
    }
}
