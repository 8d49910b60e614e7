// Runs the built `tailor` binary the way a user does, capturing its exit status and both streams.
import Foundation

struct TailorResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum TailorProcess {
    /// The `tailor` executable built next to this test bundle (`swift build --build-tests` builds both).
    static var executable: URL {
        get throws {
            let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            for candidate in [products, products.deletingLastPathComponent()] {
                let url = candidate.appendingPathComponent("tailor")
                if FileManager.default.isExecutableFile(atPath: url.path) { return url }
            }
            throw MissingExecutable(searched: products.path)
        }
    }

    struct MissingExecutable: Error, CustomStringConvertible {
        let searched: String
        var description: String { "no tailor executable in \(searched); build with `swift build --build-tests`" }
    }

    /// Runs `tailor arguments…` with `environment` added to a minimal environment whose HOME is an empty folder,
    /// so the developer's own model stores never leak into a test.
    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws
        -> TailorResult
    {
        let process = Process()
        process.executableURL = try executable
        process.arguments = arguments
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        var env = ["HOME": home.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes before waiting so a chatty child never blocks on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        group.wait()
        process.waitUntilExit()
        return TailorResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}
