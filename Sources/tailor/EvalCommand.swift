// `tailor eval`: loss, perplexity and token accuracy of a model (and its adapter) on a dataset, as training scores it.
import ArgumentParser
import Datasets
import Foundation
import Models
import Tensors
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract:
            "Score a model (and its adapter, side by side) on a JSONL dataset: loss, perplexity, accuracy.",
        discussion: """
            The data is read, rendered with the chat template and tokenized exactly as `tailor train` does, and \
            only the trained tokens (the assistant replies) are scored. loss is the mean cross-entropy per scored \
            token, perplexity is exp(loss), accuracy is the share of scored tokens the model ranks first. With \
            --adapter the base model and the tuned one are scored on the same tokens, side by side.

            --json prints {data, examples, tokens, base: {loss, perplexity, accuracy, correct}, tuned: {...}}.

            Examples:
              tailor eval --model SmolLM2-135M-Instruct.Q4_1.gguf --data test.jsonl
              tailor eval --adapter runs/SmolLM2-135M-Instruct-20260101-120000 --data test.jsonl
              tailor eval --model m.gguf --adapter my-peft-adapter/ --data d.jsonl --max-length 1024 --json
            """)

    @OptionGroup var session: ModelSessionOptions
    @Option(help: "The dataset: JSON Lines (messages, ShareGPT, Alpaca, prompt/completion or text records).")
    var data: String
    @Option(help: "Longest sequence in tokens; longer examples are cut, as in training (default 2048).")
    var maxLength: Int = 2048
    @Option(help: "Force the record format: messages, sharegpt, alpaca, prompt-completion or text.")
    var format: String?
    @Flag(help: "Score the valid records and report the invalid ones instead of stopping.") var skipInvalid =
        false
    @Flag(help: "Print the scores as JSON.") var json = false

    func validate() throws {
        guard maxLength >= 2 else {
            throw ValidationError("--max-length must be at least 2, not \(maxLength)")
        }
        if session.model == nil && session.adapter == nil {
            throw ValidationError("no --model given; pass --model PATH or a name from `tailor models`")
        }
    }

    func run() throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isFolder), !isFolder.boolValue else {
            throw UseError("--data \(data): no such file; give a JSONL dataset")
        }
        let recordFormat = try format.map { text -> RecordFormat in
            guard let value = RecordFormat(argument: text) else {
                throw UseError(
                    "unknown --format \(text): use messages, sharegpt, alpaca, prompt-completion or text")
            }
            return value
        }
        let model = try ModelSession.load(session)
        let url = URL(fileURLWithPath: data)
        let dataset = try DatasetReader.read(
            url: url, options: DatasetReadOptions(format: recordFormat, skipInvalid: skipInvalid))
        for issue in dataset.issues { writeNote("skipped \(issue.description)") }
        let renderer = Renderer(
            tokenizer: model.tokenizer, template: model.template.template, maxLength: maxLength,
            file: url.lastPathComponent)
        let (examples, report) = renderer.tokenizeAll(dataset.examples)
        for issue in report.dropped { writeNote("left out \(issue.description)") }
        if report.truncated > 0 {
            writeNote("\(data): \(report.truncated) example(s) cut to --max-length \(maxLength)")
        }
        guard !examples.isEmpty else { throw UseError("\(data): no example has tokens to score") }

        let longest = examples.map(\.ids.count).max() ?? 2
        var scores: [(String, CrossEntropyTotals)] = [
            ("base", score(examples, engine: model.engine(tuned: false, maxPosition: longest)))
        ]
        if model.adapter != nil {
            scores.append(("tuned", score(examples, engine: model.engine(tuned: true, maxPosition: longest))))
        }
        let targets = scores[0].1.targetCount
        guard targets > 0 else { throw UseError("\(data): no trained tokens to score") }
        if json {
            var object: [String: EvalScore] = [:]
            for (name, totals) in scores { object[name] = EvalScore(totals) }
            let output = EvalReport(
                data: data, examples: examples.count, tokens: targets, base: object["base"],
                tuned: object["tuned"])
            writeOut(try encodeJSON(output) + "\n")
        } else {
            var table = TextTable(header: [""] + scores.map(\.0))
            let values = scores.map { EvalScore($0.1) }
            table.rows = [
                ["loss"] + values.map { formatDecimal($0.loss, digits: 4) },
                ["perplexity"] + values.map { formatDecimal($0.perplexity, digits: 3) },
                ["accuracy"] + values.map { formatDecimal($0.accuracy * 100, digits: 2) + "%" },
            ]
            print("\(data): \(examples.count) example(s), \(targets) scored token(s)")
            print(table.render())
        }
    }

    /// Sums the loss over all examples, in batches of whole examples of about 4096 tokens.
    private func score(_ examples: [TokenizedExample], engine: Transformer) -> CrossEntropyTotals {
        var totals = CrossEntropyTotals()
        var batch: [TokenizedExample] = []
        var tokens = 0
        func flush() {
            guard !batch.isEmpty else { return }
            let result = engine.run(Batching.tokenBatch(batch), gradScale: nil)
            totals.lossSum += result.lossSum
            totals.targetCount += result.targetCount
            totals.correctCount += result.correctCount
            batch = []
            tokens = 0
        }
        for example in examples {
            if !batch.isEmpty && tokens + example.ids.count > max(4096, maxLength) { flush() }
            batch.append(example)
            tokens += example.ids.count
        }
        flush()
        return totals
    }
}

/// One model's scores.
struct EvalScore: Encodable {
    var loss: Double
    var perplexity: Double
    var accuracy: Double
    var correct: Int

    init(_ totals: CrossEntropyTotals) {
        let count = Double(max(totals.targetCount, 1))
        loss = totals.lossSum / count
        perplexity = exp(loss)
        accuracy = Double(totals.correctCount) / count
        correct = totals.correctCount
    }
}

/// `tailor eval --json`.
struct EvalReport: Encodable {
    var data: String
    var examples: Int
    var tokens: Int
    var base: EvalScore?
    var tuned: EvalScore?
}
