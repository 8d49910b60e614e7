// Option groups shared by several commands.
import ArgumentParser
import Foundation
import ModelStores

/// Where to look for models beyond the standard stores.
struct DiscoveryOptions: ParsableArguments {
    @Option(
        name: .customLong("dir"),
        help: ArgumentHelp(
            "Also look in this folder or file (a GGUF file, an HF folder, or a folder of them). Repeatable.",
            valueName: "path"))
    var directories: [String] = []

    /// The search paths from this process's environment, the home folder and `--dir`.
    func searchPaths() -> ModelSearchPaths {
        ModelSearchPaths(
            environment: ProcessInfo.processInfo.environment,
            home: FileManager.default.homeDirectoryForCurrentUser,
            extraDirectories: directories.map { URL(fileURLWithPath: $0) })
    }
}
