// Rendered ids and trained masks equal transformers' prefix-rendering reference (Scripts/reference/dataset_masks.py).
import ChatTemplates
import Datasets
import Foundation
import TestSupport
import Testing
import Tokenizers

@Suite struct MaskReferenceTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var ids: [Int32]
            var trained: [Bool]
            var trained_texts: [String]
            /// The input record as a JSON Lines line, keys in the order Python wrote them.
            var jsonl: String
        }
        var template: String
        var chat_template: String
        var cases: [Case]
    }

    @Test(arguments: ["smollm2", "qwen2.5", "llama3.1"])
    func idsAndMasksEqualTransformers(name: String) throws {
        let url = TestPaths.fixtures.appendingPathComponent("datasets/masks-\(name).json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let tokenizer = try Tokenizer.load(try TestPaths.require(TestPaths.smolLM2))
        let template: ChatTemplate
        if name == "smollm2" {
            // The SmolLM2 case takes the template from the GGUF, as `tailor data check` does.
            let located = try ChatTemplateLocator.locate(model: TestPaths.smolLM2)
            #expect(!located.isFallback)
            #expect(located.template.source == fixture.chat_template)
            template = located.template
        } else {
            template = try ChatTemplate(source: fixture.chat_template)
        }
        let dataset = try DatasetReader.parse(data: Data(fixture.cases.map(\.jsonl).joined(separator: "\n").utf8), path: "\(name).jsonl")
        #expect(dataset.format == .messages)
        #expect(dataset.issues.isEmpty, "\(dataset.issues)")
        try #require(dataset.examples.count == fixture.cases.count)
        let renderer = Renderer(tokenizer: tokenizer, template: template, maxLength: nil)
        for (example, expected) in zip(dataset.examples, fixture.cases) {
            let rendered = try renderer.render(example)
            let bytes = Array(rendered.text.utf8)
            #expect(rendered.trainedSpans.map { String(decoding: bytes[$0], as: UTF8.self) } == expected.trained_texts)
            let tokenized = try renderer.tokenize(example)
            #expect(tokenized.ids == expected.ids, "line \(example.line)")
            #expect(tokenized.trained == expected.trained, "line \(example.line)")
        }
        // The batch path (all cores) gives the same examples.
        let (all, report) = renderer.tokenizeAll(dataset.examples)
        #expect(all.map(\.ids) == fixture.cases.map(\.ids))
        #expect(all.map(\.trained) == fixture.cases.map(\.trained))
        let expectedTrained = fixture.cases.reduce(0) { $0 + $1.trained.filter { $0 }.count }
        #expect(report.trainedTokens == expectedTrained)
        if name == "llama3.1" {
            // `<|eot_id|>` is plain text to the SmolLM2 vocabulary: EOS is appended after the last reply, and the
            // middle replies are reported as lacking an end-of-turn token.
            #expect(report.endOfTurnAppended == fixture.cases.count)
            #expect(report.missingEndOfTurn == 1 + 2)
        } else {
            #expect(report.endOfTurnAppended == 0 && report.missingEndOfTurn == 0)
        }
    }

    @Test func trainedTokensAreTheReplyAndEndOfTurnNotTheHeader() throws {
        let tokenizer = try Tokenizer.load(try TestPaths.require(TestPaths.smolLM2))
        let record = #"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}]}"#
        let dataset = try DatasetReader.parse(data: Data(record.utf8), path: "one.jsonl")
        let renderer = Renderer(tokenizer: tokenizer, template: .chatML(), maxLength: nil)
        let example = try renderer.tokenize(try #require(dataset.examples.first))
        let trainedIds = zip(example.ids, example.trained).filter { $0.1 }.map { Int($0.0) }
        #expect(tokenizer.decode(trainedIds) == "Hello there<|im_end|>\n")
        #expect(example.trained.first == false)
    }
}
