// The Hugging Face cache: repositories, snapshots linked into blobs/, refs/main, GGUF-only repositories.
import Foundation
import Testing

@testable import ModelStores

@Suite struct HuggingFaceCacheTests {
    @Test func snapshotWithConfigAndSafetensorsIsOneModelNamedByRepositoryID() throws {
        let tree = try FakeTree()
        try tree.huggingFaceRepository(
            cache: "hub", id: "HuggingFaceTB/SmolLM2-135M-Instruct",
            revision: "12fd25f77366fa6b3b4b768ec3050bf629380bac",
            files: [
                "config.json": filler(20), "model.safetensors": filler(100), "tokenizer.json": filler(30),
            ])
        try tree.huggingFaceRepository(
            cache: "hub", id: "gpt2", revision: "607a30d783dfa663caf39e06633721c8d4cfcd7e",
            files: ["config.json": filler(7), "model.safetensors": filler(11)], seed: 2)
        // A config with no weights (AutoConfig only) and a dataset are not models and not problems.
        try tree.huggingFaceRepository(
            cache: "hub", id: "org/config-only", revision: "r1", files: ["config.json": filler(5)], seed: 3)
        try tree.write("hub/datasets--org--data/snapshots/r1/config.json", filler(3))
        try tree.write("hub/datasets--org--data/snapshots/r1/model.safetensors", filler(3))

        let link = tree.url("hub/models--HuggingFaceTB--SmolLM2-135M-Instruct/snapshots")
            .appendingPathComponent("12fd25f77366fa6b3b4b768ec3050bf629380bac/model.safetensors")
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: link.path).hasPrefix("../../blobs/"))

        let found = ModelDiscovery(paths: .only(huggingFace: [tree.url("hub")])).discover()
        #expect(found.problems.isEmpty, "\(found.problems)")
        #expect(found.models.map(\.name) == ["HuggingFaceTB/SmolLM2-135M-Instruct", "gpt2"])
        #expect(found.models.allSatisfy { $0.source == .huggingFaceCache })
        let smol = try #require(found.models.first)
        guard case .huggingFace(let folder) = smol.format else {
            Issue.record("expected a Hugging Face folder, got \(smol.format)")
            return
        }
        #expect(folder.path == link.deletingLastPathComponent().path)
        // Sizes follow the links to the blobs: 20 + 100 + 30, not the size of three links.
        #expect(smol.sizeOnDisk == 150)
        #expect(found.models[1].sizeOnDisk == 18)
    }

    @Test func refsMainSnapshotIsPreferredOverANewerOne() throws {
        let tree = try FakeTree()
        let repository = "hub/models--org--model"
        try tree.huggingFaceRepository(
            cache: "hub", id: "org/model", revision: "aaaa",
            files: ["config.json": filler(1), "model.safetensors": filler(10)])
        try tree.huggingFaceRepository(
            cache: "hub", id: "org/model", revision: "bbbb",
            files: ["config.json": filler(1), "model.safetensors": filler(20)],
            main: false, seed: 2)
        try tree.touch("\(repository)/snapshots/aaaa", secondsAgo: 3600)
        try tree.touch("\(repository)/snapshots/bbbb", secondsAgo: 10)
        let paths = ModelSearchPaths.only(huggingFace: [tree.url("hub")])

        let withMain = try #require(ModelDiscovery(paths: paths).discover().models.first)
        #expect(withMain.format.url.lastPathComponent == "aaaa")
        #expect(withMain.sizeOnDisk == 11)
        #expect(withMain.notes.isEmpty)

        // Without refs/main the most recently written snapshot is used.
        try FileManager.default.removeItem(at: tree.url("\(repository)/refs/main"))
        let newest = try #require(ModelDiscovery(paths: paths).discover().models.first)
        #expect(newest.format.url.lastPathComponent == "bbbb")

        // refs/main naming a snapshot without weights falls back to one with, and says so.
        try tree.write("\(repository)/refs/main", text: "cccc\n")
        try tree.write("\(repository)/snapshots/cccc/README.md", filler(4))
        let fallback = try #require(ModelDiscovery(paths: paths).discover().models.first)
        #expect(fallback.format.url.lastPathComponent == "bbbb")
        #expect(fallback.notes == ["refs/main names cccc, which holds no usable model; using snapshot bbbb"])
    }

    @Test func ggufRepositoryYieldsOneModelPerFileAndSplitFilesAsOne() throws {
        let tree = try FakeTree()
        try tree.huggingFaceRepository(
            cache: "hub", id: "bartowski/SmolLM2-135M-Instruct-GGUF", revision: "r1",
            files: [
                "README.md": filler(9),
                "SmolLM2-135M-Instruct-Q4_K_M.gguf": fakeGGUF(92),
                "SmolLM2-135M-Instruct-Q8_0.gguf": fakeGGUF(142),
                "Q8_0/big-00001-of-00002.gguf": fakeGGUF(12),
                "Q8_0/big-00002-of-00002.gguf": filler(50),
                "mmproj-SmolLM2-f16.gguf": fakeGGUF(1),
            ])
        let found = ModelDiscovery(paths: .only(huggingFace: [tree.url("hub")])).discover()
        #expect(found.problems.isEmpty, "\(found.problems)")
        #expect(
            found.models.map(\.name) == [
                "bartowski/SmolLM2-135M-Instruct-GGUF/Q8_0/big-00001-of-00002.gguf",
                "bartowski/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct-Q4_K_M.gguf",
                "bartowski/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct-Q8_0.gguf",
            ])
        #expect(found.models.map(\.sizeOnDisk) == [20 + 50, 100, 150])
        #expect(found.models[0].notes == ["split GGUF: first of 2 parts"])
        let snapshot = tree.url("hub/models--bartowski--SmolLM2-135M-Instruct-GGUF/snapshots/r1")
        #expect(
            found.models[1].format
                == .gguf(snapshot.appendingPathComponent("SmolLM2-135M-Instruct-Q4_K_M.gguf")))
    }

    @Test func incompleteDownloadsAreProblemsNotModels() throws {
        let tree = try FakeTree()
        // The index names two shards; only the first was downloaded.
        let index = """
            {"metadata":{"total_size":20},"weight_map":{"a":"model-00001-of-00002.safetensors",\
            "b":"model-00002-of-00002.safetensors"}}
            """
        try tree.huggingFaceRepository(
            cache: "hub", id: "org/sharded", revision: "r1",
            files: [
                "config.json": filler(2), "model.safetensors.index.json": Array(index.utf8),
                "model-00001-of-00002.safetensors": filler(10),
            ])
        // Only PyTorch pickles: reported as weights Tailor does not read.
        try tree.huggingFaceRepository(
            cache: "hub", id: "org/pickled", revision: "r1",
            files: ["config.json": filler(2), "pytorch_model.bin": filler(10)], seed: 2)
        // A snapshot link whose blob is gone (an interrupted download).
        try tree.write("hub/models--org--dangling/snapshots/r1/config.json", filler(2))
        try tree.link("hub/models--org--dangling/snapshots/r1/model.safetensors", to: "../../blobs/gone")

        let found = ModelDiscovery(paths: .only(huggingFace: [tree.url("hub")])).discover()
        #expect(found.models.isEmpty, "\(found.models.map(\.name))")
        #expect(found.problems.count == 3)
        let text = found.problems.map(\.description).joined(separator: "\n")
        #expect(text.contains("model-00002-of-00002.safetensors is missing"))
        #expect(text.contains("pytorch_model.bin"))
        #expect(text.contains("model.safetensors link(s) to a missing file"))
    }

    @Test func repositoryFolderNamesMapToIDs() {
        #expect(
            HuggingFaceCache.repositoryID(folderName: "models--HuggingFaceTB--SmolLM2-135M")
                == "HuggingFaceTB/SmolLM2-135M")
        #expect(HuggingFaceCache.repositoryID(folderName: "models--gpt2") == "gpt2")
        #expect(HuggingFaceCache.repositoryID(folderName: "datasets--org--x") == nil)
        #expect(HuggingFaceCache.repositoryID(folderName: "models--") == nil)
    }
}
