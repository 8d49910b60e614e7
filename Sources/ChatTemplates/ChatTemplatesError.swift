// The one error type of ChatTemplates, and the position-less failure the interpreter raises before it knows where.
import Foundation

/// What went wrong while parsing or rendering a chat template.
public enum ChatTemplatesError: Error, CustomStringConvertible, Equatable {
    /// A template problem at a source position (1-based line and column).
    case template(kind: Kind, message: String, line: Int, column: Int)
    /// JSON input that could not be parsed.
    case invalidJSON(offset: Int, reason: String)
    /// Prefix rendering found that adding a message changed text rendered for earlier ones.
    case historyRewritten(messageIndex: Int, divergesAt: Int, expected: String, found: String)

    /// The kind of a template error, named after the Python exception jinja2 would raise.
    public enum Kind: String, Sendable {
        case syntax = "TemplateSyntaxError"
        /// `raise_exception(message)` called by the template (jinja2 `TemplateError`).
        case raised = "TemplateError"
        case undefined = "UndefinedError"
        case type = "TypeError"
        case value = "ValueError"
        case security = "SecurityError"
        /// An unknown filter or test reached at render time (jinja2 `TemplateRuntimeError`).
        case runtime = "TemplateRuntimeError"
        case zeroDivision = "ZeroDivisionError"
        /// The step budget or output cap was exceeded.
        case limit = "LimitExceeded"
    }

    /// The message without the position, as jinja2 would word it.
    public var message: String {
        switch self {
        case .template(_, let message, _, _): return message
        default: return description
        }
    }

    public var description: String {
        switch self {
        case .template(let kind, let message, let line, let column):
            let prefix = kind == .raised ? "template raised an exception" : kind.rawValue
            return "template line \(line), column \(column): \(prefix): \(message)"
        case .invalidJSON(let offset, let reason):
            return "invalid JSON at byte \(offset): \(reason); check that the input is valid JSON"
        case .historyRewritten(let index, let offset, let expected, let found):
            return "the template rewrites history: rendering message \(index) changed the text rendered for the "
                + "messages before it at character \(offset) (expected \(pyRepr(expected)), found \(pyRepr(found))); "
                + "per-message spans cannot be computed by prefix rendering for this template"
        }
    }
}

/// A failure raised below the node that knows the source position; the nearest node adds it.
struct Failure: Error {
    let kind: ChatTemplatesError.Kind
    let message: String
    init(_ kind: ChatTemplatesError.Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    func at(_ position: SourcePosition) -> ChatTemplatesError {
        .template(kind: kind, message: message, line: position.line, column: position.column)
    }
}

/// A 1-based line and column in the template source.
public struct SourcePosition: Sendable, Equatable {
    public let line: Int
    public let column: Int
}
