// Runs a parsed template: scopes, statements, expressions and Python's operators, under a step and output budget.
import Foundation

/// A variable scope; loops and macro calls open a child, `set` writes to the innermost one.
final class Scope {
    var variables: [String: Value]
    let parent: Scope?
    init(_ variables: [String: Value] = [:], parent: Scope?) {
        self.variables = variables
        self.parent = parent
    }

    func lookup(_ name: String) -> Value? {
        var scope: Scope? = self
        while let current = scope {
            if let value = current.variables[name] { return value }
            scope = current.parent
        }
        return nil
    }
}

/// Limits that stop runaway templates.
public struct RenderLimits: Sendable {
    /// Expression evaluations and statements executed per render.
    public var maxSteps: Int
    /// Largest output, in UTF-8 bytes.
    public var maxOutputBytes: Int
    public init(maxSteps: Int = 10_000_000, maxOutputBytes: Int = 64 << 20) {
        self.maxSteps = maxSteps
        self.maxOutputBytes = maxOutputBytes
    }
}

enum Flow { case normal, breakLoop, continueLoop }

/// Executes one render. Not shared between threads: each render makes its own.
final class Interpreter {
    var output = ""
    private var steps = 0
    private let limits: RenderLimits
    let clock: TemplateClock
    private var loopDepth = 0
    private var macroDepth = 0
    /// What can end up in a reference cycle: scopes that hold a macro closing over them, and the namespaces the render
    /// made (`{% set ns.me = ns %}`). `releaseCycles()` empties them once the render is over.
    private var macroScopes: [Scope] = []
    private var namespaces: [Namespace] = []

    init(limits: RenderLimits, clock: TemplateClock) {
        self.limits = limits
        self.clock = clock
    }

    /// Registers a namespace made by this render, to be emptied by `releaseCycles()`.
    func track(_ namespace: Namespace) { namespaces.append(namespace) }

    /// Breaks the reference cycles the render made, so that its scopes, namespaces and the context they hold are freed.
    func releaseCycles() {
        for scope in macroScopes { scope.variables.removeAll() }
        for namespace in namespaces { namespace.attributes = OrderedDict() }
        macroScopes.removeAll()
        namespaces.removeAll()
    }

    @inline(__always) private func step(_ position: Pos) throws {
        steps += 1
        if steps > limits.maxSteps {
            throw Failure(.limit, "the render took more than \(limits.maxSteps) steps; the template loops without end or the input is too large").at(position)
        }
    }

    private func write(_ text: String, _ position: Pos) throws {
        output += text
        if output.utf8.count > limits.maxOutputBytes {
            throw Failure(.limit, "the output grew past \(limits.maxOutputBytes) bytes").at(position)
        }
    }

    /// Renders `nodes` into a fresh buffer and returns the text.
    func capture(_ nodes: [Node], _ scope: Scope) throws -> String {
        let saved = output
        output = ""
        defer { output = saved }
        _ = try execute(nodes, scope)
        return output
    }

    // MARK: Statements

