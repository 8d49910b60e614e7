// decode(encode(s)) == s for random Unicode strings (seeded), for byte-level and SentencePiece tokenizers.
import Foundation
import Formats
import TestSupport
import Testing

@testable import Tokenizers


/// Strings drawn from ranges that stress different paths: ASCII, whitespace, Latin, CJK, emoji, marks, planes 1-3.
/// (Planes 4-16 would need UTF-8 lead bytes F1-F7, which some byte-level vocabularies, SmolLM2's among them, lack:
/// HF drops those bytes too.)
func randomStrings(count: Int, seed: UInt64) -> [String] {
    var rng = SeededGenerator(seed: seed)
    let ranges: [ClosedRange<UInt32>] = [
        0x20...0x7E, 0x20...0x7E, 0x09...0x0D, 0xA0...0x24F, 0x300...0x36F, 0x370...0x52F, 0x590...0x6FF,
        0x900...0x97F, 0x3040...0x30FF, 0x4E00...0x9FFF, 0xAC00...0xD7A3, 0x1F300...0x1FAFF, 0x10000...0x3FFFF,
        0x2000...0x206F, 0xFF00...0xFFEF,
    ]
    return (0..<count).map { _ in
        var s = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...24, using: &rng) {
            let range = ranges.randomElement(using: &rng)!
            if let scalar = Unicode.Scalar(UInt32.random(in: range, using: &rng)) { s.append(scalar) }
        }
        return String(s)
    }
}

@Test func byteLevelRoundTrips() throws {
    for tokenizer in [try smolLM2FromJSON(), try smolLM2FromGGUF(), try vocabularyCases("qwen2").0] {
        for s in randomStrings(count: 300, seed: 42) {
            let ids = tokenizer.encode(s, addSpecialTokens: false)
            #expect(tokenizer.decode(ids) == s, "\(tokenizer.source): \(s.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }
}

@Test func sentencePieceRoundTrips() throws {
    for name in ["llama-spm", "phi-3"] {
        let tokenizer = try vocabularyCases(name).0
        for s in randomStrings(count: 300, seed: 7) {
            // A leading space is the one thing SentencePiece's dummy prefix cannot give back, in every implementation.
            let ids = tokenizer.encode(s, addSpecialTokens: false, parseSpecial: false)
            #expect(tokenizer.decode(ids) == s, "\(name): \(s.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }
}

@Test func unigramAndWordPieceTokenizerJSONAreRefused() throws {
    for (folder, model) in [("unigram", "Unigram"), ("wordpiece", "WordPiece")] {
        let url = TestPaths.fixtures.appendingPathComponent("tokenizers/\(folder)")
        #expect(throws: TokenizersError.unsupportedModel(path: url.appendingPathComponent("tokenizer.json").path, model: model)) {
            _ = try Tokenizer(folder: url)
        }
        do {
            _ = try Tokenizer(folder: url)
        } catch {
            #expect("\(error)".contains(model) && "\(error)".contains("BPE"))
        }
    }
}

@Test func tokenizerJSONWithStrayIdsIsRefusedBeforeItsTableIsSized() throws {
    func load(_ json: String) throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: Data(json.utf8), configJSON: nil, path: "tokenizer.json")
    }
    // A vocab id far past the token count used to size the id table (terabytes), or overflow it at Int.max.
    for id in ["29800000000000", "9223372036854775807"] {
        #expect(throws: TokenizersError.self, "id \(id)") {
            try load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": \#(id)}, "merges": []}}"#)
        }
    }
    // An added token with a negative id would come out of encode as an id no embedding has.
    #expect(throws: TokenizersError.self) {
        try load(#"{"added_tokens": [{"id": -5, "content": "x"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#)
    }
    // A hole for an added token is still fine: ids 0 and 2 in the vocab, 1 added.
    let tokenizer = try load(
        #"{"added_tokens": [{"id": 1, "content": "<s>", "special": true}], "model": {"type": "BPE", "vocab": {"a": 0, "b": 2}, "merges": []}}"#)
    #expect(tokenizer.encode("<s>ab", addSpecialTokens: false) == [1, 0, 2])
}
