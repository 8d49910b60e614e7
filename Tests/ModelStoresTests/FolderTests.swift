// LM Studio's folder and plain folders (--dir, TAILOR_MODELS): GGUF files, HF folders, split files, limits.
import Foundation
import Testing

@testable import ModelStores

@Suite struct FolderTests {
    @Test func lmStudioFoldersListGGUFAndMLXStyleModels() throws {
        let tree = try FakeTree()
        let gguf = "home/.lmstudio/models/lmstudio-community/SmolLM2-135M-Instruct-GGUF"
        try tree.write("\(gguf)/SmolLM2-135M-Instruct-Q8_0.gguf", fakeGGUF(142))
        try tree.write(
            "home/.lmstudio/models/lmstudio-community/SmolLM2-135M-Instruct-GGUF/mmproj-model-f16.gguf",
            fakeGGUF(1))
        try tree.write(
            "home/.lmstudio/models/mlx-community/SmolLM2-135M-Instruct-4bit/config.json", filler(10))
        try tree.write(
            "home/.lmstudio/models/mlx-community/SmolLM2-135M-Instruct-4bit/model.safetensors", filler(60))
        try tree.write(
            "home/.lmstudio/models/mlx-community/SmolLM2-135M-Instruct-4bit/tokenizer.json", filler(30))
        try tree.write("home/.cache/lm-studio/models/TheBloke/Old-GGUF/old.Q4_0.gguf", fakeGGUF(2))
        // A partial download LM Studio keeps next to the finished files is not a model.
        try tree.write(
            "home/.lmstudio/models/lmstudio-community/SmolLM2-135M-Instruct-GGUF/next.gguf.part", filler(5))

        let paths = ModelSearchPaths(environment: [:], home: tree.url("home"))
        #expect(
            paths.lmStudioRoots.map(\.path) == [
                tree.url("home/.lmstudio/models").path, tree.url("home/.cache/lm-studio/models").path,
            ])
        let found = ModelDiscovery(paths: paths).discover()
        #expect(found.problems.isEmpty, "\(found.problems)")
        #expect(
            found.models.map(\.name) == [
                "TheBloke/Old-GGUF/old.Q4_0.gguf",
                "lmstudio-community/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct-Q8_0.gguf",
                "mlx-community/SmolLM2-135M-Instruct-4bit",
            ])
        #expect(found.models.allSatisfy { $0.source == .lmStudio })
        #expect(found.models.map(\.sizeOnDisk) == [10, 150, 100])
        #expect(
            found.models[2].format
                == .huggingFace(tree.url("home/.lmstudio/models/mlx-community/SmolLM2-135M-Instruct-4bit")))
    }

    @Test func lmStudioHomePointerMovesTheModelsFolder() throws {
        let tree = try FakeTree()
        try tree.write("home/.lmstudio-home-pointer", text: tree.url("elsewhere/lms").path + "\n")
        try tree.write("elsewhere/lms/models/pub/repo/m.gguf", fakeGGUF(1))
        let paths = ModelSearchPaths(environment: [:], home: tree.url("home"))
        #expect(paths.lmStudioRoots.first?.path == tree.url("elsewhere/lms/models").path)
        #expect(ModelDiscovery(paths: paths).discover().models.map(\.name) == ["pub/repo/m.gguf"])
    }

    @Test func folderScanFindsFilesAndFoldersWithinLimits() throws {
        let tree = try FakeTree()
        try tree.write("models/a.gguf", fakeGGUF(2))
        try tree.write("models/sub/b.gguf", fakeGGUF(3))
        try tree.write("models/c-00001-of-00002.gguf", fakeGGUF(12))
        try tree.write("models/c-00002-of-00002.gguf", filler(30))
        try tree.write("models/d-00001-of-00003.gguf", fakeGGUF(1))
        try tree.write("models/d-00003-of-00003.gguf", filler(1))
        try tree.write("models/orphan-00002-of-00002.gguf", filler(1))
        try tree.write("models/hf-model/config.json", filler(4))
        try tree.write("models/hf-model/model.safetensors", filler(16))
        try tree.write("models/hf-model/.cache/huggingface/download/model.safetensors.metadata", filler(99))
        try tree.write("models/fake.gguf", Array("<html>not a model".utf8))
        try tree.write("models/.hidden/h.gguf", fakeGGUF(1))
        try tree.write("models/1/2/3/4/deep.gguf", fakeGGUF(1))
        try tree.write("models/1/2/3/4/5/deeper.gguf", fakeGGUF(1))
        try tree.write("models/notes.txt", filler(3))
        // A loop back to the top and a second name for a.gguf: neither may repeat or hang.
        try tree.link("models/sub/loop", to: "..")
        try tree.link("models/sub/again.gguf", to: "../a.gguf")

        let found = ModelDiscovery(paths: .only(extra: [tree.url("models")])).discover()
        #expect(
            found.models.map(\.name) == [
                "1/2/3/4/deep.gguf", "a.gguf", "c-00001-of-00002.gguf", "hf-model", "sub/b.gguf",
            ])
        #expect(found.models.allSatisfy { $0.source == .directory })
        #expect(found.models.map(\.sizeOnDisk) == [9, 10, 50, 20, 11])
        #expect(found.models[2].notes == ["split GGUF: first of 2 parts"])
        #expect(found.models[3].format == .huggingFace(tree.url("models/hf-model")))

        let text = found.problems.map(\.description)
        #expect(found.problems.count == 3, "\(text)")
        #expect(
            found.problems.contains(.notGGUF(path: tree.url("models/fake.gguf").path, found: "3c 68 74 6d")))
        #expect(
            text.contains {
                $0.contains("d-00001-of-00003.gguf is incomplete")
                    && $0.contains("missing d-00002-of-00003.gguf")
            })
        #expect(
            text.contains {
                $0.contains("orphan-00002-of-00002.gguf")
                    && $0.contains("orphan-00001-of-00002.gguf is missing")
            })
    }

    @Test func extraLocationsComeFromDirAndTailorModels() throws {
        let tree = try FakeTree()
        try tree.write("one/x.gguf", fakeGGUF(1))
        try tree.write("two/y.gguf", fakeGGUF(1))
        try tree.write("single/z.gguf", fakeGGUF(1))
        try tree.write("hf/config.json", filler(1))
        try tree.write("hf/model.safetensors", filler(1))
        let environment = [
            "TAILOR_MODELS":
                "\(tree.url("two").path)::\(tree.url("single/z.gguf").path):\(tree.url("nowhere").path)"
        ]
        let paths = ModelSearchPaths(
            environment: environment, home: tree.url("home"),
            extraDirectories: [tree.url("one"), tree.url("hf")])
        #expect(
            paths.extraLocations.map(\.origin) == [
                "--dir", "--dir", "TAILOR_MODELS", "TAILOR_MODELS", "TAILOR_MODELS",
            ])

        let found = ModelDiscovery(paths: paths).discover()
        // A start that is itself a model is named by its last path component.
        #expect(found.models.map(\.name) == ["hf", "x.gguf", "y.gguf", "z.gguf"])
        #expect(found.problems == [.missingLocation(path: tree.url("nowhere").path, origin: "TAILOR_MODELS")])
        #expect(found.problems[0].description.contains("does not exist"))
    }

    @Test func storeLayoutsInsideAFolderAreReadAsThoseStores() throws {
        let tree = try FakeTree()
        try tree.ollamaManifest(
            root: "copy/ollama", path: "registry.ollama.ai/library/smollm2/135m",
            layers: [("application/vnd.ollama.image.model", "sha256:" + fakeDigest(1), fakeGGUF(1))])
        try tree.huggingFaceRepository(
            cache: "copy/hub", id: "org/model", revision: "r",
            files: ["config.json": filler(1), "model.safetensors": filler(1)])
        let found = ModelDiscovery(paths: .only(extra: [tree.url("copy")])).discover()
        #expect(found.problems.isEmpty, "\(found.problems)")
        #expect(found.models.map(\.name) == ["org/model", "smollm2:135m"])
        #expect(found.models.map(\.source) == [.huggingFaceCache, .ollama])
    }

    @Test func aFileReachedTwiceIsListedOnceUnderTheFirstSource() throws {
        let tree = try FakeTree()
        try tree.write("home/.lmstudio/models/pub/repo/m.gguf", fakeGGUF(1))
        var paths = ModelSearchPaths(environment: [:], home: tree.url("home"))
        paths.extraLocations = [.init(url: tree.url("home/.lmstudio/models/pub"), origin: "--dir")]
        let first = ModelDiscovery(paths: paths).discover()
        #expect(first.models.map(\.name) == ["pub/repo/m.gguf"])
        #expect(first.models.map(\.source) == [.lmStudio])
        // The same answer every time.
        #expect(ModelDiscovery(paths: paths).discover().models == first.models)
    }

    @Test func splitNamesFollowLlamaCpp() {
        let shard = GGUFFiles.shard("Qwen-7B-Q4_K_M-00002-of-00005.gguf")
        #expect(shard?.stem == "Qwen-7B-Q4_K_M" && shard?.part == 2 && shard?.total == 5)
        #expect(GGUFFiles.shard("model.gguf") == nil)
        #expect(GGUFFiles.shard("x-00003-of-00002.gguf") == nil)
        #expect(GGUFFiles.shard("x-0001-of-00002.gguf") == nil)
        #expect(GGUFFiles.shardName(stem: "m", part: 3, total: 12) == "m-00003-of-00012.gguf")
    }
}
