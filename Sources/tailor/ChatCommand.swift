// `tailor chat`: an interactive conversation with a model (and its adapter), answers streamed as they are generated.
import ArgumentParser
import ChatTemplates
import Foundation
import Models
import Tokenizers
import Training

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model, or compare it with your fine-tuned adapter.",
        discussion: """
            Each line you type is a user message; the answer is printed token by token. The conversation is kept \
            (rendered with the model's chat template each turn) until you reset it; when it outgrows the model's \
            context, the oldest turns are dropped.

            Commands: /reset forgets the conversation, /system TEXT sets the system message (/system alone removes \
            it), /exit (or end of input, Ctrl-D) quits.

            --compare answers every message twice, first with the base model and then with the adapter, each \
            under its label ([base], [tuned]), each keeping its own conversation. Standard input need not be a \
            terminal: piped lines are read as messages and the answers printed as plain text.

            Examples:
              tailor chat --model SmolLM2-135M-Instruct.Q4_1.gguf
              tailor chat --adapter runs/SmolLM2-135M-Instruct-20260101-120000 --compare
              tailor chat --model m.gguf --system "Answer in French." --temperature 0.3
              printf 'hello\\n/reset\\nhi\\n' | tailor chat --model m.gguf --temperature 0 --max-tokens 32
            """)

    @OptionGroup var session: ModelSessionOptions
    @Option(help: "The system message to start with (change it with /system TEXT).") var system: String?
    @Flag(help: "Answer with the base model and with the adapter, one after the other (needs --adapter).")
    var compare = false
    @OptionGroup var sampling: SamplingOptions

    func validate() throws {
        if compare && session.adapter == nil {
            throw ValidationError(
                "--compare needs --adapter RUN: it compares the base model with the adapter")
        }
        if session.model == nil && session.adapter == nil {
            throw ValidationError("no --model given; pass --model PATH or a name from `tailor models`")
        }
    }

    /// One side of the conversation: an engine and the turns it has had.
    private struct Participant {
        let label: String?
        let engine: Transformer
        var history: [Value] = []
    }

    func run() throws {
        let model = try session.load()
        let interactive = isatty(STDIN_FILENO) != 0
        var participants: [Participant]
        if compare {
            participants = [
                Participant(label: "base", engine: model.engine(tuned: false)),
                Participant(label: "tuned", engine: model.engine(tuned: true)),
            ]
        } else {
            participants = [Participant(label: nil, engine: model.engine(tuned: model.adapter != nil))]
        }
        if interactive {
            let what =
                model.adapter == nil
                ? "" : compare ? " and \(session.adapter ?? "") (compare)" : " + \(session.adapter ?? "")"
            writeNote("chatting with \(model.modelURL.lastPathComponent)\(what); /reset, /system TEXT, /exit")
        }
        var systemMessage = system
        let seed = sampling.seed ?? UInt64.random(in: 0...UInt64.max)
        var turn: UInt64 = 0
        while true {
            if interactive { writeOut("> ") }
            guard let line = readLine(strippingNewline: true) else {
                if interactive { writeOut("\n") }
                break
            }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text.hasPrefix("/") {
                let command = text.prefix { !$0.isWhitespace }
                let argument = text.dropFirst(command.count).trimmingCharacters(in: .whitespaces)
                switch command {
                case "/exit", "/quit":
                    return
                case "/reset":
                    for index in participants.indices { participants[index].history = [] }
                    writeNote("(conversation cleared)")
                case "/system":
                    systemMessage = argument.isEmpty ? nil : argument
                    writeNote(argument.isEmpty ? "(system message removed)" : "(system message set)")
                default:
                    writeNote("unknown command \(command); use /reset, /system TEXT or /exit")
                }
                continue
            }
            var parameters = sampling.parameters(defaultTemperature: 0.7, defaultSeed: seed)
            parameters.seed = seed &+ turn
            turn += 1
            for index in participants.indices {
                if let label = participants[index].label { writeOut("[\(label)]\n") }
                if let answer = try answer(
                    text, participant: participants[index], system: systemMessage, model: model,
                    parameters: parameters)
                {
                    participants[index].history += [
                        .message("user", text), .message("assistant", answer.text),
                    ]
                    participants[index].history.removeFirst(answer.dropped)
                }
            }
        }
    }

    /// Streams one answer; returns it and how many old history messages had to go to fit the context.
    private func answer(
        _ text: String, participant: Participant, system: String?, model: AdaptedModel,
        parameters: SamplingParameters
    ) throws -> (text: String, dropped: Int)? {
        var dropped = 0
        var ids: [Int32] = []
        while true {
            var messages: [Value] = system.map { [.message("system", $0)] } ?? []
            messages += participant.history.dropFirst(dropped)
            messages.append(.message("user", text))
            ids = try model.promptTokens(messages: messages).ids
            if ids.count + sampling.maxTokens <= model.contextLength { break }
            guard dropped < participant.history.count else {
                writeNote(
                    "this message (\(ids.count) tokens) plus --max-tokens \(sampling.maxTokens) does not fit the "
                        + "model's context of \(model.contextLength) tokens; send a shorter one")
                return nil
            }
            dropped += 2
        }
        if dropped > 0 { writeNote("(dropped the \(dropped / 2) oldest turn(s) to fit the context)") }
        var decoder = IncrementalDecoder(tokenizer: model.tokenizer)
        let output = Generator(model: participant.engine).generate(
            prompt: ids, maxTokens: sampling.maxTokens, sampling: parameters, stopTokens: model.stopTokens,
            minTokens: sampling.minTokens
        ) { token in
            writeOut(decoder.add(token))
            return true
        }
        writeOut(decoder.finish() + "\n")
        return (model.tokenizer.decode(output.map(Int.init), skipSpecialTokens: true), dropped)
    }
}
