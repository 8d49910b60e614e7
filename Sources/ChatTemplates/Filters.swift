// jinja2's built-in filters (3.1 semantics) plus transformers' `tojson`, and the tests after `is`.
import Foundation

enum Filters {
    static let names: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
    ]

    static func apply(_ name: String, _ input: Value, _ args: Arguments, _ interpreter: Interpreter) throws -> Value {
        if case .markup = input, name == "escape" || name == "e" || name == "safe" { return input }
        let value = input.plain
        switch name {
        case "safe", "string":
            if case .undefined(let u) = value, u.isSecurity { throw undefinedFailure(u) }
            return name == "safe" ? .markup(value.pythonString) : .string(value.pythonString)
        case "trim":
            return .string(PyString.strip(value.pythonString, try optionalString(args, 0, "chars"), left: true, right: true))
        case "upper": return .string(value.pythonString.uppercased())
        case "lower": return .string(value.pythonString.lowercased())
        case "capitalize": return .string(PyString.capitalize(value.pythonString))
        case "title": return .string(jinjaTitle(value.pythonString))
        case "length", "count": return .int(try length(value))
        case "tojson": return try tojson(value, args)
        case "join":
            let separator = try optionalString(args, 0, "d") ?? ""
            var items = try iterate(value)
            if let attribute = args.value(1, "attribute") { items = try items.map { try lookupPath($0, attribute, nil) } }
            let parts = items.map(\.pythonString)
            let length = parts.reduce(0) { $0 + $1.utf8.count } + separator.utf8.count * max(0, parts.count - 1)
            try Operators.checkLength(length)
            return .string(parts.joined(separator: separator))
        case "first", "last":
            if name == "last", case .iterator(let type, _) = value, type == "generator" {
                throw Failure(.type, "'generator' object is not reversible")
            }
            let items = try iterate(value)
            guard let item = name == "first" ? items.first : items.last else {
                return .undefined(Undefined(message: "No \(name) item, sequence was empty."))
            }
            return item
        case "default", "d":
            let fallback = args.value(0, "default_value") ?? .string("")
            let boolean = args.value(1, "boolean")?.isTruthy ?? false
            if value.isUndefined || (boolean && !value.isTruthy) { return fallback }
            return value
        case "list": return .list(try iterate(value))
        case "items":
            switch value {
            case .dict(let d): return .iterator("generator", d.pairs.map { .tuple([$0, $1]) })
            case .undefined: return .iterator("generator", [])
            default: throw Failure(.type, "Can only get item pairs from a mapping.")
            }
        case "reverse":
            if case .string(let s) = value { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            switch value {
            case .list(let items): return .iterator("list_reverseiterator", items.reversed())
            case .tuple(let items): return .iterator("reversed", items.reversed())
            default: return .list(try iterate(value).reversed())
            }
        case "unique":
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let attribute = args.value(1, "attribute")
            var seen: [Value] = []
            var result: [Value] = []
            for item in try iterate(value) {
                var key = try attribute.map { try lookupPath(item, $0, nil) } ?? item
                if !caseSensitive { key = ignoreCase(key) }
                if !seen.contains(where: { pythonEqual($0, key) }) {
                    seen.append(key)
                    result.append(item)
                }
            }
            return .iterator("generator", result)
        case "sort":
            let reverse = args.value(0, "reverse")?.isTruthy ?? false
            let caseSensitive = args.value(1, "case_sensitive")?.isTruthy ?? false
            return .list(try sorted(try iterate(value), attribute: args.value(2, "attribute"), caseSensitive: caseSensitive, reverse: reverse))
        case "dictsort":
            guard case .dict(let d) = value else { throw Failure(.type, "You can only sort by either \"key\" or \"value\"") }
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let byValue = args.value(1, "by").map { $0.pythonString == "value" } ?? false
            let reverse = args.value(2, "reverse")?.isTruthy ?? false
            let pairs = d.pairs.map { Value.tuple([$0, $1]) }
            return .list(try sortedBy(pairs, reverse: reverse) { pair in
                guard case .tuple(let kv) = pair else { return pair }
                let key = byValue ? kv[1] : kv[0]
                return caseSensitive ? key : ignoreCase(key)
            })
        case "replace":
            guard let old = try optionalString(args, 0, "old"), let new = try optionalString(args, 1, "new") else {
                throw Failure(.type, "do_replace() missing required arguments 'old' and 'new'")
            }
            let count = args.value(2, "count").flatMap { if case .int(let i) = $0 { return i } else { return nil } } ?? -1
            return .string(PyString.replace(value.pythonString, old, new, count: count))
        case "round":
            guard let number = value.number else { throw Failure(.type, "type \(value.typeName) doesn't define __round__ method") }
            let precision = args.value(0, "precision").flatMap { if case .int(let i) = $0 { return i } else { return nil } } ?? 0
            let method = args.value(1, "method")?.pythonString ?? "common"
            let scale = pow(10.0, Double(precision))
            switch method {
            case "common": return .double((number * scale).rounded(.toNearestOrEven) / scale)
            case "floor": return .double((number * scale).rounded(.down) / scale)
            case "ceil": return .double((number * scale).rounded(.up) / scale)
            default: throw Failure(.type, "method must be common, ceil or floor")
            }
        case "abs":
            switch value {
            case .int(let i): return .int(abs(i))
            case .double(let d): return .double(abs(d))
            case .bool(let b): return .int(b ? 1 : 0)
            default: throw Failure(.type, "bad operand type for abs(): '\(value.typeName)'")
            }
        case "int":
            let fallback = args.value(0, "default") ?? .int(0)
            let base = args.value(1, "base").flatMap { if case .int(let i) = $0 { return i } else { return nil } } ?? 10
            switch value {
            case .int: return value
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return d.isFinite ? .int(Int(d)) : fallback
            case .string(let s):
                let text = PyString.strip(s, nil, left: true, right: true).replacingOccurrences(of: "_", with: "")
                if let i = Int(text, radix: base) { return .int(i) }
                if let d = Double(text), d.isFinite { return .int(Int(d)) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = args.value(0, "default") ?? .double(0)
            switch value {
            case .double: return value
            case .int, .bool: return .double(value.number ?? 0)
            case .string(let s):
                let text = PyString.strip(s, nil, left: true, right: true)
                return Double(text).map(Value.double) ?? fallback
            default: return fallback
            }
        case "max", "min":
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let items = try sorted(try iterate(value), attribute: args.value(1, "attribute"), caseSensitive: caseSensitive, reverse: false)
            guard let item = name == "min" ? items.first : items.last else {
                return .undefined(Undefined(message: "No aggregated item, sequence was empty."))
            }
            if name == "max" {  // Python's max keeps the first of equal maxima
                let key = { (v: Value) throws -> Value in
                    let k = try args.value(1, "attribute").map { try lookupPath(v, $0, nil) } ?? v
                    return caseSensitive ? k : ignoreCase(k)
                }
                let best = try key(item)
                for candidate in items where pythonEqual(try key(candidate), best) { return candidate }
            }
            return item
        case "sum":
            var total = args.value(1, "start") ?? .int(0)
            for item in try iterate(value) {
                let term = try args.value(0, "attribute").map { try lookupPath(item, $0, nil) } ?? item
                total = try Operators.binary("+", total, term)
            }
            return total
        case "map":
            // jinja2's map/select/reject skip falsy inputs (`if value:`), so `none | map(...)` is empty.
            let items = value.isTruthy ? try iterate(value) : []
            if let attribute = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
                let fallback = args.keyword.first(where: { $0.0 == "default" })?.1
                return .iterator("generator", try items.map { try lookupPath($0, attribute, fallback) })
            }
            guard case .string(let filter)? = args.positional.first else { return .iterator("generator", items) }
            guard names.contains(filter) else { throw Failure(.syntax, "No filter named '\(filter)'.") }
            let rest = Arguments(Array(args.positional.dropFirst()), keyword: args.keyword)
            return .iterator("generator", try items.map { try apply(filter, $0, rest, interpreter) })
        case "select", "reject":
            let keep = name == "select"
            return .iterator("generator", try (value.isTruthy ? iterate(value) : []).filter { item in
                guard case .string(let test)? = args.positional.first else { return item.isTruthy == keep }
                return try Tests.apply(test, item, Array(args.positional.dropFirst()), interpreter) == keep
            })
        case "selectattr", "rejectattr":
            let keep = name == "selectattr"
            guard let attribute = args.positional.first else { throw Failure(.type, "Missing parameter for attribute name") }
            return .iterator("generator", try (value.isTruthy ? iterate(value) : []).filter { item in
                let field = try lookupPath(item, attribute, nil)
                guard args.positional.count > 1, case .string(let test) = args.positional[1] else { return field.isTruthy == keep }
                return try Tests.apply(test, field, Array(args.positional.dropFirst(2)), interpreter) == keep
            })
        case "batch":
            guard case .int(let size)? = args.value(0, "linecount"), size > 0 else { throw Failure(.value, "batch size must be a positive integer") }
            let fill = args.value(1, "fill_with")
            var batches: [Value] = []
            var current: [Value] = []
            for item in try iterate(value) {
                current.append(item)
                if current.count == size {
                    batches.append(.list(current))
                    current = []
                }
            }
            if !current.isEmpty {
                if let fill { while current.count < size { current.append(fill) } }
                batches.append(.list(current))
            }
            return .iterator("generator", batches)
        case "indent": return .string(try indent(value.pythonString, args))
        case "center":
            let width = args.value(0, "width").flatMap { if case .int(let i) = $0 { return i } else { return nil } } ?? 80
            return .string(PyString.pad(value.pythonString, width: width, fill: " ", mode: "center"))
        case "wordcount":
            var count = 0
            var inWord = false
            for c in value.pythonString.unicodeScalars {
                let word = c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
                if word && !inWord { count += 1 }
                inWord = word
            }
            return .int(count)
        case "truncate": return .string(try truncate(value.pythonString, args))
        case "escape", "e":
            return .markup(htmlEscape(value))
        case "attr":
            guard case .string(let attributeName)? = args.value(0, "name") else { return .missing }
            return try attribute(of: value, attributeName)
        case "format":
            return .string(try printfFormat(value.pythonString, args.positional))
        default:
            throw Failure(.runtime, "No filter named '\(name)' found.")
        }
    }

    private static func optionalString(_ args: Arguments, _ position: Int, _ name: String) throws -> String? {
        guard let value = args.value(position, name) else { return nil }
        if case .none = value { return nil }
        return value.pythonString
    }

    static func length(_ value: Value) throws -> Int {
        switch value {
        case .string(let s): return s.unicodeScalars.count
        case .list(let items), .tuple(let items): return items.count
        case .dict(let d): return d.count
        case .undefined(let u):
            if u.isSecurity { throw undefinedFailure(u) }
            return 0
        default: throw Failure(.type, "object of type '\(value.typeName)' has no len()")
        }
    }

    /// jinja2's attribute getter: `a.b.0` walks items then attributes; missing parts give `fallback` or undefined.
    static func lookupPath(_ value: Value, _ path: Value, _ fallback: Value?) throws -> Value {
        var current = value
        let parts: [Value]
        if case .string(let s) = path {
            parts = s.split(separator: ".", omittingEmptySubsequences: false).map { part in
                Int(part).map(Value.int) ?? .string(String(part))
            }
        } else {
            parts = [path]
        }
        for part in parts {
            current = try item(of: current, part)
            if current.isUndefined, let fallback { return fallback }
        }
        return current
    }

    private static func ignoreCase(_ value: Value) -> Value {
        if case .string(let s) = value { return .string(s.lowercased()) }
        return value
    }

    private static func sorted(_ items: [Value], attribute: Value?, caseSensitive: Bool, reverse: Bool) throws -> [Value] {
        try sortedBy(items, reverse: reverse) { item in
            let key = try attribute.map { try lookupPath(item, $0, nil) } ?? item
            return caseSensitive ? key : ignoreCase(key)
        }
    }

    /// A stable sort on a key, like Python's `sorted(key=..., reverse=...)`.
    private static func sortedBy(_ items: [Value], reverse: Bool, key: (Value) throws -> Value) throws -> [Value] {
        let keyed = try items.enumerated().map { (index: $0.offset, key: try key($0.element), item: $0.element) }
        var failure: (any Error)?
        let result = keyed.sorted { a, b in
            do {
                let order = try Operators.ordering("<", a.key, b.key)
                if order != 0 { return reverse ? order > 0 : order < 0 }
            } catch {
                failure = failure ?? error
            }
            return a.index < b.index
        }
        if let failure { throw failure }
        return result.map(\.item)
    }

    private static func tojson(_ value: Value, _ args: Arguments) throws -> Value {
        var indent: String?
        switch args.value(1, "indent") {
        case .int(let n)?:
            try Operators.checkSize(1, times: n)
            indent = String(repeating: " ", count: max(0, n))
        case .string(let s)?: indent = s
        default: indent = nil
        }
        var separators: (String, String)?
        if case .tuple(let pair)? = args.value(2, "separators"), pair.count == 2 {
            separators = (pair[0].pythonString, pair[1].pythonString)
        } else if case .list(let pair)? = args.value(2, "separators"), pair.count == 2 {
            separators = (pair[0].pythonString, pair[1].pythonString)
        }
        let sortKeys = args.value(3, "sort_keys")?.isTruthy ?? false
        let dumper = JSONDumper(indent: indent, separators: separators, sortKeys: sortKeys)
        var text = try dumper.dump(value)
        if args.value(0, "ensure_ascii")?.isTruthy ?? false {
            var ascii = ""
            for unit in text.utf16 {
                if unit < 0x80 {
                    ascii.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
                } else {
                    let digits = String(unit, radix: 16)
                    ascii += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
                }
            }
            text = ascii
        }
        return .string(text)
    }

    /// jinja2 ≥ 3 `indent`: width spaces (or a string), first line and blank lines left alone unless asked.
    private static func indent(_ s: String, _ args: Arguments) throws -> String {
        let indentation: String
        switch args.value(0, "width") {
        case .string(let text)?: indentation = text
        case .int(let n)?:
            try Operators.checkSize(1, times: n)
            indentation = String(repeating: " ", count: max(0, n))
        default: indentation = "    "
        }
        let first = args.value(1, "first")?.isTruthy ?? false
        let blank = args.value(2, "blank")?.isTruthy ?? false
        var lines = PyString.splitLines(s + "\n")
        try Operators.checkLength(s.utf8.count + (lines.count + 1) * indentation.utf8.count)
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                result += "\n" + lines.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        return first ? indentation + result : result
    }

    private static func truncate(_ s: String, _ args: Arguments) throws -> String {
        let length = args.value(0, "length").flatMap { if case .int(let i) = $0 { return i } else { return nil } } ?? 255
        let killwords = args.value(1, "killwords")?.isTruthy ?? false
        let end = args.value(2, "end")?.pythonString ?? "..."
        let leeway = args.value(3, "leeway").flatMap { if case .int(let i) = $0 { return i } else { return nil } } ?? 5
        let scalars = Array(s.unicodeScalars)
        if scalars.count <= length + leeway { return s }
        let cut = max(0, length - end.unicodeScalars.count)
        let head = String(String.UnicodeScalarView(scalars[..<min(cut, scalars.count)]))
        if killwords { return head + end }
        if let space = head.lastIndex(of: " ") { return String(head[..<space]) + end }
        return head + end
    }

    /// jinja2's `title` filter: each run after `-`, whitespace or an opening bracket starts upper-case.
    private static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atStart = true
        for c in s.unicodeScalars {
            let separator = c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || PyString.isSpace(c)
            if separator {
                out.unicodeScalars.append(c)
                atStart = true
            } else {
                out += atStart ? String(c).uppercased() : String(c).lowercased()
                atStart = false
            }
        }
        return out
    }

    /// `"%s" | format(x)`: printf-style `%s`, `%d`, `%r` and `%%`.
    private static func printfFormat(_ s: String, _ values: [Value]) throws -> String {
        var out = ""
        var index = 0
        var chars = s.makeIterator()
        while let c = chars.next() {
            guard c == "%" else {
                out.append(c)
                continue
            }
            guard let spec = chars.next() else { throw Failure(.value, "incomplete format") }
            if spec == "%" {
                out.append("%")
                continue
            }
            guard index < values.count else { throw Failure(.type, "not enough arguments for format string") }
            let value = values[index]
            index += 1
            switch spec {
            case "s": out += value.pythonString
            case "r": out += value.pythonRepr
            case "d", "i":
                guard let n = value.number else { throw Failure(.type, "%d format: a real number is required, not \(value.typeName)") }
                out += String(Int(n))
            default: throw Failure(.value, "unsupported format character '\(spec)'")
            }
        }
        return out
    }
}

