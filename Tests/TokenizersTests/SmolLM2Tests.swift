// SmolLM2's tokenizer, from its GGUF and from the tokenizer.json transformers builds, against HF `tokenizers` ids.
import Foundation
import Formats
import TestSupport
import Testing

@testable import Tokenizers

struct SmolLM2Case: Decodable {
    let text: String
    let ids: [Int]
    let ids_with_special: [Int]
}

private struct SmolLM2Fixture: Decodable { let cases: [SmolLM2Case] }

func smolLM2Cases() throws -> [SmolLM2Case] {
    let url = TestPaths.fixtures.appendingPathComponent("tokenizers/smollm2_cases.json")
    return try JSONDecoder().decode(SmolLM2Fixture.self, from: Data(contentsOf: url)).cases
}

func smolLM2FromJSON() throws -> Tokenizer {
    try Tokenizer(folder: TestPaths.fixtures.appendingPathComponent("tokenizers/smollm2"))
}

func smolLM2FromGGUF() throws -> Tokenizer {
    try Tokenizer(gguf: try GGUFFile(url: try TestPaths.require(TestPaths.smolLM2)))
}

private func check(_ tokenizer: Tokenizer, _ cases: [SmolLM2Case], _ label: String) {
    var failures: [String] = []
    for c in cases {
        let got = tokenizer.encode(c.text, addSpecialTokens: false)
        if got != c.ids { failures.append("\(c.text.debugDescription): expected \(c.ids), got \(got)") }
        let withSpecial = tokenizer.encode(c.text, addSpecialTokens: true)
        if withSpecial != c.ids_with_special {
            failures.append("\(c.text.debugDescription) with special tokens: expected \(c.ids_with_special), got \(withSpecial)")
        }
    }
    #expect(failures.isEmpty, "\(label): \(failures.count) differences:\n\(failures.prefix(8).joined(separator: "\n"))")
}

@Test func smolLM2FromTokenizerJSONMatchesHF() throws {
    let cases = try smolLM2Cases()
    #expect(cases.count >= 200)
    check(try smolLM2FromJSON(), cases, "tokenizer.json")
}

@Test func smolLM2FromGGUFMatchesHF() throws {
    check(try smolLM2FromGGUF(), try smolLM2Cases(), "GGUF")
}

@Test func smolLM2SpecialTokensAndLookups() throws {
    for tokenizer in [try smolLM2FromJSON(), try smolLM2FromGGUF()] {
        #expect(tokenizer.kind == .byteLevelBPE)
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.tokenId("<|im_start|>") == 1)
        #expect(tokenizer.tokenId("<|im_end|>") == 2)
        #expect(tokenizer.token(2) == "<|im_end|>")
        #expect(tokenizer.isSpecial(1))
        #expect(tokenizer.bosTokenId == 1)
        #expect(tokenizer.eosTokenId == 2)
        #expect(!tokenizer.addsBOS && !tokenizer.addsEOS)
        let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>", addSpecialTokens: false)
        #expect(ids.first == 1 && ids.last == 2)
        #expect(tokenizer.decode(ids) == "<|im_start|>user\nHi<|im_end|>")
        #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "user\nHi")
    }
}

@Test func encodeBatchEqualsOneByOne() throws {
    let tokenizer = try smolLM2FromJSON()
    let texts = try smolLM2Cases().map(\.text)
    #expect(tokenizer.encodeBatch(texts, addSpecialTokens: false) == texts.map { tokenizer.encode($0, addSpecialTokens: false) })
}
