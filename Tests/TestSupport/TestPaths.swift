// Where the repository, its fixtures and the fetched assets are, seen from a test file.
import Foundation

/// Paths every test suite needs, resolved from this file's location.
public enum TestPaths {
    /// The repository root, found from this source file's location.
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Committed fixtures made by `Scripts/reference/`.
    public static let fixtures = repository.appendingPathComponent("Tests/Fixtures")
    /// Assets fetched by `Scripts/fetch-assets` (`TAILOR_ASSETS`, default `.assets/`).
    public static let assets: URL = {
        if let env = ProcessInfo.processInfo.environment["TAILOR_ASSETS"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repository.appendingPathComponent(".assets")
    }()
    /// The SmolLM2 GGUF every end-to-end test uses.
    public static let smolLM2 = assets.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    /// Gemma 3 270M (Q4_K_M), the real model of the Gemma family.
    public static let gemma3 = assets.appendingPathComponent("gemma-3-270m-q4_k_m.gguf")

    /// Returns `url` when it exists; a missing asset is a failure with the fix, never a skip.
    public static func require(_ url: URL) throws -> URL {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MissingAsset(path: url.path)
        }
        return url
    }

    public struct MissingAsset: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "missing test asset \(path): run Scripts/fetch-assets (make test does)" }
    }
}
