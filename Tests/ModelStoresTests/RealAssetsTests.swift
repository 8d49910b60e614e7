// Discovery on the real fetched assets folder: the SmolLM2 GGUF and llama.cpp's vocabulary GGUFs.
import Foundation
import TestSupport
import Testing

@testable import ModelStores

@Suite struct RealAssetsTests {
    @Test func assetsFolderListsEveryRealGGUF() throws {
        let smol = try TestPaths.require(TestPaths.smolLM2)
        let vocab = try TestPaths.require(TestPaths.assets.appendingPathComponent("vocab"))
        let found = ModelDiscovery(paths: .only(extra: [TestPaths.assets])).discover()
        #expect(found.problems.isEmpty, "\(found.problems)")

        // Independent count: every *.gguf file in the two folders, by the file system.
        let expected = try ["", "vocab"].flatMap { folder in
            try FileManager.default.contentsOfDirectory(
                atPath: TestPaths.assets.appendingPathComponent(folder).path
            )
            .filter { $0.hasSuffix(".gguf") }.map { folder.isEmpty ? $0 : "\(folder)/\($0)" }
        }.sorted()
        #expect(found.models.map(\.name) == expected)
        #expect(expected.contains("vocab/ggml-vocab-llama-bpe.gguf"))

        let model = try #require(found.models.first { $0.name == "SmolLM2-135M-Instruct.Q4_1.gguf" })
        let size = try #require(
            try FileManager.default.attributesOfItem(atPath: smol.path)[.size] as? NSNumber)
        #expect(model.sizeOnDisk == size.int64Value)
        #expect(model.format == .gguf(smol))
        #expect(FileProbe.kind(vocab) == .directory)

        let discovery = ModelDiscovery(paths: .only(extra: [TestPaths.assets]))
        #expect(try discovery.resolve("SmolLM2-135M-Instruct.Q4_1") == model)
        #expect(try discovery.resolve("ggml-vocab-llama-bpe").name == "vocab/ggml-vocab-llama-bpe.gguf")
    }
}
