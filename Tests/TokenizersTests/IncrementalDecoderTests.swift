// Streaming decode: pieces joined equal the whole decode, and a continuation keeps the space SentencePiece's
// decoder strips from the start of a text.
import Testing

@testable import Tokenizers

@Test func streamedPiecesJoinToTheWholeDecode() throws {
    for name in ["llama-spm", "qwen2"] {
        let tokenizer = try vocabularyCases(name).0
        let text = "Grüße, 世界 🦙 and the rest"
        let ids = tokenizer.encode(text, addSpecialTokens: false).map(Int32.init)
        var decoder = IncrementalDecoder(tokenizer: tokenizer)
        let streamed = ids.map { decoder.add($0) }.joined() + decoder.finish()
        #expect(streamed == tokenizer.decode(ids.map(Int.init)), "\(name)")
        #expect(decoder.generated.map(Int32.init) == ids)
        // No piece ends inside a character: each one is valid text on its own.
        var pieces = IncrementalDecoder(tokenizer: tokenizer)
        #expect(!ids.map { pieces.add($0) }.joined().contains("\u{FFFD}"), "\(name)")
    }
}

@Test func aContinuationKeepsItsLeadingSpace() throws {
    let tokenizer = try vocabularyCases("llama-spm").0
    let prompt = tokenizer.encode("The capital of France is", addSpecialTokens: false)
    let whole = tokenizer.encode("The capital of France is Paris", addSpecialTokens: false)
    #expect(Array(whole.prefix(prompt.count)) == prompt)
    let answer = whole.dropFirst(prompt.count).map(Int32.init)
    // What the continuation adds to the text: the whole decode minus the prompt's.
    let expected = String(tokenizer.decode(whole).dropFirst(tokenizer.decode(prompt).count))
    #expect(expected.hasPrefix(" "))

    var continuing = IncrementalDecoder(tokenizer: tokenizer, context: prompt.map(Int32.init))
    #expect(answer.map { continuing.add($0) }.joined() + continuing.finish() == expected)
    var fresh = IncrementalDecoder(tokenizer: tokenizer)
    #expect(answer.map { fresh.add($0) }.joined() + fresh.finish() == tokenizer.decode(answer.map(Int.init)))
    #expect(tokenizer.decode(answer.map(Int.init)) == String(expected.dropFirst()))
}
