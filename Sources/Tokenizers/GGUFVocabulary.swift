// GGUF vocabularies (`tokenizer.ggml.*` metadata) as Tokenizers: byte-level BPE (`gpt2`) and SentencePiece BPE (`llama`).
import Formats

/// The split regexes llama.cpp applies for each `tokenizer.ggml.pre` family, in order, each isolating its matches
/// (src/llama-vocab.cpp, `llm_tokenizer_bpe`: `LLAMA_VOCAB_PRE_TYPE_*` → `regex_exprs`). They stand for the
/// pre-tokenizers of the models' tokenizer.json files.
private let preTokenizerRegexes: [String: [String]] = [
        // LLAMA3
        "llama3": [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        // DEEPSEEK_LLM
        "deepseek_llm": [
            "[\r\n]",
            "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
            "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
            "\\s+$",
            "[一-龥ࠀ-一가-퟿]+",
            "\\p{N}+",
        ],
        // DEEPSEEK3_LLM, HUNYUAN_DENSE, JOYAI_LLM, HY_V4
        "deepseek3_llm": [
            "\\p{N}{1,3}",
            "[一-龥぀-ゟ゠-ヿ]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
        ],
        // DEEPSEEK_CODER
        "deepseek_coder": [
            "[\r\n]",
            "\\s?\\p{L}+",
            "\\s?\\p{P}+",
            "[一-龥ࠀ-一가-퟿]+",
            "\\p{N}",
        ],
        // FALCON
        "falcon": [
            "[\\p{P}\\$\\+<=>\\^~\\|`]+",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            "[0-9][0-9][0-9]",
        ],
        // STARCODER, REFACT, COMMAND_R, SMOLLM, CODESHELL, EXAONE, MINERVA, MELLUM2
        "starcoder": [
            "\\p{N}",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        ],
        // GPT2, MPT, OLMO, JAIS, TRILLION, GRANITE_DOCLING
        "gpt2": [
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        ],
        // STABLELM2, QWEN2, HUNYUAN, SOLAR_OPEN
        "qwen2": [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        // QWEN35
        "qwen35": [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        // PORO, BLOOM, GPT3_FINNISH
        "poro": [
            " ?[^(\\s|.,!?…。，、।۔،)]+",
        ],
        // CHATGLM4
        "chatglm4": [
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        // VIKING
        "viking": [
            " ?[^(\\s|.,!?…。，、।۔،)]+",
            "\\p{N}",
        ],
        // default, default
        "default": [
            "[\\p{P}\\$\\+<=>\\^~\\|]+",
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            "\\p{N}+",
            "[0-9][0-9][0-9]",
        ],
]

/// `tokenizer.ggml.pre` → (regex family, ignore merges, add BOS by default), as llama.cpp's `llama_vocab::load` maps them.
private func preTokenizerFamily(_ name: String) -> (family: String, ignoreMerges: Bool, addBOS: Bool)? {
    switch name {
    case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
        return ("llama3", true, true)
    case "dbrx", "smaug-bpe": return ("llama3", false, false)
    case "deepseek-llm": return ("deepseek_llm", false, false)
    case "deepseek-coder": return ("deepseek_coder", false, false)
    case "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4": return ("deepseek3_llm", false, false)
    case "falcon": return ("falcon", false, false)
    case "gpt-2", "phi-2", "mpt", "olmo", "jais", "exaone4", "trillion", "granite-docling", "jina-es", "jina-de",
        "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "jina-v1-en", "jina-v2-code",
        "roberta-bpe":
        return ("gpt2", false, false)
    case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2":
        return ("starcoder", false, false)
    case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "megrez", "hunyuan", "solar-open":
        return ("qwen2", false, false)
    case "qwen35": return ("qwen35", false, false)
    case "poro-chat", "bloom", "gpt3-finnish": return ("poro", false, false)
    case "chatglm-bpe": return ("chatglm4", false, false)
    case "glm4", "glm5": return ("chatglm4", true, false)
    case "viking": return ("viking", false, false)
    case "default": return ("default", false, false)
    default: return nil
    }
}

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
private enum GGUFTokenType: Int {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// A GGUF vocabulary read once from `tokenizer.ggml.*`: what `Tokenizer(gguf:)` builds and what
/// `Tokenizer.huggingFaceFiles(ggufMetadata:path:)` writes as `tokenizer.json`.
struct GGUFVocabularyParts {
    let byteLevel: Bool
    let tokens: [String]
    /// Lowest rank first; `ranks` (SentencePiece scores, ties equal) replaces the list position when set.
    let merges: [(String, String)]
    let ranks: [Int]?
    /// Byte-level: the split regexes of the `tokenizer.ggml.pre` family, each isolating its matches.
    let regexes: [String]
    let ignoreMerges: Bool
    /// SentencePiece: whether "▁" is put before the text.
    let addSpacePrefix: Bool
    let addBOS: Bool
    let addEOS: Bool
    let added: [AddedToken]
    let bos, eos, pad, unknown: Int?

    init(metadata: [String: GGUFValue], path: String) throws {
        func require<T>(_ key: String, _ value: (GGUFValue) -> T?) throws -> T {
            guard let raw = metadata[key] else { throw TokenizersError.missingMetadata(path: path, key: key) }
            guard let v = value(raw) else {
                throw TokenizersError.malformed(path: path, reason: "metadata \(key) has an unexpected type")
            }
            return v
        }
        let modelName: String = try require("tokenizer.ggml.model") { $0.string }
        guard modelName == "gpt2" || modelName == "llama" else {
            let kinds = ["bert": "WordPiece (bert)", "t5": "Unigram (t5)", "rwkv": "RWKV", "plamo2": "PLaMo-2"]
            throw TokenizersError.unsupportedModel(path: path, model: kinds[modelName] ?? modelName)
        }
        let tokens: [String] = try require("tokenizer.ggml.tokens") { $0.strings }
        let types = metadata["tokenizer.ggml.token_type"]?.ints ?? []
        func type(_ id: Int) -> GGUFTokenType { id < types.count ? GGUFTokenType(rawValue: types[id]) ?? .undefined : .normal }
        let byteLevel = modelName == "gpt2"

        var merges: [(String, String)] = []
        var ranks: [Int]? = nil
        if byteLevel {
            let list: [String] = try require("tokenizer.ggml.merges") { $0.strings }
            merges.reserveCapacity(list.count)
            for m in list {
                let parts = m.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizersError.malformed(path: path, reason: "merge \(m.debugDescription) is not two tokens separated by a space")
                }
                merges.append((String(parts[0]), String(parts[1])))
            }
        } else {
            let scores: [Float] = try require("tokenizer.ggml.scores") { $0.floats }
            guard scores.count >= tokens.count else {
                throw TokenizersError.malformed(path: path, reason: "\(scores.count) scores for \(tokens.count) tokens")
            }
            (merges, ranks) = Tokenizer.sentencePieceMerges(tokens: tokens, scores: scores) { type($0) == .normal || type($0) == .undefined }
        }

        let pre = metadata["tokenizer.ggml.pre"]?.string
        var ignoreMerges = false
        var addBOS = !byteLevel
        var regexes: [String] = []
        if byteLevel {
            guard let family = preTokenizerFamily(pre ?? "default"), let list = preTokenizerRegexes[family.family] else {
                throw TokenizersError.unsupportedComponent(path: path, component: "pre-tokenizer (tokenizer.ggml.pre)", type: pre ?? "")
            }
            ignoreMerges = family.ignoreMerges
            addBOS = family.addBOS
            regexes = list
        }
        addSpacePrefix = !byteLevel && (metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true)
        self.addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? addBOS
        addEOS = metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false

        // Control and unknown tokens are special; user-defined ones are added tokens matched before BPE.
        let generalName = (metadata["general.name"]?.string ?? "").lowercased()
        let phi3 = generalName.contains("phi-3") || generalName.contains("phi3")
        var added: [AddedToken] = []
        for id in 0..<tokens.count {
            let t = type(id)
            guard t == .control || t == .userDefined || t == .unknown else { continue }
            // llama.cpp marks Phi-3's special tokens rstrip (its tokenizer.json does), except these three.
            let rstrip = phi3 && !["<unk>", "<s>", "<|endoftext|>"].contains(tokens[id])
            added.append(AddedToken(id: id, content: tokens[id], special: t != .userDefined, rstrip: rstrip))
        }
        let id = { (key: String) in metadata[key]?.int.flatMap { $0 >= 0 && $0 < tokens.count ? $0 : nil } }
        self.byteLevel = byteLevel
        self.tokens = tokens
        self.merges = merges
        self.ranks = ranks
        self.regexes = regexes
        self.ignoreMerges = ignoreMerges
        self.added = added
        bos = id("tokenizer.ggml.bos_token_id")
        eos = id("tokenizer.ggml.eos_token_id")
        pad = id("tokenizer.ggml.padding_token_id")
        unknown = id("tokenizer.ggml.unknown_token_id")
    }
}

extension Tokenizer {
    /// Builds the tokenizer a GGUF file carries in its `tokenizer.ggml.*` metadata.
    public convenience init(gguf: GGUFFile) throws {
        try self.init(ggufMetadata: gguf.metadata, path: gguf.path)
    }

    /// Builds a tokenizer from GGUF metadata; `path` names the source in errors.
    public convenience init(ggufMetadata metadata: [String: GGUFValue], path: String) throws {
        let v = try GGUFVocabularyParts(metadata: metadata, path: path)
        var preTokenizer: PreTokenizer? = nil
        var normalizer: Normalizer? = nil
        let decoder: Decoder
        if v.byteLevel {
            preTokenizer = .sequence(try v.regexes.map { .split(try SplitPattern.compile($0, path: path), behavior: .isolated, invert: false) })
            decoder = .byteLevel
        } else {
            normalizer = .sequence((v.addSpacePrefix ? [.prepend("▁")] : []) + [.replace(pattern: " ", content: "▁")])
            decoder = .sequence(
                [.replace(pattern: "▁", content: " "), .byteFallback, .fuse] + (v.addSpacePrefix ? [.strip(content: " ", start: 1, stop: 0)] : []))
        }
        let model = BPEModel(
            tokens: v.tokens, merges: v.merges, ranks: v.ranks, byteLevel: v.byteLevel, byteFallback: !v.byteLevel,
            unknownToken: nil, fuseUnknown: false, ignoreMerges: v.ignoreMerges)
        self.init(
            kind: v.byteLevel ? .byteLevelBPE : .sentencePieceBPE, source: path, model: model, normalizer: normalizer,
            preTokenizer: preTokenizer, decoder: decoder, addedTokens: v.added,
            prefixTokens: v.addBOS ? v.bos.map { [$0] } ?? [] : [], suffixTokens: v.addEOS ? v.eos.map { [$0] } ?? [] : [],
            bos: v.bos, eos: v.eos, pad: v.pad, unknown: v.unknown)
    }

    /// SentencePiece vocabularies carry scores, not merges. Every split of a token into two vocabulary tokens is a
    /// merge whose priority is the merged token's score (llama.cpp's `llm_tokenizer_spm`); equal scores share a
    /// rank so the leftmost pair wins, as there.
    static func sentencePieceMerges(
        tokens: [String], scores: [Float], mergeable: (Int) -> Bool
    ) -> ([(String, String)], [Int]) {
        // Keyed by bytes: Swift's String equality is canonical, and vocabularies hold canonically equal tokens
        // (precomposed and decomposed Bengali, for one) that are different tokens.
        var ids: [[UInt8]: Int] = [:]
        for (i, t) in tokens.enumerated() where ids[Array(t.utf8)] == nil { ids[Array(t.utf8)] = i }
        let distinct = Array(Set(scores)).sorted(by: >)
        var rankOfScore: [Float: Int] = [:]
        for (r, s) in distinct.enumerated() { rankOfScore[s] = r }
        var found: [(rank: Int, left: String, right: String)] = []
        for (id, t) in tokens.enumerated() where mergeable(id) {
            let scalars = Array(t.unicodeScalars)
            guard scalars.count > 1 else { continue }
            for k in 1..<scalars.count {
                var left = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<k])
                var right = String.UnicodeScalarView()
                right.append(contentsOf: scalars[k...])
                let l = String(left)
                let r = String(right)
                if ids[Array(l.utf8)] != nil && ids[Array(r.utf8)] != nil {
                    found.append((rankOfScore[scores[id]] ?? 0, l, r))
                }
            }
        }
        found.sort { $0.rank < $1.rank }
        return (found.map { ($0.left, $0.right) }, found.map(\.rank))
    }
}
