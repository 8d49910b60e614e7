// End-to-end: `tailor models` and `tailor inspect` on the real SmolLM2 GGUF that `make test` fetches.
import Formats
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

    /// `tailor train` without --model on a terminal (a pseudo-terminal from `script`): the picker lists models that
    /// hold weights with their architecture, size and type, numbers only the trainable ones, and says why the others
    /// cannot be trained; a vocabulary-only GGUF is not offered.
    @Test func pickerOffersOnlyModelsThatHoldWeights() throws {
        let smol = try TestPaths.require(TestPaths.smolLM2)
        let vocab = try TestPaths.require(TestPaths.assets.appendingPathComponent("vocab/ggml-vocab-llama-bpe.gguf"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-picker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(smol.lastPathComponent), withDestinationURL: smol)
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(vocab.lastPathComponent), withDestinationURL: vocab)
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("falcon"))
        try writer.addTensor(name: "token_embd.weight", shape: [8, 4], floats: Array(repeating: 0.5, count: 32), as: .f32)
        try writer.write(to: folder.appendingPathComponent("falcon-tiny.gguf"))

        let data = TestPaths.fixtures.appendingPathComponent("training/smoke.jsonl").path
        let command = [try TailorProcess.executable.path, "train", "--dir", folder.path, "--data", data, "--print-config"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-q", "-e", "-c", command.map { "'\($0)'" }.joined(separator: " "), "/dev/null"]
        process.environment = ["HOME": folder.path, "PATH": "/usr/bin:/bin", "TERM": "dumb"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data("1\n".utf8))
        // A terminal ends lines with CR LF.
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .replacingOccurrences(of: "\r\n", with: "\n")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(text.contains("Which model do you want to fine-tune?"), "\(text)")
        let offered = try #require(lines.first { $0.contains("1.") && $0.contains("SmolLM2-135M-Instruct.Q4_1") }, "\(text)")
        for cell in ["llama", "134.5M", "Q4_1", "MB", folder.path] { #expect(offered.contains(cell), "'\(cell)' in \(offered)") }
        let refused = try #require(lines.first { $0.contains("falcon-tiny") }, "\(text)")
        #expect(refused.trimmingCharacters(in: .whitespaces).hasPrefix("-") && refused.contains("cannot be trained: "), "\(refused)")
        #expect(!text.contains("ggml-vocab-llama-bpe"), "a vocabulary-only GGUF was offered:\n\(text)")
        #expect(text.contains("\"modelPath\" : \"\(folder.path)/\(smol.lastPathComponent)\""), "\(text)")
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
