// End-to-end: `tailor tokenize` and `tailor template` on the real SmolLM2 GGUF, against HF tokenizers and transformers.
import Foundation
import TestSupport
import Testing

@Suite struct TextCommandsCLITests {
    // MARK: - Fixtures

    /// Tests/Fixtures/tokenizers/smollm2_cases.json (HF `tokenizers`, Scripts/reference/tokenizer_fixtures.py).
    struct TokenizerCases: Decodable {
        struct Case: Decodable {
            var text: String
            var ids: [Int]
            var ids_with_special: [Int]
        }
        var cases: [Case]
    }

    /// Tests/Fixtures/templates/smollm2_cli.json (transformers + tokenizers, Scripts/reference/text_commands_fixtures.py).
    struct SmolLM2Templates: Decodable {
        struct Span: Decodable, Equatable {
            var role: String
            var message: Int?
            var start: Int
            var end: Int
        }
        struct Case: Decodable {
            var name: String
            /// The messages as JSON text, so the key order the template sees is the fixture's.
            var messages_json: String
            var add_generation_prompt: Bool
            var text: String
            var spans: [Span]
            var ids: [Int]
        }
        struct FileCase: Decodable {
            var name: String
            var template: String
            var messages_json: String
            var tools_json: String?
            var add_generation_prompt: Bool
            var text: String
        }
        struct Split: Decodable {
            var text: String
            var ids: [Int]
        }
        var cases: [Case]
        var template_file_cases: [FileCase]
        var byte_order_mark: Split
        var split_special: Split
    }

