// `tailor eval`: loss, perplexity and token accuracy of a model (and its adapter) on a dataset, as training scores it.
import ArgumentParser
import Datasets
import Foundation
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
    @OptionGroup var dataOptions: DataOptions
    @Flag(help: "Print the scores as JSON.") var json = false

    func validate() throws {
        if session.model == nil && session.adapter == nil {
            throw ValidationError("no --model given; pass --model PATH or a name from `tailor models`")
        }
    }

    func run() throws {
        let settings = try dataOptions.settings()
        let records = try DatasetPipeline.read(URL(fileURLWithPath: data), settings: settings)
        let model = try session.load()
        let prepared = try model.pipeline(settings).prepare(records)
        ProgressPrinter.lines(prepared.report).forEach(writeNote)
        let examples = prepared.examples
        let longest = examples.map(\.ids.count).max() ?? 2
        let sides = [("base", false)] + (model.adapter == nil ? [] : [("tuned", true)])
        let scores = sides.map { name, tuned in
            let engine = model.engine(tuned: tuned, maxPosition: longest)
            return (name, EvaluationScore.totals(examples, engine: engine, tokensPerBatch: max(4096, settings.maxLength)))
        }
        let targets = scores[0].1.targetCount
        let values = scores.map { EvaluationScore($0.1) }
        if json {
            let output = EvalReport(
                data: data, examples: examples.count, tokens: targets, base: values.first,
                tuned: values.count > 1 ? values[1] : nil)
            writeOut(try encodeJSON(output) + "\n")
        } else {
            var table = TextTable(header: [""] + scores.map(\.0))
            table.rows = [
                ["loss"] + values.map { formatDecimal($0.loss, digits: 4) },
                ["perplexity"] + values.map { formatDecimal($0.perplexity, digits: 3) },
                ["accuracy"] + values.map { formatDecimal($0.accuracy * 100, digits: 2) + "%" },
            ]
            print("\(data): \(examples.count) example(s), \(targets) scored token(s)")
            print(table.render())
        }
    }
}

/// `tailor eval --json`.
struct EvalReport: Encodable {
    var data: String
    var examples: Int
    var tokens: Int
    var base: EvaluationScore?
    var tuned: EvaluationScore?
}
