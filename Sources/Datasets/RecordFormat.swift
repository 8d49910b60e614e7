// The record formats Tailor reads, how one is recognised from a record's keys, and each one's validation.
import ChatTemplates
import Foundation

/// The shape of the records in a dataset file.
public enum RecordFormat: String, Codable, Sendable, CaseIterable {
    /// OpenAI chat: `{"messages": [{"role", "content", "tool_calls"?}], "tools"?}`.
    case messages
    /// ShareGPT: `{"conversations": [{"from": "human"|"gpt"|..., "value"}], "system"?, "tools"?}`.
    case shareGPT = "sharegpt"
    /// Alpaca: `{"instruction", "input"?, "output", "system"?}`.
    case alpaca
    /// `{"prompt", "completion"}`, both strings or both message lists.
    case promptCompletion = "prompt-completion"
    /// `{"text"}`.
    case text

    /// The keys that identify the format, for messages.
    public var signature: String {
        switch self {
        case .messages: return "messages"
        case .shareGPT: return "conversations"
        case .alpaca: return "instruction/output"
        case .promptCompletion: return "prompt/completion"
        case .text: return "text"
        }
    }

    /// Parses a `--format` value; accepts the raw names and a few common spellings.
    public init?(argument: String) {
        switch argument.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "messages", "openai", "chat": self = .messages
        case "sharegpt", "conversations": self = .shareGPT
        case "alpaca": self = .alpaca
        case "prompt-completion", "promptcompletion", "completion": self = .promptCompletion
        case "text": self = .text
        default: return nil
        }
    }
}

/// A rejected record's reason; the reader adds the file and line.
struct RecordProblem: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Record parsing with the user's field-name mapping applied (`--field role=from`: the role is in the field `from`).
struct RecordParser {
    var mapping: [String: String]

    static let roles: Set<String> = ["system", "user", "assistant", "tool"]
    static let shareGPTRoles: [String: String] = [
        "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
        "bard": "assistant", "system": "system", "function_call": "assistant", "observation": "tool", "tool": "tool",
        "function": "tool",
    ]

    func key(_ name: String) -> String { mapping[name] ?? name }

    func field(_ record: OrderedDict, _ name: String) -> Value? { record[key(name)] }

    /// The format a record looks like, from its keys; nil when it has none of them.
    func detect(_ record: OrderedDict) -> RecordFormat? {
        func has(_ name: String) -> Bool { field(record, name) != nil }
        if has("messages") { return .messages }
        if has("conversations") { return .shareGPT }
        if has("prompt") && has("completion") { return .promptCompletion }
        if has("instruction") && has("output") { return .alpaca }
        if has("text") { return .text }
        return nil
    }

    func parse(_ record: OrderedDict, as format: RecordFormat, line: Int) throws -> Example {
        let body: ExampleBody
        switch format {
        case .messages: body = .conversation(try parseMessages(record))
        case .shareGPT: body = .conversation(try parseShareGPT(record))
        case .alpaca: body = .conversation(try parseAlpaca(record))
        case .promptCompletion: body = try parsePromptCompletion(record)
        case .text: body = .text(try requiredString(record, "text"))
        }
        return Example(line: line, format: format, body: body)
    }

    // MARK: - Fields

    private func describe(_ value: Value) -> String {
        switch value {
        case .none: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .list, .tuple: return "a list"
        case .dict: return "an object"
        default: return "a value"
        }
    }

    private func requiredString(_ record: OrderedDict, _ name: String, allowEmpty: Bool = false) throws -> String {
        guard let value = field(record, name) else { throw RecordProblem("missing field '\(key(name))'") }
        switch value {
        case .string(let s):
            if !allowEmpty && s.isEmpty { throw RecordProblem("field '\(key(name))' is empty") }
            return s
        case .none: throw RecordProblem("field '\(key(name))' is null; expected a string")
        default: throw RecordProblem("field '\(key(name))' must be a string, found \(describe(value))")
        }
    }

