// Ollama Modelfile text: FROM, ADAPTER, a Go-template TEMPLATE for the model's chat family, stop tokens and SYSTEM.
import Foundation

/// The chat-template families Tailor can restate in Ollama's Go-template syntax.
public enum ChatFamily: String, Sendable, CaseIterable {
    case chatML = "ChatML"
    case llama3 = "Llama 3"
    case mistral = "Mistral"
    case gemma = "Gemma"

    /// Recognises a family from the marker tokens in a Jinja chat template's source; nil when none matches.
    public static func detect(jinja source: String) -> ChatFamily? {
        if source.contains("<|im_start|>") { return .chatML }
        if source.contains("<|start_header_id|>") && source.contains("<|eot_id|>") { return .llama3 }
        if source.contains("[INST]") { return .mistral }
        if source.contains("<start_of_turn>") && source.contains("<end_of_turn>") { return .gemma }
        return nil
    }

    /// Ollama's legacy template form (`.System`, `.Prompt`, `.Response`), which Ollama applies turn by turn.
    public var goTemplate: String {
        switch self {
        case .chatML:
            return """
                {{ if .System }}<|im_start|>system
                {{ .System }}<|im_end|>
                {{ end }}{{ if .Prompt }}<|im_start|>user
                {{ .Prompt }}<|im_end|>
                {{ end }}<|im_start|>assistant
                {{ .Response }}<|im_end|>

                """
        case .llama3:
            return """
                {{ if .System }}<|start_header_id|>system<|end_header_id|>

                {{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>

                {{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>

                {{ .Response }}<|eot_id|>
                """
        case .mistral:
            return "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }} [/INST]{{ .Response }}</s>"
        case .gemma:
            // Gemma has no system turn: the system prompt opens the user's turn, as its template does.
            return """
                <start_of_turn>user
                {{ if .System }}{{ .System }}

                {{ end }}{{ .Prompt }}<end_of_turn>
                <start_of_turn>model
                {{ .Response }}<end_of_turn>

                """
        }
    }

    /// Strings that end the assistant's turn (and the start of a next turn, so a model that skips its
    /// end-of-turn token still stops).
    public var stopSequences: [String] {
        switch self {
        case .chatML: return ["<|im_start|>", "<|im_end|>"]
        case .llama3: return ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        case .mistral: return ["[INST]", "[/INST]", "</s>"]
        case .gemma: return ["<start_of_turn>", "<end_of_turn>"]
        }
    }
}

/// The contents of one Modelfile.
public struct Modelfile: Sendable, Equatable {
    /// Path of the base (or merged) model: a GGUF file or a safetensors folder.
    public var from: String
    /// Path of a GGUF LoRA adapter, nil for a merged model.
    public var adapter: String?
    /// The chat family; nil leaves TEMPLATE out so Ollama uses the one in the GGUF.
    public var family: ChatFamily?
    /// A system prompt the training data used, if any.
    public var system: String?

    public init(from: String, adapter: String?, family: ChatFamily?, system: String?) {
        self.from = from
        self.adapter = adapter
        self.family = family
        self.system = system
    }

    /// The Modelfile text.
    public var text: String {
        var lines = ["# Written by tailor export. Create the model with: ollama create NAME -f Modelfile"]
        lines.append("FROM \(from)")
        if let adapter { lines.append("ADAPTER \(adapter)") }
        if let family {
            lines.append("TEMPLATE \"\"\"\(family.goTemplate)\"\"\"")
            for stop in family.stopSequences { lines.append("PARAMETER stop \(quoted(stop))") }
        }
        if let system { lines.append("SYSTEM \"\"\"\(system.replacingOccurrences(of: "\"\"\"", with: "\" \" \""))\"\"\"") }
        return lines.joined(separator: "\n") + "\n"
    }

    private func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
