// Python methods on str, dict and list that the immutable sandbox allows; mutating ones raise SecurityError on use.
import Foundation

enum Methods {
    private static let mutating: [String: Set<String>] = [
        "list": ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "__setitem__", "__delitem__"],
        "dict": ["pop", "popitem", "setdefault", "update", "clear", "__setitem__", "__delitem__"],
    ]
    private static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "replace", "find", "rfind", "index", "rindex", "count", "join", "format", "isdigit",
        "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "istitle", "zfill", "center", "ljust",
        "rjust", "partition", "rpartition", "removeprefix", "removesuffix", "swapcase", "casefold", "expandtabs",
    ]
    private static let dictMethods: Set<String> = ["items", "keys", "values", "get", "copy"]
    private static let listMethods: Set<String> = ["index", "count", "copy"]

    /// The bound method `value.name`, an undefined that raises SecurityError for mutating methods, or nil.
    static func bound(_ original: Value, _ name: String) -> Value? {
        let value = original.plain
        let typeName = value.typeName
        if let forbidden = mutating[typeName == "tuple" ? "" : typeName], forbidden.contains(name) {
            return .undefined(Undefined(message: "access to attribute \(pyRepr(name)) of \(pyRepr(typeName)) object is unsafe.", isSecurity: true))
        }
        switch value {
        case .string(let s) where stringMethods.contains(name):
            return .callable(Callable(name) { args, _ in try stringMethod(s, name, args) })
        case .dict(let d) where dictMethods.contains(name):
            return .callable(Callable(name) { args, _ in try dictMethod(d, name, args) })
        case .list(let items) where listMethods.contains(name), .tuple(let items) where listMethods.contains(name):
            return .callable(Callable(name) { args, _ in try listMethod(value, items, name, args) })
        default:
            return nil
        }
    }

    private static func string(_ args: Arguments, _ position: Int, _ name: String) throws -> String? {
        guard let value = args.value(position, name) else { return nil }
        switch value {
        case .none: return nil
        case .string(let s): return s
        default: throw Failure(.type, "must be str or None, not \(value.typeName)")
        }
    }

    private static func int(_ args: Arguments, _ position: Int, _ name: String) throws -> Int? {
        guard let value = args.value(position, name) else { return nil }
        switch value {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .none: return nil
        default: throw Failure(.type, "'\(value.typeName)' object cannot be interpreted as an integer")
        }
    }

    static func stringMethod(_ s: String, _ name: String, _ args: Arguments) throws -> Value {
        switch name {
        case "strip": return .string(PyString.strip(s, try string(args, 0, "chars"), left: true, right: true))
        case "lstrip": return .string(PyString.strip(s, try string(args, 0, "chars"), left: true, right: false))
        case "rstrip": return .string(PyString.strip(s, try string(args, 0, "chars"), left: false, right: true))
        case "split", "rsplit":
            let parts = try PyString.split(s, try string(args, 0, "sep"), maxSplit: try int(args, 1, "maxsplit") ?? -1, fromRight: name == "rsplit")
            return .list(parts.map(Value.string))
        case "splitlines": return .list(PyString.splitLines(s).map(Value.string))
        case "startswith", "endswith":
            guard let prefix = args.value(0, "prefix") else { throw Failure(.type, "\(name)() takes at least 1 argument (0 given)") }
            var candidates: [String] = []
            switch prefix {
            case .string(let p): candidates = [p]
            case .tuple(let items), .list(let items):
                for item in items {
                    guard case .string(let p) = item else { throw Failure(.type, "tuple for \(name) must only contain str, not \(item.typeName)") }
                    candidates.append(p)
                }
            default: throw Failure(.type, "\(name) first arg must be str or a tuple of str, not \(prefix.typeName)")
            }
            var subject = Substring(s)
            if let start = try int(args, 1, "start") {
                let scalars = Array(s.unicodeScalars)
                let begin = min(max(start < 0 ? start + scalars.count : start, 0), scalars.count)
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[begin...])
                subject = Substring(String(view))
            }
            let utf8 = Array(subject.utf8)
            return .bool(candidates.contains { candidate in
                let c = Array(candidate.utf8)
                return name == "startswith" ? utf8.starts(with: c) : utf8.reversed().starts(with: c.reversed())
            })
        case "upper": return .string(s.uppercased())
        case "lower": return .string(s.lowercased())
        case "casefold": return .string(s.lowercased())
        case "swapcase":
            return .string(String(s.map { $0.isUppercase ? Character($0.lowercased()) : Character($0.uppercased()) }))
        case "title": return .string(PyString.title(s))
        case "capitalize": return .string(PyString.capitalize(s))
        case "replace":
            guard let old = try string(args, 0, "old"), let new = try string(args, 1, "new") else {
                throw Failure(.type, "replace() takes at least 2 arguments")
            }
            return .string(PyString.replace(s, old, new, count: try int(args, 2, "count") ?? -1))
        case "find", "rfind", "index", "rindex":
            guard let needle = try string(args, 0, "sub") else { throw Failure(.type, "\(name)() takes at least 1 argument (0 given)") }
            let position = PyString.find(s, needle, fromRight: name.hasPrefix("r"))
            if position < 0 && name.hasSuffix("index") { throw Failure(.value, "substring not found") }
            return .int(position)
        case "count":
            guard let needle = try string(args, 0, "sub") else { throw Failure(.type, "count() takes at least 1 argument (0 given)") }
            return .int(PyString.count(s, needle))
        case "join":
            guard let iterable = args.value(0, "iterable") else { throw Failure(.type, "join() takes exactly one argument (0 given)") }
            var parts: [String] = []
            for (index, item) in try iterate(iterable).enumerated() {
                guard case .string(let text) = item else {
                    throw Failure(.type, "sequence item \(index): expected str instance, \(item.typeName) found")
                }
                parts.append(text)
            }
            return .string(parts.joined(separator: s))
        case "format": return .string(try PyString.format(s, args))
        case "isdigit", "isnumeric", "isdecimal":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil })
        case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(PyString.isSpace))
        case "isupper": return .bool(PyString.isUpper(s))
        case "islower": return .bool(PyString.isLower(s))
        case "istitle": return .bool(!s.isEmpty && PyString.title(s) == s && s.contains { $0.isLetter })
        case "zfill":
            let width = try int(args, 0, "width") ?? 0
            let count = s.unicodeScalars.count
            guard width > count else { return .string(s) }
            try Operators.checkSize(1, times: width)
            let padding = String(repeating: "0", count: width - count)
            if let first = s.first, first == "-" || first == "+" { return .string(String(first) + padding + s.dropFirst()) }
            return .string(padding + s)
        case "center", "ljust", "rjust":
            let width = try int(args, 0, "width") ?? 0
            let fill = try string(args, 1, "fillchar") ?? " "
            return .string(PyString.pad(s, width: width, fill: fill, mode: name))
        case "partition", "rpartition":
            guard let sep = try string(args, 0, "sep"), !sep.isEmpty else { throw Failure(.value, "empty separator") }
            let parts = try PyString.split(s, sep, maxSplit: 1, fromRight: name == "rpartition")
            if parts.count == 2 { return .tuple([.string(parts[0]), .string(sep), .string(parts[1])]) }
            return name == "partition" ? .tuple([.string(s), .string(""), .string("")]) : .tuple([.string(""), .string(""), .string(s)])
        case "removeprefix":
            let prefix = try string(args, 0, "prefix") ?? ""
            return .string(s.utf8.starts(with: prefix.utf8) ? String(decoding: s.utf8.dropFirst(prefix.utf8.count), as: UTF8.self) : s)
        case "removesuffix":
            let suffix = try string(args, 0, "suffix") ?? ""
            return .string(!suffix.isEmpty && s.utf8.reversed().starts(with: suffix.utf8.reversed())
                ? String(decoding: s.utf8.dropLast(suffix.utf8.count), as: UTF8.self) : s)
        case "expandtabs": return .string(s.replacingOccurrences(of: "\t", with: "        "))
        default: throw Failure(.undefined, "'str object' has no attribute \(pyRepr(name))")
        }
    }

    static func dictMethod(_ d: OrderedDict, _ name: String, _ args: Arguments) throws -> Value {
        switch name {
        case "items": return .list(d.pairs.map { .tuple([$0, $1]) })
        case "keys": return .list(d.keys)
        case "values": return .list(d.values)
        case "get":
            guard let key = args.value(0, "key") else { throw Failure(.type, "get expected at least 1 argument, got 0") }
            return d[key] ?? args.value(1, "default") ?? .none
        case "copy": return .dict(d)
        default: throw Failure(.undefined, "'dict object' has no attribute \(pyRepr(name))")
        }
    }

    static func listMethod(_ value: Value, _ items: [Value], _ name: String, _ args: Arguments) throws -> Value {
        switch name {
        case "index":
            guard let needle = args.value(0, "value") else { throw Failure(.type, "index expected at least 1 argument, got 0") }
            guard let position = items.firstIndex(where: { pythonEqual($0, needle) }) else {
                throw Failure(.value, "\(needle.pythonRepr) is not in list")
            }
            return .int(position)
        case "count":
            guard let needle = args.value(0, "value") else { throw Failure(.type, "count() takes exactly one argument (0 given)") }
            return .int(items.filter { pythonEqual($0, needle) }.count)
        default:
            return value
        }
    }
}

