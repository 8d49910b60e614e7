// SafetensorsCollection: single-file and sharded folders, and hostile shard indexes.
import Foundation
import Testing

@testable import Formats

@Suite struct SafetensorsCollectionTests {
    private let sharded = SafetensorsFixtures.folder.appendingPathComponent("sharded")

    @Test func readsShardedFolderWrittenByTheReference() throws {
        let collection = try SafetensorsCollection(folder: sharded)
        #expect(collection.files.map { URL(fileURLWithPath: $0.path).lastPathComponent }
            == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        let expected = try SafetensorsFixtures.expected()
        for file in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
            let want = try #require(expected["sharded/" + file])
            try SafetensorsFixtures.check(
                want, names: want.tensors.keys.filter { collection.locate($0) != nil },
                dtype: { collection.locate($0)?.info.dtype }, shape: { collection.locate($0)?.info.shape },
                floats: { try collection.floats($0) }, int64s: { try collection.int64s($0) })
            for name in want.tensors.keys {
                #expect(collection.locate(name)?.file.path.hasSuffix(file) == true, "\(name) is in \(file)")
            }
        }
        #expect(collection.tensorNames.count == 4)
        #expect(collection.tensorNames.first == collection.files[0].tensors.first?.name)
        #expect(collection.locate("lm_head.weight") == nil)
        #expect(throws: FormatsError.self) { try collection.floats("lm_head.weight") }
    }

    @Test func readsSingleFileFolderAndExplicitFiles() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = SafetensorsFixtures.folder.appendingPathComponent("mixed.safetensors")
        try FileManager.default.copyItem(at: source, to: folder.appendingPathComponent("model.safetensors"))
        let single = try SafetensorsCollection(folder: folder)
        #expect(single.files.count == 1)
        #expect(single.tensorNames == single.files[0].tensors.map(\.name))
        #expect(try single.floats("scalar") == [2.75])

        let adapter = try SafetensorsCollection(files: [
            SafetensorsFixtures.folder.appendingPathComponent("bf16.safetensors")
        ])
        #expect(adapter.tensorNames.count == 4)
        #expect(try adapter.floats("layers.0.scale").count == 3)
    }

    @Test func acceptsShardsThatAreSymlinksOutsideTheFolderLikeTheHuggingFaceCache() throws {
        // snapshots/<rev>/model-0000N.safetensors → ../../blobs/<hash>, as huggingface_hub lays out its cache.
        let root = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let blobs = root.appendingPathComponent("blobs")
        let snapshot = root.appendingPathComponent("snapshots/abc123")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
        for (index, name) in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
            "model.safetensors.index.json"].enumerated()
        {
            try FileManager.default.copyItem(
                at: sharded.appendingPathComponent(name), to: blobs.appendingPathComponent("blob\(index)"))
            try FileManager.default.createSymbolicLink(
                atPath: snapshot.appendingPathComponent(name).path, withDestinationPath: "../../blobs/blob\(index)")
        }
        let collection = try SafetensorsCollection(folder: snapshot)
        #expect(collection.tensorNames.count == 4)
        #expect(try collection.floats("model.norm.weight") == [1, 1, 1, 1])
    }

    @Test func aFileURLOpensThatFile() throws {
        let collection = try SafetensorsCollection(folder: SafetensorsFixtures.folder.appendingPathComponent("bf16.safetensors"))
        #expect(collection.files.count == 1)
        #expect(collection.tensorNames.count == 4)
    }

    @Test func folderWithoutWeightsIsAnIOError() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect {
            try SafetensorsCollection(folder: folder)
        } throws: { error in
            guard case FormatsError.io(let path, let reason) = error else { return false }
            return path == folder.path && reason.contains("model.safetensors.index.json")
        }
    }

    /// A folder with the reference shards and a custom index.
    private func folder(index: String) throws -> URL {
        let folder = try makeTemporaryFolder()
        for name in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
            try FileManager.default.copyItem(
                at: sharded.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        try Data(index.utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        return folder
    }

    @Test func indexPointingToAMissingShard() throws {
        let folder = try folder(index: #"{"weight_map":{"model.norm.weight":"model-00003-of-00003.safetensors"}}"#)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect {
            try SafetensorsCollection(folder: folder)
        } throws: { error in
            guard case FormatsError.io(let path, let reason) = error else { return false }
            return path.hasSuffix("model-00003-of-00003.safetensors") && reason.contains("does not exist")
                && reason.contains("model.norm.weight")
        }
    }

    @Test func indexWithPathTraversal() throws {
        for shard in ["../model-00001-of-00002.safetensors", "sub/../../x.safetensors", "/etc/passwd", "", "a//b"] {
            let folder = try folder(index: #"{"weight_map":{"model.norm.weight":"\#(shard)"}}"#)
            defer { try? FileManager.default.removeItem(at: folder) }
            #expect {
                try SafetensorsCollection(folder: folder)
            } throws: { error in
                guard case FormatsError.malformed(let path, let reason) = error else { return false }
                return path.hasSuffix("model.safetensors.index.json") && reason.contains("'\(shard)'")
                    && reason.contains("must not be absolute or contain '..'")
            }
        }
    }

    @Test func indexListingATensorAbsentFromItsShard() throws {
        // model.norm.weight is in shard 2, not shard 1.
        let folder = try folder(index: #"{"weight_map":{"model.norm.weight":"model-00001-of-00002.safetensors"}}"#)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect {
            try SafetensorsCollection(folder: folder)
        } throws: { error in
            guard case FormatsError.tensorNotFound(let path, let tensor) = error else { return false }
            return path.hasSuffix("model-00001-of-00002.safetensors") && tensor == "model.norm.weight"
        }
    }

    @Test func malformedIndexAndDuplicateTensorsAcrossFiles() throws {
        let folder = try folder(index: #"{"metadata":{"total_size":1}}"#)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect {
            try SafetensorsCollection(folder: folder)
        } throws: { error in
            guard case FormatsError.malformed(_, let reason) = error else { return false }
            return reason.contains("weight_map")
        }
        let mixed = SafetensorsFixtures.folder.appendingPathComponent("mixed.safetensors")
        #expect {
            try SafetensorsCollection(files: [mixed, mixed])
        } throws: { error in
            guard case FormatsError.malformed(_, let reason) = error else { return false }
            return reason.contains("one file only")
        }
    }
}
