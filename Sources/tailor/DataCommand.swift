// `tailor data check`: what Tailor will make of a dataset — format, bad records by line, token lengths, what is trained.
import ArgumentParser
import ChatTemplates
import Datasets
import Foundation
import ModelStores
import Tokenizers

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Check a dataset before training on it.",
        subcommands: [DataCheckCommand.self])
}

struct DataCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a JSONL dataset and show how it renders and what is trained.",
        discussion: """
            Reads FILE (JSON Lines or a JSON array; OpenAI messages, ShareGPT, Alpaca, prompt/completion or text),
            lists every invalid record by line, renders each example with the model's chat template and tokenizer,
            and shows token lengths, truncation, the share of trained tokens and a preview with trained tokens
            highlighted (in color on a terminal, [[like this]] otherwise). Exits non-zero when any record is invalid,
            unless --skip-invalid.

            Examples:
              tailor data check data.jsonl --model SmolLM2-135M-Instruct.Q4_1.gguf
              tailor data check chats.json --model HuggingFaceTB/SmolLM2-135M-Instruct --preview 5
              tailor data check odd.jsonl --model M --format sharegpt --field from=speaker --field value=text
              tailor data check data.jsonl --model M --max-length 512 --json | jq .trainedShare
            """)

    @Argument(help: "The dataset file (.jsonl or .json).")
    var file: String

    @Option(help: "The model whose tokenizer and chat template to use (path, Hugging Face id, Ollama name).")
    var model: String

    @OptionGroup var discovery: DiscoveryOptions

    @Option(name: .customLong("chat-template"), help: ArgumentHelp("Use this Jinja chat template file instead of the model's.", valueName: "file"))
    var chatTemplate: String?

    @Option(help: "Force the record format: messages, sharegpt, alpaca, prompt-completion or text.")
    var format: String?

    @Option(name: .customLong("field"), help: ArgumentHelp("Map a field name, e.g. role=from or messages=dialog. Repeatable.", valueName: "name=field"))
    var fields: [String] = []

    @Option(name: .customLong("max-length"), help: "Truncate examples to this many tokens.")
    var maxLength: Int = 2048

    @Flag(name: .customLong("skip-invalid"), help: "Report invalid records but exit zero, as training with --skip-invalid would.")
    var skipInvalid = false

    @Option(help: "How many rendered examples to preview.")
    var preview: Int = 2

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if let format, RecordFormat(argument: format) == nil {
            throw ValidationError("unknown --format '\(format)': expected messages, sharegpt, alpaca, prompt-completion or text")
        }
        if maxLength < 2 { throw ValidationError("--max-length must be at least 2, got \(maxLength)") }
        if preview < 0 { throw ValidationError("--preview must be zero or more") }
    }

    func run() throws {
        let options = DatasetReadOptions(
            format: format.flatMap(RecordFormat.init(argument:)), fieldMapping: try DatasetReadOptions.fieldMapping(from: fields),
            skipInvalid: skipInvalid)
        let dataset = try DatasetReader.scan(url: URL(fileURLWithPath: file), options: options)
        let local = try ModelDiscovery(paths: discovery.searchPaths()).resolve(model)
        let modelURL: URL
        switch local.format {
        case .gguf(let url): modelURL = url
        case .huggingFace(let url): modelURL = url
        }
        let tokenizer = try Tokenizer.load(modelURL)
        let located = try ChatTemplateLocator.locate(model: modelURL, override: chatTemplate.map { URL(fileURLWithPath: $0) })
        if located.isFallback {
            FileHandle.standardError.write(
                Data("warning: \(local.name) has no chat template; rendering with \(located.fallbackName)\n".utf8))
        }
        var renderer = Renderer(tokenizer: tokenizer, template: located.template, maxLength: maxLength)
        renderer.file = dataset.file
        let (tokenized, report) = renderer.tokenizeAll(dataset.examples)

        if json {
            let summary = DataCheckReport(
                file: dataset.file, format: dataset.format.rawValue, formatForced: dataset.formatForced,
                records: dataset.records, valid: dataset.examples.count, invalid: dataset.issues.count,
                errors: dataset.issues.map(\.description), chatTemplate: located.origin, chatTemplateFallback: located.isFallback,
                maxLength: maxLength, examples: tokenized.count, truncated: report.truncated,
                droppedNoTarget: report.droppedNoTarget, failed: report.failed, dropped: report.dropped.map(\.description),
                totalTokens: report.totalTokens, trainedTokens: report.trainedTokens, trainedShare: report.trainedShare,
                lengths: report.lengths, endOfTurnAppended: report.endOfTurnAppended, missingEndOfTurn: report.missingEndOfTurn,
                preview: try previews(dataset, renderer: renderer, tokenized: tokenized, color: false))
            print(try encodeJSON(summary, pretty: true))
        } else {
            let color = isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            print(try text(dataset, located: located, report: report, renderer: renderer, tokenized: tokenized, color: color))
        }
        if !dataset.issues.isEmpty && !skipInvalid { throw ExitCode(1) }
        if tokenized.isEmpty { throw ExitCode(1) }
    }

    // MARK: - Text report

    private func text(
        _ dataset: LoadedDataset, located: ModelChatTemplate, report: RenderReport, renderer: Renderer,
        tokenized: [TokenizedExample], color: Bool
    ) throws -> String {
        var lines: [String] = []
        lines.append("file           \(dataset.file)")
        lines.append("format         \(dataset.format.rawValue) (\(dataset.formatForced ? "forced with --format" : "detected: \(dataset.format.signature)"))")
        lines.append("records        \(dataset.records) (\(dataset.examples.count) valid, \(dataset.issues.count) invalid)")
        lines.append("chat template  \(located.origin)")
        if !dataset.issues.isEmpty {
            lines.append("")
            lines.append("invalid records\(skipInvalid ? " (skipped with --skip-invalid)" : ""):")
            lines += dataset.issues.map { "  \($0.description)" }
        }
        if !report.dropped.isEmpty {
            lines.append("")
            lines.append("dropped while rendering:")
            lines += report.dropped.map { "  \($0.description)" }
        }
        lines.append("")
        lines.append("examples       \(tokenized.count) to train on")
        lines.append("tokens         \(report.totalTokens) total, \(report.trainedTokens) trained (\(formatDecimal(report.trainedShare * 100, digits: 1))%)")
        if let lo = report.lengths.min(), let hi = report.lengths.max() {
            let sorted = report.lengths.sorted()
            lines.append("lengths        min \(lo), median \(sorted[sorted.count / 2]), max \(hi)")
        }
        lines.append("truncated      \(report.truncated) (to --max-length \(maxLength))")
        lines.append("no target      \(report.droppedNoTarget) dropped")
        if report.endOfTurnAppended > 0 {
            lines.append("end of turn    EOS appended after \(report.endOfTurnAppended) final replies the template leaves open")
        }
        if report.missingEndOfTurn > 0 {
            lines.append("warning        \(report.missingEndOfTurn) replies have no end-of-turn token; the tuned model may not stop")
        }
        if !report.lengths.isEmpty {
            lines.append("")
            lines.append("token lengths:")
            lines += histogram(report.originalLengths)
        }
        for (index, item) in try previews(dataset, renderer: renderer, tokenized: tokenized, color: color).enumerated() {
            lines.append("")
            lines.append("── example \(index + 1) (line \(item.line), \(item.tokens) tokens, \(item.trained) trained) ──")
            lines.append(item.text)
        }
        return lines.joined(separator: "\n")
    }

    /// One bar per length bucket, eight buckets from the shortest to the longest (before truncation).
    private func histogram(_ lengths: [Int]) -> [String] {
        guard let lo = lengths.min(), let hi = lengths.max() else { return [] }
        let buckets = hi == lo ? 1 : 8
        let width = max(1, (hi - lo + buckets) / buckets)
        var counts = [Int](repeating: 0, count: buckets)
        for length in lengths { counts[min(buckets - 1, (length - lo) / width)] += 1 }
        let most = counts.max() ?? 1
        let labels = (0..<buckets).map { b in "\(lo + b * width)–\(b == buckets - 1 ? hi : lo + (b + 1) * width - 1)" }
        let labelWidth = labels.map(\.count).max() ?? 0
        return zip(labels, counts).map { label, count in
            let bar = String(repeating: "█", count: count == 0 ? 0 : max(1, count * 40 / most))
            return "  " + String(repeating: " ", count: labelWidth - label.count) + label + "  " + bar + " \(count)"
        }
    }

    struct Preview: Encodable {
        var line: Int
        var tokens: Int
        var trained: Int
        var text: String
    }

    /// The first examples decoded, trained runs highlighted: bold green on a terminal, `[[…]]` otherwise.
    private func previews(_ dataset: LoadedDataset, renderer: Renderer, tokenized: [TokenizedExample], color: Bool) throws -> [Preview] {
        tokenized.prefix(preview).map { example in
            var out = ""
            var start = 0
            while start < example.ids.count {
                var end = start
                while end < example.ids.count, example.trained[end] == example.trained[start] { end += 1 }
                let piece = renderer.tokenizer.decode(example.ids[start..<end].map { Int($0) })
                if example.trained[start] {
                    out += color ? "\u{1B}[1;32m" + piece + "\u{1B}[0m" : "[[" + piece + "]]"
                } else {
                    out += color ? "\u{1B}[2m" + piece + "\u{1B}[0m" : piece
                }
                start = end
            }
            return Preview(line: example.line, tokens: example.ids.count, trained: example.trainedCount, text: out)
        }
    }
}

/// `tailor data check --json`.
struct DataCheckReport: Encodable {
    var file: String
    var format: String
    var formatForced: Bool
    var records: Int
    var valid: Int
    var invalid: Int
    var errors: [String]
    var chatTemplate: String
    var chatTemplateFallback: Bool
    var maxLength: Int
    var examples: Int
    var truncated: Int
    var droppedNoTarget: Int
    var failed: Int
    var dropped: [String]
    var totalTokens: Int
    var trainedTokens: Int
    var trainedShare: Double
    var lengths: [Int]
    var endOfTurnAppended: Int
    var missingEndOfTurn: Int
    var preview: [DataCheckCommand.Preview]
}
