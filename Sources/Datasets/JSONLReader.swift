// Reading a dataset file: JSON Lines or one JSON array, UTF-8 with or without BOM, LF or CRLF; every record validated.
//
// Layout read:
//   [EF BB BF]?  then either
//   JSON Lines:  one JSON object per line, lines ended by LF or CRLF, blank lines ignored; or
//   JSON array:  `[` object (`,` object)* `]` over any number of lines, nothing but whitespace after it.
// A zero byte anywhere marks a binary file. Line numbers are 1-based and count LF.
import ChatTemplates
import Foundation

/// How to read a dataset.
public struct DatasetReadOptions: Sendable {
    /// Force a format instead of detecting it from the records.
    public var format: RecordFormat?
    /// Field names as the file spells them: `["role": "from", "messages": "dialog"]`.
    public var fieldMapping: [String: String]
    /// Keep the valid records and report the rest instead of failing.
    public var skipInvalid: Bool

    public init(format: RecordFormat? = nil, fieldMapping: [String: String] = [:], skipInvalid: Bool = false) {
        self.format = format
        self.fieldMapping = fieldMapping
        self.skipInvalid = skipInvalid
    }

    /// Parses `--field NAME=FIELD` arguments.
    public static func fieldMapping(from arguments: [String]) throws -> [String: String] {
        var mapping: [String: String] = [:]
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw DatasetsError.badFieldMapping(argument) }
            mapping[parts[0]] = parts[1]
        }
        return mapping
    }
}

/// A read and validated dataset file.
public struct LoadedDataset: Sendable {
    /// The path as given.
    public var file: String
    /// The format of the records: forced, or the one most records have.
    public var format: RecordFormat
    /// True when `--format` chose it.
    public var formatForced: Bool
    /// How many non-blank records the file holds.
    public var records: Int
    /// Valid records, in file order.
    public var examples: [Example]
    /// One per rejected record, in file order.
    public var issues: [DatasetIssue]
    /// Records left out (equal to `issues.count`).
    public var skipped: Int { issues.count }
}

/// Reads dataset files.
public enum DatasetReader {
    /// Reads and validates `url`. Strict by default: any bad record throws ``DatasetsError/invalidRecords(path:issues:records:)``
    /// listing all of them; with `skipInvalid` they are reported in ``LoadedDataset/issues`` and left out.
    public static func read(url: URL, options: DatasetReadOptions = DatasetReadOptions()) throws -> LoadedDataset {
        let loaded = try scan(url: url, options: options)
        if !loaded.issues.isEmpty && !options.skipInvalid {
            throw DatasetsError.invalidRecords(path: loaded.file, issues: loaded.issues, records: loaded.records)
        }
        guard !loaded.examples.isEmpty else {
            throw DatasetsError.noExamples(path: loaded.file, reason: "all \(loaded.records) records are invalid")
        }
        return loaded
    }

