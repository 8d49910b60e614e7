// A model's safetensors weights as one namespace: a single `model.safetensors`, or shards listed by an index file.
//
// Index layout (`model.safetensors.index.json`, written by transformers):
//   {"metadata": {"total_size": 123, ...}, "weight_map": {"tensor name": "model-00001-of-00002.safetensors", ...}}
// Shard names come from the file, so they are treated as hostile: each must be a relative path that stays inside the
// folder (no absolute path, no `..` component). The check is on the path as written, not on resolved symlinks,
// because the Hugging Face cache links every snapshot file to a blob outside the snapshot folder.
import Foundation

/// Tensors spread over one or more validated safetensors files, looked up by name.
public final class SafetensorsCollection: Sendable {
    /// The single-file name transformers writes.
    public static let singleFileName = "model.safetensors"
    /// The shard index name transformers writes.
    public static let indexFileName = "model.safetensors.index.json"

    /// The opened files: the single file, or the shards in file-name order.
    public let files: [SafetensorsFile]
    /// Every tensor name, in file order then data-offset order.
    public let tensorNames: [String]

    private struct Location: Sendable {
        let file: Int
        let info: SafetensorsTensorInfo
    }

    private let locations: [String: Location]

    /// Opens `folder/model.safetensors.index.json` and its shards when the index exists, else `folder/model.safetensors`;
    /// a URL naming a file (say `adapter_model.safetensors`) opens that one file.
    /// Throws `FormatsError` when neither exists, the index is malformed, a shard is missing or escapes the folder,
    /// or a tensor the index lists is not in its shard.
    public convenience init(folder: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            try self.init(files: [folder])
            return
        }
        let index = folder.appendingPathComponent(Self.indexFileName)
        let single = folder.appendingPathComponent(Self.singleFileName)
        if FileManager.default.fileExists(atPath: index.path) {
            try self.init(index: index, folder: folder)
        } else if FileManager.default.fileExists(atPath: single.path) {
            try self.init(files: [single])
        } else {
            throw FormatsError.io(
                path: folder.path,
                reason: "no \(Self.singleFileName) or \(Self.indexFileName) in this folder; point at a Hugging Face"
                    + " model folder that has its safetensors weights")
        }
    }

    /// Opens the given files (for example one `adapter_model.safetensors`) as one namespace.
    /// Throws `FormatsError.malformed` when two files hold a tensor with the same name.
    public init(files urls: [URL]) throws {
        var files: [SafetensorsFile] = []
        var names: [String] = []
        var locations: [String: Location] = [:]
        for url in urls {
            let file = try SafetensorsFile(url: url)
            for info in file.tensors {
                if let earlier = locations[info.name] {
                    throw FormatsError.malformed(
                        path: file.path,
                        reason: "tensor '\(info.name)' is also in \(files[earlier.file].path); each tensor must be in"
                            + " one file only")
                }
                locations[info.name] = Location(file: files.count, info: info)
                names.append(info.name)
            }
            files.append(file)
        }
        self.files = files
        self.tensorNames = names
        self.locations = locations
    }

    private init(index: URL, folder: URL) throws {
        let weightMap = try Self.readWeightMap(index)
        var shardNames = Array(Set(weightMap.values))
        shardNames.sort()
        var files: [SafetensorsFile] = []
        var fileByShard: [String: Int] = [:]
        for shard in shardNames {
            let tensor = weightMap.filter { $0.value == shard }.keys.min() ?? ""
            let url = try Self.shardURL(shard, in: folder, index: index, tensor: tensor)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw FormatsError.io(
                    path: url.path,
                    reason: "shard '\(shard)' named in \(Self.indexFileName) (for tensor '\(tensor)') does not exist;"
                        + " the download is incomplete, fetch the model again")
            }
            fileByShard[shard] = files.count
            files.append(try SafetensorsFile(url: url))
        }
        var locations: [String: Location] = [:]
        for (name, shard) in weightMap {
            guard let fileIndex = fileByShard[shard] else { continue }
            guard let info = files[fileIndex].tensor(named: name) else {
                throw FormatsError.tensorNotFound(path: files[fileIndex].path, tensor: name)
            }
            locations[name] = Location(file: fileIndex, info: info)
        }
        // Tensors present in a shard but absent from the index are not part of the model, as in transformers.
        var names: [String] = []
        for (fileIndex, file) in files.enumerated() {
            for info in file.tensors where locations[info.name]?.file == fileIndex { names.append(info.name) }
        }
        self.files = files
        self.tensorNames = names
        self.locations = locations
    }

    /// The file holding `name` and the tensor's entry, or nil.
    public func locate(_ name: String) -> (file: SafetensorsFile, info: SafetensorsTensorInfo)? {
        guard let location = locations[name] else { return nil }
        return (files[location.file], location.info)
    }

    /// The tensor named `name` converted to Float32 (F32, F16, BF16, F64).
    public func floats(_ name: String) throws -> [Float] {
        let (file, info) = try require(name)
        return try file.floats(info)
    }

    /// The integer tensor named `name` widened to Int64.
    public func int64s(_ name: String) throws -> [Int64] {
        let (file, info) = try require(name)
        return try file.int64s(info)
    }

    private func require(_ name: String) throws -> (file: SafetensorsFile, info: SafetensorsTensorInfo) {
        guard let found = locate(name) else {
            let location = files.count == 1 ? files[0].path : "\(files.count) safetensors shards"
            throw FormatsError.tensorNotFound(path: location, tensor: name)
        }
        return found
    }

    // MARK: - Index

    private struct Index: Decodable {
        let weightMap: [String: String]
        enum CodingKeys: String, CodingKey { case weightMap = "weight_map" }
    }

    private static func readWeightMap(_ index: URL) throws -> [String: String] {
        let data: Data
        do {
            data = try Data(contentsOf: index)
        } catch {
            throw FormatsError.io(path: index.path, reason: "cannot read: \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(Index.self, from: data).weightMap
        } catch {
            throw FormatsError.malformed(
                path: index.path,
                reason: "expected a JSON object with a \"weight_map\" of tensor name → shard file name; \(error)")
        }
    }

    /// Resolves a shard name from the index, refusing anything that could leave the folder.
    private static func shardURL(_ shard: String, in folder: URL, index: URL, tensor: String) throws -> URL {
        let components = shard.split(separator: "/", omittingEmptySubsequences: false)
        let escapes = shard.isEmpty || shard.hasPrefix("/") || shard.hasPrefix("~") || shard.contains("\\")
            || shard.contains("\0") || components.contains { $0 == ".." || $0.isEmpty }
        guard !escapes else {
            throw FormatsError.malformed(
                path: index.path,
                reason: "tensor '\(tensor)' maps to shard '\(shard)', which is not a plain relative path inside the"
                    + " model folder; shard names must not be absolute or contain '..'")
        }
        return folder.appendingPathComponent(shard)
    }
}
