// Recognising models in a folder (Hugging Face folders, GGUF files, split GGUFs), and the recursive scan.
import Foundation

/// A folder is a Hugging Face model when it holds `config.json` and safetensors weights (files or an index).
enum HuggingFaceFolder {
    enum Verdict: Equatable { case model, notModel, problem(ModelStoresError) }

    /// Judges `folder`, whose entry names are `names`.
    static func check(_ folder: URL, names: [String]) -> Verdict {
        guard names.contains("config.json"),
            FileProbe.kind(folder.appendingPathComponent("config.json")) == .file
        else { return .notModel }
        let safetensors = names.filter { !FileProbe.isHidden($0) && $0.hasSuffix(".safetensors") }
        let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
        if let index = indexes.first {
            // Shards named by the index must all be here; a sharded download that stopped halfway
            // would otherwise fail much later, at load time.
            let url = folder.appendingPathComponent(index)
            if let data = try? Data(contentsOf: url),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let weightMap = object["weight_map"] as? [String: Any]
            {
                let files = Set(weightMap.values.compactMap { $0 as? String }).sorted()
                let missing = files.filter { FileProbe.kind(folder.appendingPathComponent($0)) != .file }
                if !missing.isEmpty {
                    return .problem(
                        .incompleteModel(
                            path: folder.path,
                            reason:
                                "\(index) lists \(files.count) shard(s) but "
                                + "\(missing.joined(separator: ", ")) "
                                + "\(missing.count == 1 ? "is" : "are") missing"))
                }
            }
            return .model
        }
        if !safetensors.isEmpty {
            let dangling = safetensors.filter { FileProbe.kind(folder.appendingPathComponent($0)) != .file }
            if !dangling.isEmpty {
                return .problem(
                    .incompleteModel(
                        path: folder.path,
                        reason: "\(dangling.joined(separator: ", ")) link(s) to a missing file"))
            }
            return .model
        }
        let otherWeights = names.filter {
            ($0.hasPrefix("pytorch_model") && $0.hasSuffix(".bin")) || $0.hasSuffix(".pth")
                || $0.hasSuffix(".pt")
        }
        if !otherWeights.isEmpty {
            return .problem(.unsupportedWeights(path: folder.path, found: otherWeights))
        }
        return .notModel
    }

    /// Bytes of the model's files, leaving out GGUF files in the folder (they are listed on their own).
    static func size(_ folder: URL) -> Int64 {
        FileProbe.folderSize(folder) { GGUFFiles.hasGGUFExtension($0) }
    }
}

/// One GGUF model in a folder: a single file, or the first part of a split GGUF.
struct GGUFEntry {
    /// The file name (first part for split files).
    let name: String
    let url: URL
    /// All parts together.
    let size: Int64
    /// 1 for a plain file.
    let parts: Int

    var notes: [String] { parts > 1 ? ["split GGUF: first of \(parts) parts"] : [] }
}

/// Finding GGUF files.
///
/// A file counts when its name ends in `.gguf` and it starts with the `GGUF` magic: the four bytes are read
/// so partial downloads and misnamed files are reported, not listed. Vision projectors (`mmproj*.gguf`) are
/// not language models and are left out. Split files follow llama.cpp's `<stem>-00001-of-00003.gguf`
/// naming; they are one model, opened from part 1.
enum GGUFFiles {
    static func hasGGUFExtension(_ name: String) -> Bool { name.lowercased().hasSuffix(".gguf") }

    static func isCandidate(_ name: String) -> Bool {
        hasGGUFExtension(name) && !FileProbe.isHidden(name) && !name.lowercased().hasPrefix("mmproj")
    }

    /// `stem-00002-of-00003.gguf` → ("stem", 2, 3).
    static func shard(_ name: String) -> (stem: String, part: Int, total: Int)? {
        guard hasGGUFExtension(name) else { return nil }
        let base = Array(name.dropLast(5))
        let tail = "-00000-of-00000".count
        guard base.count > tail else { return nil }
        let suffix = Array(base[(base.count - tail)...])
        let digits: (ArraySlice<Character>) -> Int? = { slice in
            slice.allSatisfy(\.isASCII) && slice.allSatisfy(\.isNumber) ? Int(String(slice)) : nil
        }
        guard suffix[0] == "-", String(suffix[6..<10]) == "-of-",
            let part = digits(suffix[1..<6]), let total = digits(suffix[10..<15]),
            part >= 1, total >= 1, part <= total
        else { return nil }
        return (String(base[..<(base.count - tail)]), part, total)
    }

