// Ollama's model store: manifests naming content-addressed blobs, the model layer being a GGUF file.
//
// Layout of a models root (OLLAMA_MODELS, ~/.ollama/models):
//   manifests/<host>/<namespace>/<model>/<tag>      e.g. manifests/registry.ollama.ai/library/smollm2/135m
//   manifests-v2/<host>/<namespace>/<model>/<tag>   newer Ollama, public host written as ollama.com;
//                                                   wins over manifests/ for the same name
//   blobs/sha256-<64 hex>                           one file per layer
// A manifest is JSON (Docker distribution manifest v2):
//   {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
//    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
//               "digest": "sha256:<hex>", "size": N},
//    "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:<hex>", "size": N},
//               {"mediaType": "application/vnd.ollama.image.template", ...},
//               params, system, license, adapter, projector layers alike]}
// Digests are checked before any path is built from them: `sha256:` then exactly 64 lowercase hex digits.
// Ollama writes lowercase; anything else (`sha256:../../etc/passwd`) refuses the whole manifest.
import Foundation

enum OllamaStore {
    static let defaultHosts: Set<String> = ["registry.ollama.ai", "ollama.com"]
    static let defaultHost = "registry.ollama.ai"
    static let defaultNamespace = "library"
    static let modelMediaType = "application/vnd.ollama.image.model"
    static let layerMediaTypePrefix = "application/vnd.ollama.image."
    /// Real manifests are a few hundred bytes; a larger file is not one.
    static let maximumManifestBytes: Int64 = 1 << 20

    static func isRoot(_ folder: URL, names: [String]) -> Bool {
        names.contains("blobs") && (names.contains("manifests") || names.contains("manifests-v2"))
    }

