// A validated record, in one shape whatever format it came in: a conversation, a prompt/completion pair, or text.
import ChatTemplates
import Foundation

/// One message of a conversation, with its role already mapped to the OpenAI names.
public struct ChatMessage: Sendable {
    /// `system`, `user`, `assistant` or `tool`.
    public var role: String
    /// The text, or nil for an assistant turn that only calls tools.
    public var content: String?
    /// The message as the chat template sees it: `role`, `content` and any other fields (`tool_calls`, `name`, ...).
    public var value: Value

    public init(role: String, content: String?, extra: [(String, Value)] = []) {
        self.role = role
        self.content = content
        var dict = OrderedDict()
        dict["role"] = .string(role)
        dict["content"] = content.map(Value.string) ?? Value.none
        for (key, item) in extra where key != "role" && key != "content" { dict[key] = item }
        self.value = .dict(dict)
    }
}

/// A conversation to render with the model's chat template.
public struct Conversation: Sendable {
    public var messages: [ChatMessage]
    /// The `tools` column, handed to the template.
    public var tools: [Value]?
    /// Assistant messages before this index are context, not targets (the prompt of a prompt/completion pair).
    public var firstTrainable: Int

    public init(messages: [ChatMessage], tools: [Value]? = nil, firstTrainable: Int = 0) {
        self.messages = messages
        self.tools = tools
        self.firstTrainable = firstTrainable
    }

    /// Indices of the messages whose text is trained.
    public var trainedMessages: [Int] {
        messages.indices.filter { $0 >= firstTrainable && messages[$0].role == "assistant" }
    }
}

/// What one record holds once validated.
public enum ExampleBody: Sendable {
    case conversation(Conversation)
    /// Plain-text prompt and completion: the text is `prompt + completion`; the completion is trained.
    case promptCompletion(prompt: String, completion: String)
    /// Plain text, all trained.
    case text(String)
}

/// A validated record and where it came from.
public struct Example: Sendable {
    /// 1-based line where the record starts in its file.
    public var line: Int
    public var format: RecordFormat
    public var body: ExampleBody

    public init(line: Int, format: RecordFormat, body: ExampleBody) {
        self.line = line
        self.format = format
        self.body = body
    }
}
