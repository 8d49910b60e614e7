// JSON text written by hand where Foundation's serializer cannot be used: byte-exact safetensors headers, and
// tokenizer.json vocabularies whose keys a Swift dictionary would fold (its String equality is canonical).

/// JSON string literals with the escapes serde_json uses (so files match the Rust readers' output byte for byte).
public enum JSONText {
    /// `text` as a JSON string literal, scalar for scalar (no Unicode normalisation).
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
