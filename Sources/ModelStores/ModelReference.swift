// Turning what the user typed (a path, a Hugging Face id, an Ollama name, a listed name) into one model.
import Foundation

extension ModelDiscovery {
    /// The one model `reference` names.
    ///
    /// Tried in order, the first rule that matches anything wins:
    /// 1. an existing file or folder: that model, even outside every store (a folder must be a model or
    ///    hold exactly one);
    /// 2. a discovered name, exactly (`HuggingFaceTB/SmolLM2-135M-Instruct`, `smollm2:135m`);
    /// 3. a discovered alias (`registry.ollama.ai/library/smollm2:135m`, or `smollm2` for `smollm2:latest`);
    /// 4. a name or alias ignoring case, and ignoring a `.gguf` extension;
    /// 5. the last path components of a name or alias, ignoring case (`smollm2-135m-instruct`).
    /// Several models matching one rule is `ModelStoresError.ambiguous` listing them all; nothing matching is
    /// `.notFound` listing what was searched.
    public func resolve(_ reference: String) throws -> LocalModel {
        let trimmed = reference.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ModelStoresError.emptyReference }
        let url = URL(fileURLWithPath: trimmed)
        var pathError: ModelStoresError?
        if FileProbe.kind(url) != .missing {
            do {
                return try Self.model(atPath: url, reference: trimmed)
            } catch let error as ModelStoresError {
                // `./x` or `/x` can only mean a path; a bare `org/name` may also be a name, so try names.
                if trimmed.hasPrefix("/") || trimmed.hasPrefix(".") || trimmed.hasPrefix("~") { throw error }
                pathError = error
            }
        }
        let models = discover().models
        if let model = try Self.match(trimmed, in: models) { return model }
        if let pathError { throw pathError }
        let stem = trimmed.lowercased().split(separator: ":").first.map(String.init) ?? trimmed.lowercased()
        let suggestions = models.filter { $0.name.lowercased().contains(stem) }.prefix(5).map(\.name)
        throw ModelStoresError.notFound(
            reference: trimmed,
            searched: ["a file or folder at \(url.path) (nothing there)"] + paths.descriptions
                + ["(\(models.count) model\(models.count == 1 ? "" : "s") found in all)"],
            suggestions: Array(suggestions))
    }

    static func model(atPath url: URL, reference: String) throws -> LocalModel {
        var problems: [ModelStoresError] = []
        let found = FolderScanner(source: .directory).scan(url, problems: &problems)
        if found.count == 1 { return found[0] }
        // A Hugging Face folder that also holds GGUF files: the folder itself is what was named.
        let real = FileProbe.realPath(url)
        if let itself = found.first(where: { FileProbe.realPath($0.format.url) == real }) { return itself }
        if found.count > 1 {
            throw ModelStoresError.ambiguous(reference: reference, candidates: found.map(describe))
        }
        if let problem = problems.first { throw problem }
        throw ModelStoresError.notAModel(
            path: url.path,
            reason: "no Hugging Face folder (config.json with safetensors weights) and no .gguf file "
                + "within \(FolderScanner(source: .directory).maxDepth) folder levels")
    }

    static func match(_ reference: String, in models: [LocalModel]) throws -> LocalModel? {
        let lowered = reference.lowercased()
        let loweredStem = stripGGUF(lowered)
        let rules: [(LocalModel) -> Bool] = [
            { $0.name == reference },
            { $0.aliases.contains(reference) },
            { keys($0).contains(lowered) || keys($0).contains(loweredStem) },
            { keys($0).contains { $0.hasSuffix("/" + lowered) || $0.hasSuffix("/" + loweredStem) } },
        ]
        for rule in rules {
            let hits = models.filter(rule)
            if hits.count == 1 { return hits[0] }
            if hits.count > 1 {
                throw ModelStoresError.ambiguous(reference: reference, candidates: hits.map(describe))
            }
        }
        return nil
    }

    /// `name (source, path)`, for candidate lists.
    static func describe(_ model: LocalModel) -> String {
        "\(model.name) (\(model.source.displayName), \(model.format.url.path))"
    }

    private static func keys(_ model: LocalModel) -> [String] {
        let names = ([model.name] + model.aliases).map { $0.lowercased() }
        return names + names.map(stripGGUF)
    }

    private static func stripGGUF(_ name: String) -> String {
        name.hasSuffix(".gguf") ? String(name.dropLast(5)) : name
    }
}
