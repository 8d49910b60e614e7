// Reading every record format, and every kind of bad record reported by line and reason.
import ChatTemplates
import Datasets
import Foundation
import Testing

@Suite struct DatasetReaderTests {
    func read(_ text: String, options: DatasetReadOptions = DatasetReadOptions()) throws -> LoadedDataset {
        try DatasetReader.parse(data: Data(text.utf8), path: "data.jsonl", options: options)
    }

    func conversation(_ example: Example?) throws -> Conversation {
        guard case .conversation(let c)? = example?.body else {
            Issue.record("expected a conversation, found \(String(describing: example?.body))")
            throw CancellationError()
        }
        return c
    }

    // MARK: - Formats

    @Test func openAIMessagesWithToolsAndToolCalls() throws {
        let text = """
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Moon?"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "moon", "arguments": {}}}]}, {"role": "tool", "content": "full"}, {"role": "assistant", "content": "Full."}], "tools": [{"type": "function", "function": {"name": "moon"}}]}
            """
        let data = try read(text)
        #expect(data.format == .messages)
        #expect(data.issues.isEmpty)
        let c = try conversation(data.examples.first)
        #expect(c.messages.map(\.role) == ["system", "user", "assistant", "tool", "assistant"])
        #expect(c.messages[2].content == nil)
        #expect(c.tools?.count == 1)
        #expect(c.trainedMessages == [2, 4])
    }

    @Test func shareGPTRolesMapToOpenAI() throws {
        let text = """
            {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}, {"from": "function_call", "value": "{}"}, {"from": "observation", "value": "O"}, {"from": "gpt", "value": "A"}]}
            """
        let data = try read(text)
        #expect(data.format == .shareGPT)
        let c = try conversation(data.examples.first)
        #expect(c.messages.map(\.role) == ["system", "user", "assistant", "tool", "assistant"])
        #expect(c.messages.map(\.content) == ["S", "Q", "{}", "O", "A"])
    }

    @Test func alpacaBecomesSystemUserAssistant() throws {
        let text = """
            {"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "You translate."}
            {"instruction": "Say hi", "input": "", "output": "hi"}
            """
        let data = try read(text)
        #expect(data.format == .alpaca)
        let first = try conversation(data.examples.first)
        #expect(first.messages.map(\.role) == ["system", "user", "assistant"])
        #expect(first.messages[1].content == "Translate\n\nbonjour")
        let second = try conversation(data.examples.last)
        #expect(second.messages.map(\.content) == ["Say hi", "hi"])
    }