    func execute(_ nodes: [Node], _ scope: Scope) throws -> Flow {
        for node in nodes {
            let flow = try execute(node, scope)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ node: Node, _ scope: Scope) throws -> Flow {
        switch node {
        case .text(let text):
            output += text
            if output.utf8.count > limits.maxOutputBytes { try write("", Pos(line: 1, column: 1)) }
        case .output(let expr):
            let value = try evaluate(expr, scope)
            try write(value.pythonString, expr.position)
        case .conditional(let branches, let elseBody):
            for (condition, body) in branches where try evaluate(condition, scope).isTruthy {
                return try execute(body, scope)
            }
            return try execute(elseBody, scope)
        case .forLoop(let loop):
            return try executeFor(loop, scope)
        case .set(let target, let expr, let position):
            try assign(target, try evaluate(expr, scope), scope, position)
        case .setBlock(let target, let body, let filters, let position):
            var value = Value.string(try capture(body, scope))
            for filter in filters { value = try applyFilter(filter, value, scope) }
            try assign(target, value, scope, position)
        case .macro(let definition):
            scope.variables[definition.name] = .callable(makeMacro(definition, scope))
            macroScopes.append(scope)
        case .callBlock(let call, let callerDefinition):
            guard case .call(let callee, let args, let kwargs, let position) = call else { return .normal }
            let caller = makeMacro(callerDefinition, scope)
            var arguments = try evaluateArguments(args, kwargs, scope)
            arguments.keyword.append(("caller", .callable(caller)))
            let value = try invoke(try evaluate(callee, scope), arguments, position)
            try write(value.pythonString, position)
        case .filterBlock(let filters, let body):
            var value = Value.string(try capture(body, scope))
            for filter in filters { value = try applyFilter(filter, value, scope) }
            try write(value.pythonString, filters.first?.position ?? Pos(line: 1, column: 1))
        case .sequence(let body):
            return try execute(body, scope)
        case .breakLoop(let position):
            try step(position)
            return .breakLoop
        case .continueLoop(let position):
            try step(position)
            return .continueLoop
        }
        return .normal
    }

    private func executeFor(_ loop: ForLoop, _ scope: Scope) throws -> Flow {
        let iterable = try evaluate(loop.iterable, scope)
        var items: [Value]
        do { items = try iterate(iterable) } catch let failure as Failure { throw failure.at(loop.iterable.position) }
        if let condition = loop.condition {
            var kept: [Value] = []
            for item in items {
                let probe = Scope(parent: scope)
                try assign(loop.target, item, probe, loop.position)
                if try evaluate(condition, probe).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { return try execute(loop.elseBody, scope) }
        let state = LoopState(items: items, depth0: loopDepth)
        loopDepth += 1
        defer { loopDepth -= 1 }
        for (index, item) in items.enumerated() {
            try step(loop.position)
            state.index0 = index
            let inner = Scope(["loop": .loop(state)], parent: scope)
            try assign(loop.target, item, inner, loop.position)
            if try execute(loop.body, inner) == .breakLoop { break }
        }
        return .normal
    }

    private func assign(_ target: Target, _ value: Value, _ scope: Scope, _ position: Pos) throws {
        switch target {
        case .name(let name):
            scope.variables[name] = value
        case .attribute(let name, let attribute):
            guard case .namespace(let namespace) = scope.lookup(name) ?? .missing else {
                throw Failure(.type, "cannot assign attribute on non-namespace object").at(position)
            }
            if attribute.hasPrefix("_") {
                throw Failure(.security, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got \(pyRepr(attribute)). Please rename the attribute.").at(position)
            }
            namespace.attributes[attribute] = value
        case .tuple(let targets):
            let items: [Value]
            do { items = try iterate(value) } catch is Failure {
                throw Failure(.type, "cannot unpack non-iterable \(value.typeName) object").at(position)
            }
            guard items.count == targets.count else {
                let message = items.count < targets.count
                    ? "not enough values to unpack (expected \(targets.count), got \(items.count))"
                    : "too many values to unpack (expected \(targets.count))"
                throw Failure(.value, message).at(position)
            }
            for (target, item) in zip(targets, items) { try assign(target, item, scope, position) }
        }
    }

    private func makeMacro(_ definition: MacroDefinition, _ closure: Scope) -> Callable {
        Callable(definition.name) { arguments, interpreter in
            interpreter.macroDepth += 1
            defer { interpreter.macroDepth -= 1 }
            guard interpreter.macroDepth <= 64 else {
                throw Failure(.limit, "macro '\(definition.name)' recursed more than 64 calls deep")
            }
            let scope = Scope(parent: closure)
            var keyword = arguments.keyword
            for (index, (name, defaultValue)) in definition.parameters.enumerated() {
                if index < arguments.positional.count {
                    scope.variables[name] = arguments.positional[index]
                } else if let found = keyword.firstIndex(where: { $0.0 == name }) {
                    scope.variables[name] = keyword[found].1
                    keyword.remove(at: found)
                } else if let defaultValue {
                    scope.variables[name] = try interpreter.evaluate(defaultValue, scope)
                } else {
                    scope.variables[name] = .undefined(Undefined(message: "parameter \(pyRepr(name)) was not provided"))
                }
            }
            if let callerIndex = keyword.firstIndex(where: { $0.0 == "caller" }) {
                scope.variables["caller"] = keyword[callerIndex].1
                keyword.remove(at: callerIndex)
            }
            scope.variables["varargs"] = .tuple(Array(arguments.positional.dropFirst(definition.parameters.count)))
            var extra = OrderedDict()
            for (name, value) in keyword { extra[name] = value }
            scope.variables["kwargs"] = .dict(extra)
            return .string(try interpreter.capture(definition.body, scope))
        }
    }

    // MARK: Expressions

    func evaluate(_ expr: Expr, _ scope: Scope) throws -> Value {
        try step(expr.position)
        switch expr {
        case .literal(let value, _):
            return value
        case .name(let name, _):
            return scope.lookup(name) ?? Value.undefinedName(name)
        case .list(let items, _):
            return .list(try items.map { try evaluate($0, scope) })
        case .tuple(let items, _):
            return .tuple(try items.map { try evaluate($0, scope) })
        case .dict(let pairs, _):
            var dict = OrderedDict()
            for (key, value) in pairs { dict[try evaluate(key, scope)] = try evaluate(value, scope) }
            return .dict(dict)
        case .attribute(let base, let name, let position):
            let value = try evaluate(base, scope)
            do { return try attribute(of: value, name) } catch let failure as Failure { throw failure.at(position) }
        case .index(let base, let index, let position):
            let value = try evaluate(base, scope)
            let key = try evaluate(index, scope)
            do { return try item(of: value, key) } catch let failure as Failure { throw failure.at(position) }
        case .slice(let base, let start, let stop, let stride, let position):
            let value = try evaluate(base, scope)
            let bounds = try [start, stop, stride].map { try $0.map { try evaluate($0, scope) } }
            do { return try slice(value, bounds[0], bounds[1], bounds[2]) } catch let failure as Failure { throw failure.at(position) }
        case .call(let callee, let args, let kwargs, let position):
            let function = try evaluate(callee, scope)
            let arguments = try evaluateArguments(args, kwargs, scope)
            return try invoke(function, arguments, position)
        case .filter(let input, let call):
            return try applyFilter(call, try evaluate(input, scope), scope)
        case .test(let input, let name, let args, let negated, let position):
            let value = try evaluate(input, scope)
            let arguments = try args.map { try evaluate($0, scope) }
            do {
                let result = try Tests.apply(name, value, arguments, self)
                return .bool(result != negated)
            } catch let failure as Failure { throw failure.at(position) }
        case .negate(let operand, let position):
            let value = try evaluate(operand, scope)
            switch value {
            case .int(let i): return .int(-i)
            case .double(let d): return .double(-d)
            case .bool(let b): return .int(b ? -1 : 0)
            case .undefined(let u): throw undefinedFailure(u).at(position)
            default: throw Failure(.type, "bad operand type for unary -: '\(value.typeName)'").at(position)
            }
        case .not(let operand, _):
            return .bool(!(try evaluate(operand, scope).isTruthy))
        case .and(let left, let right, _):
            let value = try evaluate(left, scope)
            return value.isTruthy ? try evaluate(right, scope) : value
        case .or(let left, let right, _):
            let value = try evaluate(left, scope)
            return value.isTruthy ? value : try evaluate(right, scope)
        case .binary(let op, let left, let right, let position):
            let a = try evaluate(left, scope)
            let b = try evaluate(right, scope)
            do { return try Operators.binary(op, a, b) } catch let failure as Failure { throw failure.at(position) }
        case .compare(let left, let operations, let position):
            var a = try evaluate(left, scope)
            for (op, rightExpr) in operations {
                let b = try evaluate(rightExpr, scope)
                let holds: Bool
                do { holds = try Operators.compare(op, a, b) } catch let failure as Failure { throw failure.at(position) }
                if !holds { return .bool(false) }
                a = b
            }
            return .bool(true)
        case .conditional(let condition, let then, let otherwise, _):
            if try evaluate(condition, scope).isTruthy { return try evaluate(then, scope) }
            guard let otherwise else {
                return .undefined(Undefined(message: "the inline if-expression on line \(expr.position.line) evaluated to false and no else section was defined."))
            }
            return try evaluate(otherwise, scope)
        }
    }

    private func evaluateArguments(_ args: [Expr], _ kwargs: [(String, Expr)], _ scope: Scope) throws -> Arguments {
        Arguments(try args.map { try evaluate($0, scope) }, keyword: try kwargs.map { ($0.0, try evaluate($0.1, scope)) })
    }

    func invoke(_ function: Value, _ arguments: Arguments, _ position: Pos) throws -> Value {
        do {
            switch function {
            case .callable(let callable):
                return try callable.body(arguments, self)
            case .undefined(let undefined):
                throw undefinedFailure(undefined)
            default:
                throw Failure(.type, "'\(function.typeName)' object is not callable")
            }
        } catch let failure as Failure {
            throw failure.at(position)
        }
    }

    func applyFilter(_ call: FilterCall, _ input: Value, _ scope: Scope) throws -> Value {
        let arguments = try evaluateArguments(call.args, call.kwargs, scope)
        do { return try Filters.apply(call.name, input, arguments, self) } catch let failure as Failure {
            throw failure.at(call.position)
        }
    }
}

/// The error using an undefined value raises.
func undefinedFailure(_ undefined: Undefined) -> Failure {
    Failure(undefined.isSecurity ? .security : .undefined, undefined.message)
}

/// Python's iteration: lists, tuples, dict keys, string characters; undefined iterates as empty.
func iterate(_ value: Value) throws -> [Value] {
    switch value.plain {
    case .list(let items), .tuple(let items), .iterator(_, let items): return items
    case .dict(let dict): return dict.keys
    case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
    case .undefined(let undefined):
        if undefined.isSecurity { throw undefinedFailure(undefined) }
        return []
    default: throw Failure(.type, "'\(value.typeName)' object is not iterable")
    }
}

/// Attribute access the way jinja2's sandbox does it: methods first, then dict items.
func attribute(of original: Value, _ name: String) throws -> Value {
    let value = original.plain
    switch value {
    case .undefined(let undefined):
        throw undefinedFailure(undefined)
    case .dict(let dict):
        if let method = Methods.bound(value, name) { return method }
        if let found = dict[name] { return found }
    case .namespace(let namespace):
        if let found = namespace.attributes[name] { return found }
    case .loop(let state):
        if let found = loopAttribute(state, name) { return found }
    default:
        if let method = Methods.bound(value, name) { return method }
    }
    return .undefined(Undefined(message: "\(pyRepr(value.objectTypeRepr)) has no attribute \(pyRepr(name))"))
}

/// Subscript access: items first, then attributes for string keys.
func item(of original: Value, _ index: Value) throws -> Value {
    let (value, key) = (original.plain, index.plain)
    switch (value, key) {
    case (.undefined(let undefined), _):
        throw undefinedFailure(undefined)
    case (.dict(let dict), _):
        if let found = dict[key] { return found }
    case (.list(let items), _), (.tuple(let items), _):
        if let index = integerIndex(key), let position = normalized(index, items.count) { return items[position] }
    case (.string(let s), _):
        if let index = integerIndex(key) {
            let scalars = Array(s.unicodeScalars)
            if let position = normalized(index, scalars.count) { return .string(String(scalars[position])) }
        }
    case (.namespace(let namespace), .string(let name)):
        if let found = namespace.attributes[name] { return found }
    case (.loop(let state), .string(let name)):
        if let found = loopAttribute(state, name) { return found }
    default: break
    }
    if case .string(let name) = key {
        if case .dict = value {} else if let method = Methods.bound(value, name) { return method }
        return .undefined(Undefined(message: "\(pyRepr(value.objectTypeRepr)) has no attribute \(pyRepr(name))"))
    }
    return .undefined(Undefined(message: "\(value.objectTypeRepr) has no element \(key.pythonRepr)"))
}

private func integerIndex(_ key: Value) -> Int? {
    switch key {
    case .int(let i): return i
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
}

private func normalized(_ index: Int, _ count: Int) -> Int? {
    let position = index < 0 ? index + count : index
    return position >= 0 && position < count ? position : nil
}

/// Python slicing `[start:stop:step]` on lists, tuples and strings.
func slice(_ original: Value, _ start: Value?, _ stop: Value?, _ stride: Value?) throws -> Value {
    let value = original.plain
    func bound(_ v: Value?) throws -> Int? {
        guard let v else { return nil }
        if case .none = v { return nil }
        guard let i = integerIndex(v) else { throw Failure(.type, "slice indices must be integers or None or have an __index__ method") }
        return i
    }
    let step = try bound(stride) ?? 1
    guard step != 0 else { throw Failure(.value, "slice step cannot be zero") }
    func indices(_ count: Int) throws -> [Int] {
        func clamp(_ i: Int?, _ defaultValue: Int) -> Int {
            guard var i else { return defaultValue }
            if i < 0 { i += count }
            if step > 0 { return min(max(i, 0), count) }
            return min(max(i, -1), count - 1)
        }
        let begin = clamp(try bound(start), step > 0 ? 0 : count - 1)
        let end = clamp(try bound(stop), step > 0 ? count : -1)
        var result: [Int] = []
        var i = begin
        while step > 0 ? i < end : i > end {
            result.append(i)
            i += step
        }
        return result
    }
    switch value {
    case .list(let items): return .list(try indices(items.count).map { items[$0] })
    case .tuple(let items): return .tuple(try indices(items.count).map { items[$0] })
    case .string(let s):
        let scalars = Array(s.unicodeScalars)
        var view = String.UnicodeScalarView()
        for i in try indices(scalars.count) { view.append(scalars[i]) }
        return .string(String(view))
    case .undefined(let undefined): throw undefinedFailure(undefined)
    default: throw Failure(.type, "'\(value.typeName)' object is not subscriptable")
    }
}

private func loopAttribute(_ state: LoopState, _ name: String) -> Value? {
    let count = state.items.count
    let index0 = state.index0
    switch name {
    case "index": return .int(index0 + 1)
    case "index0": return .int(index0)
    case "revindex": return .int(count - index0)
    case "revindex0": return .int(count - index0 - 1)
    case "first": return .bool(index0 == 0)
    case "last": return .bool(index0 == count - 1)
    case "length": return .int(count)
    case "depth": return .int(state.depth0 + 1)
    case "depth0": return .int(state.depth0)
    case "previtem":
        return index0 > 0 ? state.items[index0 - 1] : .undefined(Undefined(message: "there is no previous item"))
    case "nextitem":
        return index0 + 1 < count ? state.items[index0 + 1] : .undefined(Undefined(message: "there is no next item"))
    case "cycle":
        return .callable(Callable("cycle") { arguments, _ in
            guard !arguments.positional.isEmpty else { throw Failure(.type, "no items for cycling given") }
            return arguments.positional[index0 % arguments.positional.count]
        })
    default: return nil
    }
}
