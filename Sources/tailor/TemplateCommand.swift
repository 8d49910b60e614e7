// `tailor template`: a conversation rendered through a model's chat template, byte for byte as transformers does.
import ArgumentParser
import ChatTemplates
import Datasets
import Foundation
import Tokenizers

struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Render a conversation with a model's chat template and print the exact text.",
        discussion: """
            The messages file is a JSON array of messages ({"role": ..., "content": ...}, plus any fields the \
            template reads, such as tool_calls), or an object with "messages" and optional "tools" (one record \
            of a chat JSONL file works). Use - to read it from standard input.

            The template is the model's own (GGUF tokenizer.chat_template; in a Hugging Face folder \
            tokenizer_config.json "chat_template", its "default" when it is a named list, or chat_template.jinja), \
            found as `tailor data check` and `tailor train` find it. --chat-template FILE overrides it. A model \
            without one gets ChatML, with a warning. bos_token, eos_token, pad_token and unk_token come from the \
            model's tokenizer, as in transformers' apply_chat_template.

            Standard output receives the rendered text exactly: nothing is added, not even a final newline, so \
            `tailor template ... > prompt.txt` holds what the model sees. Notes (which template was used) go to \
            standard error.

            With --json the output is {text, template, spans}; each span is {role, message, start, end, text}, the part of \
            the text one message produced, with start and end as UTF-8 byte offsets. The generation prompt is \
            the last span, with role "generation_prompt" and message null.

            Examples:
              tailor template --model SmolLM2-135M-Instruct.Q4_1.gguf --messages chat.json
              tailor template --model smollm2 --messages c.json --add-generation-prompt
              tailor template --model qwen2.5:7b --messages c.json --tools t.json --json
              tailor template --chat-template my_template.jinja --messages chat.json
              head -n 1 train.jsonl | tailor template --model smollm2:135m --messages -
            """)

    @Option(help: ArgumentHelp(
        "The model whose chat template and special tokens to use (path, HF id, Ollama name).", valueName: "model"))
    var model: String?

    @Option(help: ArgumentHelp("The conversation: a JSON file, or - for standard input.", valueName: "file"))
    var messages: String

    @Flag(help: "Append the start of an assistant turn, as for generation (add_generation_prompt=True).")
    var addGenerationPrompt = false

    @Option(help: ArgumentHelp("Use this Jinja template file instead of the model's.", valueName: "file"))
    var chatTemplate: String?

    @Option(help: ArgumentHelp("A JSON array of tool schemas (or {\"tools\": [...]}) passed as `tools`.", valueName: "file"))
    var tools: String?

    @OptionGroup var discovery: DiscoveryOptions

    @Flag(help: "Print {text, template, spans} as JSON, with the span of text each message produced.")
    var json = false

    func validate() throws {
        if model == nil && chatTemplate == nil {
            throw ValidationError("give --model (its chat template and special tokens are used) or --chat-template FILE")
        }
    }

    func run() throws {
        let conversation = try readConversation()
        let toolList = try tools.map { try readTools($0) } ?? conversation.tools
        var specialTokens: [String: Value] = [:]
        let template: ModelChatTemplate
        // Printed after the text, so a failure stays a single line.
        var notes: [String] = []
        var addsBOS = false
        if let model {
            let url = try resolveModelURL(model, discovery: discovery)
            do {
                let tokenizer = try Tokenizer.load(url)
                func add(_ name: String, _ id: Int?) {
                    if let id, let text = tokenizer.token(id) { specialTokens[name] = .string(text) }
                }
                add("bos_token", tokenizer.bosTokenId)
                add("eos_token", tokenizer.eosTokenId)
                add("pad_token", tokenizer.padTokenId)
                add("unk_token", tokenizer.unknownTokenId)
                addsBOS = tokenizer.addsBOS
            } catch let error as TokenizersError {
                // The template can still be shown; only the special-token names are unknown.
                notes.append("warning: bos_token and eos_token are empty strings: \(error)")
            }
            template = try ChatTemplateLocator.locate(
                model: url, override: chatTemplate.map { URL(fileURLWithPath: $0) }, wantsTools: !(toolList ?? []).isEmpty)
            if template.isFallback {
                notes.append("warning: \(url.path) has no chat template; rendered with \(template.fallbackName), "
                    + "which may not be what the model was trained on")
            }
        } else {
            // validate() guarantees a template file when there is no model.
            let file = URL(fileURLWithPath: chatTemplate ?? "")
            template = try ChatTemplateLocator.locate(model: file, override: file)
            notes.append("no --model: bos_token and eos_token are empty strings")
        }
        if !template.isFallback { notes.append("template: \(template.origin)") }
        let parsed = template.template
        let bos = specialTokens["bos_token"].flatMap(Self.string) ?? ""
        let eos = specialTokens["eos_token"].flatMap(Self.string) ?? ""
        if addsBOS, !bos.isEmpty, parsed.source.contains("bos_token") {
            // DESIGN.md trap 6: BOS from the template plus BOS from the tokenizer doubles it.
            notes.append("note: the template writes bos_token and the tokenizer also adds BOS; tokenize this text "
                + "without special tokens (tailor tokenize --no-special) or the model sees two")
        }
        var extra = specialTokens
        extra["bos_token"] = nil
        extra["eos_token"] = nil
        do {
            if json {
                try printJSON(parsed, conversation.messages, toolList, template: template, bos: bos, eos: eos, extra: extra)
                notes.forEach(note)
            } else {
                let text = try parsed.render(
                    messages: conversation.messages, tools: toolList, addGenerationPrompt: addGenerationPrompt,
                    bosToken: bos, eosToken: eos, extra: extra)
                writeStandardOutput(text)
                // Keeps the shell prompt off the last line on a terminal without touching the exact bytes on stdout.
                if isatty(STDOUT_FILENO) != 0, !text.hasSuffix("\n") {
                    FileHandle.standardError.write(Data("\n".utf8))
                }
                notes.forEach(note)
            }
        } catch let error as ChatTemplatesError {
            throw CLIError("\(template.origin): \(error)")
        }
    }

    private func printJSON(
        _ template: ChatTemplate, _ messages: [Value], _ tools: [Value]?, template located: ModelChatTemplate,
        bos: String, eos: String, extra: [String: Value]
    ) throws {
        var report = TemplateReport(text: "", template: located.origin, spans: nil, spansProblem: nil)
        do {
            let rendered = try template.renderWithSpans(
                messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt,
                bosToken: bos, eosToken: eos, extra: extra)
            report.text = rendered.text
            let bytes = Array(rendered.text.utf8)
            func span(_ role: String, _ index: Int?, _ range: Range<Int>) -> TemplateReport.Span {
                .init(role: role, message: .init(value: index), start: range.lowerBound, end: range.upperBound,
                      text: String(decoding: bytes[range], as: UTF8.self))
            }
            var spans = rendered.messageSpans.enumerated().map { index, range in
                span(Self.role(of: messages[index]), index, range)
            }
            if let prompt = rendered.generationPromptSpan { spans.append(span("generation_prompt", nil, prompt)) }
            report.spans = spans
        } catch let error as ChatTemplatesError {
            guard case .historyRewritten = error else { throw error }
            // The text is still well defined; only the per-message split is not.
            report.text = try template.render(
                messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt,
                bosToken: bos, eosToken: eos, extra: extra)
            report.spansProblem = error.description
            note("warning: \(error.description)")
        }
        writeStandardOutput(try encodeJSON(report) + "\n")
    }

    // MARK: - Input files

    private struct Conversation {
        var messages: [Value]
        var tools: [Value]?
    }

    private func readConversation() throws -> Conversation {
        let (value, name) = try Self.readJSON(messages, what: "messages")
        var messageList: [Value]
        var tools: [Value]?
        switch value {
        case .list(let list):
            messageList = list
        case .dict(let object):
            guard case .list(let list)? = object["messages"] else {
                throw CLIError("\(name): expected a JSON array of messages or an object with a \"messages\" array; "
                    + "the object has keys \(object.keys.map { Self.string($0) ?? "?" }.joined(separator: ", "))")
            }
            messageList = list
            if let toolValue = object["tools"] {
                guard case .list(let toolArray) = toolValue else {
                    throw CLIError("\(name): \"tools\" must be a JSON array of tool schemas")
                }
                tools = toolArray
            }
        default:
            throw CLIError("\(name): expected a JSON array of messages or an object with a \"messages\" array")
        }
        for (index, message) in messageList.enumerated() {
            guard case .dict(let object) = message else {
                throw CLIError("\(name): message \(index) is not a JSON object; each message needs \"role\" and \"content\"")
            }
            guard case .string? = object["role"] else {
                throw CLIError("\(name): message \(index) has no \"role\" string (expected \"system\", \"user\", \"assistant\" or \"tool\")")
            }
        }
        return Conversation(messages: messageList, tools: tools)
    }

    private func readTools(_ path: String) throws -> [Value] {
        let (value, name) = try Self.readJSON(path, what: "tools")
        if case .list(let list) = value { return list }
        if case .dict(let object) = value, case .list(let list)? = object["tools"] { return list }
        throw CLIError("\(name): expected a JSON array of tool schemas or an object with a \"tools\" array")
    }

    /// Parses a JSON file (or standard input for `-`); a syntax error names the line and column.
    static func readJSON(_ path: String, what: String) throws -> (Value, String) {
        let name = path == "-" ? "standard input" : path
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw CLIError("cannot read the \(what) file \(path): no such file or not readable")
            }
            data = contents
        }
        do {
            return (try Value.fromJSON(data), name)
        } catch ChatTemplatesError.invalidJSON(let offset, let reason) {
            let (line, column) = lineAndColumn(of: offset, in: [UInt8](data))
            throw CLIError("\(name):\(line):\(column): invalid JSON: \(reason)")
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    static func lineAndColumn(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        let end = min(offset, bytes.count)
        var line = 1
        var lineStart = 0
        for i in 0..<end where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        let column = String(decoding: bytes[lineStart..<end], as: UTF8.self).count + 1
        return (line, column)
    }

    private static func string(_ value: Value) -> String? {
        if case .string(let text) = value { return text }
        return nil
    }

    private static func role(of message: Value) -> String {
        if case .dict(let object) = message, let role = object["role"].flatMap(string) { return role }
        return "?"
    }

    private func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// `tailor template --json`.
struct TemplateReport: Encodable {
    struct Span: Encodable {
        var role: String
        /// The message's index; always present, null for the generation prompt.
        var message: NullWhenAbsent
        var start: Int
        var end: Int
        var text: String
    }

    /// An index written as null rather than left out when there is none.
    struct NullWhenAbsent: Encodable {
        var value: Int?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            if let value { try container.encode(value) } else { try container.encodeNil() }
        }
    }

    var text: String
    var template: String
    var spans: [Span]?
    var spansProblem: String?

    enum CodingKeys: String, CodingKey {
        case text, template, spans
        case spansProblem = "spans_problem"
    }
}
