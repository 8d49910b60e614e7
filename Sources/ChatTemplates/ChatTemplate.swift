// Rendering conversations the way transformers' apply_chat_template does, and per-message spans by prefix rendering.
import Foundation

/// A model's chat template, parsed once and rendered per conversation.
public struct ChatTemplate: Sendable {
    public let source: String
    private let template: Template
    /// The clock `strftime_now` reads.
    public var clock: TemplateClock
    public var limits: RenderLimits

    /// A ChatML template (the SmolLM2 / Qwen layout) for models that ship none.
    public static let chatMLSource = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    /// Gemma's turn format for Gemma models that ship none (a GGUF converted without its template): Google's
    /// Gemma 2 template, with a system message put in front of the first user turn as Gemma 3's template does.
    public static let gemmaTurnsSource = """
        {{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first_user_prefix = messages[0]['content'] + '\n\n' %}{% set loop_messages = messages[1:] %}{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}{% for message in loop_messages %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}
        """

    /// Parses `source`; syntax errors carry the template line and column.
    public init(source: String, clock: TemplateClock = TemplateClock(), limits: RenderLimits = RenderLimits()) throws {
        self.source = source
        self.template = try Template(source)
        self.clock = clock
        self.limits = limits
    }

    /// The ChatML fallback template.
    public static func chatML() -> ChatTemplate { builtIn(chatMLSource) }

    /// The Gemma turn-format fallback template.
    public static func gemmaTurns() -> ChatTemplate { builtIn(gemmaTurnsSource) }

    private static func builtIn(_ source: String) -> ChatTemplate {
        // The constants parse; a failure here is a bug in this file, not in user input.
        guard let template = try? ChatTemplate(source: source) else { preconditionFailure("built-in template does not parse") }
        return template
    }

    /// Renders `messages` (dicts with `role`, `content`, ...) the way `tokenizer.apply_chat_template(tokenize=False)` does:
    /// keys whose value is None are dropped, reasoning fields are aliased, and `tools`/`documents` are None when absent.
    public func render(
        messages: [Value], tools: [Value]? = nil, addGenerationPrompt: Bool, bosToken: String = "",
        eosToken: String = "", extra: [String: Value] = [:]
    ) throws -> String {
        var context = extra
        context["messages"] = .list(messages.map(ChatTemplate.normalize))
        context["tools"] = tools.map(Value.list) ?? Value.none
        if context["documents"] == nil { context["documents"] = Value.none }
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        context["bos_token"] = .string(bosToken)
        context["eos_token"] = .string(eosToken)
        return try template.render(context, clock: clock, limits: limits)
    }

    /// Renders the whole conversation and says which part of the text each message produced, by rendering
    /// `messages[0..<i]` and `messages[0...i]` and taking the difference; throws `historyRewritten` when a
    /// shorter render is not a prefix of the longer one. The empty conversation counts as "" when the template
    /// rejects it or when the first message replaces what it printed.
    public func renderWithSpans(
        messages: [Value], tools: [Value]? = nil, addGenerationPrompt: Bool, bosToken: String = "",
        eosToken: String = "", extra: [String: Value] = [:]
    ) throws -> RenderedConversation {
        func renderPrefix(_ count: Int, _ generationPrompt: Bool) throws -> String {
            try render(messages: Array(messages[0..<count]), tools: tools, addGenerationPrompt: generationPrompt,
                       bosToken: bosToken, eosToken: eosToken, extra: extra)
        }
        var previous = (try? renderPrefix(0, false)) ?? ""
        var spans: [Range<Int>] = []
        for index in messages.indices {
            let current = try renderPrefix(index + 1, false)
            // What a template prints for no messages at all (a default system prompt, say) may be replaced by the
            // first message; then the first span simply starts at the beginning.
            if index == 0 && !current.utf8.starts(with: previous.utf8) { previous = "" }
            try ChatTemplate.checkPrefix(previous, of: current, messageIndex: index)
            spans.append(previous.utf8.count..<current.utf8.count)
            previous = current
        }
        var generationPrompt: Range<Int>?
        var text = previous
        if addGenerationPrompt {
            text = try renderPrefix(messages.count, true)
            try ChatTemplate.checkPrefix(previous, of: text, messageIndex: messages.count)
            generationPrompt = previous.utf8.count..<text.utf8.count
        }
        return RenderedConversation(text: text, messageSpans: spans, generationPromptSpan: generationPrompt)
    }

    private static func checkPrefix(_ prefix: String, of text: String, messageIndex: Int) throws {
        let a = Array(prefix.utf8)
        let b = Array(text.utf8)
        var i = 0
        while i < a.count, i < b.count, a[i] == b[i] { i += 1 }
        guard i < a.count else { return }
        // Report whole characters around the divergence.
        let expected = String(decoding: a[i..<min(a.count, i + 40)], as: UTF8.self)
        let found = String(decoding: b[i..<min(b.count, i + 40)], as: UTF8.self)
        throw ChatTemplatesError.historyRewritten(messageIndex: messageIndex, divergesAt: i, expected: expected, found: found)
    }

    /// transformers' message clean-up: drop None values, copy reasoning into `reasoning_content` and `thinking`.
    static func normalize(_ message: Value) -> Value {
        guard case .dict(let dict) = message else { return message }
        var cleaned = OrderedDict()
        for (key, value) in dict.pairs {
            if case .none = value { continue }
            cleaned[key] = value
        }
        let reasoning = ["reasoning_content", "thinking", "reasoning"].lazy.compactMap { cleaned[$0] }.first
        guard let reasoning else { return .dict(cleaned) }
        var aliased = OrderedDict()
        aliased["thinking"] = reasoning
        for (key, value) in cleaned.pairs { aliased[key] = value }
        aliased["reasoning_content"] = reasoning
        return .dict(aliased)
    }
}

/// A rendered conversation and, per message, the UTF-8 byte range of `text` it produced.
public struct RenderedConversation: Sendable, Equatable {
    public let text: String
    /// `messageSpans[i]` covers everything message i added (its role header, content and end-of-turn marker).
    public let messageSpans: [Range<Int>]
    /// What `add_generation_prompt` appended, when asked for.
    public let generationPromptSpan: Range<Int>?

    /// The text of message i's span.
    public func text(ofMessage index: Int) -> String {
        let bytes = Array(text.utf8)[messageSpans[index]]
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) { self = .dict(OrderedDict(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

extension Value {
    /// A chat message `{"role": role, "content": content}`.
    public static func message(_ role: String, _ content: String) -> Value {
        .dict(OrderedDict([("role", .string(role)), ("content", .string(content))]))
    }
}
