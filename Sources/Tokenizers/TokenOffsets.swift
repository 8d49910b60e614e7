// Where each token of an encoding lies in the original text, as UTF-8 byte ranges (for loss masks over text spans).
import Foundation

extension Tokenizer {
    /// The bytes of text a token stands for: an added token's content, a byte-level token's raw bytes, or a
    /// SentencePiece token with `▁` read as a space and `<0xNN>` as its byte.
    public func tokenBytes(_ id: Int) -> [UInt8] {
        if let added = addedTokens.first(where: { $0.id == id }) { return Array(added.content.utf8) }
        return modelTokenBytes(id)
    }

    private func modelTokenBytes(_ id: Int) -> [UInt8] {
        guard id >= 0 && id < model.tokens.count else { return [] }
        if model.byteLevel { return model.tokenBytes[id] }
        let text = model.tokens[id]
        if let byte = Decoder.fallbackByte(text) { return [byte] }
        return Array(text.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
    }

    /// `ids` (an encoding of `text` without added BOS/EOS) with the UTF-8 byte range of `text` each one covers,
    /// found by walking the token bytes along the text. A SentencePiece dummy-prefix space that is not in the
    /// text gets the empty range before its word. Nil when the tokens do not spell the text (a normalizer that
    /// rewrites characters, say), so the caller can fall back to another way.
    public func byteOffsets(of ids: [Int], in text: String) -> [Range<Int>]? {
        let bytes = Array(text.utf8)
        var position = 0
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(ids.count)
        var added: [Int: [UInt8]] = [:]
        for token in addedTokens { added[token.id] = Array(token.content.utf8) }
        for id in ids {
            var piece = (added[id] ?? modelTokenBytes(id))[...]
            if !bytes[position...].starts(with: piece), piece.first == 0x20 {
                // The dummy prefix (or a `▁` alone) stands for a space the text never had.
                piece = piece.dropFirst()
            }
            guard bytes[position...].starts(with: piece) else { return nil }
            ranges.append(position..<(position + piece.count))
            position += piece.count
        }
        return position == bytes.count ? ranges : nil
    }
}
