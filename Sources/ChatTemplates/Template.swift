// A compiled template with transformers' globals (`raise_exception`, `strftime_now`, `range`, `dict`, `namespace`).
import Foundation

/// The time `strftime_now` formats; injectable so tests render a fixed date.
public struct TemplateClock: Sendable {
    public var now: @Sendable () -> Date
    public var timeZone: TimeZone
    public init(now: @escaping @Sendable () -> Date = { Date() }, timeZone: TimeZone = .current) {
        self.now = now
        self.timeZone = timeZone
    }

    /// A clock stopped at a local date and time.
    public static func fixed(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) -> TemplateClock {
        var calendar = Calendar(identifier: .gregorian)
        let zone = TimeZone(identifier: "UTC") ?? .current
        calendar.timeZone = zone
        let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)) ?? Date(timeIntervalSince1970: 0)
        return TemplateClock(now: { date }, timeZone: zone)
    }

    /// C-locale `strftime` for the directives chat templates use (`%Y %m %d %H %M %S %b %B %a %A %j %y %I %p`,
    /// glibc's `%-d` forms and `%%`).
    public func strftime(_ format: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let date = now()
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        let (year, month, day) = (c.year ?? 1970, c.month ?? 1, c.day ?? 1)
        let (hour, minute, second) = (c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
        let weekday = weekdays[((c.weekday ?? 1) - 1) % 7]
        let monthName = months[(month - 1) % 12]
        func padded(_ n: Int, _ width: Int, _ pad: Bool) -> String {
            let digits = String(n)
            return pad ? String(repeating: "0", count: max(0, width - digits.count)) + digits : digits
        }
        var out = ""
        var chars = format.makeIterator()
        while let ch = chars.next() {
            guard ch == "%", var directive = chars.next() else {
                out.append(ch)
                continue
            }
            var pad = true
            if directive == "-", let next = chars.next() {
                pad = false
                directive = next
            }
            let hour12 = hour % 12 == 0 ? 12 : hour % 12
            switch directive {
            case "Y": out += String(year)
            case "y": out += padded(year % 100, 2, pad)
            case "m": out += padded(month, 2, pad)
            case "d": out += padded(day, 2, pad)
            case "e": out += pad ? (day < 10 ? " \(day)" : String(day)) : String(day)
            case "H": out += padded(hour, 2, pad)
            case "I": out += padded(hour12, 2, pad)
            case "M": out += padded(minute, 2, pad)
            case "S": out += padded(second, 2, pad)
            case "j": out += padded(dayOfYear, 3, pad)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "b", "h": out += String(monthName.prefix(3))
            case "B": out += monthName
            case "a": out += String(weekday.prefix(3))
            case "A": out += weekday
            case "%": out += "%"
            default: out += "%" + String(directive)
            }
        }
        return out
    }
}

/// A parsed Jinja template, rendered many times.
public struct Template: Sendable {
    private let nodes: [Node]

    /// Parses `source`; throws `ChatTemplatesError.template(kind: .syntax, ...)` with the line and column.
    public init(_ source: String) throws {
        var lexer = Lexer(source: source)
        var parser = Parser(tokens: try lexer.tokenize())
        nodes = try parser.parseTemplate()
    }

    /// Renders with `context` as the template's variables.
    public func render(_ context: [String: Value], clock: TemplateClock = TemplateClock(), limits: RenderLimits = RenderLimits()) throws -> String {
        let interpreter = Interpreter(limits: limits, clock: clock)
        defer { interpreter.releaseCycles() }
        let globals = Scope(Template.globals(clock), parent: nil)
        let root = Scope(context, parent: globals)
        _ = try interpreter.execute(nodes, root)
        return interpreter.output
    }

    static func globals(_ clock: TemplateClock) -> [String: Value] {
        [
            "raise_exception": .callable(Callable("raise_exception") { args, _ in
                throw Failure(.raised, args.value(0, "message")?.pythonString ?? "")
            }),
            "strftime_now": .callable(Callable("strftime_now") { args, _ in
                .string(clock.strftime(args.value(0, "format")?.pythonString ?? ""))
            }),
            "range": .callable(Callable("range") { args, _ in try range(args) }),
            "dict": .callable(Callable("dict") { args, _ in
                var dict = OrderedDict()
                if let first = args.positional.first { try merge(first, into: &dict) }
                for (key, value) in args.keyword { dict[key] = value }
                return .dict(dict)
            }),
            "namespace": .callable(Callable("namespace") { args, interpreter in
                var dict = OrderedDict()
                if let first = args.positional.first { try merge(first, into: &dict) }
                for (key, value) in args.keyword { dict[key] = value }
                for case .string(let key) in dict.keys where key.hasPrefix("_") {
                    throw Failure(.security, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got \(pyRepr(key)). Please rename the attribute.")
                }
                let namespace = Namespace(dict)
                interpreter.track(namespace)
                return .namespace(namespace)
            }),
        ]
    }

    private static func merge(_ value: Value, into dict: inout OrderedDict) throws {
        switch value {
        case .dict(let other): for (key, item) in other.pairs { dict[key] = item }
        case .namespace(let ns): for (key, item) in ns.attributes.pairs { dict[key] = item }
        default:
            for pair in try iterate(value) {
                let items = try iterate(pair)
                guard items.count == 2 else { throw Failure(.value, "dictionary update sequence element has length \(items.count); 2 is required") }
                dict[items[0]] = items[1]
            }
        }
    }

    private static func range(_ args: Arguments) throws -> Value {
        let bounds = try args.positional.map { value -> Int in
            switch value {
            case .int(let i): return i
            case .bool(let b): return b ? 1 : 0
            default: throw Failure(.type, "'\(value.typeName)' object cannot be interpreted as an integer")
            }
        }
        let (start, stop, step): (Int, Int, Int)
        switch bounds.count {
        case 1: (start, stop, step) = (0, bounds[0], 1)
        case 2: (start, stop, step) = (bounds[0], bounds[1], 1)
        case 3: (start, stop, step) = (bounds[0], bounds[1], bounds[2])
        default: throw Failure(.type, "range expected at least 1 argument, got \(bounds.count)")
        }
        guard step != 0 else { throw Failure(.value, "range() arg 3 must not be zero") }
        // The distance between the bounds can pass Int.max (range(-2**63, 2**63 - 1)): count in UInt.
        let ascending = step > 0
        guard ascending ? start < stop : start > stop else { return .list([]) }
        let distance = ascending ? UInt(bitPattern: stop &- start) : UInt(bitPattern: start &- stop)
        let count = (distance - 1) / step.magnitude + 1
        guard count <= 100_000 else {
            throw Failure(.limit, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")
        }
        // Every element lies between the bounds, so the wrapping arithmetic is exact.
        return .list((0..<Int(count)).map { .int(start &+ $0 &* step) })
    }
}
