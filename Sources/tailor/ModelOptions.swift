// The flags of the commands that run a model (chat, generate, eval): which model and adapter, and how to sample.
import ArgumentParser
import Foundation
import ModelStores
import Models
import Training

/// The flags every command that runs a model takes: which model, which adapter, which template, how many threads.
struct ModelSessionOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The model: a .gguf file, a Hugging Face folder, or a name from `tailor models` (default with --adapter: "
                + "the run's base model).", valueName: "model"))
    var model: String?

    @Option(
        help: ArgumentHelp(
            "A run folder from `tailor train`, or any PEFT LoRA adapter folder, to apply on top of the model.",
            valueName: "run"))
    var adapter: String?

    @Option(
        help: ArgumentHelp("A Jinja chat template file to use instead of the model's.", valueName: "file"))
    var chatTemplate: String?

    @Option(help: "Threads for kernels and BLAS (default: all cores).")
    var threads: Int?

    @OptionGroup var discovery: DiscoveryOptions

    /// The model (from --model, or the run's base model for --adapter RUN) loaded with the adapter.
    func load() throws -> AdaptedModel {
        let adapterFolder = adapter.map { URL(fileURLWithPath: $0) }
        let modelURL: URL
        if let model {
            modelURL = try resolveModelURL(model, discovery: discovery)
        } else if let adapterFolder {
            modelURL = try AdaptedModel.baseModel(ofAdapter: adapterFolder)
        } else {
            throw CLIError("no --model given; pass --model PATH or a name from `tailor models`")
        }
        let loaded = try AdaptedModel(
            model: modelURL, adapter: adapterFolder, chatTemplate: chatTemplate.map { URL(fileURLWithPath: $0) },
            threads: threads)
        if loaded.template.isFallback {
            writeNote(
                "warning: \(modelURL.lastPathComponent) has no chat template; using \(loaded.template.fallbackName), which "
                    + "may not be what the model was trained on (--chat-template FILE to choose one)")
        }
        return loaded
    }
}

/// Sampling flags shared by `chat` and `generate`; each command chooses its own default temperature.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Most new tokens per answer (default 256).") var maxTokens: Int = 256
    @Option(help: "Ignore end-of-turn tokens until this many tokens are generated (default 0).")
    var minTokens: Int = 0
    @Option(help: "Sampling temperature; 0 picks the most likely token (greedy).") var temperature: Float?
    @Option(help: "Keep the smallest set of tokens whose probability reaches P (1 turns it off).") var topP:
        Float = 1
    @Option(help: "Keep only the K most likely tokens (0 turns it off).") var topK: Int = 0
    @Option(help: "Drop tokens less likely than P × the most likely one (0 turns it off).") var minP: Float =
        0
    @Option(help: "Divide the logits of tokens already in the context by R (1 turns it off).")
    var repetitionPenalty: Float = 1
    @Option(help: "Seed for sampling (default: 0 for generate, random for chat).") var seed: UInt64?

    func validate() throws {
        guard maxTokens > 0 else {
            throw ValidationError("--max-tokens must be at least 1, not \(maxTokens)")
        }
        guard minTokens >= 0, minTokens <= maxTokens else {
            throw ValidationError(
                "--min-tokens must be between 0 and --max-tokens (\(maxTokens)), not \(minTokens)")
        }
        if let temperature, temperature < 0 || !temperature.isFinite {
            throw ValidationError("--temperature must be 0 or more, not \(temperature)")
        }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], not \(topP)") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more, not \(topK)") }
        guard minP >= 0, minP < 1 else { throw ValidationError("--min-p must be in [0, 1), not \(minP)") }
        guard repetitionPenalty > 0 else {
            throw ValidationError("--repetition-penalty must be positive, not \(repetitionPenalty)")
        }
    }

    func parameters(defaultTemperature: Float, defaultSeed: UInt64) -> SamplingParameters {
        SamplingParameters(
            temperature: temperature ?? defaultTemperature, topK: topK, topP: topP, minP: minP,
            repetitionPenalty: repetitionPenalty, seed: seed ?? defaultSeed)
    }
}

/// Writes to standard output at once (answers are streamed token by token).
func writeOut(_ text: String) {
    guard !text.isEmpty else { return }
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// One line on standard error.
func writeNote(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
