// Builds fake model stores (HF cache, Ollama, LM Studio, plain folders) in a temporary folder for the tests.
import Foundation

@testable import ModelStores

/// A temporary folder that deletes itself; every path is relative to `root`.
final class FakeTree {
    let root: URL

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tailor-stores-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        // Compare against real paths: on macOS /var is a link to /private/var.
        root = URL(fileURLWithPath: FileProbe.realPath(base) ?? base.path)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8]) throws -> URL {
        let file = url(relative)
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: file)
        return file
    }

    @discardableResult
    func write(_ relative: String, text: String) throws -> URL { try write(relative, Array(text.utf8)) }

    func folder(_ relative: String) throws {
        try FileManager.default.createDirectory(at: url(relative), withIntermediateDirectories: true)
    }

    /// A symbolic link at `relative` whose target is `destination`, written as given (relative or absolute).
    func link(_ relative: String, to destination: String) throws {
        let link = url(relative)
        try FileManager.default.createDirectory(
            at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: destination)
    }

    func touch(_ relative: String, secondsAgo: Double) throws {
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -secondsAgo)], ofItemAtPath: url(relative).path)
    }
}

/// Bytes that pass the GGUF magic check: "GGUF", version 3, then `padding` zero bytes.
func fakeGGUF(_ padding: Int) -> [UInt8] {
    Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: padding)
}

/// Arbitrary bytes of a given length (safetensors, tokenizer files: only their size matters here).
func filler(_ count: Int) -> [UInt8] { [UInt8](repeating: 0x2A, count: count) }

/// A 64-hex-digit digest made from a number, the shape Ollama and the HF cache name blobs by.
func fakeDigest(_ seed: Int) -> String {
    let hex = String(seed, radix: 16)
    return String(repeating: "0", count: 64 - hex.count) + hex
}

extension FakeTree {
    /// A Hugging Face cache repository `models--org--name` in `cache`.
    ///
    /// Each file is stored once in blobs/ and linked from snapshots/<revision>/ by a relative link, as
    /// huggingface_hub does. `main` writes refs/main.
    func huggingFaceRepository(
        cache: String, id: String, revision: String, files: [String: [UInt8]], main: Bool = true,
        seed: Int = 1
    ) throws {
        let repository = "\(cache)/models--\(id.replacingOccurrences(of: "/", with: "--"))"
        for (index, (name, bytes)) in files.sorted(by: { $0.key < $1.key }).enumerated() {
            let blob = fakeDigest(seed * 1000 + index)
            try write("\(repository)/blobs/\(blob)", bytes)
            let depth = name.split(separator: "/").count + 1
            let up = Array(repeating: "..", count: depth).joined(separator: "/")
            try link("\(repository)/snapshots/\(revision)/\(name)", to: "\(up)/blobs/\(blob)")
        }
        if main { try write("\(repository)/refs/main", text: revision) }
    }

    /// An Ollama manifest at `manifests/<host>/<namespace>/<model>/<tag>` in `root`.
    ///
    /// It is shaped like the ones `ollama pull` writes, with a blob for each layer. `layers` are
    /// (media type, digest, bytes); nil bytes writes no blob.
    func ollamaManifest(
        root: String, path: String, layers: [(String, String, [UInt8]?)],
        manifestsFolder: String = "manifests"
    ) throws {
        let config = fakeDigest(0xC0F)
        try write("\(root)/blobs/sha256-\(config)", text: Self.ollamaConfigJSON)
        var layerJSON: [String] = []
        for (mediaType, digest, bytes) in layers {
            if let bytes {
                try write("\(root)/blobs/\(digest.replacingOccurrences(of: ":", with: "-"))", bytes)
            }
            layerJSON.append(
                #"{"mediaType":"\#(mediaType)","digest":"\#(digest)","size":\#(bytes?.count ?? 0)}"#)
        }
        let manifest = """
            {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",\
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json",\
            "digest":"sha256:\(config)","size":\(Self.ollamaConfigSize)},\
            "layers":[\(layerJSON.joined(separator: ","))]}
            """
        try write("\(root)/\(manifestsFolder)/\(path)", text: manifest)
    }

    /// The config blob `ollamaManifest` writes, and its size.
    static let ollamaConfigJSON = #"{"model_format":"gguf","model_family":"llama","file_type":"Q4_1"}"#
    static let ollamaConfigSize = Int64(ollamaConfigJSON.utf8.count)
}

extension ModelSearchPaths {
    /// Search paths with every store inside `tree` and nothing from the real machine.
    static func only(
        huggingFace: [URL] = [], ollama: [URL] = [], lmStudio: [URL] = [], extra: [URL] = []
    ) -> ModelSearchPaths {
        ModelSearchPaths(
            huggingFaceCaches: huggingFace, ollamaRoots: ollama, lmStudioRoots: lmStudio,
            extraLocations: extra.map { .init(url: $0, origin: "--dir") })
    }
}
