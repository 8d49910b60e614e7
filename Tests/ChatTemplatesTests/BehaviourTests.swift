// Error positions, limits, ordered JSON and prefix-rendered spans.
import Foundation
import TestSupport
import Testing

@testable import ChatTemplates

@Test func unknownFilterReportsLineAndColumn() {
    #expect(throws: ChatTemplatesError.template(kind: .syntax, message: "No filter named 'nosuchfilter'.", line: 2, column: 10)) {
        try Template("line one\n{{ 'x' | nosuchfilter }}")
    }
    let error = ChatTemplatesError.template(kind: .syntax, message: "No filter named 'foo'.", line: 12, column: 5)
    #expect(error.description == "template line 12, column 5: TemplateSyntaxError: No filter named 'foo'.")
}

@Test func runtimeErrorsPointAtTheOperator() throws {
    let template = try Template("{% for m in messages %}\n  {{ m.content + 1 }}{% endfor %}")
    #expect(throws: ChatTemplatesError.template(kind: .type, message: "can only concatenate str (not \"int\") to str", line: 2, column: 16)) {
        try template.render(["messages": [.message("user", "hi")]])
    }
}

@Test func unclosedBlockIsASyntaxError() {
    #expect {
        try Template("{% if true %}\nno end")
    } throws: { error in
        guard case ChatTemplatesError.template(.syntax, let message, _, _) = error else { return false }
        return message.contains("endif")
    }
}

@Test func raiseExceptionCarriesTheMessage() throws {
    let template = try ChatTemplate(source: "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must alternate!') }}{% endif %}")
    #expect(throws: ChatTemplatesError.template(kind: .raised, message: "Conversation roles must alternate!", line: 1, column: 39)) {
        try template.render(messages: [.message("assistant", "x")], addGenerationPrompt: false)
    }
}

@Test func stepBudgetStopsRunawayLoops() throws {
    let template = try Template("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    #expect {
        try template.render([:], limits: RenderLimits(maxSteps: 200_000))
    } throws: { error in
        guard case ChatTemplatesError.template(.limit, let message, let line, _) = error else { return false }
        return line == 1 && message.contains("200000 steps")
    }
}

@Test func outputCapStopsHugeOutput() throws {
    let template = try Template("{% for i in range(100000) %}0123456789{% endfor %}")
    #expect {
        try template.render([:], limits: RenderLimits(maxOutputBytes: 10_000))
    } throws: { error in
        guard case ChatTemplatesError.template(.limit, _, _, _) = error else { return false }
        return true
    }
}

@Test func jsonKeepsKeyOrderThroughTojson() throws {
    let json = #"{"z": 1, "a": {"y": 2.5, "b": [1, -2, 1e3, "é\ud83d\ude00\n", null, true]}}"#
    let value = try Value.fromJSON(json)
    let text = try Template("{{ v | tojson }}|{% for k in v %}{{ k }}{% endfor %}").render(["v": value])
    #expect(text == #"{"z": 1, "a": {"y": 2.5, "b": [1, -2, 1000.0, "é😀\n", null, true]}}|za"#)
    #expect(throws: ChatTemplatesError.invalidJSON(offset: 6, reason: "expected a value, found the end of the text")) {
        try Value.fromJSON(#"{"a": "#)
    }
}

@Test func chatMLSpansComeFromPrefixRendering() throws {
    let template = ChatTemplate.chatML()
    let messages: [Value] = [.message("system", "Be brief."), .message("user", "Hi"), .message("assistant", "Hello! ¿Qué tal?")]
    let rendered = try template.renderWithSpans(messages: messages, addGenerationPrompt: true)
    #expect(rendered.text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello! ¿Qué tal?<|im_end|>\n<|im_start|>assistant\n")
    #expect(rendered.text(ofMessage: 0) == "<|im_start|>system\nBe brief.<|im_end|>\n")
    #expect(rendered.text(ofMessage: 1) == "<|im_start|>user\nHi<|im_end|>\n")
    #expect(rendered.text(ofMessage: 2) == "<|im_start|>assistant\nHello! ¿Qué tal?<|im_end|>\n")
    #expect(rendered.messageSpans.map(\.count) == [39, 30, 51])
    let prompt = try #require(rendered.generationPromptSpan)
    #expect(prompt.upperBound == rendered.text.utf8.count)
    #expect(rendered.text == (try template.render(messages: messages, addGenerationPrompt: true)))
}

@Test func prefixRenderingNamesTheMessageThatRewritesHistory() throws {
    let template = try ChatTemplate(source: "{% for m in messages %}{% if loop.last %}[{{ m.content }}]{% else %}{{ m.content }}{% endif %}{% endfor %}")
    #expect {
        try template.renderWithSpans(messages: [.message("user", "a"), .message("assistant", "b")], addGenerationPrompt: false)
    } throws: { error in
        guard case ChatTemplatesError.historyRewritten(let index, let offset, _, _) = error else { return false }
        return index == 1 && offset == 0
    }
}

