// Template source → tokens, with jinja2's whitespace rules as transformers sets them.
//
// Layout read: text, `{{ expr }}`, `{% stmt %}`, `{# comment #}`, `{% raw %}…{% endraw %}`. A `-` after the
// opening (or before the closing) delimiter strips whitespace on that side; `+` after `{%` turns lstrip off.
// trim_blocks: one newline after a block or comment tag is dropped. lstrip_blocks: spaces and tabs before a
// block or comment tag that starts its line are dropped. keep_trailing_newline=False: one final newline is dropped.
import Foundation

enum TokenKind: Equatable {
    case text(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case end
}

struct Token {
    let kind: TokenKind
    let position: SourcePosition
}

struct Lexer {
    private let s: [Unicode.Scalar]
    private var lineStarts: [Int] = [0]
    private var tokens: [Token] = []
    private var i = 0

    init(source: String) {
        // jinja2 normalises every newline sequence to "\n" and drops one trailing newline.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for scalar in source.unicodeScalars {
            if scalar == "\r" {
                scalars.append("\n")
                previousCR = true
                continue
            }
            if scalar == "\n" && previousCR {
                previousCR = false
                continue
            }
            previousCR = false
            scalars.append(scalar)
        }
        if scalars.last == "\n" { scalars.removeLast() }
        s = scalars
        for (index, scalar) in s.enumerated() where scalar == "\n" { lineStarts.append(index + 1) }
    }

