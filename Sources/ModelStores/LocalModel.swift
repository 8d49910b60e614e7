// What a found model is: its name, the store it came from, and the file or folder that holds it.
import Foundation

/// Where a model was found.
public enum ModelSource: String, Sendable, Codable, CaseIterable, Comparable {
    case huggingFaceCache, ollama, lmStudio, directory

    /// Human words for tables and messages.
    public var displayName: String {
        switch self {
        case .huggingFaceCache: return "Hugging Face cache"
        case .ollama: return "Ollama"
        case .lmStudio: return "LM Studio"
        case .directory: return "folder"
        }
    }

    /// Results are ordered by source in declaration order, then by name.
    public static func < (lhs: ModelSource, rhs: ModelSource) -> Bool {
        let order = allCases
        return order.firstIndex(of: lhs) ?? 0 < order.firstIndex(of: rhs) ?? 0
    }
}

/// How a model is stored on disk.
public enum ModelFormat: Sendable, Equatable {
    /// A GGUF file (for split GGUFs, the first part; for Ollama, the model blob).
    case gguf(URL)
    /// A Hugging Face folder holding `config.json` and safetensors weights.
    case huggingFace(URL)

    /// The file or folder to open.
    public var url: URL {
        switch self {
        case .gguf(let url), .huggingFace(let url): return url
        }
    }
}

/// A file that belongs to a model without being its weights, such as an Ollama template or adapter layer.
public struct ModelSidecar: Sendable, Equatable {
    /// The kind, from the Ollama media type `application/vnd.ollama.image.<kind>`: template, params, system,
    /// adapter, license, projector, messages.
    public let kind: String
    /// The blob holding it.
    public let url: URL

    /// A sidecar of `kind` stored at `url`.
    public init(kind: String, url: URL) {
        self.kind = kind
        self.url = url
    }
}

/// One model found on this machine.
public struct LocalModel: Sendable, Equatable {
    /// The name `tailor models` shows and `resolve(_:)` accepts: `org/name` (Hugging Face),
    /// `smollm2:135m` (Ollama), `publisher/repo/file.gguf` (LM Studio), or the path below a searched folder.
    public let name: String
    /// The store it was found in.
    public let source: ModelSource
    /// The file or folder holding it.
    public let format: ModelFormat
    /// Bytes on disk, following symbolic links (all parts of a split GGUF, all layers of an Ollama model).
    public let sizeOnDisk: Int64
    /// Other names `resolve(_:)` accepts, such as `registry.ollama.ai/library/smollm2:135m`.
    public var aliases: [String]
    /// Files that come with the model (Ollama template, params, adapter layers).
    public var sidecars: [ModelSidecar]
    /// Facts worth telling the user, such as "split GGUF: first of 3 parts".
    public var notes: [String]

    /// A model with every field given; stores fill these in.
    public init(
        name: String, source: ModelSource, format: ModelFormat, sizeOnDisk: Int64,
        aliases: [String] = [], sidecars: [ModelSidecar] = [], notes: [String] = []
    ) {
        self.name = name
        self.source = source
        self.format = format
        self.sizeOnDisk = sizeOnDisk
        self.aliases = aliases
        self.sidecars = sidecars
        self.notes = notes
    }
}
