// A read-only memory map of a whole file: weights are paged in by the OS on first touch and never copied.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file mapped read-only into memory for the lifetime of this object.
///
/// Immutable after `init`, so it is safe to share across threads (`@unchecked Sendable` because it owns a raw pointer).
public final class MappedFile: @unchecked Sendable {
    /// The file's path, used in error messages.
    public let path: String
    /// The mapped bytes; empty for an empty file.
    public let bytes: UnsafeRawBufferPointer

    /// Maps `url` read-only. Throws `FormatsError.io` when the file cannot be opened or mapped.
    public init(url: URL) throws {
        path = url.path
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            throw FormatsError.io(path: url.path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw FormatsError.io(path: url.path, reason: String(cString: strerror(errno)))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw FormatsError.io(path: url.path, reason: "is a directory, expected a file")
        }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw FormatsError.io(path: url.path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Wraps bytes already in memory (tests, fuzzers). The buffer is copied and owned by this object.
    public init(bytes source: some Collection<UInt8>, path: String = "<memory>") {
        self.path = path
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
        _ = buffer.initializeMemory(as: UInt8.self, from: source)
        bytes = UnsafeRawBufferPointer(start: buffer.baseAddress, count: source.count)
        ownsHeapCopy = true
    }

    private var ownsHeapCopy = false

    deinit {
        guard let base = bytes.baseAddress else { return }
        if ownsHeapCopy {
            base.deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}
