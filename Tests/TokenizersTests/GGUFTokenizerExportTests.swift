// The tokenizer.json Tailor writes for a merged model from a GGUF base: read back, it gives the ids transformers'
// own GGUF converter gives (fixture from Scripts/reference/gguf_tokenizer_export.py) and the same ids as the GGUF's
// vocabulary itself.
import Foundation
import Formats
import TestSupport
import Testing

@testable import Tokenizers

@Suite struct GGUFTokenizerExportTests {
    struct Fixture: Decodable {
        struct Model: Decodable {
            let ids: [[Int]]
            let decoded: [String]
        }
        let strings: [String]
        let models: [String: Model]
    }

    static let fixture: Fixture? = try? JSONDecoder().decode(
        Fixture.self,
        from: Data(contentsOf: TestPaths.fixtures.appendingPathComponent("tokenizers/gguf_export.json")))

    @Test(arguments: ["smollm2", "gemma3"])
    func writtenTokenizerJSONEncodesAsTransformersReadsTheGGUF(name: String) throws {
        let fixture = try #require(Self.fixture)
        let expected = try #require(fixture.models[name])
        let url = try TestPaths.require(name == "smollm2" ? TestPaths.smolLM2 : TestPaths.gemma3)
        let file = try GGUFFile(url: url)
        let files = try Tokenizer.huggingFaceFiles(ggufMetadata: file.metadata, path: file.path, chatTemplate: "{{ x }}")
        let written = try Tokenizer(tokenizerJSON: files.tokenizer, configJSON: files.config, path: "tokenizer.json")
        let original = try Tokenizer(gguf: file)
        for (i, text) in fixture.strings.enumerated() {
            let ids = written.encode(text)
            #expect(ids == expected.ids[i], "\(name): \(text.debugDescription)")
            #expect(ids == original.encode(text), "\(name): \(text.debugDescription) differs from the GGUF's vocabulary")
            #expect(written.decode(ids) == expected.decoded[i], "\(name): decode of \(text.debugDescription)")
        }
        let config = try #require(try JSONSerialization.jsonObject(with: files.config) as? [String: Any])
        #expect(config["chat_template"] as? String == "{{ x }}")
        #expect(config["eos_token"] as? String == original.eosTokenId.flatMap(original.token))
    }
}
