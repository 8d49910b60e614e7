// How the CLI speaks when something goes wrong and while it trains: a runtime failure is one `Error:` line with no usage
// text (usage is for wrong flags), and progress redraws one line on a terminal but prints whole lines into a pipe.
import Foundation
import TestSupport
import Testing

@Suite struct ErrorsAndProgressCLITests {
    static let data = TestPaths.fixtures.appendingPathComponent("training/smoke.jsonl").path

    @Test func runtimeFailuresAreOneLineWithoutUsage() throws {
        let model = try TestPaths.require(TestPaths.smolLM2).path
        let lone = TestPaths.fixtures.appendingPathComponent("safetensors/bf16.safetensors").path
        let cases: [([String], String)] = [
            (["inspect", lone], "it is one safetensors file of a Hugging Face model; pass the folder that holds it"),
            (["train", "--model", "no-such-model:7b", "--data", Self.data], "no-such-model:7b"),
            (["train", "--model", model, "--data", "/no/such/data.jsonl"], "cannot read /no/such/data.jsonl"),
            (["eval", "--model", model, "--adapter", "/no/such/run", "--data", Self.data], "--adapter /no/such/run: no such folder"),
            (["generate", "--adapter", "/tmp", "--prompt", "hi"], "--adapter /tmp: has no run config.json naming its base model"),
            (["export", "/no/such/run", "--to", "peft"], "not a run folder (no config.json)"),
            (["tokenize", "--model", model, "--file", "/no/such/text.txt"], "cannot read /no/such/text.txt"),
            (["bench", "train", "--model", "no-such-model:7b"], "no-such-model:7b"),
            (["train", "--resume", "/no/such/run"], "not a run folder (no config.json)"),
        ]
        for (arguments, expected) in cases {
            let result = try TailorProcess.run(arguments)
            let name = arguments.prefix(2).joined(separator: " ")
            #expect(result.status != 0, "\(name) succeeded")
            #expect(result.stderr.hasPrefix("Error: ") && result.stderr.contains(expected), "\(name): \(result.stderr)")
            #expect(!result.stderr.contains("Usage:"), "\(name) printed usage after a runtime error:\n\(result.stderr)")
            // A model that is not found lists the places searched, below its one line.
            if !expected.contains("no-such-model") {
                #expect(result.stderr.split(separator: "\n").count == 1, "\(name): \(result.stderr)")
            }
        }
    }

    @Test func wrongFlagsShowUsage() throws {
        for arguments in [["train", "--rank", "many"], ["data", "check", "x.jsonl", "--model", "m", "--format", "csv"]] {
            let result = try TailorProcess.run(arguments)
            #expect(result.status != 0)
            #expect(result.stderr.contains("Usage:"), "\(arguments): \(result.stderr)")
        }
    }

    /// Three tiny training steps of SmolLM2, with stderr a pipe or a pseudo-terminal (`script`).
    static func train(onTerminal: Bool) throws -> String {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-progress-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: run) }
        let arguments = [
            "train", "--model", try TestPaths.require(TestPaths.smolLM2).path, "--data", data, "--max-steps", "3",
            "--max-length", "64", "--batch-size", "1", "--rank", "2", "--val-split", "0", "--threads", "2",
            "--output", run.path,
        ]
        guard onTerminal else {
            let result = try TailorProcess.run(arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return result.stderr
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        let command = ([try TailorProcess.executable.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        process.arguments = ["-q", "-e", "-c", command, "/dev/null"]
        process.environment = ["HOME": run.path, "PATH": "/usr/bin:/bin", "TERM": "dumb"]
        let output = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        return text
    }

    @Test func progressPrintsWholeLinesIntoAPipeAndRedrawsOnATerminal() throws {
        let piped = try Self.train(onTerminal: false)
        let stepLines = piped.split(separator: "\n").filter { $0.hasPrefix("step ") && $0.contains(" · loss ") }
        #expect(stepLines.map { $0.prefix(8) } == ["step 1/3", "step 2/3", "step 3/3"], "\(piped)")
        #expect(!piped.contains("\r") && !piped.contains("\u{1B}["), "terminal codes in a pipe:\n\(piped)")

        let terminal = try Self.train(onTerminal: true)
        #expect(terminal.contains("\r\u{1B}[Kstep 2/3 · "), "no redraw on a terminal:\n\(terminal)")
    }
}