    private func optionalString(_ record: OrderedDict, _ name: String) throws -> String? {
        guard let value = field(record, name) else { return nil }
        switch value {
        case .string(let s): return s
        case .none: return nil
        default: throw RecordProblem("field '\(key(name))' must be a string, found \(describe(value))")
        }
    }

    private func list(_ record: OrderedDict, _ name: String, what: String) throws -> [Value] {
        guard let value = field(record, name) else { throw RecordProblem("missing field '\(key(name))'") }
        guard case .list(let items) = value else {
            throw RecordProblem("field '\(key(name))' must be a list of \(what), found \(describe(value))")
        }
        if items.isEmpty { throw RecordProblem("field '\(key(name))' is an empty list") }
        return items
    }

    /// The `tools` column: a list of objects, or that list as a JSON string (as some datasets store it).
    private func tools(_ record: OrderedDict) throws -> [Value]? {
        guard let value = field(record, "tools") else { return nil }
        switch value {
        case .none: return nil
        case .list(let items): return items
        case .string(let text):
            if text.trimmingCharacters(in: .whitespaces).isEmpty { return nil }
            guard case .list(let items)? = try? Value.fromJSON(text) else {
                throw RecordProblem("field '\(key("tools"))' must be a list of tool definitions (or that list as a JSON string)")
            }
            return items
        default:
            throw RecordProblem("field '\(key("tools"))' must be a list of tool definitions, found \(describe(value))")
        }
    }

    private func requireAssistant(_ conversation: Conversation, _ what: String) throws {
        guard !conversation.trainedMessages.isEmpty else {
            throw RecordProblem("\(what) has no assistant turn to learn from")
        }
    }

    // MARK: - Formats

    private func parseMessageList(_ items: [Value], field fieldName: String) throws -> [ChatMessage] {
        var messages: [ChatMessage] = []
        for (index, item) in items.enumerated() {
            let n = index + 1
            guard case .dict(let dict) = item else {
                throw RecordProblem("\(fieldName) message \(n) must be an object, found \(describe(item))")
            }
            guard let roleValue = dict[key("role")] else { throw RecordProblem("\(fieldName) message \(n) has no '\(key("role"))'") }
            guard case .string(let role) = roleValue else {
                throw RecordProblem("\(fieldName) message \(n) '\(key("role"))' must be a string, found \(describe(roleValue))")
            }
            guard RecordParser.roles.contains(role) else {
                throw RecordProblem("\(fieldName) message \(n) has unknown role '\(role)' (expected system, user, assistant or tool)")
            }
            var extra: [(String, Value)] = []
            for (k, v) in dict.pairs {
                guard case .string(let name) = k, name != key("role"), name != key("content") else { continue }
                extra.append((name, v))
            }
            let hasToolCalls: Bool = {
                if case .list(let calls)? = dict["tool_calls"] { return !calls.isEmpty }
                return false
            }()
            if let calls = dict["tool_calls"], !(calls.isNone) {
                guard case .list = calls else {
                    throw RecordProblem("\(fieldName) message \(n) 'tool_calls' must be a list, found \(describe(calls))")
                }
                guard role == "assistant" else {
                    throw RecordProblem("\(fieldName) message \(n) has 'tool_calls' but its role is '\(role)', not assistant")
                }
            }
            let content: String?
            switch dict[key("content")] ?? Value.none {
            case .string(let s): content = s
            case .none:
                guard hasToolCalls else {
                    throw RecordProblem("\(fieldName) message \(n) ('\(role)') has null or missing '\(key("content"))'")
                }
                content = nil
            case .list(let parts):
                // OpenAI content parts: only text parts can be trained on.
                var texts: [String] = []
                for part in parts {
                    guard case .dict(let p) = part, case .string(let text)? = p["text"] else {
                        throw RecordProblem("\(fieldName) message \(n) content parts must be {\"type\": \"text\", \"text\": ...}")
                    }
                    texts.append(text)
                }
                content = texts.joined()
            case let other:
                throw RecordProblem("\(fieldName) message \(n) '\(key("content"))' must be a string, found \(describe(other))")
            }
            messages.append(ChatMessage(role: role, content: content, extra: extra))
        }
        return messages
    }

