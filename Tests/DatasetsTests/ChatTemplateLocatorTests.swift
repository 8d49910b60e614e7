// Which chat template a model folder yields, in transformers' order of precedence.
import Datasets
import Foundation
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
}
