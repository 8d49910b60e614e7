// `tailor tokenize`: the tokens and ids a model's own tokenizer makes of a text, shown so whitespace and bytes are visible.
import ArgumentParser
import Foundation
import ModelStores
import Tokenizers

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Show the tokens and ids a model's tokenizer makes of a text.",
        discussion: """
            The text comes from TEXT, from --file, or from standard input when neither is given; it is used \
            exactly as given (the newline `echo` adds is a token too). Special-token text such as <|im_start|> \
            is matched as the special token, as Hugging Face tokenizers do (--split-special reads it as text).

            Each token is shown as the text it stands for, in double quotes with \\n, \\t, \\" and \\\\ escaped; \
            a token holding only part of a UTF-8 character shows those bytes as \\xNN. Special tokens are shown \
            without quotes and marked `special`. The first line counts the tokens and says whether the \
            tokenizer added BOS/EOS. On a terminal the text is shown inline with each token colored (--lines \
            for one token per line; NO_COLOR turns colors off).

            Examples:
              tailor tokenize --model SmolLM2-135M-Instruct.Q4_1.gguf "Hello, world!"
              tailor tokenize --model HuggingFaceTB/SmolLM2-135M-Instruct --file a.txt
              echo -n "<|im_start|>user" | tailor tokenize --model smollm2:135m --json
              tailor tokenize --model smollm2:135m --ids --split-special "<|im_end|>"
            """)

    @Option(help: ArgumentHelp("The model whose tokenizer to use (path, HF id, Ollama name).", valueName: "model"))
    var model: String

    @Argument(help: "The text to tokenize (default: --file, or standard input).")
    var text: String?

    @Option(help: ArgumentHelp("Read the text from this UTF-8 file.", valueName: "file"))
    var file: String?

    @OptionGroup var discovery: DiscoveryOptions

    @Flag(help: "Print only the ids, separated by spaces.")
    var ids = false

    @Flag(help: "Print one JSON object: {count, bos_added, eos_added, tokens: [{id, text, piece, special, bytes?}]}.")
    var json = false

    @Flag(help: "One `id  token` line per token, even on a terminal.")
    var lines = false

    @Flag(help: "Do not add the BOS/EOS tokens the tokenizer adds by default (add_special_tokens=False).")
    var noSpecial = false

    @Flag(help: "Read special-token text such as <|im_end|> as plain text (split_special_tokens=True).")
    var splitSpecial = false

    func validate() throws {
        if text != nil && file != nil { throw ValidationError("give the text either as TEXT or with --file, not both") }
        if ids && json { throw ValidationError("--ids and --json are exclusive; pick one output") }
    }

    func run() throws {
        let input = try readInput()
        let url = try resolveModelURL(model, discovery: discovery)
        let tokenizer = try Tokenizer.load(url)
        let encoded = tokenizer.encode(input, addSpecialTokens: !noSpecial, parseSpecial: !splitSpecial)
        let views = encoded.map { TokenView(id: $0, tokenizer: tokenizer) }
        let addedBOS = !noSpecial && tokenizer.addsBOS
        let addedEOS = !noSpecial && tokenizer.addsEOS
        if ids {
            writeStandardOutput(encoded.map(String.init).joined(separator: " ") + "\n")
        } else if json {
            let report = TokenizeReport(
                count: encoded.count, bosAdded: addedBOS, eosAdded: addedEOS,
                tokens: views.map {
                    .init(id: $0.id, text: $0.lossyText, piece: $0.piece, special: $0.special,
                          bytes: $0.isWholeCharacters ? nil : $0.bytes)
                })
            writeStandardOutput(try encodeJSON(report) + "\n")
        } else {
            let summary = "\(encoded.count) token\(encoded.count == 1 ? "" : "s") · "
                + specialSummary(tokenizer, addedBOS: addedBOS, addedEOS: addedEOS)
            if !lines && Terminal.colorsOnStandardOutput {
                writeStandardOutput(renderCompact(views, summary: summary))
            } else {
                writeStandardOutput(renderLines(views, summary: summary))
            }
        }
    }

    /// TEXT, the file's contents or standard input, checked to be UTF-8 so no byte is silently replaced.
    private func readInput() throws -> String {
        if let text { return text }
        let data: Data
        let name: String
        if let file {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw CLIError("cannot read \(file): no such file or not readable")
            }
            data = contents
            name = file
        } else {
            if isatty(STDIN_FILENO) != 0 {
                FileHandle.standardError.write(Data("reading the text from standard input (end it with Ctrl-D)\n".utf8))
            }
            data = FileHandle.standardInput.readDataToEndOfFile()
            name = "standard input"
        }
        guard let decoded = String(validatingUTF8Bytes: data) else {
            let offset = firstInvalidUTF8Offset([UInt8](data)[...])
            throw CLIError("\(name) is not valid UTF-8 (first bad byte at offset \(offset)); convert it to UTF-8 first")
        }
        return decoded
    }

    private func specialSummary(_ tokenizer: Tokenizer, addedBOS: Bool, addedEOS: Bool) -> String {
        if noSpecial { return "BOS/EOS not added (--no-special)" }
        func describe(_ id: Int?) -> String { id.map { "\(tokenizer.token($0) ?? "?"), id \($0)" } ?? "" }
        if !addedBOS && !addedEOS { return "no BOS/EOS added (this tokenizer adds none)" }
        let bos = addedBOS ? "BOS added (\(describe(tokenizer.bosTokenId)))" : "no BOS added"
        let eos = addedEOS ? "EOS added (\(describe(tokenizer.eosTokenId)))" : "no EOS added"
        return bos + " · " + eos
    }

    private func renderLines(_ views: [TokenView], summary: String) -> String {
        let width = max(2, views.map { String($0.id).count }.max() ?? 0)
        var out = summary + "\n"
        if views.isEmpty { return out }
        out += String(repeating: " ", count: width - 2) + "ID  TOKEN\n"
        for view in views {
            let id = String(view.id)
            out += String(repeating: " ", count: width - id.count) + id + "  " + view.quoted
            out += view.special ? "  special\n" : "\n"
        }
        return out
    }

    /// The text inline, each token on its own background, then the ids and the summary.
    private func renderCompact(_ views: [TokenView], summary: String) -> String {
        let backgrounds = ["48;5;153", "48;5;223", "48;5;194", "48;5;217", "48;5;189"]
        var out = ""
        for (index, view) in views.enumerated() {
            if view.special {
                out += "\u{1B}[1;7m" + view.piece + "\u{1B}[0m"
                continue
            }
            out += "\u{1B}[30;\(backgrounds[index % backgrounds.count])m" + view.inline + "\u{1B}[0m"
            // The visible ↵ stays on the token's line; the real newline keeps the layout of the text.
            if view.bytes.last == 0x0A { out += "\n" }
        }
        if !views.isEmpty { out += "\n\n" }
        out += "ids: " + views.map { String($0.id) }.joined(separator: " ") + "\n"
        out += "\u{1B}[2m" + summary + "\u{1B}[0m\n"
        return out
    }
}

