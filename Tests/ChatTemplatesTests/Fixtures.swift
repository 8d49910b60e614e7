// Loads the jinja2-rendered fixtures written by Scripts/reference/chat_template_fixtures.py.
import Foundation
import TestSupport
import Testing

@testable import ChatTemplates

enum Fixtures {
    static let folder = TestPaths.fixtures.appendingPathComponent("templates")
    static let templates = TestPaths.assets.appendingPathComponent("templates")
    /// The date the reference script pins `strftime_now` to.
    static let clock = TemplateClock.fixed(year: 2025, month: 7, day: 26, hour: 14, minute: 30, second: 5)

    static func load(_ name: String) throws -> OrderedDict {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        guard case .dict(let root) = try Value.fromJSON(data) else { throw FixtureError("\(name) is not a JSON object") }
        return root
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

extension Value {
    var dictValue: OrderedDict? { if case .dict(let d) = self { return d } else { return nil } }
    var listValue: [Value]? { if case .list(let l) = self { return l } else { return nil } }
    var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
}

/// Python exception names as the fixtures record them, mapped to this module's error kinds.
func kindName(_ error: any Error) -> String {
    guard case ChatTemplatesError.template(let kind, _, _, _) = error else { return "\(type(of: error))" }
    return kind.rawValue
}
