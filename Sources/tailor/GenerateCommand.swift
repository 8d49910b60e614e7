// `tailor generate`: one answer to one prompt, streamed as plain text or reported as JSON.
import ArgumentParser
import ChatTemplates
import Foundation
import Models
import Tokenizers
import Training

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Answer one prompt with a model (and optionally a LoRA adapter).",
        discussion: """
            The prompt (--prompt, or standard input) is the user message, rendered with the model's chat template \
            and the start of an assistant turn; --raw tokenizes the text exactly as given instead (write special \
            tokens such as <|im_start|> yourself). Generation stops at the model's end-of-sequence or end-of-turn \
            token, or after --max-tokens. The default is greedy decoding (--temperature 0), so the same prompt \
            gives the same answer.

            The answer is printed as it is generated, followed by a newline. --json prints one object instead: \
            {prompt, text, tokens, token_ids, finish_reason ("stop" or "length"), tokens_per_second}.

            Examples:
              tailor generate --model SmolLM2-135M-Instruct.Q4_1.gguf --prompt "What is the capital of France?"
              tailor generate --adapter runs/SmolLM2-135M-Instruct-20260101-120000 --prompt "What is Zorbia?"
              echo "Write a haiku" | tailor generate --model m.gguf --temperature 0.8 --top-p 0.95 --seed 7
              tailor generate --model m.gguf --raw --prompt "Once upon a time" --max-tokens 64 --json
            """)

    @OptionGroup var session: ModelSessionOptions
    @Option(help: "The prompt (default: read from standard input).") var prompt: String?
    @Option(help: "A system message placed before the prompt (not with --raw).") var system: String?
    @Flag(help: "Tokenize the prompt as is, without the chat template.") var raw = false
    @Flag(help: "Print {prompt, text, tokens, token_ids, finish_reason, tokens_per_second} as JSON.")
    var json = false
    @OptionGroup var sampling: SamplingOptions

    func validate() throws {
        if raw && system != nil { throw ValidationError("--system needs the chat template; leave out --raw") }
        if session.model == nil && session.adapter == nil {
            throw ValidationError("no --model given; pass --model PATH or a name from `tailor models`")
        }
    }

    func run() throws {
        let text = try readPrompt()
        let model = try session.load()
        let promptText: String
        let ids: [Int32]
        if raw {
            promptText = text
            ids = model.rawTokens(text)
        } else {
            var messages: [Value] = []
            if let system { messages.append(.message("system", system)) }
            messages.append(.message("user", text))
            (promptText, ids) = try model.promptTokens(messages: messages)
        }
        guard !ids.isEmpty else { throw CLIError("the prompt is empty after tokenization") }
        let total = ids.count + sampling.maxTokens
        guard total <= model.contextLength else {
            throw CLIError(
                "the prompt (\(ids.count) tokens) plus --max-tokens \(sampling.maxTokens) passes the model's context "
                    + "of \(model.contextLength) tokens; shorten the prompt or lower --max-tokens")
        }
        let engine = model.engine(tuned: model.adapter != nil, maxPosition: total)
        let parameters = sampling.parameters(defaultTemperature: 0, defaultSeed: 0)
        // A raw prompt is continued as text (its last tokens decode with the answer); a chat answer starts afresh.
        var decoder = IncrementalDecoder(tokenizer: model.tokenizer, context: raw ? ids : [])
        let start = Date()
        let output = Generator(model: engine).generate(
            prompt: ids, maxTokens: sampling.maxTokens, sampling: parameters, stopTokens: model.stopTokens,
            minTokens: sampling.minTokens
        ) { token in
            let piece = decoder.add(token)
            if !json { writeOut(piece) }
            return true
        }
        let seconds = Date().timeIntervalSince(start)
        let tail = decoder.finish()
        if json {
            let report = GenerateReport(
                prompt: promptText,
                text: model.tokenizer.decode(output.map(Int.init), skipSpecialTokens: true),
                tokens: output.count, token_ids: output,
                finish_reason: output.count >= sampling.maxTokens ? "length" : "stop",
                tokens_per_second: seconds > 0 ? Double(output.count) / seconds : 0)
            writeOut(try encodeJSON(report) + "\n")
        } else {
            writeOut(tail + "\n")
        }
    }

    private func readPrompt() throws -> String {
        if let prompt { return prompt }
        if isatty(STDIN_FILENO) != 0 {
            throw CLIError("no --prompt given; pass --prompt TEXT or pipe the prompt on standard input")
        }
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIError("standard input is not UTF-8 text")
        }
        // A piped prompt ends with the shell's newline, which is not part of the question.
        let trimmed = raw ? text : text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw CLIError("the prompt on standard input is empty") }
        return trimmed
    }
}

/// `tailor generate --json`.
struct GenerateReport: Encodable {
    var prompt: String
    var text: String
    var tokens: Int
    var token_ids: [Int32]
    var finish_reason: String
    var tokens_per_second: Double
}
