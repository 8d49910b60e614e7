// Resolving what the user typed: paths, HF ids, Ollama names, listed names, ambiguity and not-found messages.
import Foundation
import Testing

@testable import ModelStores

/// One machine with a model in every store, plus two folders that both hold a `model.gguf`.
private struct World {
    let tree: FakeTree
    let discovery: ModelDiscovery

    init() throws {
        tree = try FakeTree()
        try tree.huggingFaceRepository(
            cache: "hub", id: "HuggingFaceTB/SmolLM2-135M-Instruct", revision: "r1",
            files: ["config.json": filler(2), "model.safetensors": filler(8)])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/library/smollm2/135m",
            layers: [("application/vnd.ollama.image.model", "sha256:" + fakeDigest(1), fakeGGUF(1))])
        try tree.ollamaManifest(
            root: "ollama", path: "registry.ollama.ai/jdoe/mymodel/latest",
            layers: [("application/vnd.ollama.image.model", "sha256:" + fakeDigest(2), fakeGGUF(1))])
        try tree.write("lms/pub/Qwen3-GGUF/Qwen3-0.6B-Q8_0.gguf", fakeGGUF(1))
        try tree.write("dir1/model.gguf", fakeGGUF(1))
        try tree.write("dir2/model.gguf", fakeGGUF(1))
        discovery = ModelDiscovery(
            paths: .only(
                huggingFace: [tree.url("hub")], ollama: [tree.url("ollama")], lmStudio: [tree.url("lms")],
                extra: [tree.url("dir1"), tree.url("dir2")]))
    }
}

@Suite struct ResolveTests {
    @Test func anExistingPathIsThatModelEvenOutsideEveryStore() throws {
        let world = try World()
        let file = try world.tree.write("loose/SmolLM2-135M-Instruct.Q4_1.gguf", fakeGGUF(4))
        let model = try world.discovery.resolve(file.path)
        #expect(model.name == "SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(model.source == .directory)
        #expect(model.format == .gguf(file))
        #expect(model.sizeOnDisk == 12)

        try world.tree.write("loose/hf/config.json", filler(1))
        try world.tree.write("loose/hf/model.safetensors", filler(1))
        try world.tree.write("loose/hf/gguf/extra.gguf", fakeGGUF(1))
        // The folder is the model even though a GGUF sits below it.
        #expect(
            try world.discovery.resolve(world.tree.url("loose/hf").path).format
                == .huggingFace(world.tree.url("loose/hf")))
        // A folder holding exactly one model resolves to it.
        #expect(try world.discovery.resolve(world.tree.url("loose/hf/gguf").path).name == "extra.gguf")
    }

    @Test func namesFromEveryStoreResolve() throws {
        let world = try World()
        let hf = try world.discovery.resolve("HuggingFaceTB/SmolLM2-135M-Instruct")
        #expect(hf.source == .huggingFaceCache)
        #expect(
            hf.format
                == .huggingFace(
                    world.tree.url("hub/models--HuggingFaceTB--SmolLM2-135M-Instruct/snapshots/r1")))

        let ollama = try world.discovery.resolve("smollm2:135m")
        #expect(ollama.source == .ollama)
        #expect(ollama.format == .gguf(world.tree.url("ollama/blobs/sha256-\(fakeDigest(1))")))
        #expect(try world.discovery.resolve("registry.ollama.ai/library/smollm2:135m") == ollama)
        // No tag means `latest`, as in Ollama.
        #expect(try world.discovery.resolve("jdoe/mymodel").name == "jdoe/mymodel:latest")

        // Case-insensitive last components, with or without `.gguf`.
        #expect(try world.discovery.resolve("smollm2-135m-instruct") == hf)
        #expect(try world.discovery.resolve("qwen3-0.6b-q8_0").name == "pub/Qwen3-GGUF/Qwen3-0.6B-Q8_0.gguf")
        #expect(try world.discovery.resolve("pub/Qwen3-GGUF/Qwen3-0.6B-Q8_0.gguf").source == .lmStudio)
    }

    @Test func ambiguityListsEveryCandidate() throws {
        let world = try World()
        #expect {
            try world.discovery.resolve("model.gguf")
        } throws: { error in
            guard let error = error as? ModelStoresError,
                case .ambiguous(let reference, let candidates) = error
            else {
                return false
            }
            let text = error.description
            return reference == "model.gguf" && candidates.count == 2
                && text.contains("'model.gguf' matches 2 models")
                && text.contains("model.gguf (folder, \(world.tree.url("dir1/model.gguf").path))")
                && text.contains("model.gguf (folder, \(world.tree.url("dir2/model.gguf").path))")
                && text.contains("Pass one of these names in full, or the path")
        }
    }

    @Test func notFoundSaysWhatWasSearchedAndHowToList() throws {
        let world = try World()
        #expect {
            try world.discovery.resolve("smollm2:1.7b")
        } throws: { error in
            guard let error = error as? ModelStoresError, case .notFound(_, _, let suggestions) = error else {
                return false
            }
            let text = error.description
            return text.contains("no model matches 'smollm2:1.7b'")
                && text.contains("Hugging Face cache \(world.tree.url("hub").path)")
                && text.contains("Ollama \(world.tree.url("ollama").path)")
                && text.contains("LM Studio \(world.tree.url("lms").path)")
                && text.contains("--dir \(world.tree.url("dir1").path)")
                && text.contains("(6 models found in all)")
                && text.contains("`tailor models`")
                && suggestions == ["HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2:135m"]
        }
    }

    @Test func badPathsAndEmptyReferencesAreClearErrors() throws {
        let world = try World()
        try world.tree.write("split/m-00001-of-00002.gguf", fakeGGUF(1))
        let second = try world.tree.write("split/m-00002-of-00002.gguf", filler(1))
        #expect(
            throws: ModelStoresError.notAModel(
                path: second.path,
                reason: "it is part 2 of 2 of a split GGUF; pass the first part, m-00001-of-00002.gguf")
        ) { try world.discovery.resolve(second.path) }

        let weights = try world.tree.write("hf/model.safetensors", filler(1))
        #expect(
            throws: ModelStoresError.notAModel(
                path: weights.path,
                reason: "it is one safetensors file of a Hugging Face model; pass the folder that holds it with "
                    + "config.json and tokenizer.json, \(world.tree.url("hf").path)")
        ) { try world.discovery.resolve(weights.path) }

        try world.tree.write("empty/readme.txt", filler(1))
        #expect {
            try world.discovery.resolve(world.tree.url("empty").path)
        } throws: { error in
            "\(error)".contains(
                "is not a model: no Hugging Face folder (config.json with safetensors weights)")
        }
        #expect(throws: ModelStoresError.emptyReference) { try world.discovery.resolve("  ") }
    }
}
