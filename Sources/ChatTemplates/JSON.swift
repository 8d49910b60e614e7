// JSON text → Value, keeping object key order (Foundation's JSONSerialization does not), and Value → JSON text.
//
// Reads RFC 8259 JSON from UTF-8 bytes: objects become ordered dicts, integers without fraction or exponent
// that fit in Int become `.int`, other numbers `.double`, `\uXXXX` surrogate pairs are joined.
import Foundation

extension Value {
    /// Parses JSON text, keeping the order of object keys.
    public static func fromJSON(_ text: String) throws -> Value {
        try fromJSON(Data(text.utf8))
    }

    /// Parses JSON bytes, keeping the order of object keys.
    public static func fromJSON(_ data: Data) throws -> Value {
        var parser = JSONParser(bytes: [UInt8](data))
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else {
            throw ChatTemplatesError.invalidJSON(offset: parser.position, reason: "unexpected text after the JSON value")
        }
        return value
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    func fail(_ reason: String) -> ChatTemplatesError {
        .invalidJSON(offset: position, reason: reason)
    }

    mutating func parseValue(depth: Int) throws -> Value {
        guard depth < 512 else { throw fail("nesting deeper than 512 levels") }
        guard position < bytes.count else { throw fail("expected a value, found the end of the text") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            position += 1
            var dict = OrderedDict()
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .dict(dict)
            }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw fail("expected a string key in an object")
                }
                let key = try parseString()
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                dict[key] = try parseValue(depth: depth + 1)
                skipWhitespace()
                if try endOrComma("}") { return .dict(dict) }
            }
        case UInt8(ascii: "["):
            position += 1
            var items: [Value] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .list(items)
            }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if try endOrComma("]") { return .list(items) }
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .none
        default:
            return try parseNumber()
        }
    }

    mutating func expect(_ character: Character) throws {
        guard position < bytes.count, bytes[position] == character.asciiValue else {
            throw fail("expected '\(character)'")
        }
        position += 1
    }

    mutating func endOrComma(_ close: Character) throws -> Bool {
        guard position < bytes.count else { throw fail("expected ',' or '\(close)', found the end of the text") }
        if bytes[position] == close.asciiValue {
            position += 1
            return true
        }
        try expect(",")
        return false
    }

    mutating func literal(_ word: String) throws {
        let expected = Array(word.utf8)
        guard position + expected.count <= bytes.count,
            Array(bytes[position..<position + expected.count]) == expected
        else { throw fail("expected '\(word)'") }
        position += expected.count
    }

    mutating func parseNumber() throws -> Value {
        let start = position
        var isInteger = true
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        while position < bytes.count {
            let byte = bytes[position]
            if byte >= 0x30 && byte <= 0x39 {
                position += 1
            } else if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
            {
                isInteger = false
                position += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger, let value = Int(text) { return .int(value) }
        guard !text.isEmpty, let value = Double(text) else { throw fail("expected a value, found '\(text)'") }
        return .double(value)
    }

    mutating func parseString() throws -> String {
        position += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard position < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte != UInt8(ascii: "\\") {
                out.append(byte)
                continue
            }
            guard position < bytes.count else { throw fail("unterminated escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(escape)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if code >= 0xD800 && code < 0xDC00, position + 1 < bytes.count,
                    bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                {
                    position += 2
                    let low = try hex4()
                    if low >= 0xDC00 && low < 0xE000 {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        out.append(contentsOf: Array(String(Character("\u{FFFD}")).utf8))
                        code = low
                    }
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw fail("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count,
            let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
        else { throw fail("expected four hex digits after \\u") }
        position += 4
        return code
    }
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent, separators=..., sort_keys=...)`,
/// which transformers installs as the `tojson` filter.
struct JSONDumper {
    var indent: String?
    var itemSeparator: String
    var keySeparator: String
    var sortKeys: Bool

    init(indent: String?, separators: (String, String)?, sortKeys: Bool) {
        self.indent = indent
        self.sortKeys = sortKeys
        if let separators {
            (itemSeparator, keySeparator) = separators
        } else {
            itemSeparator = indent == nil ? ", " : ","
            keySeparator = ": "
        }
    }

    func dump(_ value: Value) throws -> String {
        var out = ""
        try write(value, into: &out, level: 0)
        return out
    }

    private func newline(_ out: inout String, _ level: Int) throws {
        guard let indent else { return }
        out += "\n"
        for _ in 0..<level {
            out += indent
            try Operators.checkLength(out.utf8.count)
        }
    }

    private func write(_ value: Value, into out: inout String, level: Int) throws {
        // Each step appends at most one string or separator of the value (each under the cap), so this bounds the text.
        try Operators.checkLength(out.utf8.count)
        switch value.plain {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN {
                out += "NaN"
            } else if d.isInfinite {
                out += d < 0 ? "-Infinity" : "Infinity"
            } else {
                out += pythonFloatRepr(d)
            }
        case .string(let s): out += jsonQuote(s)
        case .list(let items), .tuple(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += itemSeparator }
                try newline(&out, level + 1)
                try write(item, into: &out, level: level + 1)
            }
            try newline(&out, level)
            out += "]"
        case .dict(let dict):
            if dict.count == 0 {
                out += "{}"
                return
            }
            var pairs: [(String, Value)] = []
            for (key, item) in dict.pairs {
                switch key {
                case .string(let s): pairs.append((s, item))
                case .int, .double, .bool, .none:
                    var text = ""
                    try write(key, into: &text, level: 0)
                    pairs.append((text, item))
                default:
                    throw Failure(.type, "keys must be str, int, float, bool or None, not \(key.typeName)")
                }
            }
            if sortKeys { pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } }
            out += "{"
            for (i, (key, item)) in pairs.enumerated() {
                if i > 0 { out += itemSeparator }
                try newline(&out, level + 1)
                out += jsonQuote(key) + keySeparator
                try write(item, into: &out, level: level + 1)
            }
            try newline(&out, level)
            out += "}"
        default:
            throw Failure(.type, "Object of type \(value.typeName) is not JSON serializable")
        }
    }
}

/// A JSON string literal as Python writes it with `ensure_ascii=False`.
func jsonQuote(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        default:
            if scalar.value < 0x20 {
                let digits = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
