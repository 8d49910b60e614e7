// Listing every local model: each store in turn, duplicates removed, in a fixed order.
import Foundation

/// Finds the models on this machine and resolves what the user typed to one of them.
public struct ModelDiscovery: Sendable {
    /// Where to look.
    public let paths: ModelSearchPaths

    public init(paths: ModelSearchPaths) {
        self.paths = paths
    }

    /// Every model found, with the problems met on the way; a problem never stops the listing.
    ///
    /// Models are ordered by source (Hugging Face cache, Ollama, LM Studio, folders), then name, then path.
    /// Missing standard folders are normal and not reported; a missing `--dir` or `TAILOR_MODELS` entry is.
    /// A file reachable from several places (a `--dir` pointing into the LM Studio folder) is listed once,
    /// under the first source in that order.
    public func discover() -> (models: [LocalModel], problems: [ModelStoresError]) {
        var models: [LocalModel] = []
        var problems: [ModelStoresError] = []
        for cache in paths.huggingFaceCaches where FileProbe.kind(cache) == .directory {
            models += HuggingFaceCache.models(cache: cache, problems: &problems)
        }
        for root in paths.ollamaRoots where FileProbe.kind(root) == .directory {
            models += OllamaStore.models(root: root, problems: &problems)
        }
        for root in paths.lmStudioRoots where FileProbe.kind(root) == .directory {
            models += LMStudio.models(root: root, problems: &problems)
        }
        for location in paths.extraLocations {
            guard FileProbe.kind(location.url) != .missing else {
                problems.append(.missingLocation(path: location.url.path, origin: location.origin))
                continue
            }
            models += FolderScanner(source: .directory).scan(location.url, problems: &problems)
        }
        return (Self.ordered(models), Self.unique(problems))
    }

    /// Sorted by source, name, then path; then the first of each real file kept.
    static func ordered(_ models: [LocalModel]) -> [LocalModel] {
        let sorted = models.sorted {
            if $0.source != $1.source { return $0.source < $1.source }
            if $0.name != $1.name { return $0.name < $1.name }
            return $0.format.url.path < $1.format.url.path
        }
        var seen = Set<String>()
        return sorted.filter { seen.insert(FileProbe.realPath($0.format.url) ?? $0.format.url.path).inserted }
    }

    private static func unique(_ problems: [ModelStoresError]) -> [ModelStoresError] {
        var seen = Set<String>()
        return problems.filter { seen.insert($0.description).inserted }
    }
}
