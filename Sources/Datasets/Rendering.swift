// Examples → rendered text → token ids with a per-token "trained" mask, by prefix rendering (DESIGN.md §4 traps 6–8).
import ChatTemplates
import Foundation
import Tokenizers

/// One tokenized training example: `ids` and, per token, whether it is a TARGET (trained). The first token is never a target.
public struct TokenizedExample: Sendable, Codable, Equatable {
    public var ids: [Int32]
    public var trained: [Bool]
    /// The record's line in its file (0 when unknown).
    public var line: Int
    /// True when `maxLength` cut the end off.
    public var truncated: Bool
    /// The length before truncation.
    public var originalLength: Int

    public init(ids: [Int32], trained: [Bool], line: Int = 0, truncated: Bool = false, originalLength: Int? = nil) {
        self.ids = ids
        self.trained = trained
        self.line = line
        self.truncated = truncated
        self.originalLength = originalLength ?? ids.count
    }

    /// How many tokens are targets.
    public var trainedCount: Int { trained.reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// An example's rendered text and the UTF-8 byte ranges of it that are trained.
public struct RenderedExample: Sendable, Equatable {
    public var text: String
    public var trainedSpans: [Range<Int>]
    /// Plain text and prompt/completion pairs end with EOS even when the text does not spell it.
    public var endsWithEOS: Bool
}

/// Totals over a tokenized dataset, for `tailor data check` and the start of a training run.
public struct RenderReport: Sendable, Codable, Equatable {
    /// Examples given.
    public var examples = 0
    /// Examples cut to `maxLength`.
    public var truncated = 0
    /// Examples left with no trained token (after truncation), and so dropped.
    public var droppedNoTarget = 0
    /// Why each dropped or failed example is gone, by line.
    public var dropped: [DatasetIssue] = []
    /// Examples whose template failed or rewrote earlier turns.
    public var failed = 0
    /// Assistant turns whose rendered text had no end-of-turn token, where EOS was appended (last turn).
    public var endOfTurnAppended = 0
    /// Assistant turns in the middle of a conversation whose rendered text has no end-of-turn token.
    public var missingEndOfTurn = 0
    public var trainedTokens = 0
    public var totalTokens = 0
    /// Token count of each kept example, after truncation.
    public var lengths: [Int] = []
    /// Token count of each kept example before truncation.
    public var originalLengths: [Int] = []

    public init() {}

    /// Share of the kept tokens that are trained.
    public var trainedShare: Double { totalTokens == 0 ? 0 : Double(trainedTokens) / Double(totalTokens) }
}

/// Renders examples with a chat template and tokenizes them with their loss masks.
///
/// Chat formats train every assistant turn: for assistant message i the trained text is
/// `render(messages[0...i])` minus `render(messages[0..<i], add_generation_prompt: true)`, i.e. the reply and its
/// end-of-turn marker but not the role header. Prompt/completion trains the completion, text trains everything.
/// A token is trained when its bytes overlap a trained span.
public struct Renderer: Sendable {
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let maxLength: Int?
    /// The file name used in error messages.
    public var file: String
    /// `bos_token` / `eos_token` as the template sees them.
    public let bosText: String
    public let eosText: String

    public init(tokenizer: Tokenizer, template: ChatTemplate, maxLength: Int?, file: String = "data") {
        self.tokenizer = tokenizer
        self.template = template
        self.maxLength = maxLength
        self.file = file
        bosText = tokenizer.bosTokenId.flatMap(tokenizer.token) ?? ""
        eosText = tokenizer.eosTokenId.flatMap(tokenizer.token) ?? ""
    }

    // MARK: - Text

    /// The rendered text and its trained byte spans.
    public func render(_ example: Example) throws -> RenderedExample {
        switch example.body {
        case .text(let text):
            return RenderedExample(text: text, trainedSpans: [0..<text.utf8.count], endsWithEOS: true)
        case .promptCompletion(let prompt, let completion):
            let start = prompt.utf8.count
            return RenderedExample(
                text: prompt + completion, trainedSpans: [start..<(start + completion.utf8.count)], endsWithEOS: true)
        case .conversation(let conversation):
            return try render(conversation, line: example.line)
        }
    }

    private func render(_ conversation: Conversation, line: Int) throws -> RenderedExample {
        let messages = conversation.messages.map(\.value)
        func render(_ count: Int, _ generationPrompt: Bool) throws -> String {
            do {
                return try template.render(
                    messages: Array(messages[0..<count]), tools: conversation.tools, addGenerationPrompt: generationPrompt,
                    bosToken: bosText, eosToken: eosText)
            } catch {
                throw DatasetsError.render(file: file, line: line, reason: "the chat template failed: \(error)")
            }
        }
        let full = try render(messages.count, false)
        var spans: [Range<Int>] = []
        for index in conversation.trainedMessages {
            // A template may refuse a conversation that is only the prompt so far (none, or only a system message).
            let before = index == 0 ? ((try? render(0, true)) ?? "") : try render(index, true)
            let through = try render(index + 1, false)
            try checkPrefix(before, of: through, line: line, what: "message \(index + 1) with the generation prompt before it")
            try checkPrefix(through, of: full, line: line, what: "the whole conversation after message \(index + 1)")
            spans.append(before.utf8.count..<through.utf8.count)
        }
        return RenderedExample(text: full, trainedSpans: spans, endsWithEOS: false)
    }

    private func checkPrefix(_ prefix: String, of text: String, line: Int, what: String) throws {
        guard !text.utf8.starts(with: prefix.utf8) else { return }
        let a = Array(prefix.utf8)
        let b = Array(text.utf8)
        var i = 0
        while i < a.count, i < b.count, a[i] == b[i] { i += 1 }
        let expected = String(decoding: a[i..<min(a.count, i + 30)], as: UTF8.self).debugDescription
        let found = String(decoding: b[i..<min(b.count, i + 30)], as: UTF8.self).debugDescription
        throw DatasetsError.render(
            file: file, line: line,
            reason: "the chat template rewrites earlier turns (rendering \(what) changes the text before it at byte \(i): "
                + "expected \(expected), found \(found)), so the trained part of each reply cannot be found by prefix "
                + "rendering; use a template that keeps history unchanged (--chat-template FILE)")
    }

    // MARK: - Tokens

    /// What tokenizing one example found beyond the ids.
    public struct Notes: Sendable, Equatable {
        public var endOfTurnAppended = 0
        public var missingEndOfTurn = 0
    }

    /// Token ids and trained mask for one example. Throws ``DatasetsError/noTrainedTokens(file:line:truncated:)``
    /// when nothing is left to train, and ``DatasetsError/render(file:line:reason:)`` when the template fails.
    public func tokenize(_ example: Example) throws -> TokenizedExample {
        try tokenizeWithNotes(example).example
    }

    public func tokenizeWithNotes(_ example: Example) throws -> (example: TokenizedExample, notes: Notes) {
        let rendered = try render(example)
        let text = rendered.text
        var ids = tokenizer.encode(text, addSpecialTokens: false)
        let offsets = tokenizer.byteOffsets(of: ids, in: text)
        var trained = mask(ids: ids, offsets: offsets, text: text, spans: rendered.trainedSpans)
        var notes = Notes()
        let eos = tokenizer.eosTokenId
        if rendered.endsWithEOS {
            if let eos, ids.last != eos {
                ids.append(eos)
                trained.append(true)
            }
        } else {
            // Trap 8: each trained reply must end with an end-of-turn token, or the tuned model never stops.
            let end = text.utf8.count
            for span in rendered.trainedSpans {
                let inside = ids.indices.filter { t in trained[t] && (offsets.map { Renderer.overlaps($0[t], span) } ?? true) }
                let hasEnd = inside.contains { ids[$0] == eos || tokenizer.isSpecial(ids[$0]) }
                if hasEnd { continue }
                if span.upperBound == end, let eos {
                    ids.append(eos)
                    trained.append(true)
                    notes.endOfTurnAppended += 1
                } else {
                    notes.missingEndOfTurn += 1
                }
            }
        }
        if let bos = missingBOS(ids) {
            ids.insert(bos, at: 0)
            trained.insert(false, at: 0)
        }
        if !trained.isEmpty { trained[0] = false }
        let originalLength = ids.count
        var truncated = false
        if let maxLength, ids.count > maxLength {
            ids.removeLast(ids.count - maxLength)
            trained.removeLast(trained.count - maxLength)
            truncated = true
        }
        guard trained.contains(true) else {
            throw DatasetsError.noTrainedTokens(file: file, line: example.line, truncated: truncated)
        }
        let result = TokenizedExample(
            ids: ids.map { Int32($0) }, trained: trained, line: example.line, truncated: truncated,
            originalLength: originalLength)
        return (result, notes)
    }

    /// Trap 6: BOS goes in front when the tokenizer adds one and the text does not start with it already (a
    /// template that writes `bos_token` has it); never a second.
    private func missingBOS(_ ids: [Int]) -> Int? {
        guard tokenizer.addsBOS, let bos = tokenizer.bosTokenId, ids.first != bos else { return nil }
        return bos
    }

    /// `text` (a rendered prompt, or raw text to continue) tokenized as training examples are: special tokens
    /// written in it are parsed, BOS is added by the same rule.
    public func promptTokens(_ text: String) -> [Int32] {
        var ids = tokenizer.encode(text, addSpecialTokens: false)
        if let bos = missingBOS(ids) { ids.insert(bos, at: 0) }
        return ids.map(Int32.init)
    }

    /// Whether a token's bytes overlap a span; a token with no bytes (a dummy-prefix space) counts where it sits.
    static func overlaps(_ range: Range<Int>, _ span: Range<Int>) -> Bool {
        range.isEmpty ? span.contains(range.lowerBound) : (range.lowerBound < span.upperBound && span.lowerBound < range.upperBound)
    }

    /// Per token, whether its bytes overlap a trained span.
    private func mask(ids: [Int], offsets: [Range<Int>]?, text: String, spans: [Range<Int>]) -> [Bool] {
        if let offsets {
            return offsets.map { range in spans.contains { Renderer.overlaps(range, $0) } }
        }
        // A normalizer changed the text, so the token bytes cannot be walked along it: find each span's token
        // boundaries by encoding the text up to it instead.
        let bytes = Array(text.utf8)
        func tokensBefore(_ offset: Int) -> Int {
            tokenizer.encode(String(decoding: bytes[0..<offset], as: UTF8.self), addSpecialTokens: false).count
        }
        var trained = [Bool](repeating: false, count: ids.count)
        for span in spans {
            let lower = min(tokensBefore(span.lowerBound), ids.count)
            let upper = min(max(tokensBefore(span.upperBound), lower), ids.count)
            for t in lower..<upper { trained[t] = true }
        }
        return trained
    }

    /// Tokenizes `examples` on all cores. Examples that fail to render or train nothing are left out and reported.
    public func tokenizeAll(_ examples: [Example]) -> (examples: [TokenizedExample], report: RenderReport) {
        let count = examples.count
        let results = UnsafeMutablePointer<Result<(example: TokenizedExample, notes: Notes), DatasetsError>?>.allocate(capacity: count)
        results.initialize(repeating: nil, count: count)
        defer {
            results.deinitialize(count: count)
            results.deallocate()
        }
        // Each iteration writes only its own slot.
        nonisolated(unsafe) let slots = results
        let blocks = max(1, min(count, ProcessInfo.processInfo.activeProcessorCount * 4))
        DispatchQueue.concurrentPerform(iterations: blocks) { block in
            for i in (block * count / blocks)..<((block + 1) * count / blocks) {
                do {
                    slots[i] = .success(try tokenizeWithNotes(examples[i]))
                } catch let error as DatasetsError {
                    slots[i] = .failure(error)
                } catch {
                    slots[i] = .failure(.render(file: file, line: examples[i].line, reason: "\(error)"))
                }
            }
        }
        var report = RenderReport()
        report.examples = count
        var kept: [TokenizedExample] = []
        kept.reserveCapacity(count)
        for i in 0..<count {
            switch results[i] {
            case .success(let (example, notes))?:
                kept.append(example)
                report.truncated += example.truncated ? 1 : 0
                report.endOfTurnAppended += notes.endOfTurnAppended
                report.missingEndOfTurn += notes.missingEndOfTurn
                report.trainedTokens += example.trainedCount
                report.totalTokens += example.ids.count
                report.lengths.append(example.ids.count)
                report.originalLengths.append(example.originalLength)
            case .failure(let error)?:
                if case .noTrainedTokens(_, _, let truncated) = error {
                    report.droppedNoTarget += 1
                    report.truncated += truncated ? 1 : 0
                } else {
                    report.failed += 1
                }
                report.dropped.append(DatasetIssue(file: file, line: examples[i].line, reason: Renderer.reason(error)))
            case nil:
                break
            }
        }
        return (kept, report)
    }

    /// An error's message without the `file:line:` prefix it already carries.
    static func reason(_ error: DatasetsError) -> String {
        switch error {
        case .render(_, _, let reason): return reason
        case .noTrainedTokens(_, _, let truncated):
            return truncated ? "no trained token left after truncation to --max-length" : "no trained token"
        default: return error.description
        }
    }
}
