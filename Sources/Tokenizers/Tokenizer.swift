// The public tokenizer: added tokens, then normalizer, pre-tokenizer and BPE model for encoding; the decoder chain back.
import Foundation
import Formats

/// Text ↔ token ids, exactly as the model's own tokenizer (HF `tokenizers` / llama.cpp) does it.
///
/// Build one with ``init(folder:)`` (a Hugging Face folder with `tokenizer.json`), ``init(tokenizerJSON:configJSON:path:)``,
/// ``init(gguf:)`` or ``load(_:)``. A tokenizer is immutable and safe to share between threads.
public final class Tokenizer: Sendable {
    /// Which family of BPE the vocabulary is.
    public enum Kind: String, Sendable {
        /// GPT-2-style byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM, ...).
        case byteLevelBPE = "byte-level BPE"
        /// SentencePiece-style BPE with `▁` for spaces and `<0xNN>` byte fallback (Llama 2, Mistral, Phi-3, ...).
        case sentencePieceBPE = "SentencePiece BPE"
    }

    public let kind: Kind
    /// The file it was loaded from, for messages.
    public let source: String
    /// Added and special tokens, in id order.
    public let addedTokens: [AddedToken]
    /// Ids `encode(addSpecialTokens: true)` puts before the text (usually just BOS, or nothing).
    public let prefixTokens: [Int]
    /// Ids `encode(addSpecialTokens: true)` puts after the text (usually nothing, or EOS).
    public let suffixTokens: [Int]
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let padTokenId: Int?
    public let unknownTokenId: Int?
    /// Number of ids: the largest id plus one (the model vocabulary and the added tokens).
    public let vocabularySize: Int

    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let decoder: Decoder?
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedById: [Int: AddedToken]
    private let addedByContent: [String: Int]

    init(
        kind: Kind, source: String, model: BPEModel, normalizer: Normalizer?, preTokenizer: PreTokenizer?,
        decoder: Decoder?, addedTokens: [AddedToken], prefixTokens: [Int], suffixTokens: [Int],
        bos: Int?, eos: Int?, pad: Int?, unknown: Int?
    ) {
        self.kind = kind
        self.source = source
        self.model = model
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.decoder = decoder
        let sorted = addedTokens.sorted { $0.id < $1.id }
        self.addedTokens = sorted
        // Without a normalizer both kinds see the same text, so one pass finds them all.
        rawMatcher = AddedTokenMatcher(sorted.filter { !$0.normalized || normalizer == nil })
        normalizedMatcher = AddedTokenMatcher(sorted.filter { $0.normalized && normalizer != nil })
        var byId: [Int: AddedToken] = [:]
        var byContent: [String: Int] = [:]
        for t in sorted {
            byId[t.id] = t
            byContent[t.content] = byContent[t.content] ?? t.id
        }
        addedById = byId
        addedByContent = byContent
        self.prefixTokens = prefixTokens
        self.suffixTokens = suffixTokens
        bosTokenId = bos
        eosTokenId = eos
        padTokenId = pad
        unknownTokenId = unknown
        vocabularySize = max(model.tokens.count, (sorted.map(\.id).max() ?? -1) + 1)
    }

    /// Loads a `.gguf` file's vocabulary, or a folder's `tokenizer.json` (with `tokenizer_config.json` beside it).
    public static func load(_ url: URL) throws -> Tokenizer {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue {
            return try Tokenizer(folder: url)
        }
        if url.lastPathComponent == "tokenizer.json" { return try Tokenizer(folder: url.deletingLastPathComponent()) }
        do {
            return try Tokenizer(gguf: try GGUFFile(url: url))
        } catch let error as FormatsError {
            throw TokenizersError.io(path: url.path, reason: "\(error)")
        }
    }

    /// Whether `addSpecialTokens: true` adds a BOS token.
    public var addsBOS: Bool { bosTokenId.map { prefixTokens.contains($0) } ?? false }
    /// Whether `addSpecialTokens: true` adds an EOS token.
    public var addsEOS: Bool { eosTokenId.map { suffixTokens.contains($0) } ?? false }

    /// The id of a token, spelled as in the vocabulary (`Ġthe`, `▁the`, `<|im_end|>`).
    public func tokenId(_ token: String) -> Int? {
        addedByContent[token] ?? model.idOfToken[token]
    }

    /// The vocabulary spelling of an id.
    public func token(_ id: Int) -> String? {
        if let added = addedById[id] { return added.content }
        return id >= 0 && id < model.tokens.count ? model.tokens[id] : nil
    }

