// An interactive model picker for commands run on a terminal without --model: the models that hold weights, each with
// what `tailor models` shows, and only the trainable ones to choose.
import Foundation
import ModelStores

enum Picker {
    /// True when both stdin and stderr are terminals, so a question can be asked and answered.
    static var canAsk: Bool { isatty(STDIN_FILENO) != 0 && isatty(STDERR_FILENO) != 0 }

    /// Lists the models discovery finds (files without weights, such as vocabulary-only GGUFs, left out), numbers
    /// the trainable ones, says why the others cannot be trained, and asks for a number; returns the chosen path.
    static func pickModel(discovery: ModelDiscovery, purpose: String) throws -> String {
        let rows = discovery.discover().models.map(ModelRow.init).filter(\.holdsWeights)
        let choices = rows.filter(\.trainable)
        guard !choices.isEmpty else {
            let reason = rows.isEmpty ? "no local models found" : "none of the \(rows.count) local models can be trained"
            throw CLIError(
                "no --model given and \(reason); pass --model PATH (a .gguf file or a Hugging Face folder) or --dir FOLDER")
        }
        var table = TextTable(header: ["", "NAME", "ARCH", "PARAMS", "TYPE", "SIZE", "WHERE"])
        for row in choices {
            table.rows.append([String(table.rows.count + 1) + "."] + row.cells)
        }
        for row in rows where !row.trainable {
            table.rows.append(["-"] + row.cells + ["cannot be trained: \(row.notTrainableReason ?? "unknown")"])
        }
        var text = "Which model do you want to \(purpose)?\n"
        text += table.render().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
        FileHandle.standardError.write(Data(text.utf8))
        for _ in 0..<3 {
            FileHandle.standardError.write(Data("number [1-\(choices.count)]: ".utf8))
            guard let line = readLine() else { break }
            if let choice = Int(line.trimmingCharacters(in: .whitespaces)), (1...choices.count).contains(choice) {
                return choices[choice - 1].path
            }
            FileHandle.standardError.write(Data("please type a number between 1 and \(choices.count)\n".utf8))
        }
        throw CLIError("no model chosen; pass --model")
    }
}

extension ModelRow {
    /// Whether the file holds weights at all (a vocabulary-only GGUF holds none).
    var holdsWeights: Bool { (parameters ?? 0) > 0 }

    /// Name, architecture, parameters, storage type, size and where it was found (the path for a folder of one's own).
    var cells: [String] {
        [
            name, architecture ?? "-", parameters.flatMap { $0 > 0 ? formatCount($0) : nil } ?? "-", dtype ?? "-",
            formatBytes(sizeOnDisk), source == ModelSource.directory.displayName ? path : source,
        ]
    }
}
