// Template values with Python's semantics: truthiness, equality, ordering, str() and repr().
import Foundation

/// A value seen by a template. Lists and dicts are values (the immutable sandbox never mutates them);
/// namespaces are shared objects, as in jinja2.
public enum Value: Sendable {
    /// A missing name or attribute; carries jinja2's message for when it is used.
    case undefined(Undefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Value])
    case tuple([Value])
    case dict(OrderedDict)
    case namespace(Namespace)
    case callable(Callable)
    case loop(LoopState)
    /// A one-pass iterable (what jinja2's `map`, `select`, `reverse`... return), named by its Python type:
    /// always true, no `len()`, not JSON serializable, becomes a list with `| list`.
    case iterator(String, [Value])
    /// A string marked safe (`| safe`, `| escape`): like a string, except that `+` HTML-escapes a plain string
    /// joined to it, as markupsafe's `Markup` does.
    case markup(String)

    /// A plain undefined name, like a variable nobody passed.
    public static let missing = Value.undefined(Undefined(message: "value is undefined"))

    public static func undefinedName(_ name: String) -> Value {
        .undefined(Undefined(message: "\(pyRepr(name)) is undefined"))
    }
}

/// Why a value is undefined, said the way jinja2 says it when the value is used.
public struct Undefined: Sendable {
    public let message: String
    /// Set when the value stands for a forbidden attribute (jinja2 raises `SecurityError` on use).
    public var isSecurity = false
    public init(message: String, isSecurity: Bool = false) {
        self.message = message
        self.isSecurity = isSecurity
    }
}

/// A dictionary that keeps insertion order, like Python's `dict`.
public struct OrderedDict: Sendable {
    public private(set) var keys: [Value] = []
    public private(set) var values: [Value] = []
    private var index: [DictKey: Int] = [:]

    public init() {}
    public init(_ pairs: [(String, Value)]) {
        for (key, value) in pairs { self[.string(key)] = value }
    }

    public var count: Int { keys.count }

    public subscript(key: Value) -> Value? {
        get {
            guard let hashKey = DictKey(key), let position = index[hashKey] else { return nil }
            return values[position]
        }
        set {
            guard let hashKey = DictKey(key) else { return }
            if let position = index[hashKey] {
                if let newValue {
                    values[position] = newValue
                } else {
                    keys.remove(at: position)
                    values.remove(at: position)
                    index = [:]
                    for (i, k) in keys.enumerated() { if let h = DictKey(k) { index[h] = i } }
                }
            } else if let newValue {
                index[hashKey] = keys.count
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    public subscript(key: String) -> Value? {
        get { self[.string(key)] }
        set { self[.string(key)] = newValue }
    }

    public var pairs: Zip2Sequence<[Value], [Value]> { zip(keys, values) }
}

/// The hashable form of a dict key; numbers that Python treats as equal (1, 1.0, True) share one.
struct DictKey: Hashable {
    enum Kind: Hashable { case string(String), number(Double), none, tuple([DictKey]) }
    let kind: Kind
    init?(_ value: Value) {
        switch value.plain {
        case .string(let s): kind = .string(s)
        case .int(let i): kind = .number(Double(i))
        case .double(let d): kind = .number(d)
        case .bool(let b): kind = .number(b ? 1 : 0)
        case .none: kind = .none
        case .tuple(let items):
            var keys: [DictKey] = []
            for item in items {
                guard let key = DictKey(item) else { return nil }
                keys.append(key)
            }
            kind = .tuple(keys)
        default: return nil
        }
    }
}

/// `namespace(...)`: the one mutable object templates may write to (`{% set ns.x = ... %}`).
public final class Namespace: @unchecked Sendable {
    var attributes: OrderedDict
    init(_ attributes: OrderedDict) { self.attributes = attributes }
}

/// Arguments of a call, positional then keyword, as Python passes them.
public struct Arguments: Sendable {
    public var positional: [Value]
    public var keyword: [(String, Value)]
    public init(_ positional: [Value] = [], keyword: [(String, Value)] = []) {
        self.positional = positional
        self.keyword = keyword
    }

    /// The argument at `position` or named `name`, nil when absent.
    func value(_ position: Int, _ name: String) -> Value? {
        if position < positional.count { return positional[position] }
        return keyword.first(where: { $0.0 == name })?.1
    }
}

/// A function a template can call: a global, a bound method, a macro or `caller`.
public final class Callable: @unchecked Sendable {
    let name: String
    let body: (Arguments, Interpreter) throws -> Value
    init(_ name: String, _ body: @escaping (Arguments, Interpreter) throws -> Value) {
        self.name = name
        self.body = body
    }
}

/// `loop` inside a for block.
public final class LoopState: @unchecked Sendable {
    let items: [Value]
    var index0 = 0
    let depth0: Int
    init(items: [Value], depth0: Int) {
        self.items = items
        self.depth0 = depth0
    }
}

// MARK: - Python semantics

extension Value {
    /// Python's truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s), .markup(let s): return !s.isEmpty
        case .list(let items), .tuple(let items): return !items.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .callable, .loop, .iterator: return true
        }
    }

    /// A markup string as a plain string; everything else unchanged.
    var plain: Value {
        if case .markup(let s) = self { return .string(s) }
        return self
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// The Python type name used in error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        case .loop: return "LoopContext"
        case .iterator(let name, _): return name
        case .markup: return "Markup"
        }
    }

