// Every command that reads a dataset (`data check`, `train`, `eval`) reads Tests/Fixtures/datasets/bad-lines.jsonl
// through the one dataset pipeline: the same invalid records with the same words, the same record left out while
// rendering, and the same counts, strict and with --skip-invalid.
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct DataCommandsAgreeCLITests {
    static let file = TestPaths.fixtures.appendingPathComponent("datasets/bad-lines.jsonl").path

    /// What the fixture holds: four invalid records, and one whose reply is cut away by --max-length 48.
    static let invalid = [
        "\(file):3:47: invalid JSON",
        "\(file):4: messages message 1 has unknown role 'robot'",
        "\(file):5: the conversation has no assistant turn to learn from",
        "\(file):6: mixed formats: this record is alpaca",
    ]
    static let leftOut = "\(file):7: no trained token left after truncation to --max-length"

    /// Each data-reading command on the fixture, with the same data flags.
    static func commands(_ extra: [String]) throws -> [(String, [String])] {
        let model = try TestPaths.require(TestPaths.smolLM2).path
        let data = ["--max-length", "48"] + extra
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-agree-\(UUID().uuidString)")
        return [
            ("data check", ["data", "check", file, "--model", model, "--preview", "0"] + data),
            (
                "train",
                [
                    "train", "--model", model, "--data", file, "--max-steps", "1", "--rank", "2", "--batch-size", "2",
                    "--val-split", "0", "--threads", "2", "--output", run.path,
                ] + data
            ),
            ("eval", ["eval", "--model", model, "--data", file] + data),
        ]
    }

    @Test func strictlyEveryCommandStopsOnTheSameInvalidRecords() throws {
        for (name, arguments) in try Self.commands([]) {
            let result = try TailorProcess.run(arguments)
            let output = result.stdout + result.stderr
            #expect(result.status == 1, "\(name) exited \(result.status)")
            #expect(output.contains("\(Self.file): 4 of 9 records are invalid; fix them, or pass --skip-invalid"), "\(name): \(output)")
            for issue in Self.invalid {
                #expect(output.contains("  " + issue), "\(name) does not list '\(issue)':\n\(output)")
            }
            #expect(!output.contains("Usage:"), "\(name) printed usage after a data error:\n\(output)")
        }
    }

    @Test func skippingInvalidRecordsEveryCommandCountsTheSame() throws {
        let summary =
            "\(Self.file): 9 record(s), 4 invalid (skipped), 1 left out while rendering; 4 example(s), 0 cut to "
            + "--max-length 48"
        for (name, arguments) in try Self.commands(["--skip-invalid"]) {
            let result = try TailorProcess.run(arguments)
            let output = result.stdout + result.stderr
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect(output.contains(summary), "\(name) does not say '\(summary)':\n\(output)")
            #expect(output.contains(Self.leftOut), "\(name) does not name the record left out:\n\(output)")
            for issue in Self.invalid { #expect(output.contains(issue), "\(name) does not list '\(issue)':\n\(output)") }
        }
    }
}
