// The one error type of the Tokenizers module: what was expected, what was found, and what to do.

/// Everything that can go wrong while loading a tokenizer. Encoding and decoding never fail.
public enum TokenizersError: Error, CustomStringConvertible, Equatable {
    /// A file could not be read.
    case io(path: String, reason: String)
    /// A file was read but does not hold what a tokenizer needs.
    case malformed(path: String, reason: String)
    /// The tokenizer uses a model kind Tailor does not implement (Unigram, WordPiece, ...).
    case unsupportedModel(path: String, model: String)
    /// A normalizer, pre-tokenizer, decoder or post-processor type Tailor does not implement.
    case unsupportedComponent(path: String, component: String, type: String)
    /// A GGUF file lacks a tokenizer key.
    case missingMetadata(path: String, key: String)
    /// A split pattern the regular-expression engine rejects.
    case invalidPattern(path: String, pattern: String, reason: String)

    public var description: String {
        switch self {
        case .io(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .malformed(let path, let reason):
            return "\(path): malformed tokenizer: \(reason)"
        case .unsupportedModel(let path, let model):
            return "\(path): tokenizer model '\(model)' is not supported; Tailor implements BPE (byte-level, as in "
                + "GPT-2/Llama 3/Qwen/SmolLM, and SentencePiece-style, as in Llama 2/Mistral/Phi-3). "
                + "Use a model whose tokenizer is BPE."
        case .unsupportedComponent(let path, let component, let type):
            return "\(path): \(component) of type '\(type)' is not supported; expected one of the types listed "
                + "in Sources/Tokenizers (file an issue with this tokenizer.json attached)"
        case .missingMetadata(let path, let key):
            return "\(path): GGUF metadata key '\(key)' is missing; the file holds no usable tokenizer "
                + "(reconvert it with llama.cpp's convert_hf_to_gguf.py)"
        case .invalidPattern(let path, let pattern, let reason):
            return "\(path): split pattern \(pattern.debugDescription) is not a valid regular expression: \(reason)"
        }
    }
}
