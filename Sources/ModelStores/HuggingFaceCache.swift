// The Hugging Face hub cache: `models--org--name/{blobs,refs,snapshots}` as written by huggingface_hub.
//
// Layout of one repository folder:
//   models--<org>--<name>/
//     blobs/<sha>                 file contents, named by hash
//     refs/main                   text: the commit hash of the snapshot `main` points to
//     snapshots/<commit>/<file>   the repository's files, usually symbolic links into ../../blobs/
// `datasets--` and `spaces--` folders are not models and are ignored.
import Foundation

enum HuggingFaceCache {
    static let prefix = "models--"

    /// Every model in the cache folder `cache`.
    static func models(cache: URL, problems: inout [ModelStoresError]) -> [LocalModel] {
        let names: [String]
        do {
            names = try FileProbe.names(in: cache)
        } catch {
            problems.append(.unreadable(path: cache.path, reason: "\(error.localizedDescription)"))
            return []
        }
        var models: [LocalModel] = []
        for name in names where name.hasPrefix(prefix) {
            let repository = cache.appendingPathComponent(name)
            guard FileProbe.kind(repository) == .directory else { continue }
            models += repositoryModels(repository, problems: &problems)
        }
        return models
    }

    /// The repository id in a cache folder name: `models--org--name` → `org/name`.
    ///
    /// `models--gpt2` → `gpt2`. Repository ids hold at most one `/` and never `--`, so the first `--`
    /// after the prefix is the separator.
    static func repositoryID(folderName: String) -> String? {
        guard folderName.hasPrefix(prefix) else { return nil }
        let rest = String(folderName.dropFirst(prefix.count))
        guard !rest.isEmpty else { return nil }
        guard let separator = rest.range(of: "--") else { return rest }
        return rest.replacingCharacters(in: separator, with: "/")
    }

    static func isRepository(_ folder: URL, names: [String]) -> Bool {
        repositoryID(folderName: folder.lastPathComponent) != nil && names.contains("snapshots")
    }

    /// The models of one repository, all from one snapshot.
    ///
    /// The snapshot is the one `refs/main` names when it holds a model, else the most recently written one
    /// that does. Problems are reported only when no snapshot holds a model, so an old incomplete revision
    /// does not produce warnings next to a good one.
    static func repositoryModels(_ repository: URL, problems: inout [ModelStoresError]) -> [LocalModel] {
        guard let id = repositoryID(folderName: repository.lastPathComponent) else { return [] }
        let snapshots = repository.appendingPathComponent("snapshots")
        let revisions = ((try? FileProbe.names(in: snapshots)) ?? []).filter {
            !FileProbe.isHidden($0) && FileProbe.kind(snapshots.appendingPathComponent($0)) == .directory
        }
        let main = (try? String(contentsOf: repository.appendingPathComponent("refs/main"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let preferred = main.flatMap { revisions.contains($0) ? $0 : nil }
        let others = revisions.filter { $0 != preferred }.sorted {
            let (left, right) = (
                FileProbe.modificationDate(snapshots.appendingPathComponent($0)),
                FileProbe.modificationDate(snapshots.appendingPathComponent($1))
            )
            return left != right ? left > right : $0 < $1
        }
        var firstProblems: [ModelStoresError]?
        for revision in (preferred.map { [$0] } ?? []) + others {
            var local: [ModelStoresError] = []
            var found = snapshotModels(
                id: id, snapshot: snapshots.appendingPathComponent(revision), problems: &local)
            if !found.isEmpty {
                if revision != preferred, let main {
                    for index in found.indices {
                        found[index].notes.append(
                            "refs/main names \(main), which holds no usable model; using snapshot \(revision)"
                        )
                    }
                }
                return found
            }
            if firstProblems == nil { firstProblems = local }
        }
        problems += firstProblems ?? []
        return []
    }

    /// The models in one snapshot folder.
    ///
    /// A Hugging Face model named `org/name` when it has config.json and safetensors, and a GGUF model
    /// `org/name/<path>.gguf` for each GGUF file in it or in its subfolders (quantisation folders).
    private static func snapshotModels(id: String, snapshot: URL, problems: inout [ModelStoresError])
        -> [LocalModel]
    {
        var models: [LocalModel] = []
        let names = (try? FileProbe.names(in: snapshot)) ?? []
        switch HuggingFaceFolder.check(snapshot, names: names) {
        case .model:
            models.append(
                LocalModel(
                    name: id, source: .huggingFaceCache, format: .huggingFace(snapshot),
                    sizeOnDisk: HuggingFaceFolder.size(snapshot)))
        case .problem(let problem):
            problems.append(problem)
        case .notModel:
            break
        }
        func collectGGUF(_ folder: URL, names: [String], relative: [String], depth: Int) {
            for entry in GGUFFiles.entries(in: folder, names: names, problems: &problems) {
                models.append(
                    LocalModel(
                        name: ([id] + relative + [entry.name]).joined(separator: "/"),
                        source: .huggingFaceCache,
                        format: .gguf(entry.url), sizeOnDisk: entry.size, notes: entry.notes))
            }
            guard depth < 2 else { return }
            for name in names where !FileProbe.isHidden(name) {
                let child = folder.appendingPathComponent(name)
                guard FileProbe.kind(child) == .directory, let childNames = try? FileProbe.names(in: child)
                else {
                    continue
                }
                collectGGUF(child, names: childNames, relative: relative + [name], depth: depth + 1)
            }
        }
        collectGGUF(snapshot, names: names, relative: [], depth: 0)
        return models
    }
}