    /// Whether `digest` is `sha256:` followed by exactly 64 lowercase hex digits.
    static func isValidDigest(_ digest: String) -> Bool {
        let prefix = "sha256:"
        guard digest.hasPrefix(prefix) else { return false }
        let hex = digest.utf8.dropFirst(prefix.utf8.count)
        return hex.count == 64 && hex.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// `blobs/sha256-<hex>` for a digest already checked by `isValidDigest`.
    static func blobURL(root: URL, digest: String) -> URL {
        root.appendingPathComponent("blobs").appendingPathComponent(
            digest.replacingOccurrences(of: ":", with: "-"))
    }

    /// Every GGUF-backed model under `root`, one per name (manifests-v2 first).
    static func models(root: URL, problems: inout [ModelStoresError]) -> [LocalModel] {
        var seen = Set<String>()
        var models: [LocalModel] = []
        for manifestsName in ["manifests-v2", "manifests"] {
            let manifests = root.appendingPathComponent(manifestsName)
            for host in subfolders(manifests) {
                for namespace in subfolders(manifests.appendingPathComponent(host)) {
                    for model in subfolders(manifests.appendingPathComponent("\(host)/\(namespace)")) {
                        let folder = manifests.appendingPathComponent("\(host)/\(namespace)/\(model)")
                        for tag in (try? FileProbe.names(in: folder)) ?? [] where !FileProbe.isHidden(tag) {
                            let file = folder.appendingPathComponent(tag)
                            guard FileProbe.kind(file) == .file else { continue }
                            let name = Name(host: host, namespace: namespace, model: model, tag: tag)
                            guard seen.insert(name.key).inserted else { continue }
                            if let found = self.model(
                                manifest: file, name: name, root: root, problems: &problems)
                            {
                                models.append(found)
                            }
                        }
                    }
                }
            }
        }
        return models
    }

    /// A model name as Ollama prints it.
    ///
    /// `smollm2:135m` for the public library, `namespace/model:tag` for other public namespaces,
    /// `host/namespace/model:tag` for other registries.
    struct Name {
        let host: String
        let namespace: String
        let model: String
        let tag: String

        var isDefaultHost: Bool { OllamaStore.defaultHosts.contains(host.lowercased()) }

        var short: String {
            guard isDefaultHost else { return "\(host)/\(namespace)/\(model):\(tag)" }
            return namespace == OllamaStore.defaultNamespace
                ? "\(model):\(tag)" : "\(namespace)/\(model):\(tag)"
        }

        /// Names that also reach this model: fully qualified, and without `:latest` (Ollama's default tag).
        var aliases: [String] {
            let host = isDefaultHost ? OllamaStore.defaultHost : self.host
            var names = ["\(host)/\(namespace)/\(model):\(tag)"]
            if isDefaultHost { names.append("\(namespace)/\(model):\(tag)") }
            if tag == "latest" { names += ([short] + names).map { String($0.dropLast(":latest".count)) } }
            return Array(Set(names).subtracting([short])).sorted()
        }

        /// Ollama names are case-insensitive and both public hosts are one registry.
        var key: String {
            "\(isDefaultHost ? OllamaStore.defaultHost : host)/\(namespace)/\(model):\(tag)".lowercased()
        }
    }

    private struct Manifest: Decodable {
        let config: Layer?
        let layers: [Layer]
    }

    private struct Layer: Decodable {
        let mediaType: String
        let digest: String
    }

    private static func model(manifest file: URL, name: Name, root: URL, problems: inout [ModelStoresError])
        -> LocalModel?
    {
        let path = file.path
        let byteCount = FileProbe.size(file)
        guard byteCount <= maximumManifestBytes else {
            problems.append(
                .malformedManifest(
                    path: path,
                    reason:
                        "is \(byteCount) bytes, larger than any manifest (at most \(maximumManifestBytes))"))
            return nil
        }
        guard let data = try? Data(contentsOf: file) else {
            problems.append(.unreadable(path: path, reason: "the manifest could not be read"))
            return nil
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) else {
            problems.append(.malformedManifest(path: path, reason: "is not JSON"))
            return nil
        }
        guard object is [String: Any] else {
            problems.append(.malformedManifest(path: path, reason: "is JSON but not an object"))
            return nil
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            problems.append(
                .malformedManifest(
                    path: path, reason: "has no \"\(key.stringValue)\"\(at.isEmpty ? "" : " in \(at)")"))
            return nil
        } catch {
            problems.append(.malformedManifest(path: path, reason: "has fields of the wrong type (\(error))"))
            return nil
        }

        let layers = manifest.layers + (manifest.config.map { [$0] } ?? [])
        if let bad = layers.first(where: { !isValidDigest($0.digest) }) {
            problems.append(.invalidDigest(manifest: path, mediaType: bad.mediaType, digest: bad.digest))
            return nil
        }
        guard let modelLayer = manifest.layers.first(where: { $0.mediaType == modelMediaType }) else {
            problems.append(.noModelLayer(manifest: path, mediaTypes: manifest.layers.map(\.mediaType)))
            return nil
        }
        let blob = blobURL(root: root, digest: modelLayer.digest)
        guard FileProbe.kind(blob) == .file else {
            problems.append(.missingBlob(manifest: path, digest: modelLayer.digest, expectedPath: blob.path))
            return nil
        }
        let magic = FileProbe.ggufMagic(blob)
        guard magic.isGGUF else {
            problems.append(.notGGUF(path: blob.path, found: magic.found))
            return nil
        }

        var size: Int64 = 0
        var counted = Set<String>()
        for layer in layers where counted.insert(layer.digest).inserted {
            size += FileProbe.size(blobURL(root: root, digest: layer.digest))
        }
        var sidecars: [ModelSidecar] = []
        for layer in manifest.layers where layer.mediaType != modelMediaType {
            let url = blobURL(root: root, digest: layer.digest)
            guard layer.mediaType.hasPrefix(layerMediaTypePrefix), FileProbe.kind(url) == .file else {
                continue
            }
            // Media types may carry parameters: "application/vnd.ollama.image.template; name=x".
            let kind = layer.mediaType.dropFirst(layerMediaTypePrefix.count)
                .prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
            sidecars.append(ModelSidecar(kind: kind, url: url))
        }
        var notes: [String] = []
        if sidecars.contains(where: { $0.kind == "adapter" }) {
            notes.append(
                "has an ADAPTER layer applied on top of this GGUF; Tailor sees the base weights only")
        }
        return LocalModel(
            name: name.short, source: .ollama, format: .gguf(blob), sizeOnDisk: size, aliases: name.aliases,
            sidecars: sidecars, notes: notes)
    }

    private static func subfolders(_ folder: URL) -> [String] {
        ((try? FileProbe.names(in: folder)) ?? []).filter {
            !FileProbe.isHidden($0) && FileProbe.kind(folder.appendingPathComponent($0)) == .directory
        }
    }
}
