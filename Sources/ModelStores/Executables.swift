// Programs found the way a shell finds them: a path is taken as it is, a bare name is looked up on PATH.
import Foundation

/// The programs Tailor starts (ollama, python3) are found here, one rule for all of them.
public enum Executables {
    /// The executable `name` names: `name` itself when it holds a `/` (a `~` is expanded), else the first folder of
    /// `PATH` that has an executable file of that name; nil when there is none.
    public static func find(
        _ name: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> URL? {
        let fileManager = FileManager.default
        if name.contains("/") {
            let url = URL(fileURLWithPath: (name as NSString).expandingTildeInPath)
            return fileManager.isExecutableFile(atPath: url.path) ? url : nil
        }
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let url = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if fileManager.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }
}