    static func load<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent(path)))
    }

    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    static func ids(_ output: String) -> [Int] {
        output.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
    }

    // MARK: - Help

    @Test func helpOfBothCommandsHasExamples() throws {
        for command in ["tokenize", "template"] {
            let help = try TailorProcess.run([command, "--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("Examples:"), "\(command) --help has no examples")
            #expect(help.stdout.contains("tailor \(command) --"), "\(command) --help shows no invocation")
        }
        let root = try TailorProcess.run(["--help"])
        #expect(root.stdout.contains("tokenize"))
        #expect(root.stdout.contains("template"))
    }

    // MARK: - tokenize

    @Test func idsEqualHuggingFaceTokenizers() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let fixture = try Self.load(TokenizerCases.self, "tokenizers/smollm2_cases.json")
        let chosen = [
            "Hello, world! How are you?", "I'm fine, you're sure they've it'll we'd", "Привет, мир!",
            "emoji 😀😃😄 done", "👨\u{200D}👩\u{200D}👧\u{200D}👦 family", "   leading spaces", "1,000,000",
            "text<|im_start|>inside", "<|im_start|> spaced <|im_end|>", "fn main() { println!(\"hi\"); }",
        ]
        for text in chosen {
            let expected = try #require(fixture.cases.first { $0.text == text }, "fixture lacks \(text)")
            let result = try TailorProcess.run(["tokenize", "--model", model.path, "--ids", text])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(Self.ids(result.stdout) == expected.ids, "ids of \(text.debugDescription)")
            // The default adds nothing for SmolLM2 (add_bos_token false), as HF does.
            #expect(expected.ids_with_special == expected.ids)
        }
    }

    @Test func textFromStandardInputAndFileIsUsedExactly() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let fixture = try Self.load(TokenizerCases.self, "tokenizers/smollm2_cases.json")
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Trailing newlines, a NUL byte and CRLF cannot all travel as an argument.
        for text in ["line1\nline2\n\nline4\n", "null\u{0}byte", "windows\r\nlines\r\n", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"] {
            let expected = try #require(fixture.cases.first { $0.text == text }, "fixture lacks \(text.debugDescription)")
            let piped = try TailorProcess.run(["tokenize", "--model", model.path, "--ids"], stdin: text)
            #expect(piped.status == 0, "\(piped.stderr)")
            #expect(Self.ids(piped.stdout) == expected.ids, "stdin: \(text.debugDescription)")
            let file = folder.appendingPathComponent("text.txt")
            try Data(text.utf8).write(to: file)
            let fromFile = try TailorProcess.run(["tokenize", "--model", model.path, "--ids", "--file", file.path])
            #expect(Self.ids(fromFile.stdout) == expected.ids, "--file: \(text.debugDescription)")
        }
    }

    @Test func aByteOrderMarkInAFileIsPartOfTheText() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let fixture = try Self.load(SmolLM2Templates.self, "templates/smollm2_cli.json")
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bom.txt")
        try Data(fixture.byte_order_mark.text.utf8).write(to: file)
        #expect(try Data(contentsOf: file).prefix(3) == Data([0xEF, 0xBB, 0xBF]))
        let result = try TailorProcess.run(["tokenize", "--model", model.path, "--ids", "--file", file.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.ids(result.stdout) == fixture.byte_order_mark.ids)
    }

    @Test func defaultViewShowsEachTokenQuotedWithItsId() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let result = try TailorProcess.run(["tokenize", "--model", model.path, "Hello, world!\n<|im_end|>"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "6 tokens · no BOS/EOS added (this tokenizer adds none)")
        #expect(Array(lines.dropFirst()) == [
            "   ID  TOKEN",
            "19556  \"Hello\"",
            "   28  \",\"",
            "  905  \" world\"",
            "   17  \"!\"",
            "  198  \"\\n\"",
            "    2  <|im_end|>  special",
            "",
        ])
    }

    @Test func jsonCarriesIdsTextsAndTheBytesOfSplitCharacters() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let fixture = try Self.load(TokenizerCases.self, "tokenizers/smollm2_cases.json")
        let text = "emoji 😀😃😄 done"
        let expected = try #require(fixture.cases.first { $0.text == text })
        let result = try TailorProcess.run(["tokenize", "--model", model.path, "--json", text])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let tokens = try #require(object["tokens"] as? [[String: Any]])
        #expect(object["count"] as? Int == expected.ids.count)
        #expect(object["bos_added"] as? Bool == false)
        #expect(object["eos_added"] as? Bool == false)
        #expect(tokens.compactMap { $0["id"] as? Int } == expected.ids)
        // Concatenating each token's bytes (raw bytes where a token splits a character) rebuilds the input.
        var bytes: [UInt8] = []
        for token in tokens {
            if let raw = token["bytes"] as? [Int] {
                bytes += raw.map(UInt8.init)
            } else {
                bytes += Array((token["text"] as? String ?? "").utf8)
            }
        }
        #expect(bytes == Array(text.utf8))
        #expect(tokens.contains { $0["bytes"] != nil }, "the emoji should be split across byte tokens")
    }

    @Test func splitSpecialAndNoSpecialMatchHuggingFace() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let fixture = try Self.load(SmolLM2Templates.self, "templates/smollm2_cli.json")
        let result = try TailorProcess.run(
            ["tokenize", "--model", model.path, "--ids", "--split-special", "--no-special", fixture.split_special.text])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.ids(result.stdout) == fixture.split_special.ids)
        let summary = try TailorProcess.run(["tokenize", "--model", model.path, "--no-special", "x"])
        #expect(summary.stdout.hasPrefix("1 token · BOS/EOS not added (--no-special)\n"))
    }

    @Test func tokenizeErrorsAreOneLineAndNonZero() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bad = folder.appendingPathComponent("latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: bad)
        let cases: [([String], String)] = [
            (["tokenize", "--model", model.path, "--file", bad.path], "not valid UTF-8 (first bad byte at offset 3)"),
            (["tokenize", "--model", "no-such-model:1b", "hi"], "no-such-model:1b"),
            (["tokenize", "--model", model.path, "--file", folder.appendingPathComponent("absent.txt").path], "absent.txt"),
        ]
        for (arguments, message) in cases {
            let result = try TailorProcess.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("Error: "))
            #expect(!result.stderr.contains("Fatal error"))
        }
    }

    // MARK: - template

    @Test func templateOutputIsExactlyTransformersText() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let fixture = try Self.load(SmolLM2Templates.self, "templates/smollm2_cli.json")
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for testCase in fixture.cases {
            let messages = folder.appendingPathComponent("\(testCase.name).json")
            try Data(testCase.messages_json.utf8).write(to: messages)
            var arguments = ["template", "--model", model.path, "--messages", messages.path]
            if testCase.add_generation_prompt { arguments.append("--add-generation-prompt") }
            let result = try TailorProcess.run(arguments)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == testCase.text, "\(testCase.name)")
            #expect(result.stderr.contains("GGUF tokenizer.chat_template"))

            // The rendered text, tokenized by tailor, gives HF tokenizers' ids.
            let rendered = folder.appendingPathComponent("\(testCase.name).txt")
            try Data(result.stdout.utf8).write(to: rendered)
            let tokens = try TailorProcess.run(["tokenize", "--model", model.path, "--ids", "--file", rendered.path])
            #expect(Self.ids(tokens.stdout) == testCase.ids, "\(testCase.name) ids")
        }
    }

    @Test func templateJSONGivesEachMessageItsSpan() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let fixture = try Self.load(SmolLM2Templates.self, "templates/smollm2_cli.json")
        for testCase in fixture.cases {
            var arguments = ["template", "--model", model.path, "--messages", "-", "--json"]
            if testCase.add_generation_prompt { arguments.append("--add-generation-prompt") }
            let result = try TailorProcess.run(arguments, stdin: testCase.messages_json)
            #expect(result.status == 0, "\(result.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(object["text"] as? String == testCase.text)
            let spans = try #require(object["spans"] as? [[String: Any]])
            let decoded = spans.map {
                SmolLM2Templates.Span(role: $0["role"] as? String ?? "", message: $0["message"] as? Int,
                                      start: $0["start"] as? Int ?? -1, end: $0["end"] as? Int ?? -1)
            }
            #expect(decoded == testCase.spans, "\(testCase.name)")
            let bytes = Array(testCase.text.utf8)
            for span in spans {
                let start = span["start"] as? Int ?? 0, end = span["end"] as? Int ?? 0
                #expect(span["text"] as? String == String(decoding: bytes[start..<end], as: UTF8.self))
            }
        }
    }

    @Test func chatTemplateFileAndToolsRenderLikeTransformers() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let fixture = try Self.load(SmolLM2Templates.self, "templates/smollm2_cli.json")
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(fixture.template_file_cases.count == 2)
        for testCase in fixture.template_file_cases {
            let template = try TestPaths.require(TestPaths.assets.appendingPathComponent("templates/\(testCase.template)"))
            let messages = folder.appendingPathComponent("\(testCase.name).json")
            try Data(testCase.messages_json.utf8).write(to: messages)
            var arguments = ["template", "--chat-template", template.path, "--messages", messages.path]
            if let tools = testCase.tools_json {
                // Tools from --tools, with the model's special tokens.
                let file = folder.appendingPathComponent("\(testCase.name)-tools.json")
                try Data(tools.utf8).write(to: file)
                arguments += ["--tools", file.path, "--model", model.path]
            }  // else: tools inside the messages object, as in a JSONL record, and no model at all.
            if testCase.add_generation_prompt { arguments.append("--add-generation-prompt") }
            let result = try TailorProcess.run(arguments)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == testCase.text, "\(testCase.name)")
            #expect(result.stderr.contains("template: \(template.path)"))
        }
    }

    @Test func templateErrorsAreOneClearLine() throws {
        let model = try TestPaths.require(TestPaths.smolLM2)
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = folder.appendingPathComponent("good.json")
        try Data(#"[{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]"#.utf8).write(to: good)
        let badJSON = folder.appendingPathComponent("bad.json")
        try Data("[\n  {\"role\": \"user\",\n   \"content\": \"hi\",,\n  }\n]".utf8).write(to: badJSON)
        let noRole = folder.appendingPathComponent("norole.json")
        try Data(#"[{"content": "hi"}]"#.utf8).write(to: noRole)
        let raising = folder.appendingPathComponent("raise.jinja")
        try Data("{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% endfor %}".utf8)
            .write(to: raising)

        let cases: [([String], String)] = [
            (["template", "--model", model.path, "--messages", badJSON.path],
             "\(badJSON.path):3:20: invalid JSON: expected a string key in an object"),
            (["template", "--model", model.path, "--messages", noRole.path], "message 0 has no \"role\""),
            (["template", "--model", model.path, "--messages", good.path, "--chat-template", raising.path],
             "template raised an exception: System role not supported"),
            (["template", "--model", "no-such-model:1b", "--messages", good.path], "no-such-model:1b"),
            (["template", "--model", model.path, "--messages", folder.appendingPathComponent("absent.json").path],
             "absent.json"),
        ]
        for (arguments, message) in cases {
            let result = try TailorProcess.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("Error: "), "\(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"))
        }
        // The raised exception names the template file and its position, on one line.
        let raised = try TailorProcess.run(["template", "--model", model.path, "--messages", good.path, "--chat-template", raising.path])
        #expect(raised.stderr.split(separator: "\n").count == 1, "\(raised.stderr)")
        #expect(raised.stderr.contains("\(raising.path): template line 1"))
    }
}