/// markupsafe's `escape`: a markup string stays as it is, anything else is HTML-escaped.
func htmlEscape(_ value: Value) -> String {
    if case .markup(let s) = value { return s }
    var out = ""
    for c in value.pythonString.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&#34;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

enum Tests {
    static let names: Set<String> = [
        "defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number", "integer", "float",
        "boolean", "true", "false", "in", "equalto", "eq", "==", "ne", "!=", "odd", "even", "divisibleby", "lower",
        "upper", "callable", "sameas", "escaped", "lt", "<", "lessthan", "le", "<=", "gt", ">", "greaterthan", "ge",
        ">=", "filter", "test",
    ]

    static func apply(_ name: String, _ input: Value, _ args: [Value], _ interpreter: Interpreter) throws -> Bool {
        let value = input.plain
        func argument() throws -> Value {
            guard let first = args.first else { throw Failure(.type, "test '\(name)' needs an argument") }
            return first
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true } else { return false }
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .dict = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number": return value.number != nil
        case "callable": if case .callable = value { return true } else { return false }
        case "iterable", "sequence":
            switch value {
            case .string, .list, .tuple, .dict, .undefined: return true
            case .iterator: return name == "iterable"
            default: return false
            }
        case "odd", "even", "divisibleby":
            let divisor = name == "divisibleby" ? try argument() : .int(2)
            let remainder = try Operators.binary("%", value, divisor)
            let isZero = remainder.number == 0
            return name == "odd" ? !isZero : isZero
        case "lower": return PyString.isLower(value.pythonString)
        case "upper": return PyString.isUpper(value.pythonString)
        case "in": return try Operators.contains(try argument(), value)
        case "equalto", "eq", "==": return pythonEqual(value, try argument())
        case "ne", "!=": return !pythonEqual(value, try argument())
        case "lt", "<", "lessthan": return try Operators.ordering("<", value, try argument()) < 0
        case "le", "<=": return try Operators.ordering("<=", value, try argument()) <= 0
        case "gt", ">", "greaterthan": return try Operators.ordering(">", value, try argument()) > 0
        case "ge", ">=": return try Operators.ordering(">=", value, try argument()) >= 0
        case "sameas":
            let other = try argument()
            return value.typeName == other.typeName && pythonEqual(value, other)
        case "escaped": return false
        case "filter": return Filters.names.contains(value.pythonString)
        case "test": return names.contains(value.pythonString)
        default: throw Failure(.runtime, "No test named '\(name)' found.")
        }
    }
}
