// Language features, each checked against the output (or exception) jinja2 produced for it in features.json.
import Foundation
import Testing

@testable import ChatTemplates

struct FeatureCase: CustomTestStringConvertible, Sendable {
    let name: String
    let template: String
    let context: [String: Value]
    let output: String?
    let error: String?
    let message: String?
    let line: Int?
    var testDescription: String { name }

    static func all() throws -> [FeatureCase] {
        let root = try Fixtures.load("features.json")
        return try (root["cases"]?.listValue ?? []).map { entry in
            guard let d = entry.dictValue, let name = d["name"]?.stringValue, let template = d["template"]?.stringValue,
                let context = d["context"]?.dictValue
            else { throw Fixtures.FixtureError("malformed case in features.json") }
            var variables: [String: Value] = [:]
            for (key, value) in context.pairs { if let key = key.stringValue { variables[key] = value } }
            var line: Int?
            if case .int(let l)? = d["line"] { line = l }
            return FeatureCase(
                name: name, template: template, context: variables, output: d["output"]?.stringValue,
                error: d["error"]?.stringValue, message: d["message"]?.stringValue, line: line)
        }
    }
}

/// jinja2 reports an unknown filter at compile time as TemplateAssertionError; this module calls it a syntax error.
private func expectedKind(_ pythonName: String) -> String {
    pythonName == "TemplateAssertionError" ? "TemplateSyntaxError" : pythonName
}

@Test(arguments: try FeatureCase.all())
func featureMatchesJinja2(_ feature: FeatureCase) throws {
    let result = Result { try Template(feature.template).render(feature.context, clock: Fixtures.clock) }
    switch result {
    case .success(let text):
        #expect(feature.output == text, "jinja2 \(feature.error.map { "raised \($0): \(feature.message ?? "")" } ?? "rendered differently")")
    case .failure(let error):
        guard let error = error as? ChatTemplatesError, case .template(let kind, let message, let line, _) = error else {
            Issue.record("unexpected error \(error)")
            return
        }
        #expect(feature.output == nil, "jinja2 rendered \(feature.output.map(pyRepr) ?? ""), Swift threw \(error)")
        if let pythonName = feature.error {
            #expect(kind.rawValue == expectedKind(pythonName))
            #expect(message == feature.message)
        }
        if let want = feature.line { #expect(line == want) }
    }
}