    static func shardName(stem: String, part: Int, total: Int) -> String {
        func pad(_ value: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, 5 - text.count)) + text
        }
        return "\(stem)-\(pad(part))-of-\(pad(total)).gguf"
    }

    /// The GGUF models among `names` in `folder`.
    static func entries(in folder: URL, names: [String], problems: inout [ModelStoresError]) -> [GGUFEntry] {
        var entries: [GGUFEntry] = []
        var reportedStems = Set<String>()
        for name in names where isCandidate(name) {
            if let shard = shard(name), shard.part != 1 {
                let first = shardName(stem: shard.stem, part: 1, total: shard.total)
                if !names.contains(first), reportedStems.insert(shard.stem).inserted {
                    problems.append(
                        .incompleteModel(
                            path: folder.appendingPathComponent(name).path,
                            reason:
                                "it is part \(shard.part) of \(shard.total) of a split GGUF, "
                                + "and the first part \(first) is missing"))
                }
                continue
            }
            switch entry(file: folder.appendingPathComponent(name)) {
            case .success(let entry): entries.append(entry)
            case .failure(let problem): problems.append(problem)
            }
        }
        return entries
    }

    /// The model that starts at `file`: checks the magic (whatever the extension, so Ollama blobs and renamed
    /// files work) and, for part 1 of a split GGUF, that every part is present.
    static func entry(file: URL) -> Result<GGUFEntry, ModelStoresError> {
        let name = file.lastPathComponent
        guard FileProbe.kind(file) == .file else {
            return .failure(.incompleteModel(path: file.path, reason: "it links to a missing file"))
        }
        if name.lowercased().hasSuffix(".safetensors") {
            // One file of a Hugging Face model: its config and tokenizer live beside it, in the folder.
            return .failure(
                .notAModel(
                    path: file.path,
                    reason: "it is one safetensors file of a Hugging Face model; pass the folder that holds it with "
                        + "config.json and tokenizer.json, \(file.deletingLastPathComponent().path)"))
        }
        var size = FileProbe.size(file)
        var parts = 1
        if let shard = shard(name) {
            guard shard.part == 1 else {
                return .failure(
                    .notAModel(
                        path: file.path,
                        reason:
                            "it is part \(shard.part) of \(shard.total) of a split GGUF; "
                            + "pass the first part, "
                            + shardName(stem: shard.stem, part: 1, total: shard.total)))
            }
            let folder = file.deletingLastPathComponent()
            var missing: [String] = []
            for part in 2..<(shard.total + 1) {
                let url = folder.appendingPathComponent(
                    shardName(stem: shard.stem, part: part, total: shard.total))
                if FileProbe.kind(url) == .file {
                    size += FileProbe.size(url)
                } else {
                    missing.append(url.lastPathComponent)
                }
            }
            if !missing.isEmpty {
                return .failure(
                    .incompleteModel(
                        path: file.path,
                        reason:
                            "split GGUF of \(shard.total) parts is missing \(missing.joined(separator: ", "))"
                    ))
            }
            parts = shard.total
        }
        let magic = FileProbe.ggufMagic(file)
        guard magic.isGGUF else { return .failure(.notGGUF(path: file.path, found: magic.found)) }
        return .success(GGUFEntry(name: name, url: file, size: size, parts: parts))
    }
}

/// Walks a folder for models: Hugging Face folders and GGUF files.
///
/// It looks at most `maxDepth` folder levels below the start, skips hidden entries and never enters a
/// folder twice, so symbolic-link loops end. A folder laid out like an Ollama root or a Hugging Face cache
/// repository is read the way that store is. Names are paths below the start folder; a start that is
/// itself a model is named by its last component.
struct FolderScanner {
    let source: ModelSource
    var maxDepth = 4

    func scan(_ root: URL, problems: inout [ModelStoresError]) -> [LocalModel] {
        switch FileProbe.kind(root) {
        case .missing:
            return []
        case .file:
            switch GGUFFiles.entry(file: root) {
            case .success(let entry):
                return [
                    LocalModel(
                        name: entry.name, source: source, format: .gguf(entry.url), sizeOnDisk: entry.size,
                        notes: entry.notes)
                ]
            case .failure(let problem):
                problems.append(problem)
                return []
            }
        case .directory:
            var visited = Set<String>()
            var models: [LocalModel] = []
            walk(root, relative: [], depth: 0, visited: &visited, models: &models, problems: &problems)
            return models
        }
    }

    private func walk(
        _ folder: URL, relative: [String], depth: Int, visited: inout Set<String>, models: inout [LocalModel],
        problems: inout [ModelStoresError]
    ) {
        guard visited.insert(FileProbe.realPath(folder) ?? folder.path).inserted else { return }
        let names: [String]
        do {
            names = try FileProbe.names(in: folder)
        } catch {
            problems.append(.unreadable(path: folder.path, reason: "\(error.localizedDescription)"))
            return
        }
        if OllamaStore.isRoot(folder, names: names) {
            models += OllamaStore.models(root: folder, problems: &problems)
            return
        }
        if HuggingFaceCache.isRepository(folder, names: names) {
            models += HuggingFaceCache.repositoryModels(folder, problems: &problems)
            return
        }
        switch HuggingFaceFolder.check(folder, names: names) {
        case .model:
            let name = relative.isEmpty ? folder.lastPathComponent : relative.joined(separator: "/")
            models.append(
                LocalModel(
                    name: name, source: source, format: .huggingFace(folder),
                    sizeOnDisk: HuggingFaceFolder.size(folder)))
        case .problem(let problem):
            problems.append(problem)
        case .notModel:
            break
        }
        for entry in GGUFFiles.entries(in: folder, names: names, problems: &problems) {
            models.append(
                LocalModel(
                    name: (relative + [entry.name]).joined(separator: "/"), source: source,
                    format: .gguf(entry.url),
                    sizeOnDisk: entry.size, notes: entry.notes))
        }
        guard depth < maxDepth else { return }
        for name in names where !FileProbe.isHidden(name) {
            let child = folder.appendingPathComponent(name)
            if FileProbe.kind(child) == .directory {
                walk(
                    child, relative: relative + [name], depth: depth + 1, visited: &visited, models: &models,
                    problems: &problems)
            }
        }
    }
}