    private func position(_ index: Int) -> SourcePosition {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= index { low = mid } else { high = mid - 1 }
        }
        return SourcePosition(line: low + 1, column: index - lineStarts[low] + 1)
    }

    private func syntaxError(_ message: String, at index: Int) -> ChatTemplatesError {
        Failure(.syntax, message).at(position(index))
    }

    private func at(_ index: Int, _ text: String) -> Bool {
        var k = index
        for scalar in text.unicodeScalars {
            guard k < s.count, s[k] == scalar else { return false }
            k += 1
        }
        return true
    }

    private static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}" || c == "\u{0C}"
    }

    private func string(_ range: Range<Int>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s[range])
        return String(view)
    }

    /// Emits text before a tag, applying `-` (strip all whitespace) or lstrip_blocks.
    private mutating func emitText(_ start: Int, _ end: Int, sign: Unicode.Scalar?, lstrip: Bool, lineStarting: Bool) {
        var stop = end
        if sign == "-" {
            while stop > start, Lexer.isSpace(s[stop - 1]) { stop -= 1 }
        } else if sign != "+" && lstrip {
            var lineStart = stop
            while lineStart > start, s[lineStart - 1] != "\n" { lineStart -= 1 }
            if lineStart > start || lineStarting {
                if s[lineStart..<stop].allSatisfy({ $0 == " " || $0 == "\t" }) { stop = lineStart }
            }
        }
        if stop > start { tokens.append(Token(kind: .text(string(start..<stop)), position: position(start))) }
    }

    /// After a closing delimiter: `-` eats all whitespace, otherwise trim_blocks eats one newline.
    private mutating func afterTag(minus: Bool, plus: Bool, trimBlock: Bool) -> Bool {
        if minus {
            while i < s.count, Lexer.isSpace(s[i]) { i += 1 }
        } else if trimBlock && !plus, i < s.count, s[i] == "\n" {
            i += 1
        }
        return i > 0 && s[i - 1] == "\n"
    }

    /// Matches `{%[-+]? name [-+]?%}` at `index`; returns the sign before, the sign after and the end index.
    private func matchSimpleBlock(_ index: Int, _ name: String) -> (Unicode.Scalar?, Unicode.Scalar?, Int)? {
        guard at(index, "{%") else { return nil }
        var k = index + 2
        var before: Unicode.Scalar?
        if k < s.count, s[k] == "-" || s[k] == "+" {
            before = s[k]
            k += 1
        }
        while k < s.count, Lexer.isSpace(s[k]) { k += 1 }
        guard at(k, name) else { return nil }
        k += name.unicodeScalars.count
        while k < s.count, Lexer.isSpace(s[k]) { k += 1 }
        var after: Unicode.Scalar?
        if k < s.count, s[k] == "-" || s[k] == "+" {
            after = s[k]
            k += 1
        }
        guard at(k, "%}") else { return nil }
        return (before, after, k + 2)
    }

    mutating func tokenize() throws -> [Token] {
        var lineStarting = true
        while i < s.count {
            // Find the next tag opening.
            var open = i
            while open < s.count {
                if s[open] == "{", open + 1 < s.count, s[open + 1] == "{" || s[open + 1] == "%" || s[open + 1] == "#" {
                    break
                }
                open += 1
            }
            if open >= s.count {
                emitText(i, s.count, sign: nil, lstrip: false, lineStarting: lineStarting)
                i = s.count
                break
            }
            let kind = s[open + 1]
            var sign: Unicode.Scalar?
            if open + 2 < s.count, s[open + 2] == "-" || s[open + 2] == "+" { sign = s[open + 2] }
            if kind == "%", let (_, rawAfter, rawEnd) = matchSimpleBlock(open, "raw") {
                emitText(i, open, sign: sign, lstrip: true, lineStarting: lineStarting)
                i = rawEnd
                if rawAfter == "-" { while i < s.count, Lexer.isSpace(s[i]) { i += 1 } }
                var close = i
                var found: (Unicode.Scalar?, Unicode.Scalar?, Int)?
                while close < s.count {
                    if let match = matchSimpleBlock(close, "endraw") {
                        found = match
                        break
                    }
                    close += 1
                }
                guard let (endBefore, endAfter, endIndex) = found else {
                    throw syntaxError("Missing end of raw directive", at: open)
                }
                emitText(i, close, sign: endBefore, lstrip: true, lineStarting: false)
                i = endIndex
                lineStarting = afterTag(minus: endAfter == "-", plus: endAfter == "+", trimBlock: true)
                continue
            }
            emitText(i, open, sign: sign, lstrip: kind != "{", lineStarting: lineStarting)
            i = open + 2 + (sign == nil ? 0 : 1)
            if kind == "#" {
                var close = i
                while close + 1 < s.count, !(s[close] == "#" && s[close + 1] == "}") { close += 1 }
                guard close + 1 < s.count else { throw syntaxError("unexpected end of template: missing '#}'", at: open) }
                let minus = close > i && s[close - 1] == "-"
                i = close + 2
                lineStarting = afterTag(minus: minus, plus: false, trimBlock: true)
                continue
            }
            let isBlock = kind == "%"
            tokens.append(Token(kind: isBlock ? .blockBegin : .variableBegin, position: position(open)))
            let (minus, plus) = try lexInside(block: isBlock, opened: open)
            lineStarting = afterTag(minus: minus, plus: plus, trimBlock: isBlock)
        }
        tokens.append(Token(kind: .end, position: position(s.count)))
        return tokens
    }

    private static let operators2 = ["//", "**", "==", "!=", ">=", "<="]
    private static let operators1 = Set("+-/*%~[](){}><=.:|,;".unicodeScalars)

    /// Lexes an expression up to its closing delimiter; returns whether that delimiter had `-` or `+`.
    private mutating func lexInside(block: Bool, opened: Int) throws -> (Bool, Bool) {
        let close = block ? "%}" : "}}"
        var balance: [Unicode.Scalar] = []
        while true {
            while i < s.count, Lexer.isSpace(s[i]) { i += 1 }
            guard i < s.count else {
                throw syntaxError("unexpected end of template: missing '\(close)'", at: opened)
            }
            let start = i
            if balance.isEmpty {
                if at(i, close) {
                    i += 2
                    tokens.append(Token(kind: block ? .blockEnd : .variableEnd, position: position(start)))
                    return (false, false)
                }
                if (s[i] == "-" || (block && s[i] == "+")) && at(i + 1, close) {
                    let minus = s[i] == "-"
                    i += 3
                    tokens.append(Token(kind: block ? .blockEnd : .variableEnd, position: position(start)))
                    return (minus, !minus)
                }
            }
            let c = s[i]
            if c == "_" || c.properties.isAlphabetic {
                while i < s.count, s[i] == "_" || s[i].properties.isAlphabetic || ("0"..."9").contains(s[i]) { i += 1 }
                tokens.append(Token(kind: .name(string(start..<i)), position: position(start)))
            } else if ("0"..."9").contains(c) {
                tokens.append(Token(kind: try lexNumber(), position: position(start)))
            } else if c == "'" || c == "\"" {
                tokens.append(Token(kind: .string(try lexString(quote: c)), position: position(start)))
            } else {
                var op: String?
                for candidate in Lexer.operators2 where at(i, candidate) { op = candidate }
                if op == nil, Lexer.operators1.contains(c) { op = String(Character(c)) }
                guard let op else { throw syntaxError("unexpected char \(pyRepr(String(Character(c)))) at \(i)", at: i) }
                i += op.unicodeScalars.count
                switch op {
                case "(", "[", "{": balance.append(c)
                case ")", "]", "}":
                    let expected: Unicode.Scalar = op == ")" ? "(" : op == "]" ? "[" : "{"
                    guard balance.last == expected else { throw syntaxError("unexpected '\(op)'", at: start) }
                    balance.removeLast()
                default: break
                }
                tokens.append(Token(kind: .op(op), position: position(start)))
            }
        }
    }

    private mutating func lexNumber() throws -> TokenKind {
        let start = i
        func digits() {
            while i < s.count, ("0"..."9").contains(s[i]) || (s[i] == "_" && i + 1 < s.count && ("0"..."9").contains(s[i + 1])) {
                i += 1
            }
        }
        digits()
        var isFloat = false
        if i + 1 < s.count, s[i] == ".", ("0"..."9").contains(s[i + 1]) {
            isFloat = true
            i += 1
            digits()
        }
        if i < s.count, s[i] == "e" || s[i] == "E" {
            var k = i + 1
            if k < s.count, s[k] == "+" || s[k] == "-" { k += 1 }
            if k < s.count, ("0"..."9").contains(s[k]) {
                isFloat = true
                i = k
                digits()
            }
        }
        let text = string(start..<i).replacingOccurrences(of: "_", with: "")
        if isFloat {
            guard let value = Double(text) else { throw syntaxError("invalid number \(text)", at: start) }
            return .float(value)
        }
        guard let value = Int(text) else { throw syntaxError("integer \(text) is too large", at: start) }
        return .integer(value)
    }

    /// A string literal with Python's escapes; unknown escapes keep their backslash, as in Python.
    private mutating func lexString(quote: Unicode.Scalar) throws -> String {
        let start = i
        i += 1
        var out = String.UnicodeScalarView()
        while true {
            guard i < s.count else { throw syntaxError("unexpected end of string", at: start) }
            let c = s[i]
            i += 1
            if c == quote { break }
            guard c == "\\", i < s.count else {
                out.append(c)
                continue
            }
            let e = s[i]
            i += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\n": break
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                guard i + width <= s.count, let code = UInt32(string(i..<i + width), radix: 16),
                    let scalar = Unicode.Scalar(code)
                else { throw syntaxError("invalid \\\(e) escape in a string", at: i - 2) }
                out.append(scalar)
                i += width
            case "0"..."7":
                var code = e.value - 48
                var n = 1
                while n < 3, i < s.count, ("0"..."7").contains(s[i]) {
                    code = code * 8 + s[i].value - 48
                    i += 1
                    n += 1
                }
                out.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                out.append("\\")
                out.append(e)
            }
        }
        return String(out)
    }
}
