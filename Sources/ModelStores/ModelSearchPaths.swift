// Where to look for models, worked out once from the environment, the home folder and extra locations.
import Foundation

/// The folders each store is read from.
///
/// Built from values (environment, home, `--dir`), never from globals,
/// so tests can point every store at a temporary folder.
public struct ModelSearchPaths: Sendable, Equatable {
    /// Hugging Face hub caches (folders of `models--org--name`).
    public var huggingFaceCaches: [URL]
    /// Ollama model roots (folders holding `manifests/` and `blobs/`).
    public var ollamaRoots: [URL]
    /// LM Studio model folders (`publisher/repo/...`).
    public var lmStudioRoots: [URL]
    /// Extra files or folders: `--dir` first, then `TAILOR_MODELS` entries.
    public var extraLocations: [ExtraLocation]

    /// A file or folder the user named, with where it was named (for messages).
    public struct ExtraLocation: Sendable, Equatable {
        public var url: URL
        /// `--dir` or `TAILOR_MODELS`.
        public var origin: String

        public init(url: URL, origin: String) {
            self.url = url
            self.origin = origin
        }
    }

    /// Lists the folders explicitly.
    public init(
        huggingFaceCaches: [URL] = [], ollamaRoots: [URL] = [], lmStudioRoots: [URL] = [],
        extraLocations: [ExtraLocation] = []
    ) {
        self.huggingFaceCaches = huggingFaceCaches
        self.ollamaRoots = ollamaRoots
        self.lmStudioRoots = lmStudioRoots
        self.extraLocations = extraLocations
    }

    /// Works out the standard locations the way each tool does.
    ///
    /// - Hugging Face (as `huggingface_hub`): `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else
    ///   `HF_HOME/hub`, else `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    /// - Ollama: `OLLAMA_MODELS` when set, else `~/.ollama/models` and the Linux service's
    ///   `/usr/share/ollama/.ollama/models`.
    /// - LM Studio has no environment variable; its home is named by `~/.lmstudio-home-pointer` when
    ///   that file exists (read here), else `~/.lmstudio`; its models are in `<home>/models`. The older
    ///   `~/.cache/lm-studio/models` is searched too.
    /// - Extra: `extraDirectories` (from `--dir`), then the colon-separated `TAILOR_MODELS`.
    /// A leading `~/` in any variable is expanded with `home`; empty variables count as unset.
    public init(environment: [String: String], home: URL, extraDirectories: [URL] = []) {
        func variable(_ name: String) -> URL? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return Self.expand(value, home: home)
        }
        let hfHome =
            variable("HF_HOME")
            ?? (variable("XDG_CACHE_HOME") ?? home.appendingPathComponent(".cache")).appendingPathComponent(
                "huggingface")
        huggingFaceCaches = [
            variable("HF_HUB_CACHE") ?? variable("HUGGINGFACE_HUB_CACHE")
                ?? hfHome.appendingPathComponent("hub")
        ]

        if let ollama = variable("OLLAMA_MODELS") {
            ollamaRoots = [ollama]
        } else {
            ollamaRoots = [
                home.appendingPathComponent(".ollama/models"),
                URL(fileURLWithPath: "/usr/share/ollama/.ollama/models"),
            ]
        }

        var lmStudio: [URL] = []
        let pointer = home.appendingPathComponent(".lmstudio-home-pointer")
        if let data = try? Data(contentsOf: pointer) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty {
                lmStudio.append(Self.expand(text, home: home).appendingPathComponent("models"))
            }
        }
        lmStudio.append(home.appendingPathComponent(".lmstudio/models"))
        lmStudio.append(home.appendingPathComponent(".cache/lm-studio/models"))
        lmStudioRoots = Self.unique(lmStudio)

        var extra = extraDirectories.map { ExtraLocation(url: $0, origin: "--dir") }
        for entry in (environment["TAILOR_MODELS"] ?? "").split(separator: ":") where !entry.isEmpty {
            extra.append(ExtraLocation(url: Self.expand(String(entry), home: home), origin: "TAILOR_MODELS"))
        }
        extraLocations = extra
    }

    /// Every folder searched, in order, for messages.
    public var descriptions: [String] {
        huggingFaceCaches.map { "Hugging Face cache \($0.path)" }
            + ollamaRoots.map { "Ollama \($0.path)" }
            + lmStudioRoots.map { "LM Studio \($0.path)" }
            + extraLocations.map { "\($0.origin) \($0.url.path)" }
    }

    static func expand(_ path: String, home: URL) -> URL {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home.appendingPathComponent(String(path.dropFirst(2))) }
        return URL(fileURLWithPath: path)
    }

    private static func unique(_ urls: [URL]) -> [URL] {
        var seen = Set<String>()
        return urls.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }
}