/// `tailor tokenize --json`.
struct TokenizeReport: Encodable {
    struct Token: Encodable {
        var id: Int
        /// The text the token stands for (bytes that are not whole UTF-8 characters become U+FFFD).
        var text: String
        /// The vocabulary spelling (`Ġworld`, `▁world`, `<0x0A>`).
        var piece: String
        var special: Bool
        /// The raw bytes, only for a token that holds part of a UTF-8 character.
        var bytes: [UInt8]?
    }
    var count: Int
    var bosAdded: Bool
    var eosAdded: Bool
    var tokens: [Token]

    enum CodingKeys: String, CodingKey {
        case count, tokens
        case bosAdded = "bos_added"
        case eosAdded = "eos_added"
    }
}

// MARK: - One token, readable

/// What one token id stands for: its vocabulary spelling and the bytes it contributes to the text.
struct TokenView {
    let id: Int
    let piece: String
    let special: Bool
    let bytes: [UInt8]

    init(id: Int, tokenizer: Tokenizer) {
        self.id = id
        piece = tokenizer.token(id) ?? "<unknown id \(id)>"
        special = tokenizer.isSpecial(id)
        bytes = tokenizer.tokenBytes(id)
    }

    /// The token's text, with bytes that do not form whole characters replaced by U+FFFD.
    var lossyText: String { String(decoding: bytes, as: UTF8.self) }

