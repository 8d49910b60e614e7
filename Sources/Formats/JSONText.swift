// JSON text written by hand where Foundation's serializer cannot be used: byte-exact safetensors headers, and
// tokenizer.json vocabularies whose keys a Swift dictionary would fold (its String equality is canonical), and
// config files whose float fields must stay floats (Foundation writes 50.0 as 50, which transformers 5's typed
// configs refuse for a float field such as final_logit_softcapping).

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

    /// `value` (dictionaries with String keys, arrays, String, Bool, Int, Double, Float, NSNull-like nil markers)
    /// as pretty-printed JSON with sorted keys; a Double or Float always keeps a decimal point or exponent, so a
    /// float setting reads back as a float.
    ///
    /// `precondition`s on other types: the callers build these values themselves.
    public static func pretty(_ value: Any, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case let dictionary as [String: Any]:
            if dictionary.isEmpty { return "{}" }
            let members = dictionary.keys.sorted().map { key in
                inner + quoted(key) + ": " + pretty(dictionary[key]!, indent: inner)
            }
            return "{\n" + members.joined(separator: ",\n") + "\n" + indent + "}"
        case let array as [Any]:
            if array.isEmpty { return "[]" }
            return "[\n" + array.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case let text as String: return quoted(text)
        case let flag as Bool: return flag ? "true" : "false"
        case let integer as Int: return String(integer)
        case let number as Float: return floatText(Double(number))
        case let number as Double: return floatText(number)  // Swift's shortest round trip: 50.0, 1e-05, 0.1
        case is JSONNull: return "null"
        default: preconditionFailure("JSONText.pretty: unsupported value \(type(of: value))")
        }
    }

    private static func floatText(_ number: Double) -> String {
        precondition(number.isFinite, "JSON has no \(number)")
        return "\(number)"
    }
}

/// JSON's null in values given to `JSONText.pretty`.
public struct JSONNull: Sendable {
    public init() {}
}
