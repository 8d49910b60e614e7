// The few file-system questions the stores ask: what a path is, its real path and size, and its magic bytes.
import Foundation

public enum FileProbe {
    enum Kind { case file, directory, missing }

    /// What `url` is, following symbolic links (a dangling link is `.missing`).
    static func kind(_ url: URL) -> Kind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            return .missing
        }
        return isDirectory.boolValue ? .directory : .file
    }

    /// The path with every symbolic link resolved, or nil when it does not exist.
    static func realPath(_ url: URL) -> String? {
        guard let resolved = realpath(url.path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Size of the file `url` points to (links followed); 0 when it cannot be read.
    static func size(_ url: URL) -> Int64 {
        guard let real = realPath(url),
            let attributes = try? FileManager.default.attributesOfItem(atPath: real),
            let size = attributes[.size] as? NSNumber
        else { return 0 }
        return size.int64Value
    }

    /// Modification time of what `url` points to, for ordering cache snapshots.
    static func modificationDate(_ url: URL) -> Date {
        guard let real = realPath(url),
            let attributes = try? FileManager.default.attributesOfItem(atPath: real),
            let date = attributes[.modificationDate] as? Date
        else { return .distantPast }
        return date
    }

    /// The names in a folder, sorted so every listing is deterministic.
    static func names(in folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    /// Hidden entries (`.cache`, `.git`, `.DS_Store`) are never models.
    static func isHidden(_ name: String) -> Bool { name.hasPrefix(".") }

    static let ggufMagic: [UInt8] = Array("GGUF".utf8)

    /// Whether `url` names a GGUF file: by its `.gguf` name, or by its magic (Ollama's blobs are `sha256-…` without
    /// extension); a folder is not.
    public static func isGGUF(_ url: URL) -> Bool {
        let kind = kind(url)
        if url.pathExtension.lowercased() == "gguf" { return kind != .directory }
        return kind == .file && ggufMagic(url).isGGUF
    }

    /// Whether the file starts with the GGUF magic; otherwise what it starts with, for the message.
    ///
    /// Only the first four bytes are read, so this is cheap on multi-gigabyte files.
    static func ggufMagic(_ url: URL) -> (isGGUF: Bool, found: String) {
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            return (false, "nothing (unreadable)")
        }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 4)) ?? Data())
        if head == ggufMagic { return (true, "GGUF") }
        if head.isEmpty { return (false, "nothing (empty file)") }
        return (false, head.map { String(format: "%02x", $0) }.joined(separator: " "))
    }

    /// Total size of the files below `folder`, leaving out names for which `exclude` is true.
    ///
    /// Links are followed, each real file is counted once, and hidden entries are skipped.
    static func folderSize(_ folder: URL, maxDepth: Int = 4, exclude: (String) -> Bool = { _ in false })
        -> Int64
    {
        var seen = Set<String>()
        func walk(_ url: URL, depth: Int) -> Int64 {
            guard let names = try? names(in: url) else { return 0 }
            var total: Int64 = 0
            for name in names where !isHidden(name) && !exclude(name) {
                let child = url.appendingPathComponent(name)
                guard let real = realPath(child), seen.insert(real).inserted else { continue }
                switch kind(child) {
                case .file: total += size(child)
                case .directory where depth < maxDepth: total += walk(child, depth: depth + 1)
                default: break
                }
            }
            return total
        }
        return walk(folder, depth: 0)
    }
}