    /// Whether an id is a special (control) token.
    public func isSpecial(_ id: Int) -> Bool { addedById[id]?.special ?? false }

    /// Token ids for `text`. `addSpecialTokens` adds ``prefixTokens``/``suffixTokens`` (BOS/EOS as the model wants);
    /// `parseSpecial: false` reads special-token text such as `<|im_start|>` as plain text (llama.cpp's
    /// `parse_special`), while user-defined added tokens still match.
    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecial: Bool = true) -> [Int] {
        var scratch = BPEScratch()
        return encode(text, addSpecialTokens: addSpecialTokens, parseSpecial: parseSpecial, scratch: &scratch)
    }

    /// Encodes many texts on all cores; the result is in input order.
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, parseSpecial: Bool = true) -> [[Int]] {
        let count = texts.count
        guard count > 1 else { return texts.map { encode($0, addSpecialTokens: addSpecialTokens, parseSpecial: parseSpecial) } }
        let blocks = min(count, ProcessInfo.processInfo.activeProcessorCount * 4)
        let results = UnsafeMutablePointer<[Int]>.allocate(capacity: count)
        results.initialize(repeating: [], count: count)
        defer {
            results.deinitialize(count: count)
            results.deallocate()
        }
        // Each block writes only its own slots, so the shared pointer is never raced on.
        nonisolated(unsafe) let slots = results
        DispatchQueue.concurrentPerform(iterations: blocks) { block in
            var scratch = BPEScratch()
            for i in (block * count / blocks)..<((block + 1) * count / blocks) {
                slots[i] = encode(texts[i], addSpecialTokens: addSpecialTokens, parseSpecial: parseSpecial, scratch: &scratch)
            }
        }
        return Array(UnsafeBufferPointer(start: results, count: count))
    }

    func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool, scratch: inout BPEScratch) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        if addSpecialTokens { out.append(contentsOf: prefixTokens) }
        let bytes = Array(text.utf8)
        var segments: [Segment] = []
        bytes.withUnsafeBufferPointer { p in
            if rawMatcher.isEmpty {
                segments.append(.text(0..<p.count))
            } else {
                rawMatcher.split(p, 0..<p.count, parseSpecial: parseSpecial, into: &segments)
            }
        }
        for segment in segments {
            switch segment {
            case .token(let id): out.append(id)
            case .text(let range): encodeText(bytes, range, parseSpecial: parseSpecial, scratch: &scratch, into: &out)
            }
        }
        if addSpecialTokens { out.append(contentsOf: suffixTokens) }
        return out
    }

    private func encodeText(
        _ bytes: [UInt8], _ range: Range<Int>, parseSpecial: Bool, scratch: inout BPEScratch, into out: inout [Int]
    ) {
        let atTextStart = range.lowerBound == 0
        guard let normalizer else {
            runModel(Pieces(bytes: bytes, ranges: [range]), atTextStart: atTextStart, scratch: &scratch, into: &out)
            return
        }
        let text = String(decoding: bytes[range], as: UTF8.self)
        let normalized = Array(normalizer.apply(text).utf8)
        guard !normalizedMatcher.isEmpty else {
            runModel(Pieces(bytes: normalized, ranges: [0..<normalized.count]), atTextStart: atTextStart, scratch: &scratch, into: &out)
            return
        }
        var segments: [Segment] = []
        normalized.withUnsafeBufferPointer { p in
            normalizedMatcher.split(p, 0..<p.count, parseSpecial: parseSpecial, into: &segments)
        }
        for segment in segments {
            switch segment {
            case .token(let id): out.append(id)
            case .text(let r):
                runModel(Pieces(bytes: normalized, ranges: [r]), atTextStart: atTextStart && r.lowerBound == 0, scratch: &scratch, into: &out)
            }
        }
    }

    private func runModel(_ pieces: Pieces, atTextStart: Bool, scratch: inout BPEScratch, into out: inout [Int]) {
        var pieces = pieces
        preTokenizer?.apply(&pieces, atTextStart: atTextStart)
        pieces.bytes.withUnsafeBufferPointer { p in
            for r in pieces.ranges { model.encode(p, r, &scratch, into: &out) }
        }
    }

    /// The text of `ids`. `skipSpecialTokens` drops special tokens (BOS, `<|im_end|>`, ...); unknown ids are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let added = addedById[id] {
                if !(skipSpecialTokens && added.special) { tokens.append(added.content) }
            } else if id >= 0 && id < model.tokens.count {
                tokens.append(model.tokens[id])
            }
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.apply(tokens).joined()
    }
}
