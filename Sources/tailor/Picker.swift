// An interactive model picker for commands run on a terminal without --model.
import ArgumentParser
import Foundation
import ModelStores

enum Picker {
    /// True when both stdin and stderr are terminals, so a question can be asked and answered.
    static var canAsk: Bool { isatty(STDIN_FILENO) != 0 && isatty(STDERR_FILENO) != 0 }

    /// Lists the models discovery finds and asks for one by number; returns its name (what `resolve` accepts).
    static func pickModel(discovery: ModelDiscovery, purpose: String) throws -> String {
        let models = discovery.discover().models
        guard !models.isEmpty else {
            throw ValidationError(
                "no --model given and no local models found; pass --model PATH (a .gguf file or a Hugging Face folder)"
                    + " or --dir FOLDER")
        }
        let err = FileHandle.standardError
        err.write(Data("Which model do you want to \(purpose)?\n".utf8))
        for (i, model) in models.enumerated() {
            let size = formatBytes(model.sizeOnDisk)
            err.write(
                Data(
                    "  \(String(i + 1).leftPadded(3)). \(model.name)  (\(model.source.displayName), \(size))\n"
                        .utf8))
        }
        for _ in 0..<3 {
            err.write(Data("number [1-\(models.count)]: ".utf8))
            guard let line = readLine() else { break }
            if let choice = Int(line.trimmingCharacters(in: .whitespaces)),
                (1...models.count).contains(choice)
            {
                return models[choice - 1].format.url.path
            }
            err.write(Data("please type a number between 1 and \(models.count)\n".utf8))
        }
        throw ValidationError("no model chosen; pass --model")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