/// Python `str` algorithms on Unicode scalars (Python indexes code points, not grapheme clusters).
enum PyString {
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (c.value >= 0x1C && c.value <= 0x1F)
    }

    static func strip(_ s: String, _ chars: String?, left: Bool, right: Bool) -> String {
        let scalars = Array(s.unicodeScalars)
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isSpace(c) }
        var start = 0
        var end = scalars.count
        if left { while start < end, strippable(scalars[start]) { start += 1 } }
        if right { while end > start, strippable(scalars[end - 1]) { end -= 1 } }
        if start == 0 && end == scalars.count { return s }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[start..<end])
        return String(view)
    }

    static func split(_ s: String, _ separator: String?, maxSplit: Int, fromRight: Bool) throws -> [String] {
        let scalars = Array(s.unicodeScalars)
        func text(_ range: Range<Int>) -> String {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[range])
            return String(view)
        }
        guard let separator else {
            // Runs of whitespace separate; leading and trailing whitespace never make empty parts.
            var words: [Range<Int>] = []
            var i = 0
            while i < scalars.count {
                while i < scalars.count, isSpace(scalars[i]) { i += 1 }
                guard i < scalars.count else { break }
                let start = i
                while i < scalars.count, !isSpace(scalars[i]) { i += 1 }
                words.append(start..<i)
            }
            guard maxSplit >= 0, words.count > maxSplit + 1 else { return words.map(text) }
            if fromRight {
                let kept = words.suffix(maxSplit)
                var headEnd = words[words.count - maxSplit - 1].upperBound
                headEnd = max(headEnd, 0)
                var headStart = 0
                while headStart < scalars.count, isSpace(scalars[headStart]) { headStart += 1 }
                return [text(headStart..<headEnd)] + kept.map(text)
            }
            var end = scalars.count
            while end > 0, isSpace(scalars[end - 1]) { end -= 1 }
            return words.prefix(maxSplit).map(text) + [text(words[maxSplit].lowerBound..<end)]
        }
        let sep = Array(separator.unicodeScalars)
        guard !sep.isEmpty else { throw Failure(.value, "empty separator") }
        var cuts: [Int] = []
        if fromRight {
            var i = scalars.count - sep.count
            while i >= 0, maxSplit < 0 || cuts.count < maxSplit {
                if Array(scalars[i..<i + sep.count]) == sep {
                    cuts.insert(i, at: 0)
                    i -= sep.count
                } else {
                    i -= 1
                }
            }
        } else {
            var i = 0
            while i + sep.count <= scalars.count, maxSplit < 0 || cuts.count < maxSplit {
                if scalars[i] == sep[0], Array(scalars[i..<i + sep.count]) == sep {
                    cuts.append(i)
                    i += sep.count
                } else {
                    i += 1
                }
            }
        }
        var parts: [String] = []
        var start = 0
        for cut in cuts {
            parts.append(text(start..<cut))
            start = cut + sep.count
        }
        parts.append(text(start..<scalars.count))
        return parts
    }

    /// `str.splitlines()`: the line breaks Python recognises, without keeping them.
    static func splitLines(_ s: String) -> [String] {
        let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        let iterator = Array(s.unicodeScalars)
        var i = 0
        while i < iterator.count {
            let c = iterator[i]
            if breaks.contains(c.value) {
                lines.append(String(current))
                current = String.UnicodeScalarView()
                if c == "\r", i + 1 < iterator.count, iterator[i + 1] == "\n" { i += 1 }
            } else {
                current.append(c)
            }
            i += 1
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
        if count < 0 && !old.isEmpty { return s.replacingOccurrences(of: old, with: new, options: .literal) }
        if old.isEmpty {
            var out = ""
            var n = 0
            for scalar in s.unicodeScalars {
                if count < 0 || n < count {
                    out += new
                    n += 1
                }
                out.unicodeScalars.append(scalar)
            }
            if count < 0 || n < count { out += new }
            return out
        }
        let parts = (try? split(s, old, maxSplit: count, fromRight: false)) ?? [s]
        return parts.joined(separator: new)
    }

    static func find(_ s: String, _ needle: String, fromRight: Bool) -> Int {
        let hay = Array(s.unicodeScalars)
        let n = Array(needle.unicodeScalars)
        guard n.count <= hay.count else { return -1 }
        let starts = Array(0...(hay.count - n.count))
        for i in fromRight ? starts.reversed() : starts where Array(hay[i..<i + n.count]) == n { return i }
        return -1
    }

    static func count(_ s: String, _ needle: String) -> Int {
        if needle.isEmpty { return s.unicodeScalars.count + 1 }
        return ((try? split(s, needle, maxSplit: -1, fromRight: false)) ?? [s]).count - 1
    }

    private static func isCased(_ c: Unicode.Scalar) -> Bool {
        c.properties.isUppercase || c.properties.isLowercase || c.properties.generalCategory == .titlecaseLetter
    }

    static func isUpper(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isLowercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isUppercase { cased = true }
        }
        return cased
    }

    static func isLower(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isUppercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isLowercase { cased = true }
        }
        return cased
    }

    /// Python's `str.title()`: a letter after a cased letter is lowered, any other letter is uppered.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            let piece = String(c)
            out += previousCased ? piece.lowercased() : piece.uppercased()
            previousCased = isCased(c)
        }
        return out
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return String(first).uppercased() + String(String.UnicodeScalarView(s.unicodeScalars.dropFirst())).lowercased()
    }

    static func pad(_ s: String, width: Int, fill: String, mode: String) -> String {
        let count = s.unicodeScalars.count
        guard width > count, width <= 1 << 24 else { return s }
        let total = width - count
        let left: Int
        switch mode {
        case "ljust": left = 0
        case "rjust": left = total
        default: left = total / 2 + (total & width & 1)
        }
        return String(repeating: fill, count: left) + s + String(repeating: fill, count: total - left)
    }

    /// `str.format` with `{}`, `{0}`, `{name}` and `{{`/`}}`; format specs beyond plain conversion are not supported.
    static func format(_ s: String, _ args: Arguments) throws -> String {
        var out = ""
        var automatic = 0
        let chars = Array(s)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{" {
                if i + 1 < chars.count, chars[i + 1] == "{" {
                    out.append("{")
                    i += 2
                    continue
                }
                guard let close = chars[i...].firstIndex(of: "}") else { throw Failure(.value, "Single '{' encountered in format string") }
                var field = String(chars[(i + 1)..<close])
                var spec = ""
                if let colon = field.firstIndex(of: ":") {
                    spec = String(field[field.index(after: colon)...])
                    field = String(field[..<colon])
                }
                let value: Value
                if field.isEmpty {
                    guard automatic < args.positional.count else { throw Failure(.value, "Replacement index \(automatic) out of range for positional args tuple") }
                    value = args.positional[automatic]
                    automatic += 1
                } else if let index = Int(field) {
                    guard index < args.positional.count else { throw Failure(.value, "Replacement index \(index) out of range for positional args tuple") }
                    value = args.positional[index]
                } else {
                    guard let found = args.keyword.first(where: { $0.0 == field })?.1 else { throw Failure(.value, "KeyError: \(pyRepr(field))") }
                    value = found
                }
                guard spec.isEmpty else { throw Failure(.value, "format spec '\(spec)' is not supported") }
                out += value.pythonString
                i = close + 1
            } else if c == "}" {
                guard i + 1 < chars.count, chars[i + 1] == "}" else { throw Failure(.value, "Single '}' encountered in format string") }
                out.append("}")
                i += 2
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }
}
