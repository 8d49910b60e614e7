// End-to-end: `tailor data check` on small files, with the real SmolLM2 tokenizer and chat template.
import Foundation
import TestSupport
import Testing

@Suite struct DataCheckCLITests {
    static func write(_ name: String, _ bytes: Data) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try bytes.write(to: url)
        return url
    }

    static let good = """
        {"messages": [{"role": "user", "content": "What is Zorbia?"}, {"role": "assistant", "content": "A teal planet."}]}
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Moons?"}, {"role": "assistant", "content": "Three."}, {"role": "user", "content": "Names?"}, {"role": "assistant", "content": "Pell, Quor and Ish."}]}
        {"messages": [{"role": "user", "content": "Capital?"}, {"role": "assistant", "content": "Velloran."}]}

        """

    @Test func goodFileShowsFormatCountsHistogramAndHighlightedPreview() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let file = try Self.write("good.jsonl", Data(Self.good.utf8))
        let result = try TailorProcess.run(["data", "check", file.path, "--model", model.path, "--preview", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        for expected in [
            "format         messages (detected: messages)", "records        3 (3 valid, 0 invalid)",
            "GGUF tokenizer.chat_template", "examples       3 to train on", "truncated      0", "token lengths before cutting to --max-length 2048:", "█",
            "[[A teal planet.<|im_end|>\n]]",
        ] {
            #expect(out.contains(expected), "missing '\(expected)' in:\n\(out)")
        }
        // The role header is context, not a target.
        #expect(out.contains("<|im_start|>assistant\n[[A teal"))
        // The histogram spans exactly the lengths the lengths line reports.
        let lines = out.split(separator: "\n").map(String.init)
        let lengths = try #require(lines.first { $0.hasPrefix("lengths ") })
        let longest = try #require(lengths.split(separator: " ").firstIndex(of: "max").map { lengths.split(separator: " ")[$0 + 1] })
        let shortest = try #require(lengths.split(separator: " ").firstIndex(of: "min").map { lengths.split(separator: " ")[$0 + 1].dropLast() })
        let start = try #require(lines.firstIndex { $0.hasPrefix("token lengths") })
        let bars = lines[(start + 1)...].prefix { $0.hasPrefix("  ") }
        #expect(bars.first?.trimmingCharacters(in: .whitespaces).hasPrefix("\(shortest)–") == true, "\(out)")
        #expect(bars.last?.contains("–\(longest) ") == true, "\(out)")

        let json = try TailorProcess.run(["data", "check", file.path, "--model", model.path, "--json", "--max-length", "40"])
        #expect(json.status == 0, "\(json.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(report["format"] as? String == "messages")
        #expect(report["valid"] as? Int == 3)
        #expect(report["truncated"] as? Int ?? 0 >= 1)  // the two-turn record is longer than 40 tokens
        #expect((report["lengths"] as? [Int])?.allSatisfy { $0 <= 40 } == true)
        let share = try #require(report["trainedShare"] as? Double)
        #expect(share > 0.05 && share < 0.6)
    }

    @Test func badLinesAreListedByLineAndExitIsNonZero() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let text = Self.good.replacingOccurrences(of: "\n\n", with: "\n") + """
            {"messages": [{"role": "user", "content": "Q"}
            {"messages": [{"role": "robot", "content": "Q"}, {"role": "assistant", "content": "A"}]}
            {"messages": [{"role": "user", "content": "only a question"}]}
            {"instruction": "mixed", "output": "formats"}
            """
        let file = try Self.write("bad.jsonl", Data(text.utf8))
        let result = try TailorProcess.run(["data", "check", file.path, "--model", model.path])
        #expect(result.status != 0)
        let out = result.stdout
        #expect(out.contains("records        7 (3 valid, 4 invalid)"), "\(out)")
        #expect(out.contains("bad.jsonl:4:47: invalid JSON"), "\(out)")
        #expect(out.contains("bad.jsonl:5: messages message 1 has unknown role 'robot'"), "\(out)")
        #expect(out.contains("bad.jsonl:6: the conversation has no assistant turn to learn from"), "\(out)")
        #expect(out.contains("bad.jsonl:7: mixed formats: this record is alpaca"), "\(out)")

        let skipping = try TailorProcess.run(["data", "check", file.path, "--model", model.path, "--skip-invalid"])
        #expect(skipping.status == 0, "\(skipping.stderr)")
        #expect(skipping.stdout.contains("(skipped with --skip-invalid)"))
    }

    @Test func emptyBinaryAndMissingFilesAreOneLineErrors() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let cases: [(URL, String)] = [
            (try Self.write("empty.jsonl", Data()), "is empty"),
            (try Self.write("blob.jsonl", Data([0x89, 0x50, 0x4E, 0x47, 0x00, 0x00, 0x1A])), "is a binary file"),
            (try Self.write("table.csv", Data("name,age\nbob,3\n".utf8)), "is not JSON Lines"),
            (URL(fileURLWithPath: "/no/such/data.jsonl"), "cannot read"),
        ]
        for (file, expected) in cases {
            let result = try TailorProcess.run(["data", "check", file.path, "--model", model.path])
            #expect(result.status != 0, "\(file.lastPathComponent)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains(expected), "\(result.stderr)")
        }
    }

    @Test func smokeExampleDatasetIsValid() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let smoke = TestPaths.repository.appendingPathComponent("Examples/data/smoke.jsonl")
        let result = try TailorProcess.run(["data", "check", smoke.path, "--model", model.path, "--json", "--preview", "0"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["records"] as? Int == 20)
        #expect(report["examples"] as? Int == 20)
        #expect(report["invalid"] as? Int == 0)
    }

    @Test func helpHasExamples() throws {
        let result = try TailorProcess.run(["data", "check", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Examples:"))
        #expect(result.stdout.contains("--skip-invalid"))
    }
}