    private func parseMessages(_ record: OrderedDict) throws -> Conversation {
        let items = try list(record, "messages", what: "messages")
        let conversation = Conversation(messages: try parseMessageList(items, field: "messages"), tools: try tools(record))
        try requireAssistant(conversation, "the conversation")
        return conversation
    }

    private func parseShareGPT(_ record: OrderedDict) throws -> Conversation {
        let items = try list(record, "conversations", what: "turns")
        var messages: [ChatMessage] = []
        if let system = try optionalString(record, "system"), !system.isEmpty {
            messages.append(ChatMessage(role: "system", content: system))
        }
        for (index, item) in items.enumerated() {
            let n = index + 1
            guard case .dict(let dict) = item else {
                throw RecordProblem("conversations turn \(n) must be an object, found \(describe(item))")
            }
            guard case .string(let from)? = dict[key("from")] else {
                throw RecordProblem("conversations turn \(n) has no string '\(key("from"))'")
            }
            guard let role = RecordParser.shareGPTRoles[from] else {
                throw RecordProblem(
                    "conversations turn \(n) has unknown role '\(from)' (expected human, gpt, system, function_call or observation)")
            }
            switch dict[key("value")] ?? Value.none {
            case .string(let text): messages.append(ChatMessage(role: role, content: text))
            case .none: throw RecordProblem("conversations turn \(n) ('\(from)') has null or missing '\(key("value"))'")
            case let other:
                throw RecordProblem("conversations turn \(n) '\(key("value"))' must be a string, found \(describe(other))")
            }
        }
        let conversation = Conversation(messages: messages, tools: try tools(record))
        try requireAssistant(conversation, "the conversation")
        return conversation
    }

    private func parseAlpaca(_ record: OrderedDict) throws -> Conversation {
        let instruction = try requiredString(record, "instruction")
        let input = try optionalString(record, "input") ?? ""
        let output = try requiredString(record, "output")
        var messages: [ChatMessage] = []
        if let system = try optionalString(record, "system"), !system.isEmpty {
            messages.append(ChatMessage(role: "system", content: system))
        }
        messages.append(ChatMessage(role: "user", content: input.isEmpty ? instruction : instruction + "\n\n" + input))
        messages.append(ChatMessage(role: "assistant", content: output))
        return Conversation(messages: messages)
    }

    private func parsePromptCompletion(_ record: OrderedDict) throws -> ExampleBody {
        guard let prompt = field(record, "prompt") else { throw RecordProblem("missing field '\(key("prompt"))'") }
        guard let completion = field(record, "completion") else { throw RecordProblem("missing field '\(key("completion"))'") }
        switch (prompt, completion) {
        case (.string, .string):
            let p = try requiredString(record, "prompt", allowEmpty: true)
            let c = try requiredString(record, "completion")
            return .promptCompletion(prompt: p, completion: c)
        case (.list(let p), .list(let c)):
            let promptMessages = try parseMessageList(p, field: "prompt")
            let completionMessages = try parseMessageList(c, field: "completion")
            let conversation = Conversation(
                messages: promptMessages + completionMessages, tools: try tools(record), firstTrainable: promptMessages.count)
            try requireAssistant(conversation, "the completion")
            return .conversation(conversation)
        case (.none, _): throw RecordProblem("field '\(key("prompt"))' is null")
        case (_, .none): throw RecordProblem("field '\(key("completion"))' is null")
        default:
            throw RecordProblem(
                "'\(key("prompt"))' and '\(key("completion"))' must both be strings or both be message lists, found \(describe(prompt)) and \(describe(completion))")
        }
    }
}

extension Value {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
