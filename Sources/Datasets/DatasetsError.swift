// The one error type of Datasets: file-level problems, bad records, and conversations that cannot be rendered.
import Foundation

/// One bad record: where it is and why it was rejected. Prints as `data.jsonl:12: reason` (with `:column` when known).
public struct DatasetIssue: Sendable, Equatable, CustomStringConvertible, Codable {
    /// The file's name as the user gave it.
    public var file: String
    /// 1-based line where the record starts.
    public var line: Int
    /// 1-based character column, for JSON syntax errors.
    public var column: Int?
    public var reason: String

    public init(file: String, line: Int, column: Int? = nil, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }

    public var description: String {
        "\(file):\(line)\(column.map { ":\($0)" } ?? ""): \(reason)"
    }
}

/// What went wrong reading a dataset or turning its records into tokens.
public enum DatasetsError: Error, CustomStringConvertible, Equatable {
    case io(path: String, reason: String)
    case emptyFile(path: String)
    case binaryFile(path: String, offset: Int)
    /// No record of the file is JSON at all (a CSV, a text file).
    case notJSON(path: String, firstProblem: DatasetIssue)
    /// Strict mode found bad records; every one is listed.
    case invalidRecords(path: String, issues: [DatasetIssue], records: Int)
    /// Nothing left to train on (every record was bad, or dropped).
    case noExamples(path: String, reason: String)
    /// `--field` mappings that are not `name=field`.
    case badFieldMapping(String)
    /// A `--format` that names no record format.
    case unknownFormat(String)
    /// A `--max-length` too short to hold a prompt and a target.
    case badMaxLength(Int)
    /// A chat template file that cannot be read or parsed.
    case chatTemplate(path: String, reason: String)
    /// Rendering one record failed: the template raised, or rewrote earlier turns.
    case render(file: String, line: Int, reason: String)
    /// After rendering (and truncation), the example trains no token at all.
    case noTrainedTokens(file: String, line: Int, truncated: Bool)

    public var description: String {
        switch self {
        case .io(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .emptyFile(let path):
            return "\(path) is empty: expected JSON Lines (one JSON object per line) or a JSON array of objects"
        case .binaryFile(let path, let offset):
            return "\(path) is a binary file (found a zero byte at offset \(offset)): expected UTF-8 JSON Lines or a JSON array"
        case .notJSON(let path, let first):
            return "\(path) is not JSON Lines or a JSON array (\(first.description)); give a file with one JSON object per line"
        case .invalidRecords(let path, let issues, let records):
            let list = issues.map { "  \($0.description)" }.joined(separator: "\n")
            return Self.invalidHeadline(path: path, invalid: issues.count, records: records) + ":\n" + list
        case .noExamples(let path, let reason):
            return "\(path) has nothing to train on: \(reason)"
        case .badFieldMapping(let text):
            return "bad field mapping '\(text)': expected NAME=FIELD, e.g. role=from or messages=dialog"
        case .unknownFormat(let name):
            return "unknown --format \(name): use messages, sharegpt, alpaca, prompt-completion or text"
        case .badMaxLength(let length):
            return "--max-length must be at least 2, not \(length)"
        case .chatTemplate(let path, let reason):
            return "cannot use the chat template \(path): \(reason)"
        case .render(let file, let line, let reason):
            return "\(file):\(line): \(reason)"
        case .noTrainedTokens(let file, let line, let truncated):
            return "\(file):\(line): no token is trained"
                + (truncated ? " after truncation to --max-length; raise --max-length" : "; the record has no assistant reply to learn")
        }
    }

    /// The first line of ``invalidRecords(path:issues:records:)``, also what `tailor data check` ends with.
    public static func invalidHeadline(path: String, invalid: Int, records: Int) -> String {
        "\(path): \(invalid) of \(records) records are invalid; fix them, or pass --skip-invalid to use the rest"
    }
}
