// libFuzzer entry for the dataset reader (`DatasetReader.parse`): any bytes must give a LoadedDataset whose counts and
// line numbers agree with the file, or throw a DatasetsError; never crash or hang.
// Built and run by Scripts/fuzz (`Scripts/fuzz 60 JSONL`).
// fuzz-modules: BlockKernels Formats Tokenizers ChatTemplates Datasets
//
// Input layout: byte 0 chooses the read options (below), the rest is the dataset file.
//   bits 0-2: a forced format (RecordFormat.allCases[n], n < 5) or detection (5-7)
//   bit 3:    a field mapping, bits 4-5 pick which one
import Datasets
import Foundation

private let mappings: [[String: String]] = [
    ["role": "from", "content": "value"],
    ["messages": "conversations", "conversations": "messages"],
    ["prompt": "instruction", "completion": "output", "text": "input"],
    ["instruction": "text", "output": "text", "messages": "dialog", "content": "text"],
]

private func options(_ selector: UInt8) -> DatasetReadOptions {
    let formatIndex = Int(selector & 7)
    let format = formatIndex < RecordFormat.allCases.count ? RecordFormat.allCases[formatIndex] : nil
    let mapping = selector & 8 != 0 ? mappings[Int(selector >> 4) & 3] : [:]
    return DatasetReadOptions(format: format, fieldMapping: mapping, skipInvalid: selector & 64 != 0)
}

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let options = options(data[0])
    let file = Data(bytes: data + 1, count: size - 1)
    let path = "fuzz.jsonl"
    // Lines count LF, 1-based: a record or issue can only be on lines 1...lineCount.
    let lineCount = 1 + file.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    let dataset: LoadedDataset
    do {
        dataset = try DatasetReader.parse(data: file, path: path, options: options)
    } catch let error as DatasetsError {
        switch error {
        case .emptyFile(let p): check(p == path, "emptyFile names \(p)")
        case .binaryFile(let p, let offset):
            check(
                p == path && offset >= 0 && offset < file.count && file.contains(0),
                "binaryFile at \(offset) of \(file.count)")
        case .notJSON(let p, let first):
            check(p == path && first.file == path, "notJSON names \(p), \(first.file)")
            check((1...lineCount).contains(first.line), "notJSON line \(first.line) of \(lineCount)")
        default: check(false, "parse threw \(error)")
        }
        _ = error.description
        return 0
    } catch {
        fatalError("parse threw a non-DatasetsError: \(error)")
    }

    check(dataset.file == path, "file is \(dataset.file)")
    check(
        dataset.examples.count + dataset.issues.count == dataset.records,
        "\(dataset.examples.count) examples + \(dataset.issues.count) issues != \(dataset.records) records")
    check(dataset.skipped == dataset.issues.count, "skipped != issues")
    check(dataset.formatForced == (options.format != nil), "formatForced is \(dataset.formatForced)")
    if let forced = options.format {
        check(dataset.format == forced, "forced \(forced), got \(dataset.format)")
    }

    var previousLine = 1
    for issue in dataset.issues {
        check(issue.file == path, "issue names \(issue.file)")
        check((1...lineCount).contains(issue.line), "issue on line \(issue.line) of \(lineCount)")
        check(issue.line >= previousLine, "issues out of file order: \(issue.line) after \(previousLine)")
        check(issue.column.map { $0 >= 1 } ?? true, "issue column \(String(describing: issue.column))")
        check(!issue.reason.isEmpty, "issue without a reason")
        previousLine = issue.line
        _ = issue.description
    }
    previousLine = 1
    for example in dataset.examples {
        check((1...lineCount).contains(example.line), "example on line \(example.line) of \(lineCount)")
        check(
            example.line >= previousLine, "examples out of file order: \(example.line) after \(previousLine)")
        check(example.format == dataset.format, "example is \(example.format) in a \(dataset.format) file")
        previousLine = example.line
        switch example.body {
        case .conversation(let conversation):
            check(
                (0...conversation.messages.count).contains(conversation.firstTrainable),
                "firstTrainable \(conversation.firstTrainable) of \(conversation.messages.count)")
            check(!conversation.trainedMessages.isEmpty, "a conversation with no trained assistant turn")
            for message in conversation.messages {
                check(["system", "user", "assistant", "tool"].contains(message.role), "role \(message.role)")
                check(
                    message.content != nil || message.role == "assistant",
                    "\(message.role) message without content")
                guard case .dict(let fields) = message.value, case .string(let role)? = fields["role"],
                    role == message.role
                else { fatalError("invariant violated: message value does not carry its role") }
            }
        case .promptCompletion(_, let completion):
            check(!completion.isEmpty, "empty completion")
        case .text(let text):
            check(!text.isEmpty, "empty text")
        }
    }
    return 0
}
