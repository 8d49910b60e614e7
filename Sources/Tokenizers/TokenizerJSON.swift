// Loading a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) into a Tokenizer.
import Foundation

extension Tokenizer {
    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` from a Hugging Face model folder.
    public convenience init(folder: URL) throws {
        let json = folder.appendingPathComponent("tokenizer.json")
        let config = folder.appendingPathComponent("tokenizer_config.json")
        let data: Data
        do { data = try Data(contentsOf: json) } catch {
            throw TokenizersError.io(path: json.path, reason: "\(error.localizedDescription); a Hugging Face model folder needs tokenizer.json")
        }
        let configData = FileManager.default.fileExists(atPath: config.path) ? try? Data(contentsOf: config) : nil
        try self.init(tokenizerJSON: data, configJSON: configData, path: json.path)
    }

    /// Builds a tokenizer from the bytes of a `tokenizer.json` and optionally of its `tokenizer_config.json`.
    /// `path` names the source in errors.
    public convenience init(tokenizerJSON: Data, configJSON: Data?, path: String) throws {
        guard let root = (try? JSONSerialization.jsonObject(with: tokenizerJSON)) as? [String: Any] else {
            throw TokenizersError.malformed(path: path, reason: "not a JSON object")
        }
        let config = configJSON.flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] } ?? [:]
        guard let modelSpec = root["model"] as? [String: Any] else {
            throw TokenizersError.malformed(path: path, reason: "no \"model\" object")
        }
        let modelType = modelSpec["type"] as? String ?? (modelSpec["merges"] != nil ? "BPE" : "unknown")
        guard modelType == "BPE" else { throw TokenizersError.unsupportedModel(path: path, model: modelType) }
        guard let vocab = modelSpec["vocab"] as? [String: Any] else {
            throw TokenizersError.malformed(path: path, reason: "model.vocab is not an object of token → id")
        }

        // Added tokens may sit beyond the model vocabulary; the id table covers both.
        let addedSpecs = root["added_tokens"] as? [[String: Any]] ?? []
        var added: [AddedToken] = []
        for spec in addedSpecs {
            guard let id = (spec["id"] as? NSNumber)?.intValue, let content = spec["content"] as? String else {
                throw TokenizersError.malformed(path: path, reason: "an added_tokens entry lacks id or content")
            }
            guard id >= 0 else {
                throw TokenizersError.malformed(
                    path: path, reason: "added token \(content.debugDescription) has the negative id \(id)")
            }
            added.append(
                AddedToken(
                    id: id, content: content, special: spec["special"] as? Bool ?? false,
                    lstrip: spec["lstrip"] as? Bool ?? false, rstrip: spec["rstrip"] as? Bool ?? false,
                    singleWord: spec["single_word"] as? Bool ?? false, normalized: spec["normalized"] as? Bool ?? false))
        }
        // The id table is dense: a vocabulary may leave holes for its added tokens, but an id past the number of
        // tokens the file defines would only size the table (a stray 29800000000000 asks for terabytes).
        let idLimit = vocab.count + addedSpecs.count
        var entries: [(token: String, id: Int)] = []
        entries.reserveCapacity(vocab.count)
        for (t, v) in vocab {
            guard let id = (v as? NSNumber)?.intValue, id >= 0 else {
                throw TokenizersError.malformed(path: path, reason: "vocab entry \(t.debugDescription) has no integer id")
            }
            guard id < idLimit else {
                throw TokenizersError.malformed(
                    path: path,
                    reason: "vocab entry \(t.debugDescription) has the id \(id), past the \(idLimit) tokens the file "
                        + "defines (model.vocab and added_tokens); ids must count from 0")
            }
            entries.append((t, id))
        }
        var tokens = [String](repeating: "", count: (entries.map(\.id).max() ?? -1) + 1)
        for (t, id) in entries { tokens[id] = t }
        var merges: [(String, String)] = []
        for m in modelSpec["merges"] as? [Any] ?? [] {
            if let s = m as? String {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizersError.malformed(path: path, reason: "merge \(s.debugDescription) is not two tokens separated by a space")
                }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let pair = m as? [String], pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw TokenizersError.malformed(path: path, reason: "a merge is neither \"a b\" nor [a, b]")
            }
        }

        let normalizer = try (root["normalizer"] as? [String: Any]).map { try Self.normalizer($0, path) }
        let preTokenizer = try (root["pre_tokenizer"] as? [String: Any]).map { try Self.preTokenizer($0, path) }
        let decoder = try (root["decoder"] as? [String: Any]).map { try Self.decoder($0, path) }
        let byteLevel = Self.mentionsByteLevel(root["pre_tokenizer"]) || Self.mentionsByteLevel(root["decoder"])
        let model = BPEModel(
            tokens: tokens, merges: merges, byteLevel: byteLevel,
            byteFallback: modelSpec["byte_fallback"] as? Bool ?? false,
            unknownToken: modelSpec["unk_token"] as? String, fuseUnknown: modelSpec["fuse_unk"] as? Bool ?? false,
            ignoreMerges: modelSpec["ignore_merges"] as? Bool ?? false,
            continuingSubwordPrefix: modelSpec["continuing_subword_prefix"] as? String ?? "",
            endOfWordSuffix: modelSpec["end_of_word_suffix"] as? String ?? "")

        func id(_ token: String?) -> Int? {
            guard let token else { return nil }
            return added.first { $0.content == token }?.id ?? model.idOfToken[token]
        }
        let bos = id(Self.tokenName(config["bos_token"]))
        let eos = id(Self.tokenName(config["eos_token"]))
        let pad = id(Self.tokenName(config["pad_token"]))
        let unk = id(Self.tokenName(config["unk_token"]) ?? modelSpec["unk_token"] as? String)

        // transformers rebuilds the template from add_bos_token/add_eos_token when the config sets them;
        // otherwise the post-processor decides.
        var (prefix, suffix) = try Self.template(root["post_processor"], path)
        if let addBOS = config["add_bos_token"] as? Bool, let bos {
            prefix = addBOS ? [bos] : prefix.filter { $0 != bos }
        }
        if let addEOS = config["add_eos_token"] as? Bool, let eos {
            suffix = addEOS ? (suffix.contains(eos) ? suffix : suffix + [eos]) : suffix.filter { $0 != eos }
        }
        self.init(
            kind: byteLevel ? .byteLevelBPE : .sentencePieceBPE, source: path, model: model, normalizer: normalizer,
            preTokenizer: preTokenizer, decoder: decoder, addedTokens: added, prefixTokens: prefix, suffixTokens: suffix,
            bos: bos, eos: eos, pad: pad, unknown: unk)
    }

    /// `"<s>"` or `{"content": "<s>", ...}` in tokenizer_config.json.
    private static func tokenName(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        return (value as? [String: Any])?["content"] as? String
    }

    private static func mentionsByteLevel(_ spec: Any?) -> Bool {
        guard let spec = spec as? [String: Any] else { return false }
        if spec["type"] as? String == "ByteLevel" { return true }
        let children = (spec["pretokenizers"] as? [Any] ?? []) + (spec["decoders"] as? [Any] ?? [])
        return children.contains { mentionsByteLevel($0) }
    }

    /// `{"String": "x"}` or `{"Regex": "x"}` → (pattern, isRegex).
    private static func pattern(_ spec: Any?, _ path: String, _ component: String) throws -> (String, Bool) {
        if let p = spec as? [String: Any] {
            if let s = p["String"] as? String { return (s, false) }
            if let r = p["Regex"] as? String { return (r, true) }
        }
        throw TokenizersError.malformed(path: path, reason: "\(component) pattern is neither {\"String\"} nor {\"Regex\"}")
    }

    static func normalizer(_ spec: [String: Any], _ path: String) throws -> Normalizer {
        let type = spec["type"] as? String ?? "?"
        switch type {
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Prepend": return .prepend(spec["prepend"] as? String ?? "")
        case "Replace":
            let (p, isRegex) = try pattern(spec["pattern"], path, "Replace normalizer")
            let content = spec["content"] as? String ?? ""
            return isRegex ? .replaceRegex(try SharedRegex(p, path: path), content: content) : .replace(pattern: p, content: content)
        case "Strip":
            return .strip(left: spec["strip_left"] as? Bool ?? true, right: spec["strip_right"] as? Bool ?? true)
        case "Sequence":
            let steps = spec["normalizers"] as? [[String: Any]] ?? []
            return .sequence(try steps.map { try normalizer($0, path) })
        default:
            throw TokenizersError.unsupportedComponent(path: path, component: "normalizer", type: type)
        }
    }

    static func preTokenizer(_ spec: [String: Any], _ path: String) throws -> PreTokenizer {
        let type = spec["type"] as? String ?? "?"
        switch type {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: spec["add_prefix_space"] as? Bool ?? true, useRegex: spec["use_regex"] as? Bool ?? true)
        case "Split":
            let (p, isRegex) = try pattern(spec["pattern"], path, "Split pre-tokenizer")
            let behaviorName = spec["behavior"] as? String ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: behaviorName) else {
                throw TokenizersError.unsupportedComponent(path: path, component: "Split behavior", type: behaviorName)
            }
            let compiled = isRegex ? try SplitPattern.compile(p, path: path) : .literal(Array(p.utf8))
            return .split(compiled, behavior: behavior, invert: spec["invert"] as? Bool ?? false)
        case "Digits":
            let individual = spec["individual_digits"] as? Bool ?? false
            return .split(.numbers, behavior: individual ? .isolated : .contiguous, invert: false)
        case "Punctuation":
            let name = spec["behavior"] as? String ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: name) else {
                throw TokenizersError.unsupportedComponent(path: path, component: "Punctuation behavior", type: name)
            }
            return .split(.punctuation, behavior: behavior, invert: false)
        case "Whitespace":
            return .split(.regex(try SharedRegex(#"\w+|[^\w\s]+"#, path: path)), behavior: .removed, invert: true)
        case "WhitespaceSplit":
            return .split(.whitespace, behavior: .removed, invert: false)
        case "Metaspace":
            let replacement = spec["replacement"] as? String ?? "▁"
            var scheme = PrependScheme(rawValue: spec["prepend_scheme"] as? String ?? "always") ?? .always
            if let legacy = spec["add_prefix_space"] as? Bool, spec["prepend_scheme"] == nil { scheme = legacy ? .always : .never }
            return .metaspace(replacement: replacement, prependScheme: scheme, split: spec["split"] as? Bool ?? true)
        case "Sequence":
            let steps = spec["pretokenizers"] as? [[String: Any]] ?? []
            return .sequence(try steps.map { try preTokenizer($0, path) })
        default:
            throw TokenizersError.unsupportedComponent(path: path, component: "pre-tokenizer", type: type)
        }
    }

    static func decoder(_ spec: [String: Any], _ path: String) throws -> Decoder {
        let type = spec["type"] as? String ?? "?"
        switch type {
        case "ByteLevel": return .byteLevel
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Metaspace":
            var scheme = PrependScheme(rawValue: spec["prepend_scheme"] as? String ?? "always") ?? .always
            if let legacy = spec["add_prefix_space"] as? Bool, spec["prepend_scheme"] == nil { scheme = legacy ? .always : .never }
            return .metaspace(replacement: spec["replacement"] as? String ?? "▁", prependScheme: scheme)
        case "Strip":
            let content = (spec["content"] as? String)?.unicodeScalars.first ?? " "
            return .strip(content: content, start: (spec["start"] as? NSNumber)?.intValue ?? 0, stop: (spec["stop"] as? NSNumber)?.intValue ?? 0)
        case "Replace":
            let (p, isRegex) = try pattern(spec["pattern"], path, "Replace decoder")
            guard !isRegex else { throw TokenizersError.unsupportedComponent(path: path, component: "Replace decoder", type: "Regex") }
            return .replace(pattern: p, content: spec["content"] as? String ?? "")
        case "Sequence":
            let steps = spec["decoders"] as? [[String: Any]] ?? []
            return .sequence(try steps.map { try decoder($0, path) })
        default:
            throw TokenizersError.unsupportedComponent(path: path, component: "decoder", type: type)
        }
    }

    /// The special ids TemplateProcessing (or Bert/Roberta processing) puts around a single sequence.
    private static func template(_ spec: Any?, _ path: String) throws -> ([Int], [Int]) {
        guard let spec = spec as? [String: Any] else { return ([], []) }
        let type = spec["type"] as? String ?? "?"
        switch type {
        case "TemplateProcessing":
            let specials = spec["special_tokens"] as? [String: [String: Any]] ?? [:]
            var prefix: [Int] = []
            var suffix: [Int] = []
            var seenSequence = false
            for item in spec["single"] as? [[String: Any]] ?? [] {
                if item["Sequence"] != nil {
                    seenSequence = true
                } else if let special = item["SpecialToken"] as? [String: Any], let name = special["id"] as? String {
                    let ids = (specials[name]?["ids"] as? [NSNumber] ?? []).map(\.intValue)
                    if seenSequence { suffix += ids } else { prefix += ids }
                }
            }
            return (prefix, suffix)
        case "Sequence":
            var prefix: [Int] = []
            var suffix: [Int] = []
            for step in spec["processors"] as? [Any] ?? [] {
                let (p, s) = try template(step, path)
                prefix += p
                suffix += s
            }
            return (prefix, suffix)
        case "BertProcessing", "RobertaProcessing":
            let cls = ((spec["cls"] as? [Any])?.last as? NSNumber)?.intValue
            let sep = ((spec["sep"] as? [Any])?.last as? NSNumber)?.intValue
            return (cls.map { [$0] } ?? [], sep.map { [$0] } ?? [])
        case "ByteLevel":
            return ([], [])
        default:
            throw TokenizersError.unsupportedComponent(path: path, component: "post-processor", type: type)
        }
    }
}