@Test func messagesDropNoneValuesAndAliasReasoning() throws {
    let template = try ChatTemplate(source: "{% for m in messages %}{{ m | tojson }}{% endfor %}")
    let message: Value = ["role": "assistant", "content": "x", "tool_calls": nil, "reasoning": "because"]
    let text = try template.render(messages: [message], addGenerationPrompt: false)
    #expect(text == #"{"thinking": "because", "role": "assistant", "content": "x", "reasoning": "because", "reasoning_content": "because"}"#)
}

@Test func renderingATypicalConversationIsFast() throws {
    let source = try String(contentsOf: try TestPaths.require(Fixtures.templates.appendingPathComponent("meta-llama-Llama-3.1-8B-Instruct.jinja")), encoding: .utf8)
    let template = try ChatTemplate(source: source, clock: Fixtures.clock)
    let messages: [Value] = [
        .message("system", "You are helpful."), .message("user", "What is 2+2?"), .message("assistant", "4."),
        .message("user", "And 3+3?"),
    ]
    let runs = 200
    let start = Date()
    for _ in 0..<runs { _ = try template.render(messages: messages, addGenerationPrompt: true, bosToken: "<s>") }
    let perRender = Date().timeIntervalSince(start) / Double(runs)
    // Debug builds are ~10x slower than release; the release goal is well under a millisecond.
    #expect(perRender < 0.01, "one render took \(perRender * 1000) ms")
}

@Test func hostileTemplatesFailCleanly() throws {
    let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
    #expect(throws: ChatTemplatesError.self) { try Template("{{ \(deep) }}") }
    #expect(throws: ChatTemplatesError.self) { try Template("{{ " + String(repeating: "-", count: 5000) + "1 }}") }
    let recursive = try Template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
    #expect(throws: ChatTemplatesError.self) { try recursive.render([:]) }
    #expect(throws: ChatTemplatesError.self) { try Template("{{ 'x' * 1000000000000 }}").render([:]) }
    #expect(try Template("{{ 1 ** 1000000000000000000 }}").render([:]) == "1")
    #expect(throws: ChatTemplatesError.self) { try Template("{{ 3 ** 100 }}").render([:]) }
}

@Test func hostileValuesFailCleanly() throws {
    // A namespace that holds itself prints as Python prints a dict that holds itself, instead of recursing without end.
    #expect(try Template("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").render([:]) == "<Namespace {'me': <Namespace {...}>}>")
    // range() near Int.min and Int.max counts without overflowing.
    let wide = "{{ range(-9223372036854775807 - 1, 9223372036854775807, 4611686018427387904) | list }}"
    #expect(try Template(wide).render([:]) == "[-9223372036854775808, -4611686018427387904, 0, 4611686018427387904]")
    #expect(try Template("{{ range(10, 0, -3) | list }}{{ range(5, 1) | list }}").render([:]) == "[10, 7, 4, 1][]")
    #expect(throws: ChatTemplatesError.self) { try Template("{{ range(-9223372036854775807, 9223372036854775807) }}").render([:]) }
    // Values kept in variables never reach the output cap, so each is refused once it would pass 64 Mi bytes.
    for source in [
        "{% set ns = namespace(s='ab') %}{% for i in range(27) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(27) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% set x = {'a': [1]} | tojson(indent=100000000) %}", "{% set x = [[1]] | tojson(indent=60000000) %}",
        "{% set x = (['x' * 1000000] * 100) | join %}", "{% set x = ('a\\n' * 1000) | indent(100000) %}",
    ] {
        #expect(throws: ChatTemplatesError.self, "\(source)") { try Template(source).render([:]) }
    }
}

@Test func renderFreesItsScopesAndNamespaces() throws {
    // A macro is stored in the scope it closes over, and a namespace can hold itself: reference cycles that kept
    // every render's context (the whole conversation) alive.
    let sources = [
        "{% macro m() %}{{ probe }}{% endmacro %}{{ m() }}",
        "{% set ns = namespace(p=probe) %}{% set ns.me = ns %}",
    ]
    for source in sources {
        weak var probe: Namespace?
        try renderHolding(source) { probe = $0 }
        #expect(probe == nil, "\(source) keeps its context alive after the render")
    }
}

/// Renders `source` with a fresh namespace as `probe` in its context, and shows that namespace to `observe`.
private func renderHolding(_ source: String, _ observe: (Namespace) -> Void) throws {
    let object = Namespace(OrderedDict())
    observe(object)
    _ = try Template(source).render(["probe": .namespace(object)])
}

@Test func unfinishedTemplatesAreSyntaxErrors() {
    for source in ["{{ x", "{% if x %}", "{% for %}", "{{ 'abc }}", "{# open", "{% raw %}x", "{{ x | }}", "{{ [1, 2 }}", "{% endif %}", "{% set %}"] {
        #expect(throws: ChatTemplatesError.self, "\(source)") { try Template(source) }
    }
}