    /// Reads `url` and validates every record, never throwing for bad records (for `tailor data check`).
    /// Throws only when the file itself is unreadable, empty, binary or not JSON at all.
    public static func scan(url: URL, options: DatasetReadOptions = DatasetReadOptions()) throws -> LoadedDataset {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DatasetsError.io(path: url.relativePath, reason: "no such file, or it cannot be read")
        }
        return try parse(data: data, path: url.relativePath, options: options)
    }

    /// Reads dataset bytes; `path` names the file in messages.
    public static func parse(data: Data, path: String, options: DatasetReadOptions = DatasetReadOptions()) throws -> LoadedDataset {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        if let zero = bytes.firstIndex(of: 0) { throw DatasetsError.binaryFile(path: path, offset: zero) }
        guard bytes.contains(where: { !isWhitespace($0) }) else { throw DatasetsError.emptyFile(path: path) }
        let name = path
        let chunks = jsonArrayElements(bytes) ?? jsonLines(bytes)

        // Parse every record first, so formats can be decided by the majority.
        var parsed: [(line: Int, record: OrderedDict?, problem: DatasetIssue?)] = []
        var jsonFailures = 0
        for chunk in chunks {
            let slice = Array(bytes[chunk.range])
            guard isValidUTF8(slice) else {
                parsed.append((chunk.line, nil, DatasetIssue(file: name, line: chunk.line, reason: "the line is not valid UTF-8")))
                jsonFailures += 1
                continue
            }
            do {
                let value = try Value.fromJSON(Data(slice))
                guard case .dict(let dict) = value else {
                    parsed.append((chunk.line, nil, DatasetIssue(file: name, line: chunk.line, reason: "expected a JSON object, found \(jsonKind(value))")))
                    continue
                }
                parsed.append((chunk.line, dict, nil))
            } catch ChatTemplatesError.invalidJSON(let offset, let reason) {
                let (line, column) = position(of: offset, in: slice, firstLine: chunk.line)
                parsed.append((chunk.line, nil, DatasetIssue(file: name, line: line, column: column, reason: "invalid JSON: \(reason)")))
                jsonFailures += 1
            } catch {
                parsed.append((chunk.line, nil, DatasetIssue(file: name, line: chunk.line, reason: "invalid JSON: \(error)")))
                jsonFailures += 1
            }
        }
        if let first = parsed.first?.problem, jsonFailures == parsed.count {
            throw DatasetsError.notJSON(path: path, firstProblem: first)
        }

        let parser = RecordParser(mapping: options.fieldMapping)
        var format = options.format
        if format == nil {
            var counts: [RecordFormat: Int] = [:]
            var order: [RecordFormat] = []
            for entry in parsed {
                guard let record = entry.record, let detected = parser.detect(record) else { continue }
                if counts[detected] == nil { order.append(detected) }
                counts[detected, default: 0] += 1
            }
            format = order.max { counts[$0]! < counts[$1]! || (counts[$0]! == counts[$1]! && order.firstIndex(of: $0)! > order.firstIndex(of: $1)!) }
        }

        var examples: [Example] = []
        var issues: [DatasetIssue] = []
        for entry in parsed {
            if let problem = entry.problem {
                issues.append(problem)
                continue
            }
            guard let record = entry.record else { continue }
            let keys = record.keys.compactMap { key -> String? in if case .string(let s) = key { return s } else { return nil } }
            guard let format else {
                issues.append(DatasetIssue(file: name, line: entry.line, reason: unknownRecord(keys)))
                continue
            }
            if options.format == nil {
                guard let detected = parser.detect(record) else {
                    issues.append(DatasetIssue(file: name, line: entry.line, reason: unknownRecord(keys)))
                    continue
                }
                if detected != format {
                    issues.append(DatasetIssue(
                        file: name, line: entry.line,
                        reason: "mixed formats: this record is \(detected.rawValue) (\(detected.signature)) but the file is "
                            + "\(format.rawValue) (\(format.signature)); use one format per file"))
                    continue
                }
            }
            do {
                examples.append(try parser.parse(record, as: format, line: entry.line))
            } catch let problem as RecordProblem {
                issues.append(DatasetIssue(file: name, line: entry.line, reason: problem.reason))
            }
        }
        return LoadedDataset(
            file: name, format: format ?? .messages, formatForced: options.format != nil, records: parsed.count,
            examples: examples, issues: issues)
    }

    // MARK: - Splitting

    struct Chunk {
        var line: Int
        var range: Range<Int>
    }

    private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// Non-blank lines, with CR of CRLF dropped.
    static func jsonLines(_ bytes: [UInt8]) -> [Chunk] {
        var chunks: [Chunk] = []
        var line = 1
        var start = 0
        func flush(_ end: Int) {
            var e = end
            if e > start, bytes[e - 1] == 0x0D { e -= 1 }
            if bytes[start..<e].contains(where: { !isWhitespace($0) }) { chunks.append(Chunk(line: line, range: start..<e)) }
        }
        for (i, b) in bytes.enumerated() where b == 0x0A {
            flush(i)
            line += 1
            start = i + 1
        }
        if start < bytes.count { flush(bytes.count) }
        return chunks
    }

    /// The elements of a file that is one JSON array, or nil when the file is not (JSON Lines, or a broken array).
    static func jsonArrayElements(_ bytes: [UInt8]) -> [Chunk]? {
        var i = 0
        var line = 1
        func skip() {
            while i < bytes.count, isWhitespace(bytes[i]) {
                if bytes[i] == 0x0A { line += 1 }
                i += 1
            }
        }
        skip()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else { return nil }
        i += 1
        var chunks: [Chunk] = []
        skip()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            skip()
            return i == bytes.count ? [] : nil
        }
        while i < bytes.count {
            skip()
            let start = i
            let startLine = line
            var depth = 0
            var inString = false
            // Scan to the comma or bracket that ends this element at depth 0.
            while i < bytes.count {
                let b = bytes[i]
                if b == 0x0A { line += 1 }
                if inString {
                    if b == UInt8(ascii: "\\") { i += 1 } else if b == UInt8(ascii: "\"") { inString = false }
                } else if b == UInt8(ascii: "\"") {
                    inString = true
                } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                    depth += 1
                } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                    if depth == 0 { break }
                    depth -= 1
                } else if b == UInt8(ascii: ","), depth == 0 {
                    break
                }
                i += 1
            }
            guard i < bytes.count else { return nil }
            var end = i
            while end > start, isWhitespace(bytes[end - 1]) { end -= 1 }
            chunks.append(Chunk(line: startLine, range: start..<end))
            if bytes[i] == UInt8(ascii: "]") {
                i += 1
                skip()
                return i == bytes.count ? chunks : nil
            }
            i += 1  // the comma
        }
        return nil
    }

    // MARK: - Messages

    private static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// Line and character column of byte `offset` inside a record that starts on `firstLine`.
    private static func position(of offset: Int, in bytes: [UInt8], firstLine: Int) -> (Int, Int) {
        let clamped = min(max(offset, 0), bytes.count)
        var line = firstLine
        var lineStart = 0
        for (i, b) in bytes[0..<clamped].enumerated() where b == 0x0A {
            line += 1
            lineStart = i + 1
        }
        let column = String(decoding: bytes[lineStart..<clamped], as: UTF8.self).count + 1
        return (line, column)
    }

    private static func jsonKind(_ value: Value) -> String {
        switch value {
        case .list: return "an array"
        case .string: return "a string"
        case .int, .double: return "a number"
        case .bool: return "a boolean"
        case .none: return "null"
        default: return "a value"
        }
    }

    private static func unknownRecord(_ keys: [String]) -> String {
        let found = keys.isEmpty ? "no fields" : "fields " + keys.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
        return "unknown record format (\(found)); expected messages, conversations, instruction/output, "
            + "prompt/completion or text (map other names with --field NAME=FIELD)"
    }
}
