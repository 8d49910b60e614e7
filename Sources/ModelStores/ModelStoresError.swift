// The one error type of ModelStores: every problem met while finding or resolving local models.
import Foundation

/// A problem found while listing model stores or resolving a model reference.
///
/// `ModelDiscovery.discover()` collects these as warnings and keeps going; `resolve(_:)` throws them.
/// Each message says what was expected, what was found, and what to do.
public enum ModelStoresError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An Ollama manifest names a layer digest other than `sha256:` + 64 lowercase hex digits.
    case invalidDigest(manifest: String, mediaType: String, digest: String)
    /// An Ollama manifest could not be read as a manifest (not JSON, or missing `layers`).
    case malformedManifest(path: String, reason: String)
    /// An Ollama manifest has no `application/vnd.ollama.image.model` layer (no GGUF to train).
    case noModelLayer(manifest: String, mediaTypes: [String])
    /// A blob named by a manifest is absent from the store's `blobs/` folder.
    case missingBlob(manifest: String, digest: String, expectedPath: String)
    /// A file that should be a GGUF does not start with the `GGUF` magic.
    case notGGUF(path: String, found: String)
    /// A model is only partly on disk: missing shards, dangling cache links.
    case incompleteModel(path: String, reason: String)
    /// A Hugging Face folder whose weights are in a format Tailor does not read (`pytorch_model.bin`).
    case unsupportedWeights(path: String, found: [String])
    /// A folder could not be listed or a file could not be read.
    case unreadable(path: String, reason: String)
    /// A location given with `--dir` or `TAILOR_MODELS` does not exist.
    case missingLocation(path: String, origin: String)
    /// A path given as a model reference exists but holds no model.
    case notAModel(path: String, reason: String)
    /// A reference was empty.
    case emptyReference
    /// A reference matches several models.
    case ambiguous(reference: String, candidates: [String])
    /// A reference matches no path and no discovered model.
    case notFound(reference: String, searched: [String], suggestions: [String])

    public var description: String {
        switch self {
        case .invalidDigest(let manifest, let mediaType, let digest):
            return "Ollama manifest \(manifest): the \(mediaType) layer has digest '\(digest)', "
                + "expected 'sha256:' followed by 64 lowercase hex digits; the manifest was skipped "
                + "and nothing it names was opened. Remove it or re-pull the model with `ollama pull`."
        case .malformedManifest(let path, let reason):
            return "Ollama manifest \(path) \(reason); expected a JSON object with a \"layers\" array. "
                + "The model was skipped; re-pull it with `ollama pull` or delete the file."
        case .noModelLayer(let manifest, let mediaTypes):
            let found = mediaTypes.isEmpty ? "no layers" : mediaTypes.joined(separator: ", ")
            return
                "Ollama manifest \(manifest) has no application/vnd.ollama.image.model layer "
                + "(found \(found)), "
                + "so there is no GGUF file to train; it was skipped."
        case .missingBlob(let manifest, let digest, let expectedPath):
            return "Ollama manifest \(manifest) names blob \(digest), but \(expectedPath) does not exist; "
                + "the download is incomplete. Run `ollama pull` for this model again."
        case .notGGUF(let path, let found):
            return "\(path) should be a GGUF file but starts with \(found) instead of the magic 'GGUF'; "
                + "it was skipped. It may be a partial download or another format."
        case .incompleteModel(let path, let reason):
            return "\(path) is incomplete: \(reason). It was skipped; finish or repeat the download."
        case .unsupportedWeights(let path, let found):
            return
                "\(path) has config.json but its weights are \(found.joined(separator: ", ")); Tailor reads "
                + "safetensors or GGUF. Convert the weights to safetensors (transformers: "
                + "`save_pretrained(..., safe_serialization=True)`)."
        case .unreadable(let path, let reason):
            return "could not read \(path): \(reason)."
        case .missingLocation(let path, let origin):
            return "\(path) (from \(origin)) does not exist; expected a .gguf file, a Hugging Face folder "
                + "(with config.json), or a folder of them. Fix the path."
        case .notAModel(let path, let reason):
            return
                "\(path) is not a model: \(reason). Pass a .gguf file, "
                + "a Hugging Face folder with config.json "
                + "and safetensors weights, or a folder holding exactly one of them."
        case .emptyReference:
            return "the model reference is empty; pass a path, a Hugging Face id, an Ollama name, "
                + "or a name from `tailor models`."
        case .ambiguous(let reference, let candidates):
            return "'\(reference)' matches \(candidates.count) models:\n"
                + candidates.map { "  \($0)" }.joined(separator: "\n")
                + "\nPass one of these names in full, or the path of the one you mean."
        case .notFound(let reference, let searched, let suggestions):
            var text =
                "no model matches '\(reference)': it is not an existing file or folder, and no discovered "
                + "model has that name. Searched:\n" + searched.map { "  \($0)" }.joined(separator: "\n")
            if !suggestions.isEmpty {
                text += "\nSimilar names: " + suggestions.joined(separator: ", ")
            }
            return text + "\nRun `tailor models` to list every model found, or pass a path to a .gguf file "
                + "or a Hugging Face folder."
        }
    }
}
