// llama.cpp's vocabulary test vectors: every input of each ggml-vocab-*.gguf must encode to exactly its ids.
import Foundation
import Formats
import TestSupport
import Testing

@testable import Tokenizers

/// The vocabularies whose every case must match. llama.cpp's test-tokenizer-0 encodes with
/// `add_special = false` and `parse_special = false`, so the expected ids carry no BOS.
private let mustPass = [
    "llama-bpe", "llama-spm", "qwen2", "qwen35", "phi-3", "gpt-2", "deepseek-llm", "deepseek-coder",
    "falcon", "starcoder", "mpt", "refact", "command-r",
]

struct VocabularyCase {
    let text: String
    let ids: [Int]
}

/// Reads `<vocab>.gguf.inp` (inputs separated by `\n__ggml_vocab_test__\n`) and `.out` (ids, a line per input).
func vocabularyCases(_ name: String) throws -> (Tokenizer, [VocabularyCase]) {
    let gguf = try TestPaths.require(TestPaths.assets.appendingPathComponent("vocab/ggml-vocab-\(name).gguf"))
    let raw = try String(contentsOf: URL(fileURLWithPath: gguf.path + ".inp"), encoding: .utf8)
    let out = try String(contentsOf: URL(fileURLWithPath: gguf.path + ".out"), encoding: .utf8)
    var inputs: [String] = []
    var rest = Substring(raw)
    let separator = "\n__ggml_vocab_test__\n"
    while !rest.isEmpty {
        if let r = rest.range(of: separator) {
            inputs.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        } else {
            inputs.append(String(rest))
            rest = ""
        }
    }
    var lines = out.components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    #expect(inputs.count == lines.count, "\(name): \(inputs.count) inputs but \(lines.count) output lines")
    let cases = zip(inputs, lines).map { text, line in
        VocabularyCase(text: text, ids: line.split(separator: " ").compactMap { Int($0) })
    }
    return (try Tokenizer(gguf: try GGUFFile(url: gguf)), cases)
}

@Test(arguments: mustPass)
func vocabularyMatchesLlamaCpp(_ name: String) throws {
    let (tokenizer, cases) = try vocabularyCases(name)
    #expect(cases.count > 10)
    var failures: [String] = []
    for c in cases {
        let got = tokenizer.encode(c.text, addSpecialTokens: false, parseSpecial: false)
        if got != c.ids {
            failures.append("\(c.text.debugDescription): expected \(c.ids), got \(got)")
        }
    }
    #expect(failures.isEmpty, "\(name): \(failures.count)/\(cases.count) cases differ:\n\(failures.prefix(8).joined(separator: "\n"))")
}

@Test(arguments: ["ggml-vocab-bert-bge.gguf", "ggml-vocab-nomic-bert-moe.gguf"])
func unsupportedGGUFVocabulariesSayWhy(_ file: String) throws {
    let url = try TestPaths.require(TestPaths.assets.appendingPathComponent("vocab/\(file)"))
    #expect {
        _ = try Tokenizer(gguf: try GGUFFile(url: url))
    } throws: { error in
        guard case .unsupportedModel(_, let model) = error as? TokenizersError else { return false }
        return model.contains("WordPiece") || model.contains("Unigram")
    }
}

@Test func llamaBPEAddsBOSWhenAskedAndDecodesBack() throws {
    let (tokenizer, cases) = try vocabularyCases("llama-bpe")
    #expect(tokenizer.bosTokenId == 128000)
    #expect(tokenizer.addsBOS)
    let text = "Hello world"
    #expect(tokenizer.encode(text, addSpecialTokens: true) == [128000] + tokenizer.encode(text, addSpecialTokens: false))
    for c in cases { #expect(tokenizer.decode(c.ids) == c.text) }
    // Special-token text is one token when parsed, plain text otherwise.
    #expect(tokenizer.encode("<|begin_of_text|>", addSpecialTokens: false) == [128000])
    #expect(tokenizer.encode("<|begin_of_text|>", addSpecialTokens: false, parseSpecial: false).count > 1)
    #expect(tokenizer.decode([128000, 9906], skipSpecialTokens: true) == "Hello")
}

@Test func llamaSPMDecodesBackAndAddsBOS() throws {
    let (tokenizer, cases) = try vocabularyCases("llama-spm")
    #expect(tokenizer.kind == .sentencePieceBPE)
    #expect(tokenizer.encode("Hello", addSpecialTokens: true).first == 1)
    for c in cases where !c.text.hasPrefix(" ") {
        #expect(tokenizer.decode(c.ids) == c.text, "\(c.text.debugDescription)")
    }
    #expect(tokenizer.token(13) == "<0x0A>")
    #expect(tokenizer.tokenId("▁the") != nil)
}
