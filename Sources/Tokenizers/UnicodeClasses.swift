// Unicode character classes the split patterns use (\p{L}, \p{N}, \s, ...), UTF-8 stepping, and GPT-2's byte ↔ unicode map.

/// Bit flags for the regex classes pre-tokenizers test, looked up per scalar.
struct CharClass: OptionSet, Sendable {
    let rawValue: UInt8
    static let letter = CharClass(rawValue: 1)  // \p{L}
    static let number = CharClass(rawValue: 2)  // \p{N}
    static let space = CharClass(rawValue: 4)  // \s: the Unicode White_Space property, as Oniguruma and Rust use
    static let mark = CharClass(rawValue: 8)  // \p{M}
    static let punctuation = CharClass(rawValue: 16)  // \p{P}
    static let symbol = CharClass(rawValue: 32)  // \p{S}
    static let newline = CharClass(rawValue: 64)  // \r or \n

    /// The basic multilingual plane, precomputed once: most text never leaves it, and
    /// `Unicode.Scalar.Properties` is far too slow to ask per character.
    private static let bmp: [UInt8] = (0..<0x10000).map { compute(UInt32($0)).rawValue }

    @inline(__always)
    static func of(_ scalar: UInt32) -> CharClass {
        if scalar < 0x10000 { return CharClass(rawValue: bmp.withUnsafeBufferPointer { $0[Int(scalar)] }) }
        return compute(scalar)
    }

    static func compute(_ value: UInt32) -> CharClass {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        var result: CharClass = []
        let properties = scalar.properties
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        case .nonspacingMark, .spacingMark, .enclosingMark:
            result.insert(.mark)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            result.insert(.punctuation)
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            result.insert(.symbol)
        default:
            break
        }
        if properties.isWhitespace { result.insert(.space) }
        if value == 0x0A || value == 0x0D { result.insert(.newline) }
        return result
    }
}

/// Decodes the scalar starting at `i` in valid UTF-8 (Swift strings always are) and returns it with its byte length.
@inline(__always)
func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
    let b0 = UInt32(bytes[i])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0 { return (((b0 & 0x1F) << 6) | (UInt32(bytes[i + 1]) & 0x3F), 2) }
    if b0 < 0xF0 {
        return (((b0 & 0x0F) << 12) | ((UInt32(bytes[i + 1]) & 0x3F) << 6) | (UInt32(bytes[i + 2]) & 0x3F), 3)
    }
    return (
        ((b0 & 0x07) << 18) | ((UInt32(bytes[i + 1]) & 0x3F) << 12) | ((UInt32(bytes[i + 2]) & 0x3F) << 6)
            | (UInt32(bytes[i + 3]) & 0x3F), 4
    )
}

/// The byte length of the UTF-8 sequence a lead byte starts.
@inline(__always)
func utf8Length(_ lead: UInt8) -> Int {
    lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
}

/// GPT-2's reversible map from bytes to printable characters: byte-level vocabularies store tokens in it
/// (a space is `Ġ`, a newline `Ċ`).
enum ByteLevelAlphabet {
    /// `scalars[b]` is the character that stands for byte `b`.
    static let scalars: [Unicode.Scalar] = {
        var printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var mapped = printable
        var next = 256
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            mapped.append(next)
            next += 1
        }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for (b, c) in zip(printable, mapped) { table[b] = Unicode.Scalar(UInt32(c))! }
        return table
    }()

    static let byteOfScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalars.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The token text for raw bytes.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalars[Int(b)]) }
        return String(s)
    }

    /// The raw bytes a byte-level token stands for; characters outside the alphabet (added tokens such as
    /// `<|im_start|>` usually are inside it anyway) keep their own UTF-8.
    static func decode(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            if let b = byteOfScalar[s.value] { out.append(b) } else { out.append(contentsOf: String(s).utf8) }
        }
        return out
    }
}
