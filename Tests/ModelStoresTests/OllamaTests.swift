// Ollama's store: manifest names, layers, blobs, and refusing manifests that are broken or hostile.
import Foundation
import Testing

@testable import ModelStores

private let model = "application/vnd.ollama.image.model"
private let template = "application/vnd.ollama.image.template"
private let params = "application/vnd.ollama.image.params"
private let adapter = "application/vnd.ollama.image.adapter"

@Suite struct OllamaTests {
    @Test func namesFollowOllamaForLibraryUserAndOtherRegistries() throws {
        let tree = try FakeTree()
        let smol = "sha256:" + fakeDigest(1)
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/smollm2/135m",
            layers: [
                (model, smol, fakeGGUF(992)), (template, "sha256:" + fakeDigest(2), filler(100)),
                (params, "sha256:" + fakeDigest(3), filler(40)),
            ])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/jdoe/mymodel/latest",
            layers: [
                (model, "sha256:" + fakeDigest(4), fakeGGUF(8)),
                (adapter, "sha256:" + fakeDigest(5), filler(6)),
            ])
        try tree.ollamaManifest(
            root: "ollama", path: "hf.co/bartowski/SmolLM2-GGUF/Q4_K_M",
            layers: [(model, "sha256:" + fakeDigest(6), fakeGGUF(2))])
        try tree.ollamaManifest(
            root: "ollama", path: "ollama.com/library/qwen3/0.6b",
            layers: [(model, "sha256:" + fakeDigest(7), fakeGGUF(2))], manifestsFolder: "manifests-v2")

        let found = ModelDiscovery(paths: .only(ollama: [tree.url("ollama")])).discover()
        #expect(found.problems.isEmpty, "\(found.problems)")
        #expect(
            found.models.map(\.name) == [
                "hf.co/bartowski/SmolLM2-GGUF:Q4_K_M", "jdoe/mymodel:latest", "qwen3:0.6b", "smollm2:135m",
            ])
        #expect(found.models.allSatisfy { $0.source == .ollama })

        let smollm = try #require(found.models.last)
        #expect(smollm.format == .gguf(tree.url("ollama/blobs/sha256-\(fakeDigest(1))")))
        // Every layer's blob plus the config blob, as `ollama list` counts size.
        #expect(smollm.sizeOnDisk == 1000 + 100 + 40 + FakeTree.ollamaConfigSize)
        #expect(smollm.sidecars.map(\.kind) == ["template", "params"])
        #expect(smollm.sidecars[0].url.lastPathComponent == "sha256-\(fakeDigest(2))")
        #expect(smollm.aliases == ["library/smollm2:135m", "registry.ollama.ai/library/smollm2:135m"])

        let mine = found.models[1]
        #expect(mine.aliases.contains("jdoe/mymodel"))
        #expect(mine.aliases.contains("registry.ollama.ai/jdoe/mymodel:latest"))
        #expect(mine.notes.first?.contains("ADAPTER") == true)
        #expect(found.models[2].aliases.contains("registry.ollama.ai/library/qwen3:0.6b"))
    }

    @Test func manifestsV2WinsOverTheLegacyManifestOfTheSameModel() throws {
        let tree = try FakeTree()
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/qwen3/0.6b",
            layers: [(model, "sha256:" + fakeDigest(1), fakeGGUF(1))])
        try tree.ollamaManifest(
            root: "ollama", path: "ollama.com/library/qwen3/0.6b",
            layers: [(model, "sha256:" + fakeDigest(2), fakeGGUF(1))], manifestsFolder: "manifests-v2")
        let found = ModelDiscovery(paths: .only(ollama: [tree.url("ollama")])).discover()
        #expect(found.models.count == 1)
        #expect(found.models.first?.format.url.lastPathComponent == "sha256-\(fakeDigest(2))")
    }

    @Test func digestThatTriesToLeaveTheStoreIsRefusedAndNeverListed() throws {
        let tree = try FakeTree()
        // A real GGUF where the traversal would land, so following the digest would "work".
        try tree.write("secret.gguf", fakeGGUF(4))
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/evil/latest",
            layers: [(model, "sha256:../../secret.gguf", nil)])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/passwd/latest",
            layers: [(model, "sha256:../../etc/passwd", nil)])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/upper/latest",
            layers: [(model, "sha256:" + fakeDigest(0xABC).uppercased(), fakeGGUF(1))])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/short/latest",
            layers: [(model, "sha256:" + String(fakeDigest(9).dropFirst()), fakeGGUF(1))])
        // A bad digest on a side layer refuses the whole manifest too.
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/sidebad/latest",
            layers: [(model, "sha256:" + fakeDigest(10), fakeGGUF(1)), (template, "sha256:/etc/shadow", nil)])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/good/latest",
            layers: [(model, "sha256:" + fakeDigest(11), fakeGGUF(1))])

        let found = ModelDiscovery(paths: .only(ollama: [tree.url("ollama")])).discover()
        #expect(found.models.map(\.name) == ["good:latest"])
        #expect(found.problems.count == 5)
        for problem in found.problems {
            guard case .invalidDigest = problem else {
                Issue.record("expected invalidDigest, got \(problem)")
                continue
            }
            #expect(problem.description.contains("64 lowercase hex digits"))
        }
        let text = found.problems.map(\.description).joined(separator: "\n")
        #expect(text.contains("'sha256:../../etc/passwd'"))
        #expect(text.contains("manifests/registry.ollama.ai/library/evil/latest"))
        #expect(text.contains("'sha256:/etc/shadow'"))
        #expect(!OllamaStore.isValidDigest("sha256:" + fakeDigest(1) + "\n"))
        #expect(OllamaStore.isValidDigest("sha256:" + fakeDigest(1)))
    }

    @Test func brokenManifestsAndBlobsAreReportedNotFatal() throws {
        let tree = try FakeTree()
        try tree.write(
            "ollama/manifests/registry.ollama.ai/library/notjson/latest", text: "this is not { json")
        try tree.write(
            "ollama/manifests/registry.ollama.ai/library/nolayers/latest", text: #"{"schemaVersion":2}"#)
        try tree.write("ollama/manifests/registry.ollama.ai/library/array/latest", text: "[1,2]")
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/missing/latest",
            layers: [(model, "sha256:" + fakeDigest(1), nil)])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/notgguf/latest",
            layers: [(model, "sha256:" + fakeDigest(2), Array("PK\u{3}\u{4}zip".utf8))])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/cloud/latest",
            layers: [(template, "sha256:" + fakeDigest(3), filler(3))])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/fine/1b",
            layers: [(model, "sha256:" + fakeDigest(4), fakeGGUF(1))])

        let found = ModelDiscovery(paths: .only(ollama: [tree.url("ollama")])).discover()
        #expect(found.models.map(\.name) == ["fine:1b"])
        let byName = Dictionary(
            uniqueKeysWithValues: found.problems.map { problem -> (String, ModelStoresError) in
                let path: String
                switch problem {
                case .malformedManifest(let p, _), .noModelLayer(let p, _), .missingBlob(let p, _, _):
                    path = p
                case .notGGUF(let p, _): path = p
                default: path = "unexpected \(problem)"
                }
                return (path, problem)
            })
        let manifests = tree.url("ollama/manifests/registry.ollama.ai/library")
        #expect(
            byName[manifests.appendingPathComponent("notjson/latest").path]
                == .malformedManifest(
                    path: manifests.appendingPathComponent("notjson/latest").path, reason: "is not JSON"))
        #expect(
            byName[manifests.appendingPathComponent("nolayers/latest").path]?.description.contains(
                #"has no "layers""#) == true)
        #expect(
            byName[manifests.appendingPathComponent("array/latest").path]?.description.contains(
                "not an object") == true)
        #expect(
            byName[manifests.appendingPathComponent("missing/latest").path]?.description
                .contains("blobs/sha256-\(fakeDigest(1)) does not exist") == true)
        #expect(
            byName[tree.url("ollama/blobs/sha256-\(fakeDigest(2))").path]
                == .notGGUF(path: tree.url("ollama/blobs/sha256-\(fakeDigest(2))").path, found: "50 4b 03 04")
        )
        #expect(
            byName[manifests.appendingPathComponent("cloud/latest").path]
                == .noModelLayer(
                    manifest: manifests.appendingPathComponent("cloud/latest").path, mediaTypes: [template]))
        #expect(found.problems.count == 6)
    }
}
