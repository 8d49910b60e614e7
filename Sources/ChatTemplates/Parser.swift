// Tokens → syntax tree: jinja2's statement set for chat templates and its expression grammar and precedence.
import Foundation

typealias Pos = SourcePosition

/// One `| name(args)` application.
struct FilterCall: Sendable {
    let name: String
    let args: [Expr]
    let kwargs: [(String, Expr)]
    let position: Pos
}

indirect enum Expr: Sendable {
    case literal(Value, Pos)
    case name(String, Pos)
    case list([Expr], Pos)
    case tuple([Expr], Pos)
    case dict([(Expr, Expr)], Pos)
    case attribute(Expr, String, Pos)
    case index(Expr, Expr, Pos)
    case slice(Expr, Expr?, Expr?, Expr?, Pos)
    case call(Expr, [Expr], [(String, Expr)], Pos)
    case filter(Expr, FilterCall)
    case test(Expr, String, [Expr], negated: Bool, Pos)
    case negate(Expr, Pos)
    case not(Expr, Pos)
    case and(Expr, Expr, Pos)
    case or(Expr, Expr, Pos)
    case binary(String, Expr, Expr, Pos)
    case compare(Expr, [(String, Expr)], Pos)
    case conditional(Expr, Expr, Expr?, Pos)

    var position: Pos {
        switch self {
        case .literal(_, let p), .name(_, let p), .list(_, let p), .tuple(_, let p), .dict(_, let p),
            .attribute(_, _, let p), .index(_, _, let p), .slice(_, _, _, _, let p), .call(_, _, _, let p),
            .test(_, _, _, _, let p), .negate(_, let p), .not(_, let p), .and(_, _, let p), .or(_, _, let p),
            .binary(_, _, _, let p), .compare(_, _, let p), .conditional(_, _, _, let p):
            return p
        case .filter(_, let call): return call.position
        }
    }
}

/// Where `set` and `for` store values.
indirect enum Target: Sendable {
    case name(String)
    case attribute(String, String)
    case tuple([Target])
}

struct ForLoop: Sendable {
    let target: Target
    let iterable: Expr
    let condition: Expr?
    let body: [Node]
    let elseBody: [Node]
    let position: Pos
}

struct MacroDefinition: Sendable {
    let name: String
    let parameters: [(String, Expr?)]
    let body: [Node]
    let position: Pos
}

indirect enum Node: Sendable {
    case text(String)
    case output(Expr)
    case conditional([(Expr, [Node])], [Node])
    case forLoop(ForLoop)
    case set(Target, Expr, Pos)
    case setBlock(Target, [Node], [FilterCall], Pos)
    case macro(MacroDefinition)
    case callBlock(Expr, MacroDefinition)
    case filterBlock([FilterCall], [Node])
    case sequence([Node])
    case breakLoop(Pos)
    case continueLoop(Pos)
}

struct Parser {
    private let tokens: [Token]
    private var k = 0
    private var loopDepth = 0
    /// Inside `if` blocks jinja2 defers unknown filter and test names to a runtime error.
    private var conditionalDepth = 0
    /// Bounds recursion so a hostile template cannot overflow the stack.
    private var nesting = 0

    init(tokens: [Token]) { self.tokens = tokens }

    private var current: Token { tokens[k] }
    private var next: Token { tokens[min(k + 1, tokens.count - 1)] }

    private func fail(_ message: String, _ token: Token? = nil) -> ChatTemplatesError {
        Failure(.syntax, message).at((token ?? current).position)
    }

    private func describe(_ kind: TokenKind) -> String {
        switch kind {
        case .text: return "template data"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "end of statement block"
        case .name(let n): return "'\(n)'"
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .op(let o): return "'\(o)'"
        case .end: return "end of template"
        }
    }