    /// jinja2's `object_type_repr`, used in "has no attribute" messages.
    var objectTypeRepr: String {
        if case .none = self { return "None" }
        return "\(typeName) object"
    }

    /// A number as Double, with bool counting as 0/1 like Python.
    var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// Python's `str()`; undefined prints as nothing.
    var pythonString: String {
        switch self {
        case .string(let s), .markup(let s): return s
        case .undefined: return ""
        case .int(let i): return String(i)
        case .double(let d): return pythonFloatRepr(d)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        default: return pythonRepr
        }
    }

    /// Python's `repr()`.
    var pythonRepr: String { repr(inside: []) }

    /// `repr()` within the reprs of `namespaces`: a namespace that holds itself prints `<Namespace {...}>` inside,
    /// as Python prints a dict that holds itself.
    private func repr(inside namespaces: [ObjectIdentifier]) -> String {
        switch self {
        case .string(let s): return pyRepr(s)
        case .list(let items): return "[" + items.map { $0.repr(inside: namespaces) }.joined(separator: ", ") + "]"
        case .tuple(let items):
            if items.count == 1 { return "(" + items[0].repr(inside: namespaces) + ",)" }
            return "(" + items.map { $0.repr(inside: namespaces) }.joined(separator: ", ") + ")"
        case .dict(let d):
            let pairs = d.pairs.map { "\($0.repr(inside: namespaces)): \($1.repr(inside: namespaces))" }
            return "{" + pairs.joined(separator: ", ") + "}"
        case .namespace(let ns):
            let id = ObjectIdentifier(ns)
            if namespaces.contains(id) { return "<Namespace {...}>" }
            return "<Namespace " + Value.dict(ns.attributes).repr(inside: namespaces + [id]) + ">"
        case .callable(let c): return "<function \(c.name)>"
        case .loop: return "<LoopContext>"
        case .iterator(let name, _): return "<\(name) object>"
        case .markup(let s): return "Markup(" + pyRepr(s) + ")"
        case .undefined: return "Undefined"
        default: return pythonString
        }
    }
}

/// Python equality: numbers compare across int/float/bool, containers element-wise, other types never equal.
func pythonEqual(_ a: Value, _ b: Value) -> Bool {
    switch (a.plain, b.plain) {
    case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
    case (.none, .none): return true
    case (.undefined, .undefined): return true
    case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { pythonEqual($0, $1) }
    case (.dict(let x), .dict(let y)):
        guard x.count == y.count else { return false }
        for (key, value) in x.pairs {
            guard let other = y[key], pythonEqual(value, other) else { return false }
        }
        return true
    case (.namespace(let x), .namespace(let y)): return x === y
    case (.callable(let x), .callable(let y)): return x === y
    default:
        if let x = a.number, let y = b.number { return x == y }
        return false
    }
}

/// Python's `repr()` of a string: single quotes unless only double quotes avoid escaping.
func pyRepr(_ s: String) -> String {
    let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
    var out = String(quote)
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if Character(scalar) == quote {
                out += "\\" + String(quote)
            } else if isPythonPrintable(scalar) {
                out.unicodeScalars.append(scalar)
            } else if scalar.value < 0x100 {
                out += "\\x" + hex(scalar.value, width: 2)
            } else if scalar.value < 0x10000 {
                out += "\\u" + hex(scalar.value, width: 4)
            } else {
                out += "\\U" + hex(scalar.value, width: 8)
            }
        }
    }
    out.append(quote)
    return out
}

private func hex(_ value: UInt32, width: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

/// Python's `str.isprintable` for one character: not a control, format, separator (other than space) or unassigned.
func isPythonPrintable(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == " " { return true }
    switch scalar.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
        return false
    default:
        return true
    }
}

/// Python's `repr(float)`: shortest round-trip digits, scientific below 1e-4 and from 1e16.
func pythonFloatRepr(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
    // Swift's description has the same shortest digits; only the layout differs.
    var text = "\(abs(d))"
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exponent = Int(text[text.index(after: e)...]) ?? 0
        text = String(text[..<e])
    }
    var integerPart = text
    var fraction = ""
    if let dot = text.firstIndex(of: ".") {
        integerPart = String(text[..<dot])
        fraction = String(text[text.index(after: dot)...])
    }
    var digits = integerPart + fraction
    var pointPosition = integerPart.count + exponent  // digits before the decimal point
    while digits.hasPrefix("0") && digits.count > 1 {
        digits.removeFirst()
        pointPosition -= 1
    }
    while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
    let decimalExponent = pointPosition - 1
    var out = d < 0 ? "-" : ""
    if decimalExponent < -4 || decimalExponent >= 16 {
        out += String(digits.prefix(1))
        if digits.count > 1 { out += "." + digits.dropFirst() }
        out += decimalExponent < 0 ? "e-" : "e+"
        let magnitude = String(abs(decimalExponent))
        out += magnitude.count < 2 ? "0" + magnitude : magnitude
    } else if pointPosition <= 0 {
        out += "0." + String(repeating: "0", count: -pointPosition) + digits
    } else if pointPosition >= digits.count {
        out += digits + String(repeating: "0", count: pointPosition - digits.count) + ".0"
    } else {
        let split = digits.index(digits.startIndex, offsetBy: pointPosition)
        out += digits[..<split] + "." + digits[split...]
    }
    return out
}
