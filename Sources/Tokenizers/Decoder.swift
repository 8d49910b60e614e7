// Decoders: turn token strings back into text (byte-level bytes, `▁` to space, `<0xNN>` bytes, fuse, strip, replace).
import Foundation

indirect enum Decoder: Sendable {
    case byteLevel
    case metaspace(replacement: String, prependScheme: PrependScheme)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(pattern: String, content: String)
    case sequence([Decoder])

    /// HF's `decode_chain`: each step maps the token strings to new token strings.
    func apply(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(tokens) { $1.apply($0) }
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens {
                var mapped: [UInt8] = []
                var ok = true
                for s in t.unicodeScalars {
                    guard let b = ByteLevelAlphabet.byteOfScalar[s.value] else {
                        ok = false
                        break
                    }
                    mapped.append(b)
                }
                bytes.append(contentsOf: ok ? mapped : Array(t.utf8))
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, t in
                var s = t.replacingOccurrences(of: replacement, with: " ").unicodeScalars[...]
                // Scalars, not Characters: a space followed by a combining mark is one Character.
                if i == 0 && scheme != .never && s.first == " " { s.removeFirst() }
                return String(String.UnicodeScalarView(s))
            }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(bytes: pending, encoding: .utf8) {
                    out.append(s)
                } else {
                    out.append(String(repeating: "\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for t in tokens {
                if let b = Self.fallbackByte(t) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                var chars = t.unicodeScalars[...]
                var n = 0
                while n < start, chars.first == content {
                    chars.removeFirst()
                    n += 1
                }
                n = 0
                while n < stop, chars.last == content {
                    chars.removeLast()
                    n += 1
                }
                return String(String.UnicodeScalarView(chars))
            }
        case .replace(let pattern, let content):
            return tokens.map { $0.replacingOccurrences(of: pattern, with: content) }
        }
    }

    /// The byte a SentencePiece byte-fallback token `<0xNN>` stands for; nil for any other token.
    static func fallbackByte(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }
}
