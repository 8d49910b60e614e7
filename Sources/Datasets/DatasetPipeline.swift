// The one way a dataset file becomes training tokens: read → validate → render with the chat template → tokenize
// with loss masks → report. `tailor train`, `tailor eval` and `tailor data check` all go through it, with the same
// flags, so a file gives the same errors and the same counts whichever command reads it.
import Foundation
import Tokenizers

/// The settings every data-reading command takes, under the same flag names everywhere.
public struct DataSettings: Sendable, Equatable {
    /// Force a record format instead of detecting it (`--format`).
    public var format: RecordFormat?
    /// Field names as the file spells them (`--field role=from`).
    public var fieldMapping: [String: String]
    /// Keep the valid records and report the rest instead of failing (`--skip-invalid`).
    public var skipInvalid: Bool
    /// Longest example in tokens; longer ones are cut (`--max-length`).
    public var maxLength: Int

    public static let defaultMaxLength = 2048

    public init(
        format: RecordFormat? = nil, fieldMapping: [String: String] = [:], skipInvalid: Bool = false,
        maxLength: Int = DataSettings.defaultMaxLength
    ) {
        self.format = format
        self.fieldMapping = fieldMapping
        self.skipInvalid = skipInvalid
        self.maxLength = maxLength
    }

    /// The settings as flags spell them: `--format NAME`, `--field NAME=FIELD` (repeatable).
    public init(formatName: String?, fields: [String], skipInvalid: Bool, maxLength: Int) throws {
        var format: RecordFormat?
        if let formatName {
            guard let parsed = RecordFormat(argument: formatName) else { throw DatasetsError.unknownFormat(formatName) }
            format = parsed
        }
        guard maxLength >= 2 else { throw DatasetsError.badMaxLength(maxLength) }
        self.init(
            format: format, fieldMapping: try DatasetReadOptions.fieldMapping(from: fields), skipInvalid: skipInvalid,
            maxLength: maxLength)
    }

    /// How the reader takes them.
    public var readOptions: DatasetReadOptions {
        DatasetReadOptions(format: format, fieldMapping: fieldMapping, skipInvalid: skipInvalid)
    }

    /// The help text of each data flag, shown by every command that takes it.
    public enum Help {
        public static let format = "Force the record format: messages, sharegpt, alpaca, prompt-completion or text."
        public static let field = "Map a field name, e.g. role=from or messages=dialog. Repeatable."
        public static let skipInvalid = "Use the valid records and report the invalid ones instead of stopping."
        public static let maxLength = "Longest example in tokens; longer ones are cut (default 2048)."
        public static let chatTemplate = "A Jinja chat template file to use instead of the model's."
    }
}

/// The counts of one dataset file after the pipeline, said the same way by every command.
public struct DatasetSummary: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var records: Int
    public var invalid: Int
    /// Whether the invalid records were left out (`--skip-invalid`) rather than stopping the command.
    public var skippedInvalid: Bool
    /// Valid records the template could not render, or that kept no trained token.
    public var leftOut: Int
    public var examples: Int
    /// Examples kept with their end cut off (an example cut down to no trained token is left out instead).
    public var truncated: Int
    public var maxLength: Int

    public var description: String {
        var text = "\(file): \(records) record(s), \(invalid) invalid"
        if invalid > 0 { text += skippedInvalid ? " (skipped)" : "" }
        text += ", \(leftOut) left out while rendering; \(examples) example(s), \(truncated) cut to --max-length "
        return text + "\(maxLength)"
    }
}

/// What reading one file left out, and its counts: reported the same way by every data-reading command.
public struct DatasetReport: Sendable, Equatable {
    public var summary: DatasetSummary
    /// Invalid records (only when they were skipped; otherwise the command stopped on them).
    public var skipped: [DatasetIssue]
    /// Valid records left out while rendering or tokenizing.
    public var leftOut: [DatasetIssue]
}

/// A dataset file made ready: its records, the tokenized examples, and what was left out on the way.
public struct PreparedDataset: Sendable {
    public var loaded: LoadedDataset
    public var examples: [TokenizedExample]
    public var rendering: RenderReport
    public var settings: DataSettings

    /// Invalid records, in file order (left out when `settings.skipInvalid`).
    public var invalid: [DatasetIssue] { loaded.issues }
    /// Valid records left out while rendering or tokenizing, in file order.
    public var leftOut: [DatasetIssue] { rendering.dropped }

    public var report: DatasetReport {
        DatasetReport(summary: summary, skipped: settings.skipInvalid ? invalid : [], leftOut: leftOut)
    }

    public var summary: DatasetSummary {
        DatasetSummary(
            file: loaded.file, records: loaded.records, invalid: loaded.issues.count,
            skippedInvalid: settings.skipInvalid, leftOut: rendering.dropped.count, examples: examples.count,
            truncated: examples.count { $0.truncated }, maxLength: settings.maxLength)
    }
}

/// Reads, renders and tokenizes dataset files for one model.
public struct DatasetPipeline: Sendable {
    public let tokenizer: Tokenizer
    public let template: ModelChatTemplate
    public let settings: DataSettings

    public init(tokenizer: Tokenizer, template: ModelChatTemplate, settings: DataSettings) {
        self.tokenizer = tokenizer
        self.template = template
        self.settings = settings
    }

    /// The pipeline of `model` (a GGUF file or a Hugging Face folder): its tokenizer, and its chat template or the
    /// `chatTemplate` file.
    public init(model: URL, chatTemplate: URL?, settings: DataSettings) throws {
        self.init(
            tokenizer: try Tokenizer.load(model), template: try ChatTemplateLocator.locate(model: model, override: chatTemplate),
            settings: settings)
    }

    /// `url` made ready to train or score on. Invalid records stop it (all of them listed) unless
    /// `settings.skipInvalid`; a file left with no example throws ``DatasetsError/noExamples(path:reason:)``.
    public func prepare(_ url: URL) throws -> PreparedDataset {
        try prepare(try Self.read(url, settings: settings))
    }

    /// The records of `url`, read and validated as `prepare` reads them, before any model is needed (a command can
    /// stop on bad data before loading weights).
    public static func read(_ url: URL, settings: DataSettings) throws -> LoadedDataset {
        try DatasetReader.read(url: url, options: settings.readOptions)
    }

    /// Records from `read(_:settings:)` rendered and tokenized.
    public func prepare(_ loaded: LoadedDataset) throws -> PreparedDataset {
        let prepared = tokenize(loaded)
        guard !prepared.examples.isEmpty else {
            throw DatasetsError.noExamples(
                path: prepared.loaded.file,
                reason: "every valid record was left out while rendering (\(prepared.leftOut.first?.description ?? ""))")
        }
        return prepared
    }

    /// `url` read, rendered and tokenized, keeping every problem in the result instead of throwing (what
    /// `tailor data check` shows); throws only for a file that is unreadable, empty, binary or not JSON.
    public func scan(_ url: URL) throws -> PreparedDataset {
        tokenize(try DatasetReader.scan(url: url, options: settings.readOptions))
    }

    private func tokenize(_ loaded: LoadedDataset) -> PreparedDataset {
        let renderer = Renderer(
            tokenizer: tokenizer, template: template.template, maxLength: settings.maxLength, file: loaded.file)
        let (examples, report) = renderer.tokenizeAll(loaded.examples)
        return PreparedDataset(loaded: loaded, examples: examples, rendering: report, settings: settings)
    }
}
