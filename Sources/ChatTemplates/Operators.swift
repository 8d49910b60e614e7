// Python's arithmetic, concatenation, comparison and membership on template values.
import Foundation

enum Operators {
    static func binary(_ op: String, _ a: Value, _ b: Value) throws -> Value {
        if op == "~" { return .string(try concatenated(a.pythonString, b.pythonString)) }
        if case .undefined(let u) = a { throw undefinedFailure(u) }
        if case .undefined(let u) = b { throw undefinedFailure(u) }
        if op == "+" {
            switch (a, b) {
            case (.markup(let x), .string), (.markup(let x), .markup):
                return .markup(try concatenated(x, htmlEscape(b)))
            case (.string, .markup(let y)): return .markup(try concatenated(htmlEscape(a), y))
            default: break
            }
        }
        let (a, b) = (a.plain, b.plain)
        switch op {
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(try concatenated(x, y))
            case (.list(let x), .list(let y)):
                try checkLength(x.count + y.count)
                return .list(x + y)
            case (.tuple(let x), .tuple(let y)):
                try checkLength(x.count + y.count)
                return .tuple(x + y)
            case (.string, _), (.list, _), (.tuple, _):
                throw Failure(.type, "can only concatenate \(a.typeName) (not \"\(b.typeName)\") to \(a.typeName)")
            default: return try arithmetic(op, a, b)
            }
        case "*":
            switch (a, b) {
            case (.string(let s), .int(let n)), (.int(let n), .string(let s)):
                try checkSize(s.utf8.count, times: n)
                return .string(String(repeating: s, count: max(0, n)))
            case (.list(let items), .int(let n)), (.int(let n), .list(let items)):
                try checkSize(items.count, times: n)
                return .list(Array(repeating: items, count: max(0, n)).flatMap { $0 })
            default: return try arithmetic(op, a, b)
            }
        default:
            return try arithmetic(op, a, b)
        }
    }

    private static func unsupported(_ op: String, _ a: Value, _ b: Value) -> Failure {
        Failure(.type, "unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
    }

    private static func integer(_ v: Value) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    private static func arithmetic(_ op: String, _ a: Value, _ b: Value) throws -> Value {
        if let x = integer(a), let y = integer(b) {
            switch op {
            case "+": return try checked(x.addingReportingOverflow(y))
            case "-": return try checked(x.subtractingReportingOverflow(y))
            case "*": return try checked(x.multipliedReportingOverflow(by: y))
            case "/":
                guard y != 0 else { throw Failure(.zeroDivision, "division by zero") }
                return .double(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw Failure(.zeroDivision, "integer division or modulo by zero") }
                let q = x / y
                return .int((x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q)
            case "%":
                guard y != 0 else { throw Failure(.zeroDivision, "integer modulo by zero") }
                let r = x % y
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**":
                if y >= 0 {
                    // Square-and-multiply, so `1 ** 10**18` is quick and overflow is caught.
                    var (result, base, exponent) = (1, x, y)
                    let tooLarge = Failure(.value, "integer result of \(x) ** \(y) is too large")
                    while exponent > 0 {
                        if exponent & 1 == 1 {
                            let (next, overflow) = result.multipliedReportingOverflow(by: base)
                            if overflow { throw tooLarge }
                            result = next
                        }
                        exponent >>= 1
                        if exponent > 0 {
                            let (square, overflow) = base.multipliedReportingOverflow(by: base)
                            if overflow { throw tooLarge }
                            base = square
                        }
                    }
                    return .int(result)
                }
                return .double(pow(Double(x), Double(y)))
            default: break
            }
        }
        guard let x = a.number, let y = b.number else { throw unsupported(op == "**" ? "** or pow()" : op, a, b) }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw Failure(.zeroDivision, "float division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw Failure(.zeroDivision, "float floor division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw Failure(.zeroDivision, "float modulo") }
            let r = fmod(x, y)
            return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**": return .double(pow(x, y))
        default: throw unsupported(op, a, b)
        }
    }

    /// The most bytes (strings) or items (lists) one value may have: the output cap comes too late for values that
    /// grow in variables, doubling on each step.
    static let maxUnits = 1 << 26

    /// Refuses to build a string or list over ``maxUnits`` by repetition.
    static func checkSize(_ unit: Int, times count: Int) throws {
        let (total, overflow) = unit.multipliedReportingOverflow(by: max(0, count))
        if overflow || total > maxUnits { throw Failure(.limit, "repeating \(unit) units \(count) times is too large") }
    }

    /// Refuses a string or list of `count` units over ``maxUnits``, built by concatenation, `join`, `indent` or `tojson`.
    static func checkLength(_ count: Int) throws {
        guard count <= maxUnits else {
            throw Failure(.limit, "a string or list of \(count) units is too large (at most \(maxUnits))")
        }
    }

    private static func concatenated(_ x: String, _ y: String) throws -> String {
        try checkLength(x.utf8.count + y.utf8.count)
        return x + y
    }

    private static func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Value {
        guard !result.overflow else { throw Failure(.value, "integer overflow") }
        return .int(result.partialValue)
    }

    static func compare(_ op: String, _ left: Value, _ right: Value) throws -> Bool {
        let (a, b) = (left.plain, right.plain)
        switch op {
        case "==": return pythonEqual(a, b)
        case "!=": return !pythonEqual(a, b)
        case "in": return try contains(b, a)
        case "notin": return !(try contains(b, a))
        default:
            let order = try ordering(op, a, b)
            switch op {
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }

    /// -1, 0 or 1 for Python's ordering of two values; TypeError when Python has none.
    static func ordering(_ op: String, _ left: Value, _ right: Value) throws -> Int {
        let (a, b) = (left.plain, right.plain)
        if case .undefined(let u) = a { throw undefinedFailure(u) }
        if case .undefined(let u) = b { throw undefinedFailure(u) }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            if x.unicodeScalars.elementsEqual(y.unicodeScalars) { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !pythonEqual(p, q) { return try ordering(op, p, q) }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            if let x = a.number, let y = b.number { return x == y ? 0 : (x < y ? -1 : 1) }
            throw Failure(.type, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    /// Python's `needle in container`.
    static func contains(_ haystack: Value, _ item: Value) throws -> Bool {
        let (container, needle) = (haystack.plain, item.plain)
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw Failure(.type, "'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return n.isEmpty || s.contains(n)
        case .list(let items), .tuple(let items), .iterator(_, let items): return items.contains { pythonEqual($0, needle) }
        case .dict(let dict): return dict[needle] != nil
        case .undefined(let u):
            if u.isSecurity { throw undefinedFailure(u) }
            return false
        case .namespace(let ns):
            if case .string(let name) = needle { return ns.attributes[name] != nil }
            return false
        default:
            throw Failure(.type, "argument of type '\(container.typeName)' is not iterable")
        }
    }
}
