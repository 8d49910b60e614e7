// `tailor models`: every model on this machine, and whether Tailor can train it.
import ArgumentParser
import Foundation
import ModelStores
import Models

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models on this machine and whether Tailor can train them.",
        discussion: """
            Looks in the Hugging Face cache, Ollama's and LM Studio's model folders, $TAILOR_MODELS and every --dir.

            Examples:
              tailor models
              tailor models --dir ~/Downloads/models
              tailor models --json | jq '.[] | select(.trainable)'
            """)

    @OptionGroup var discovery: DiscoveryOptions

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    func run() throws {
        let found = ModelDiscovery(paths: discovery.searchPaths()).discover()
        let rows = found.models.map(ModelRow.init)
        if json {
            print(try encodeJSON(rows, pretty: true))
        } else if rows.isEmpty {
            print("No models found. Pass a folder with --dir, or see `tailor models --help` for where Tailor looks.")
        } else {
            var table = TextTable(header: ["NAME", "ARCH", "PARAMS", "TYPE", "SIZE", "WHERE", "TRAINABLE"])
            for row in rows {
                table.rows.append(row.cells + [row.trainable ? "yes" : "no: \(row.notTrainableReason ?? "unknown")"])
            }
            print(table.render())
        }
        for problem in found.problems {
            FileHandle.standardError.write(Data("warning: \(problem)\n".utf8))
        }
    }
}

/// One line of `tailor models`, also its JSON form.
struct ModelRow: Encodable {
    var name: String
    var source: String
    var path: String
    var format: String
    var architecture: String?
    var parameters: Int?
    var dtype: String?
    var sizeOnDisk: Int64
    var trainable: Bool
    var notTrainableReason: String?
    var notes: [String]

    init(_ model: LocalModel) {
        notes = model.notes
        name = model.name
        source = model.source.displayName
        sizeOnDisk = model.sizeOnDisk
        let url: URL
        switch model.format {
        case .gguf(let file):
            url = file
            format = "gguf"
        case .huggingFace(let folder):
            url = folder
            format = "huggingface"
        }
        path = url.path
        do {
            let inspection = try ModelInspection(url: url)
            architecture = inspection.architectureName
            parameters = inspection.parameterCount
            dtype = inspection.dominantType
            switch inspection.trainable {
            case .yes:
                trainable = true
            case .no(let reason):
                trainable = false
                // The table already names the file; keep the reason short.
                notTrainableReason = reason.hasPrefix(url.path + ": ") ? String(reason.dropFirst(url.path.count + 2)) : reason
            }
        } catch {
            trainable = false
            notTrainableReason = "\(error)"
        }
    }
}
