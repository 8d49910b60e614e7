// libFuzzer entry for the chat-template interpreter: any template must parse and render, or throw a
// ChatTemplatesError; never crash, hang or blow up memory (renders run under a small RenderLimits budget).
// Built and run by Scripts/fuzz (`Scripts/fuzz 60 Jinja`).
// fuzz-modules: ChatTemplates
// fuzz-options: -dict=Fuzz/Jinja.dict
//
// Input layout: the template, then optionally a 0 byte and the render context as JSON: a list of messages, or an object
// with `messages`, `tools`, `add_generation_prompt` and any other variables. Without one the template renders a fixed
// three-message conversation.
import ChatTemplates
import Foundation

private let limits = RenderLimits(maxSteps: 50_000, maxOutputBytes: 1 << 20)
private let clock = TemplateClock.fixed(year: 2025, month: 3, day: 14, hour: 15, minute: 9, second: 26)
private let defaultMessages: [Value] = [
    .message("system", "Be brief."), .message("user", "Hi there"), .message("assistant", "Hello! ünïcödé 🙂"),
]

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

/// Runs `body`; a ChatTemplatesError is an answer, anything else thrown is a bug.
private func expectingTemplateErrors<T>(_ what: String, _ body: () throws -> T) -> T? {
    do {
        return try body()
    } catch let error as ChatTemplatesError {
        _ = error.description
        return nil
    } catch {
        fatalError("\(what) threw a non-ChatTemplatesError: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let split = bytes.firstIndex(of: 0) ?? size
    let source = String(decoding: bytes[..<split], as: UTF8.self)

    var messages = defaultMessages
    var tools: [Value]?
    var addGenerationPrompt = size & 1 == 1
    var extra: [String: Value] = [:]
    if split < size, let context = try? Value.fromJSON(Data(bytes[(split + 1)...])) {
        switch context {
        case .list(let items): messages = items
        case .dict(let fields):
            for (key, value) in fields.pairs {
                guard case .string(let name) = key else { continue }
                switch (name, value) {
                case ("messages", .list(let items)): messages = items
                case ("tools", .list(let items)): tools = items
                case ("add_generation_prompt", .bool(let flag)): addGenerationPrompt = flag
                default: extra[name] = value
                }
            }
        default: break
        }
    }

    let parse = { try ChatTemplate(source: source, clock: clock, limits: limits) }
    guard let template = expectingTemplateErrors("parse", parse) else { return 0 }
    let render = {
        try template.render(
            messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt, bosToken: "<s>",
            eosToken: "</s>", extra: extra)
    }
    guard let text = expectingTemplateErrors("render", render) else { return 0 }
    check(text.utf8.count <= limits.maxOutputBytes, "output of \(text.utf8.count) bytes passed the cap")
    // Prefix rendering (deterministic: the clock is fixed) ends with the same text, and its spans tile that text in
    // order, up to the generation prompt, which runs to the end.
    let renderSpans = {
        try template.renderWithSpans(
            messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt, bosToken: "<s>",
            eosToken: "</s>", extra: extra)
    }
    guard messages.count <= 8, let spans = expectingTemplateErrors("renderWithSpans", renderSpans) else {
        return 0
    }
    let length = spans.text.utf8.count
    check(spans.text == text, "renderWithSpans text differs from render")
    check(
        spans.messageSpans.count == messages.count,
        "\(spans.messageSpans.count) spans for \(messages.count) messages")
    // With no messages, what comes before the generation prompt is what the template prints for none.
    var end = spans.messageSpans.first?.lowerBound ?? spans.generationPromptSpan?.lowerBound ?? length
    for (index, span) in spans.messageSpans.enumerated() {
        check(
            span.lowerBound == end && span.upperBound <= length,
            "span \(span) after \(end) in \(length) bytes")
        end = span.upperBound
        _ = spans.text(ofMessage: index)
    }
    check(
        (spans.generationPromptSpan != nil) == addGenerationPrompt,
        "generation prompt span without the prompt")
    if let prompt = spans.generationPromptSpan {
        check(
            prompt.lowerBound == end && prompt.upperBound == length,
            "generation prompt \(prompt) after \(end) in \(length)")
    } else {
        check(end == length, "spans end at \(end) of \(length)")
    }
    return 0
}
