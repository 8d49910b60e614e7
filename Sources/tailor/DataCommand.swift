// `tailor data check`: what Tailor will make of a dataset — format, bad records by line, token lengths, what is trained.
import ArgumentParser
import Datasets
import Foundation
import ModelStores

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

            The same data flags (--format, --field, --skip-invalid, --max-length, --chat-template) mean the same \
            in `tailor train` and `tailor eval`, which read the file exactly as this check does.
            """)

    @Argument(help: "The dataset file (.jsonl or .json).")
    var file: String

    @Option(help: "The model whose tokenizer and chat template to use (path, Hugging Face id, Ollama name).")
    var model: String

    @OptionGroup var discovery: DiscoveryOptions

    @Option(help: ArgumentHelp(DataSettings.Help.chatTemplate, valueName: "file"))
    var chatTemplate: String?

    @OptionGroup var data: DataOptions

    @Option(help: "How many rendered examples to preview.")
    var preview: Int = 2

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if preview < 0 { throw ValidationError("--preview must be zero or more") }
    }

    func run() throws {
        let settings = try data.settings()
        let local = try ModelDiscovery(paths: discovery.searchPaths()).resolve(model)
        let pipeline = try DatasetPipeline(
            model: local.format.url, chatTemplate: chatTemplate.map { URL(fileURLWithPath: $0) }, settings: settings)
        if pipeline.template.isFallback {
            writeNote("warning: \(local.name) has no chat template; rendering with \(pipeline.template.fallbackName)")
        }
        let prepared = try pipeline.scan(URL(fileURLWithPath: file))
        if json {
            print(try jsonReport(prepared, pipeline: pipeline, previews: previews(prepared, pipeline, color: false)))
        } else {
            let color = Terminal.colorsOnStandardOutput
            print(text(prepared, pipeline: pipeline, previews: previews(prepared, pipeline, color: color)))
        }
        if !prepared.invalid.isEmpty && !settings.skipInvalid {
            throw CLIError(
                DatasetsError.invalidHeadline(
                    path: prepared.loaded.file, invalid: prepared.invalid.count, records: prepared.loaded.records)
                    + " (listed above)")
        }
        if prepared.examples.isEmpty { throw CLIError("\(prepared.loaded.file): no example is left to train on") }
    }

    // MARK: - Reports

    /// `--json`: one object with the figures of the text report at its top level.
    private func jsonReport(_ prepared: PreparedDataset, pipeline: DatasetPipeline, previews: [Preview]) throws -> String {
        let dataset = prepared.loaded, report = prepared.rendering
        let object: [String: Any] = [
            "file": dataset.file, "format": dataset.format.rawValue, "formatForced": dataset.formatForced,
            "records": dataset.records, "valid": dataset.examples.count, "invalid": dataset.issues.count,
            "errors": dataset.issues.map(\.description), "summary": prepared.summary.description,
            "chatTemplate": pipeline.template.origin, "chatTemplateFallback": pipeline.template.isFallback,
            "maxLength": prepared.settings.maxLength, "examples": prepared.examples.count,
            "truncated": prepared.summary.truncated, "droppedNoTarget": report.droppedNoTarget, "failed": report.failed,
            "dropped": report.dropped.map(\.description), "totalTokens": report.totalTokens,
            "trainedTokens": report.trainedTokens, "trainedShare": report.trainedShare,
            // After cutting to maxLength, and before.
            "lengths": report.lengths, "originalLengths": report.originalLengths,
            "endOfTurnAppended": report.endOfTurnAppended, "missingEndOfTurn": report.missingEndOfTurn,
            "preview": previews.map { ["line": $0.line, "tokens": $0.tokens, "trained": $0.trained, "text": $0.text] },
        ]
        let data = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    private func text(_ prepared: PreparedDataset, pipeline: DatasetPipeline, previews: [Preview]) -> String {
        let dataset = prepared.loaded, report = prepared.rendering, settings = prepared.settings
        let how = dataset.formatForced ? "forced with --format" : "detected: \(dataset.format.signature)"
        var lines = [
            "file           \(dataset.file)",
            "format         \(dataset.format.rawValue) (\(how))",
            "records        \(dataset.records) (\(dataset.examples.count) valid, \(dataset.issues.count) invalid)",
            "chat template  \(pipeline.template.origin)",
        ]
        if !dataset.issues.isEmpty {
            lines += ["", "invalid records\(settings.skipInvalid ? " (skipped with --skip-invalid)" : ""):"]
            lines += dataset.issues.map { "  \($0)" }
        }
        if !report.dropped.isEmpty {
            lines += ["", "left out while rendering:"] + report.dropped.map { "  \($0)" }
        }
        lines += ["", prepared.summary.description, ""]
        lines.append("examples       \(prepared.examples.count) to train on")
        lines.append(
            "tokens         \(report.totalTokens) total, \(report.trainedTokens) trained "
                + "(\(formatDecimal(report.trainedShare * 100, digits: 1))%)")
        let lengths = report.originalLengths.sorted()
        if let lo = lengths.first, let hi = lengths.last {
            lines.append("lengths        min \(lo), median \(lengths[lengths.count / 2]), max \(hi) (before cutting)")
        }
        lines.append("truncated      \(prepared.summary.truncated) (to --max-length \(settings.maxLength))")
        lines.append("no target      \(report.droppedNoTarget) dropped")
        if report.endOfTurnAppended > 0 {
            lines.append("end of turn    EOS appended after \(report.endOfTurnAppended) final replies the template leaves open")
        }
        if report.missingEndOfTurn > 0 {
            lines.append("warning        \(report.missingEndOfTurn) replies have no end-of-turn token; the tuned model may not stop")
        }
        if !lengths.isEmpty {
            lines += ["", "token lengths before cutting to --max-length \(settings.maxLength):"]
            lines += histogram(lengths, limit: settings.maxLength)
        }
        for (index, item) in previews.enumerated() {
            lines.append("")
            lines.append("── example \(index + 1) (line \(item.line), \(item.tokens) tokens, \(item.trained) trained) ──")
            lines.append(item.text)
        }
        return lines.joined(separator: "\n")
    }

    /// One bar per length bucket, eight buckets from the shortest to the longest of `sorted` (the lengths the
    /// `lengths` line reports); buckets holding lengths over `limit` say that those examples are cut.
    private func histogram(_ sorted: [Int], limit: Int) -> [String] {
        guard let lo = sorted.first, let hi = sorted.last else { return [] }
        let span = hi - lo + 1
        let width = (span + 7) / 8
        let buckets = (span + width - 1) / width
        var counts = [Int](repeating: 0, count: buckets)
        for length in sorted { counts[min(buckets - 1, (length - lo) / width)] += 1 }
        let most = counts.max() ?? 1
        let upper = (0..<buckets).map { b in b == buckets - 1 ? hi : lo + (b + 1) * width - 1 }
        let labels = (0..<buckets).map { b in "\(lo + b * width)–\(upper[b])" }
        let labelWidth = labels.map(\.count).max() ?? 0
        return (0..<buckets).map { b in
            let bar = String(repeating: "█", count: counts[b] == 0 ? 0 : max(1, counts[b] * 40 / most))
            let cut = upper[b] > limit && counts[b] > 0 ? " (cut to \(limit))" : ""
            return "  " + String(repeating: " ", count: labelWidth - labels[b].count) + labels[b] + "  " + bar
                + " \(counts[b])" + cut
        }
    }

    struct Preview {
        var line: Int
        var tokens: Int
        var trained: Int
        var text: String
    }

    /// The first examples decoded, trained runs highlighted: bold green on a terminal, `[[…]]` otherwise.
    private func previews(_ prepared: PreparedDataset, _ pipeline: DatasetPipeline, color: Bool) -> [Preview] {
        prepared.examples.prefix(preview).map { example in
            var out = ""
            var start = 0
            while start < example.ids.count {
                var end = start
                while end < example.ids.count, example.trained[end] == example.trained[start] { end += 1 }
                let piece = pipeline.tokenizer.decode(example.ids[start..<end].map { Int($0) })
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
