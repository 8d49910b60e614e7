// Normalizers: rewrite text before pre-tokenization (Unicode forms, lowercase, prepend, replace, strip).
import Foundation

indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd, lowercase
    case prepend(String)
    /// A literal `pattern` replaced everywhere.
    case replace(pattern: String, content: String)
    /// A regular-expression `pattern` replaced everywhere.
    case replaceRegex(SharedRegex, content: String)
    case strip(left: Bool, right: Bool)
    case sequence([Normalizer])

    func apply(_ text: String) -> String {
        switch self {
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase:
            // Per scalar, as Rust's `char::to_lowercase`; `String.lowercased()` is locale-free too but grapheme-based.
            var out = String.UnicodeScalarView()
            for s in text.unicodeScalars { out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars) }
            return String(out)
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            guard !pattern.isEmpty else { return text }
            return Self.replaceLiteral(text, Array(pattern.utf8), Array(content.utf8))
        case .replaceRegex(let shared, let content):
            let range = NSRange(location: 0, length: text.utf16.count)
            let template = NSRegularExpression.escapedTemplate(for: content)
            return shared.regex.stringByReplacingMatches(in: text, options: [], range: range, withTemplate: template)
        case .strip(let left, let right):
            var scalars = Substring(text).unicodeScalars[...]
            if left { while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() } }
            return String(String.UnicodeScalarView(scalars))
        case .sequence(let steps):
            return steps.reduce(text) { $1.apply($0) }
        }
    }

    /// Byte-wise replacement: both sides are whole UTF-8 sequences, so a byte match is a character match.
    private static func replaceLiteral(_ text: String, _ needle: [UInt8], _ with: [UInt8]) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        var i = 0
        while i < bytes.count {
            if bytes[i] == needle[0] && i + needle.count <= bytes.count && bytes[i..<(i + needle.count)].elementsEqual(needle) {
                out.append(contentsOf: with)
                i += needle.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