    @Test func promptCompletionAsStringsOrMessageLists() throws {
        let strings = try read(#"{"prompt": "2+2=", "completion": "4"}"#)
        #expect(strings.format == .promptCompletion)
        guard case .promptCompletion(let p, let c)? = strings.examples.first?.body else {
            Issue.record("not a prompt/completion")
            return
        }
        #expect(p == "2+2=" && c == "4")
        let lists = try read(
            #"{"prompt": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "earlier"}, {"role": "user", "content": "Q2"}], "completion": [{"role": "assistant", "content": "A"}]}"#)
        let conversation = try conversation(lists.examples.first)
        #expect(conversation.firstTrainable == 3)
        #expect(conversation.trainedMessages == [3])  // the assistant turn inside the prompt is context
    }

    @Test func plainText() throws {
        let data = try read(#"{"text": "Zorbia has three moons."}"#)
        #expect(data.format == .text)
        guard case .text(let t)? = data.examples.first?.body else {
            Issue.record("not text")
            return
        }
        #expect(t == "Zorbia has three moons.")
    }

    @Test func bomCRLFBlankLinesAndLineNumbers() throws {
        let text = "\u{FEFF}{\"text\": \"a\"}\r\n\r\n   \r\n{\"text\": \"b\"}\r\n{\"text\": 3}\r\n"
        let data = try read(text)
        #expect(data.records == 3)
        #expect(data.examples.map(\.line) == [1, 4])
        #expect(data.issues == [DatasetIssue(file: "data.jsonl", line: 5, reason: "field 'text' must be a string, found a number")])
    }

    @Test func jsonArrayFileKeepsLineNumbers() throws {
        let text = """
            [
              {"text": "a"},
              {"text": "b",
               "extra": [1, 2]},
              "oops"
            ]
            """
        let data = try read(text)
        #expect(data.examples.map(\.line) == [2, 3])
        #expect(data.issues.map(\.line) == [5])
        #expect(data.issues.first?.reason == "expected a JSON object, found a string")
    }

    @Test func forcedFormatAndFieldMapping() throws {
        let text = """
            {"dialog": [{"speaker": "user", "text": "Q"}, {"speaker": "assistant", "text": "A"}]}
            """
        let options = DatasetReadOptions(
            format: .messages, fieldMapping: try DatasetReadOptions.fieldMapping(from: ["messages=dialog", "role=speaker", "content=text"]))
        let data = try read(text, options: options)
        #expect(data.formatForced)
        #expect(try conversation(data.examples.first).messages.map(\.content) == ["Q", "A"])
        #expect(throws: DatasetsError.badFieldMapping("role")) { try DatasetReadOptions.fieldMapping(from: ["role"]) }
        // A ShareGPT file with other names for from/value.
        let share = try read(#"{"conversations": [{"who": "human", "said": "Q"}, {"who": "gpt", "said": "A"}]}"#,
                             options: DatasetReadOptions(fieldMapping: ["from": "who", "value": "said"]))
        #expect(share.format == .shareGPT)
        #expect(share.issues.isEmpty)
    }

    // MARK: - Errors

    @Test func everyBadRecordIsListedWithLineAndReason() throws {
        let text = """
            {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
            {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}
            [1, 2]
            {"messages": "hello"}
            {"messages": [{"role": "bot", "content": "Q"}]}
            {"messages": [{"role": "user", "content": "Q"}]}
            {"messages": [{"role": "user", "content": null}, {"role": "assistant", "content": "A"}]}
            {"text": "a different format"}
            {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "A"}]}
            {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Ä"}]}
            {"foo": 1}
            """
        let data = try read(text)
        #expect(data.examples.map(\.line) == [1, 10])
        let expected: [(Int, Int?, String)] = [
            (2, 86, "invalid JSON: expected ',' or ']', found the end of the text"),
            (3, nil, "expected a JSON object, found an array"),
            (4, nil, "field 'messages' must be a list of messages, found a string"),
            (5, nil, "messages message 1 has unknown role 'bot' (expected system, user, assistant or tool)"),
            (6, nil, "the conversation has no assistant turn to learn from"),
            (7, nil, "messages message 1 ('user') has null or missing 'content'"),
            (8, nil, "mixed formats: this record is text (text) but the file is messages (messages); use one format per file"),
            (9, nil, "messages message 1 'content' must be a string, found a number"),
            (11, nil, "unknown record format (fields 'foo'); expected messages, conversations, instruction/output, prompt/completion or text (map other names with --field NAME=FIELD)"),
        ]
        #expect(data.issues.count == expected.count)
        for (issue, (line, column, reason)) in zip(data.issues, expected) {
            #expect(issue.line == line)
            #expect(issue.column == column, "line \(line)")
            #expect(issue.reason == reason)
        }
        #expect(data.issues[0].description == "data.jsonl:2:86: invalid JSON: expected ',' or ']', found the end of the text")

        // Strict reading stops with all of them; --skip-invalid keeps the two good records.
        do {
            _ = try DatasetReader.read(url: try write(text))
            Issue.record("strict read did not throw")
        } catch DatasetsError.invalidRecords(_, let issues, let records) {
            #expect(issues.count == 9 && records == 11)
        }
        let skipped = try DatasetReader.read(url: try write(text), options: DatasetReadOptions(skipInvalid: true))
        #expect(skipped.examples.count == 2 && skipped.skipped == 9)
    }

    @Test func invalidJSONColumnCountsCharacters() throws {
        let data = try read("{\"text\": \"ok\"}\n{\"text\": \"héllo\" x}\n")
        #expect(data.issues == [DatasetIssue(file: "data.jsonl", line: 2, column: 18, reason: "invalid JSON: expected ','")])
    }

    @Test func emptyBinaryAndNonJSONFilesAreOneClearError() throws {
        #expect(throws: DatasetsError.emptyFile(path: "data.jsonl")) { try read("") }
        #expect(throws: DatasetsError.emptyFile(path: "data.jsonl")) { try read("\u{FEFF}\n  \r\n") }
        #expect(throws: DatasetsError.binaryFile(path: "data.jsonl", offset: 4)) {
            try DatasetReader.parse(data: Data([0x7B, 0x22, 0x61, 0x22, 0x00, 0xFF]), path: "data.jsonl")
        }
        do {
            _ = try read("name,age\nbob,3\n")
            Issue.record("a CSV file was accepted")
        } catch let error as DatasetsError {
            guard case .notJSON(_, let first) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(first.line == 1 && first.column == 1)
            #expect(!error.description.contains("\n"))
        }
        #expect(throws: DatasetsError.self) { try DatasetReader.read(url: URL(fileURLWithPath: "/no/such/file.jsonl")) }
    }

    @Test func mixedFormatsFollowTheMajority() throws {
        let data = try read("""
            {"text": "x"}
            {"prompt": "a", "completion": "b"}
            {"prompt": "c", "completion": "d"}
            """)
        #expect(data.format == .promptCompletion)
        #expect(data.issues.map(\.line) == [1])
    }

    private func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-datasets-\(UUID().uuidString).jsonl")
        try Data(text.utf8).write(to: url)
        return url
    }
}
