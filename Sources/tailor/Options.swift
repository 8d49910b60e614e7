// Option groups shared by several commands.
import ArgumentParser
import Datasets
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

/// The data flags of every command that reads a dataset (`train` declares the same names through its settings table).
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp(DataSettings.Help.format)) var format: String?
    @Option(name: .customLong("field"), help: ArgumentHelp(DataSettings.Help.field, valueName: "name=field"))
    var fields: [String] = []
    @Flag(help: ArgumentHelp(DataSettings.Help.skipInvalid)) var skipInvalid = false
    @Option(help: ArgumentHelp(DataSettings.Help.maxLength)) var maxLength = DataSettings.defaultMaxLength

    func validate() throws {
        do { _ = try settings() } catch let error as DatasetsError { throw ValidationError(error.description) }
    }

    func settings() throws -> DataSettings {
        try DataSettings(formatName: format, fields: fields, skipInvalid: skipInvalid, maxLength: maxLength)
    }
}

/// The file (GGUF) or folder (Hugging Face) that a model reference names.
func resolveModelURL(_ reference: String, discovery: DiscoveryOptions) throws -> URL {
    try ModelDiscovery(paths: discovery.searchPaths()).resolve(reference).format.url
}
