// Where each store is looked for, from environment variables and the home folder.
import Foundation
import Testing

@testable import ModelStores

@Suite struct SearchPathsTests {
    let home = URL(fileURLWithPath: "/home/ada")

    @Test func huggingFaceCachePrecedenceMatchesHuggingFaceHub() {
        func cache(_ environment: [String: String]) -> String? {
            ModelSearchPaths(environment: environment, home: home).huggingFaceCaches.first?.path
        }
        #expect(cache([:]) == "/home/ada/.cache/huggingface/hub")
        #expect(cache(["XDG_CACHE_HOME": "/xdg"]) == "/xdg/huggingface/hub")
        #expect(cache(["HF_HOME": "/hf", "XDG_CACHE_HOME": "/xdg"]) == "/hf/hub")
        #expect(cache(["HUGGINGFACE_HUB_CACHE": "/legacy", "HF_HOME": "/hf"]) == "/legacy")
        #expect(
            cache(["HF_HUB_CACHE": "/cache", "HUGGINGFACE_HUB_CACHE": "/legacy", "HF_HOME": "/hf"])
                == "/cache")
        #expect(cache(["HF_HUB_CACHE": "", "HF_HOME": "~/hf"]) == "/home/ada/hf/hub")
    }

    @Test func ollamaModelsReplacesTheDefaultFolders() {
        #expect(
            ModelSearchPaths(environment: [:], home: home).ollamaRoots.map(\.path)
                == ["/home/ada/.ollama/models", "/usr/share/ollama/.ollama/models"])
        #expect(
            ModelSearchPaths(environment: ["OLLAMA_MODELS": "/data/ollama"], home: home).ollamaRoots.map(
                \.path)
                == ["/data/ollama"])
    }

    @Test func hfHubCacheWinsOverHFHomeWhenDiscovering() throws {
        let tree = try FakeTree()
        try tree.huggingFaceRepository(
            cache: "chosen", id: "org/chosen", revision: "r",
            files: ["config.json": filler(1), "model.safetensors": filler(1)])
        try tree.huggingFaceRepository(
            cache: "hfhome/hub", id: "org/ignored", revision: "r",
            files: ["config.json": filler(1), "model.safetensors": filler(1)])
        let environment = ["HF_HUB_CACHE": tree.url("chosen").path, "HF_HOME": tree.url("hfhome").path]
        let both = ModelDiscovery(paths: ModelSearchPaths(environment: environment, home: tree.url("home")))
            .discover()
        #expect(both.models.map(\.name) == ["org/chosen"])
        let homeOnly = ModelDiscovery(
            paths: ModelSearchPaths(environment: ["HF_HOME": tree.url("hfhome").path], home: tree.url("home"))
        ).discover()
        #expect(homeOnly.models.map(\.name) == ["org/ignored"])
    }

    @Test func everySearchedPlaceIsDescribed() {
        let paths = ModelSearchPaths(
            environment: ["TAILOR_MODELS": "~/models"], home: home,
            extraDirectories: [URL(fileURLWithPath: "/d")])
        #expect(
            paths.descriptions == [
                "Hugging Face cache /home/ada/.cache/huggingface/hub",
                "Ollama /home/ada/.ollama/models", "Ollama /usr/share/ollama/.ollama/models",
                "LM Studio /home/ada/.lmstudio/models", "LM Studio /home/ada/.cache/lm-studio/models",
                "--dir /d", "TAILOR_MODELS /home/ada/models",
            ])
    }
}
