// Streaming decode: generated tokens become printable text one piece at a time.

/// Turns a growing list of generated tokens into text pieces without splitting multi-byte characters: the text is
/// decoded whole each time, and a trailing U+FFFD (an incomplete UTF-8 sequence) is held back until it completes.
///
/// A continuation of a text (`context`: the prompt's tokens) is decoded after the context's last tokens, so a
/// SentencePiece decoder's leading-space strip applies to the start of the whole text, not to the continuation
/// (" Paris" after "The capital of France is", as llama.cpp prints it). Without a context the first piece is
/// decoded on its own, as Hugging Face decodes an answer.
public struct IncrementalDecoder {
    public let tokenizer: Tokenizer
    private var ids: [Int]
    private let contextCount: Int
    private var emitted: String

    /// - Parameter context: tokens the generated ones continue; only the last few are kept, from a token whose
    ///   decoded text holds no incomplete character.
    public init(tokenizer: Tokenizer, context: [Int32] = []) {
        self.tokenizer = tokenizer
        var kept = context.suffix(4).map(Int.init)
        var text = tokenizer.decode(kept, skipSpecialTokens: true)
        while !kept.isEmpty, text.contains("\u{FFFD}") {
            kept.removeFirst()
            text = tokenizer.decode(kept, skipSpecialTokens: true)
        }
        ids = kept
        contextCount = kept.count
        emitted = text
    }

    /// The generated tokens so far.
    public var generated: ArraySlice<Int> { ids[contextCount...] }

    /// The new text that `token` completes (possibly empty).
    public mutating func add(_ token: Int32) -> String {
        ids.append(Int(token))
        let text = tokenizer.decode(ids, skipSpecialTokens: true)
        if text.hasSuffix("\u{FFFD}") { return "" }
        return take(text)
    }

    /// Whatever is still held back (at the end of an answer).
    public mutating func finish() -> String {
        take(tokenizer.decode(ids, skipSpecialTokens: true))
    }

    private mutating func take(_ text: String) -> String {
        // Bytes, not Characters: a combining mark that arrives later must not change what was already printed.
        let old = emitted.utf8
        let new = text.utf8
        var common = 0
        var a = old.startIndex
        var b = new.startIndex
        while a != old.endIndex, b != new.endIndex, old[a] == new[b] {
            common += 1
            a = old.index(after: a)
            b = new.index(after: b)
        }
        // A decoder that rewrites earlier text (a stripped leading space) cannot be unprinted; print what is new.
        let piece = String(decoding: new.dropFirst(max(common, min(old.count, new.count))), as: UTF8.self)
        emitted = text
        return piece
    }
}