    private func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        k += 1
        return true
    }

    private mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        k += 1
        return true
    }

    private mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw fail("expected '\(op)', got \(describe(current.kind))") }
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw fail("expected a name, got \(describe(current.kind))") }
        k += 1
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw fail("expected end of statement block, got \(describe(current.kind))") }
        k += 1
    }

    mutating func parseTemplate() throws -> [Node] {
        let (body, end) = try parseBody(until: [])
        if let end { throw fail("Encountered unknown tag '\(end)'.") }
        return body
    }

    /// Parses nodes until a block tag named in `until` (consumed up to and including its name) or the end.
    private mutating func parseBody(until: Set<String>) throws -> ([Node], String?) {
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                if !until.isEmpty {
                    let names = until.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw fail("Unexpected end of template. Jinja was looking for the following tags: \(names).")
                }
                return (nodes, nil)
            case .text(let text):
                k += 1
                nodes.append(.text(text))
            case .variableBegin:
                k += 1
                let expr = try parseTuple()
                guard current.kind == .variableEnd else { throw fail("expected end of print statement, got \(describe(current.kind))") }
                k += 1
                nodes.append(.output(expr))
            case .blockBegin:
                k += 1
                guard case .name(let keyword) = current.kind else { throw fail("tag name expected") }
                if until.contains(keyword) {
                    k += 1
                    return (nodes, keyword)
                }
                nodes.append(try parseStatement(keyword))
            default:
                throw fail("unexpected \(describe(token.kind))")
            }
        }
    }

    private mutating func parseStatement(_ keyword: String) throws -> Node {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= 100 else { throw fail("blocks nested deeper than 100 levels") }
        let position = current.position
        k += 1
        switch keyword {
        case "if": return try parseIf()
        case "for": return try parseFor(position)
        case "set": return try parseSet(position)
        case "macro":
            let name = try expectName()
            let parameters = try parseParameters()
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endmacro"])
            if case .name = current.kind { k += 1 }  // `{% endmacro name %}`
            try expectBlockEnd()
            return .macro(MacroDefinition(name: name, parameters: parameters, body: body, position: position))
        case "call":
            let parameters = isOp("(") ? try parseParameters() : []
            let call = try parseExpression()
            guard case .call = call else { throw fail("expected call", tokens[k - 1]) }
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endcall"])
            try expectBlockEnd()
            return .callBlock(call, MacroDefinition(name: "caller", parameters: parameters, body: body, position: position))
        case "filter":
            let filters = try parseFilterChain(first: true)
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(filters, body)
        case "generation":
            // transformers' AssistantTracker: renders its body unchanged.
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectBlockEnd()
            return .sequence(body)
        case "break", "continue":
            guard loopDepth > 0 else { throw fail("'\(keyword)' outside of a loop", tokens[k - 1]) }
            try expectBlockEnd()
            return keyword == "break" ? .breakLoop(position) : .continueLoop(position)
        default:
            throw fail("Encountered unknown tag '\(keyword)'.", tokens[k - 1])
        }
    }

    private mutating func parseIf() throws -> Node {
        conditionalDepth += 1
        defer { conditionalDepth -= 1 }
        var branches: [(Expr, [Node])] = []
        var condition = try parseTuple(withCondexpr: false)
        while true {
            try expectBlockEnd()
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            if end == "elif" {
                condition = try parseTuple(withCondexpr: false)
                continue
            }
            var elseBody: [Node] = []
            if end == "else" {
                try expectBlockEnd()
                (elseBody, _) = try parseBody(until: ["endif"])
            }
            try expectBlockEnd()
            return .conditional(branches, elseBody)
        }
    }

    private mutating func parseFor(_ position: Pos) throws -> Node {
        let target = try parseAssignTarget(allowNamespace: false)
        guard skipName("in") else { throw fail("expected 'in', got \(describe(current.kind))") }
        let iterable = try parseTuple(withCondexpr: false, extraEnd: ["recursive"])
        var condition: Expr?
        if skipName("if") { condition = try parseExpression() }
        if skipName("recursive") { throw fail("recursive loops are not supported", tokens[k - 1]) }
        try expectBlockEnd()
        loopDepth += 1
        let (body, end) = try parseBody(until: ["endfor", "else"])
        loopDepth -= 1
        var elseBody: [Node] = []
        if end == "else" {
            try expectBlockEnd()
            (elseBody, _) = try parseBody(until: ["endfor"])
        }
        try expectBlockEnd()
        return .forLoop(ForLoop(target: target, iterable: iterable, condition: condition, body: body, elseBody: elseBody, position: position))
    }

    private mutating func parseSet(_ position: Pos) throws -> Node {
        let target = try parseAssignTarget(allowNamespace: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value, position)
        }
        let filters = isOp("|") ? try parseFilterChain(first: false) : []
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, body, filters, position)
    }

    private mutating func parseAssignTarget(allowNamespace: Bool) throws -> Target {
        func single(_ parser: inout Parser) throws -> Target {
            let name = try parser.expectName()
            if allowNamespace, parser.isOp("."), case .name(let attribute) = parser.next.kind {
                parser.k += 2
                return .attribute(name, attribute)
            }
            return .name(name)
        }
        var targets = [try single(&self)]
        var isTuple = false
        while skipOp(",") {
            isTuple = true
            guard case .name = current.kind else { break }
            targets.append(try single(&self))
        }
        return isTuple ? .tuple(targets) : targets[0]
    }

    /// `(a, b=default, ...)` for macros and call blocks.
    private mutating func parseParameters() throws -> [(String, Expr?)] {
        try expectOp("(")
        var parameters: [(String, Expr?)] = []
        while !skipOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if skipOp(")") { break }
            let name = try expectName()
            parameters.append((name, skipOp("=") ? try parseExpression() : nil))
        }
        return parameters
    }

    /// `name(args) | name ...` for filter blocks (`first`: no leading `|`) and `{% set x | f %}`.
    private mutating func parseFilterChain(first: Bool) throws -> [FilterCall] {
        var filters: [FilterCall] = []
        if first { filters.append(try parseFilterCall()) }
        while skipOp("|") { filters.append(try parseFilterCall()) }
        return filters
    }

    private mutating func parseFilterCall() throws -> FilterCall {
        let position = current.position
        var name = try expectName()
        while isOp("."), case .name(let part) = next.kind {
            k += 2
            name += "." + part
        }
        guard Filters.names.contains(name) || conditionalDepth > 0 else { throw fail("No filter named '\(name)'.", tokens[k - 1]) }
        var args: [Expr] = []
        var kwargs: [(String, Expr)] = []
        if isOp("(") { (args, kwargs) = try parseCallArguments() }
        return FilterCall(name: name, args: args, kwargs: kwargs, position: position)
    }

    // MARK: Expressions (jinja2 precedence, loosest first)

    /// An expression, or a tuple when commas follow (`a, b`), as `{{ }}` and `set` allow.
    mutating func parseTuple(withCondexpr: Bool = true, extraEnd: Set<String> = []) throws -> Expr {
        let position = current.position
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty {
                guard skipOp(",") else { break }
                isTuple = true
            }
            if isTupleEnd(extraEnd) { break }
            items.append(withCondexpr ? try parseExpression() : try parseOr())
        }
        if !isTuple {
            guard let only = items.first else { throw fail("Expected an expression, got \(describe(current.kind))") }
            return only
        }
        return .tuple(items, position)
    }

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .end: return true
        case .op(let o): return o == ")" || o == "]" || o == "}"
        case .name(let n): return extraEnd.contains(n) || n == "in"
        default: return false
        }
    }

    mutating func parseExpression() throws -> Expr {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= 100 else { throw fail("expressions nested deeper than 100 levels") }
        let position = current.position
        let expr = try parseOr()
        if skipName("if") {
            let condition = try parseOr()
            var otherwise: Expr?
            if skipName("else") { otherwise = try parseExpression() }
            return .conditional(condition, expr, otherwise, position)
        }
        return expr
    }

    private mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while isName("or") {
            let position = current.position
            k += 1
            left = .or(left, try parseAnd(), position)
        }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while isName("and") {
            let position = current.position
            k += 1
            left = .and(left, try parseNot(), position)
        }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= 200 else { throw fail("expressions nested deeper than 100 levels") }
        if isName("not") {
            let position = current.position
            k += 1
            return .not(try parseNot(), position)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let position = current.position
        let left = try parseMath1()
        var operations: [(String, Expr)] = []
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                k += 1
                operations.append((o, try parseMath1()))
            } else if isName("in") {
                k += 1
                operations.append(("in", try parseMath1()))
            } else if isName("not"), next.kind == .name("in") {
                k += 2
                operations.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : .compare(left, operations, position)
    }

    private mutating func parseMath1() throws -> Expr {
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            let position = current.position
            k += 1
            left = .binary(o, left, try parseConcat(), position)
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        var left = try parseMath2()
        while isOp("~") {
            let position = current.position
            k += 1
            left = .binary("~", left, try parseMath2(), position)
        }
        return left
    }

    private mutating func parseMath2() throws -> Expr {
        var left = try parsePow()
        while case .op(let o) = current.kind, o == "*" || o == "/" || o == "//" || o == "%" {
            let position = current.position
            k += 1
            left = .binary(o, left, try parsePow(), position)
        }
        return left
    }

    private mutating func parsePow() throws -> Expr {
        var left = try parseUnary()
        while isOp("**") {
            let position = current.position
            k += 1
            left = .binary("**", left, try parseUnary(), position)
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> Expr {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= 200 else { throw fail("expressions nested deeper than 100 levels") }
        let position = current.position
        var expr: Expr
        if skipOp("-") {
            expr = .negate(try parseUnary(withFilter: false), position)
        } else if skipOp("+") {
            expr = try parseUnary(withFilter: false)
        } else {
            expr = try parsePrimary()
        }
        expr = try parsePostfix(expr)
        if withFilter { expr = try parseFilterExpression(expr) }
        return expr
    }

    private mutating func parsePrimary() throws -> Expr {
        let token = current
        let position = token.position
        switch token.kind {
        case .name(let n):
            k += 1
            switch n {
            case "true", "True": return .literal(.bool(true), position)
            case "false", "False": return .literal(.bool(false), position)
            case "none", "None": return .literal(.none, position)
            default: return .name(n, position)
            }
        case .string(var text):
            k += 1
            while case .string(let more) = current.kind {  // adjacent literals concatenate
                text += more
                k += 1
            }
            return .literal(.string(text), position)
        case .integer(let i):
            k += 1
            return .literal(.int(i), position)
        case .float(let d):
            k += 1
            return .literal(.double(d), position)
        case .op("("):
            k += 1
            if skipOp(")") { return .tuple([], position) }
            let expr = try parseTuple()
            try expectOp(")")
            return expr
        case .op("["):
            k += 1
            var items: [Expr] = []
            while !skipOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if skipOp("]") { break }
                items.append(try parseExpression())
            }
            return .list(items, position)
        case .op("{"):
            k += 1
            var pairs: [(Expr, Expr)] = []
            while !skipOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if skipOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            return .dict(pairs, position)
        default:
            throw fail("unexpected \(describe(token.kind))")
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws -> Expr {
        var expr = start
        while true {
            let position = current.position
            if skipOp(".") {
                switch current.kind {
                case .name(let n):
                    k += 1
                    expr = .attribute(expr, n, position)
                case .integer(let i):
                    k += 1
                    expr = .index(expr, .literal(.int(i), position), position)
                default:
                    throw fail("expected name or number")
                }
            } else if skipOp("[") {
                expr = try parseSubscript(expr, position)
            } else if isOp("(") {
                let (args, kwargs) = try parseCallArguments()
                expr = .call(expr, args, kwargs, expr.position)
            } else {
                return expr
            }
        }
    }

    private mutating func parseSubscript(_ base: Expr, _ position: Pos) throws -> Expr {
        var parts: [Expr?] = [nil]
        var isSlice = false
        while !skipOp("]") {
            if skipOp(":") {
                isSlice = true
                parts.append(nil)
            } else {
                guard parts[parts.count - 1] == nil else { throw fail("expected ']'") }
                parts[parts.count - 1] = try parseExpression()
            }
        }
        if !isSlice {
            guard let index = parts[0] else { throw fail("expected subscript expression") }
            return .index(base, index, position)
        }
        guard parts.count <= 3 else { throw fail("too many ':' in slice") }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, parts[0], parts[1], parts[2], position)
    }

    private mutating func parseCallArguments() throws -> ([Expr], [(String, Expr)]) {
        try expectOp("(")
        var args: [Expr] = []
        var kwargs: [(String, Expr)] = []
        var first = true
        while !skipOp(")") {
            if !first { try expectOp(",") }
            first = false
            if skipOp(")") { break }
            if case .name(let n) = current.kind, next.kind == .op("=") {
                k += 2
                kwargs.append((n, try parseExpression()))
            } else {
                if !kwargs.isEmpty { throw fail("positional argument follows keyword argument") }
                args.append(try parseExpression())
            }
        }
        return (args, kwargs)
    }

    private mutating func parseFilterExpression(_ start: Expr) throws -> Expr {
        var expr = start
        while true {
            if skipOp("|") {
                expr = .filter(expr, try parseFilterCall())
            } else if isName("is") {
                let position = current.position
                k += 1
                let negated = skipName("not")
                var name = try expectName()
                while isOp("."), case .name(let part) = next.kind {
                    k += 2
                    name += "." + part
                }
                guard Tests.names.contains(name) || conditionalDepth > 0 else { throw fail("No test named '\(name)'.", tokens[k - 1]) }
                var args: [Expr] = []
                if isOp("(") {
                    let (positional, keyword) = try parseCallArguments()
                    args = positional + keyword.map(\.1)
                } else if startsPrimary(), !isName("else"), !isName("or"), !isName("and") {
                    if isName("is") { throw fail("You cannot chain multiple tests with is") }
                    args = [try parsePostfix(try parsePrimary())]
                }
                expr = .test(expr, name, args, negated: negated, position)
            } else if isOp("(") {
                let (args, kwargs) = try parseCallArguments()
                expr = .call(expr, args, kwargs, expr.position)
            } else {
                return expr
            }
        }
    }

    private func startsPrimary() -> Bool {
        switch current.kind {
        case .name, .string, .integer, .float: return true
        case .op(let o): return o == "(" || o == "[" || o == "{"
        default: return false
        }
    }
}
