// Which chat template a model folder yields, in transformers' order of precedence.
import ChatTemplates
import Datasets
import Foundation
import TestSupport
import Testing

@Suite struct ChatTemplateLocatorTests {
    func folder(_ files: [String: String]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-locator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: url.appendingPathComponent(name)) }
        return url
    }

    let namedList = #"{"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]}"#

    @Test func namedListPicksDefaultOrToolUse() throws {
        let model = try folder(["tokenizer_config.json": namedList])
        defer { try? FileManager.default.removeItem(at: model) }
        #expect(try ChatTemplateLocator.locate(model: model).template.source == "D")
        #expect(try ChatTemplateLocator.locate(model: model, wantsTools: true).template.source == "T")
    }

    @Test func namedListWithoutDefaultIsAnError() throws {
        let model = try folder(["tokenizer_config.json": #"{"chat_template": [{"name": "rag", "template": "R"}]}"#])
        defer { try? FileManager.default.removeItem(at: model) }
        #expect {
            try ChatTemplateLocator.locate(model: model)
        } throws: { error in
            "\(error)".contains("none called 'default'") && "\(error)".contains("rag")
        }
    }

    @Test func jinjaFileOverridesTheConfigAndChatMLIsTheFallback() throws {
        let model = try folder(["tokenizer_config.json": #"{"chat_template": "C"}"#, "chat_template.jinja": "J"])
        defer { try? FileManager.default.removeItem(at: model) }
        #expect(try ChatTemplateLocator.locate(model: model).template.source == "J")
        let empty = try folder(["tokenizer_config.json": "{}"])
        defer { try? FileManager.default.removeItem(at: empty) }
        let fallback = try ChatTemplateLocator.locate(model: empty)
        #expect(fallback.isFallback)
        #expect(fallback.template.source.contains("<|im_start|>"))
    }

    @Test func gemmaWithoutATemplateGetsGemmaTurnsAsGoogleWritesThem() throws {
        // The Gemma 3 270M GGUF of the test assets was converted without its chat template.
        let gemma = try ChatTemplateLocator.locate(model: try TestPaths.require(TestPaths.gemma3))
        #expect(gemma.isFallback && gemma.fallbackName == "Gemma's turn format")
        let folder = try folder(["tokenizer_config.json": #"{"added_tokens_decoder": {"105": {"content": "<start_of_turn>"}, "106": {"content": "<end_of_turn>"}}}"#])
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try ChatTemplateLocator.locate(model: folder).fallbackName == "Gemma's turn format")

        // The same text as Google's own Gemma 2 template (llama.cpp's copy, which the template fixtures check
        // against jinja2) on a conversation it accepts.
        let google = try ChatTemplate(
            source: try String(
                contentsOf: try TestPaths.require(TestPaths.assets.appendingPathComponent("templates/google-gemma-2-2b-it.jinja")),
                encoding: .utf8))
        let messages: [Value] = [
            ["role": "user", "content": "What is Zorbia? "], ["role": "assistant", "content": " A planet."],
            ["role": "user", "content": "How far?"],
        ]
        for prompt in [false, true] {
            #expect(
                try gemma.template.render(messages: messages, addGenerationPrompt: prompt, bosToken: "<bos>")
                    == google.render(messages: messages, addGenerationPrompt: prompt, bosToken: "<bos>"))
        }
        // A system message opens the first user turn, as Gemma 3's template puts it.
        let withSystem = try gemma.template.render(
            messages: [["role": "system", "content": "Be brief."]] + messages, addGenerationPrompt: true,
            bosToken: "<bos>")
        #expect(withSystem.hasPrefix("<bos><start_of_turn>user\nBe brief.\n\nWhat is Zorbia?<end_of_turn>\n<start_of_turn>model\nA planet."))
        #expect(withSystem.hasSuffix("<start_of_turn>model\n"))
    }
}
