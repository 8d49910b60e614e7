// Renderer rules beyond the reference fixtures: EOS for text formats, truncation, dropping, BOS once, rewritten history.
import ChatTemplates
import Datasets
import Foundation
import TestSupport
import Testing
import Tokenizers

@Suite struct RenderingTests {
    func examples(_ jsonl: String) throws -> [Example] {
        try DatasetReader.parse(data: Data(jsonl.utf8), path: "d.jsonl").examples
    }

    @Test func textAndPromptCompletionEndWithTrainedEOS() throws {
        let tokenizer = try Tokenizer.load(try TestPaths.require(TestPaths.smolLM2))
        let eos = Int32(try #require(tokenizer.eosTokenId))
        let renderer = Renderer(tokenizer: tokenizer, template: .chatML(), maxLength: nil)
        let text = try renderer.tokenize(try #require(try examples(#"{"text": "Zorbia has three moons."}"#).first))
        #expect(text.ids == tokenizer.encode("Zorbia has three moons.", addSpecialTokens: false).map { Int32($0) } + [eos])
        #expect(text.trained == [false] + Array(repeating: true, count: text.ids.count - 1))

        let pair = try renderer.tokenize(try #require(try examples(#"{"prompt": "Moons of Zorbia:", "completion": " Pell, Quor, Ish"}"#).first))
        let promptIds = tokenizer.encode("Moons of Zorbia:", addSpecialTokens: false)
        #expect(pair.ids.last == eos)
        #expect(pair.trained.prefix(promptIds.count).allSatisfy { !$0 })
        #expect(pair.trained.dropFirst(promptIds.count).allSatisfy { $0 })
        let trained = zip(pair.ids, pair.trained).filter { $0.1 }.map { Int($0.0) }
        #expect(tokenizer.decode(trained) == " Pell, Quor, Ish<|im_end|>")
    }

    @Test func truncationIsCountedAndExamplesWithoutTargetsAreDropped() throws {
        let tokenizer = try Tokenizer.load(try TestPaths.require(TestPaths.smolLM2))
        let data = try examples("""
            {"messages": [{"role": "user", "content": "A question that is quite long, long enough to fill the budget of tokens."}, {"role": "assistant", "content": "Short."}]}
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, this reply is cut but some of it stays."}]}
            """)
        let renderer = Renderer(tokenizer: tokenizer, template: .chatML(), maxLength: 16)
        let (kept, report) = renderer.tokenizeAll(data)
        #expect(kept.count == 1 && kept[0].line == 2)
        #expect(kept[0].ids.count == 16 && kept[0].truncated && kept[0].originalLength > 16)
        #expect(report.truncated == 2)
        #expect(report.droppedNoTarget == 1)
        #expect(report.dropped == [DatasetIssue(file: "data", line: 1, reason: "no trained token left after truncation to --max-length")])
        #expect(report.lengths == [16])
    }

    @Test func bosIsAddedOnceWhenTheTemplateAlreadyWritesIt() throws {
        // Llama 3's tokenizer adds <|begin_of_text|>; the Llama 3.1 template writes it too (trap 6).
        let tokenizer = try Tokenizer.load(try TestPaths.require(TestPaths.assets.appendingPathComponent("vocab/ggml-vocab-llama-bpe.gguf")))
        let bos = Int32(try #require(tokenizer.bosTokenId))
        #expect(tokenizer.addsBOS)
        let source = try String(contentsOf: TestPaths.assets.appendingPathComponent("templates/meta-llama-Llama-3.1-8B-Instruct.jinja"), encoding: .utf8)
        let record = #"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}"#
        let withBOS = try Renderer(tokenizer: tokenizer, template: try ChatTemplate(source: source), maxLength: nil)
            .tokenize(try #require(try examples(record).first))
        #expect(withBOS.ids.first == bos)
        #expect(withBOS.ids.filter { $0 == bos }.count == 1)
        // ChatML does not write it, so the tokenizer's BOS goes in front.
        let chatML = try Renderer(tokenizer: tokenizer, template: .chatML(), maxLength: nil).tokenize(try #require(try examples(record).first))
        #expect(chatML.ids.first == bos)
        #expect(chatML.ids.filter { $0 == bos }.count == 1)
        // `<|eot_id|>` is special in this vocabulary: it ends the trained reply.
        let eot = Int32(try #require(tokenizer.tokenId("<|eot_id|>")))
        let trained = zip(withBOS.ids, withBOS.trained).filter { $0.1 }.map(\.0)
        #expect(trained.last == eot)
        #expect(tokenizer.decode(trained.map { Int($0) }) == "Hello<|eot_id|>")
    }

    @Test func aTemplateThatRewritesHistoryIsReportedNotGuessed() throws {
        let tokenizer = try Tokenizer.load(try TestPaths.require(TestPaths.smolLM2))
        // Drops every assistant reply but the last, as reasoning templates do with their thinking.
        let template = try ChatTemplate(source: """
            {% for m in messages %}{% if m.role == 'assistant' and not loop.last %}<|im_start|>assistant
            (hidden)<|im_end|>
            {% else %}<|im_start|>{{ m.role }}
            {{ m.content }}<|im_end|>
            {% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
            {% endif %}
            """)
        let data = try examples(#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}"#)
        let renderer = Renderer(tokenizer: tokenizer, template: template, maxLength: nil, file: "d.jsonl")
        #expect {
            try renderer.tokenize(data[0])
        } throws: { error in
            "\(error)".hasPrefix("d.jsonl:1: the chat template rewrites earlier turns")
        }
        let (kept, report) = renderer.tokenizeAll(data)
        #expect(kept.isEmpty && report.failed == 1)
    }
}