    /// The text in double quotes with escapes; bytes of a character split across tokens are shown as `\xNN`.
    var quoted: String {
        if special { return piece }
        return "\"" + escaped(quote: true) + "\""
    }

    /// The text for the inline view: control characters drawn as visible symbols.
    var inline: String { escaped(quote: false) }

    /// Whether the bytes are whole UTF-8 characters (a token can hold part of one).
    var isWholeCharacters: Bool { firstInvalidUTF8Offset(bytes[...]) == bytes.count }

    private func escaped(quote: Bool) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            let length = utf8SequenceLength(bytes[...], at: i)
            guard length > 0, let scalar = String(decoding: bytes[i..<(i + length)], as: UTF8.self).unicodeScalars.first
            else {
                // A piece of a character split across tokens: show the raw byte.
                out += "\\x" + String(bytes[i], radix: 16, uppercase: true).leftPadded(to: 2)
                i += 1
                continue
            }
            i += length
            switch scalar {
            case "\n": out += quote ? "\\n" : "↵"
            case "\t": out += quote ? "\\t" : "⇥"
            case "\r": out += quote ? "\\r" : "␍"
            case "\"" where quote: out += "\\\""
            case "\\" where quote: out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

// MARK: - Shared by the text commands

/// Writes text to standard output unbuffered and byte-exact (no newline added).
func writeStandardOutput(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// Key-sorted JSON without escaped slashes; compact unless `pretty`.
func encodeJSON<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

enum Terminal {
    /// Whether standard output is a terminal that should get colors (`NO_COLOR` turns them off, as no-color.org asks).
    static var colorsOnStandardOutput: Bool {
        let environment = ProcessInfo.processInfo.environment
        if let noColor = environment["NO_COLOR"], !noColor.isEmpty { return false }
        if environment["TERM"] == "dumb" { return false }
        return isatty(STDOUT_FILENO) != 0
    }
}

/// The length of the well-formed UTF-8 sequence starting at `i`, or 0 when the byte there starts none.
func utf8SequenceLength(_ bytes: ArraySlice<UInt8>, at i: Int) -> Int {
    let length: Int
    switch bytes[i] {
    case 0x00...0x7F: return 1
    case 0xC2...0xDF: length = 2
    case 0xE0...0xEF: length = 3
    case 0xF0...0xF4: length = 4
    default: return 0
    }
    guard i + length <= bytes.endIndex, bytes[(i + 1)..<(i + length)].allSatisfy({ $0 & 0xC0 == 0x80 }) else { return 0 }
    return length
}

/// The offset of the first byte that does not start or continue a well-formed UTF-8 sequence.
func firstInvalidUTF8Offset(_ bytes: ArraySlice<UInt8>) -> Int {
    var i = bytes.startIndex
    while i < bytes.endIndex {
        let length = utf8SequenceLength(bytes, at: i)
        if length == 0 { return i - bytes.startIndex }
        i += length
    }
    return bytes.count
}

extension String {
    /// `nil` when the bytes are not valid UTF-8 (`String(decoding:)` would replace them silently). Unlike
    /// `String(data:encoding:)`, a leading byte-order mark is kept: it is part of the text the model would see.
    init?(validatingUTF8Bytes data: Data) {
        guard let text = String(validating: [UInt8](data), as: UTF8.self) else { return nil }
        self = text
    }

    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
