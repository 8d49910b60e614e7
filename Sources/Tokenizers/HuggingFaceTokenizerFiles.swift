// `tokenizer.json` and `tokenizer_config.json` for a GGUF's vocabulary, so a model merged from a GGUF base loads in
// transformers as it is. The pipeline is the one `Tokenizer(gguf:)` runs, written in the tokenizers library's
// terms (as transformers' own GGUF converter does): byte-level BPE gets the `tokenizer.ggml.pre` family's split
// regexes and a ByteLevel step; SentencePiece BPE gets the "▁" normalizer, byte fallback and the merges its scores
// imply. The BOS/EOS rule becomes a TemplateProcessing post-processor.
import Foundation
import Formats

extension Tokenizer {
    /// The two files for the vocabulary in `metadata`; `path` names the source in errors. `chatTemplate`, when
    /// given, goes into `tokenizer_config.json`.
    ///
    /// SentencePiece merges of equal score keep llama.cpp's order in the list, where tokenizers ranks them one after
    /// another instead of letting the leftmost pair win; words whose split depends on such a tie can come out
    /// differently (the test strings check the common cases).
    public static func huggingFaceFiles(
        ggufMetadata metadata: [String: GGUFValue], path: String, chatTemplate: String? = nil
    ) throws -> (tokenizer: Data, config: Data) {
        let v = try GGUFVocabularyParts(metadata: metadata, path: path)
        // The vocabulary is spliced in as text: a Swift dictionary would fold canonically equal tokens into one.
        let vocabularyMarker = "\u{1}tailor-vocabulary\u{1}"
        let model: [String: Any] = [
            "type": "BPE", "dropout": NSNull(), "unk_token": v.unknown.map { v.tokens[$0] as Any } ?? NSNull(),
            "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": !v.byteLevel,
            "byte_fallback": !v.byteLevel, "ignore_merges": v.ignoreMerges, "vocab": vocabularyMarker,
            "merges": v.merges.map { [$0.0, $0.1] },
        ]
        func literal(_ pattern: String) -> [String: Any] { ["String": pattern] }
        let normalizer: Any
        let preTokenizer: Any
        let decoder: Any
        if v.byteLevel {
            normalizer = NSNull()
            let splits: [[String: Any]] = v.regexes.map {
                ["type": "Split", "pattern": ["Regex": $0], "behavior": "Isolated", "invert": false]
            }
            preTokenizer = [
                "type": "Sequence",
                "pretokenizers": splits + [
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false]
                ],
            ]
            decoder = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true]
        } else {
            let prepend: [[String: Any]] = v.addSpacePrefix ? [["type": "Prepend", "prepend": "▁"]] : []
            normalizer = [
                "type": "Sequence",
                "normalizers": prepend + [["type": "Replace", "pattern": literal(" "), "content": "▁"]],
            ]
            preTokenizer = NSNull()
            let strip: [[String: Any]] = v.addSpacePrefix ? [["type": "Strip", "content": " ", "start": 1, "stop": 0]] : []
            decoder = [
                "type": "Sequence",
                "decoders": [
                    ["type": "Replace", "pattern": literal("▁"), "content": " "], ["type": "ByteFallback"],
                    ["type": "Fuse"],
                ] + strip,
            ]
        }
        let prefix = v.addBOS ? v.bos.map { [$0] } ?? [] : []
        let suffix = v.addEOS ? v.eos.map { [$0] } ?? [] : []
        let tokenizer: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(),
            "added_tokens": v.added.map { token -> [String: Any] in
                [
                    "id": token.id, "content": token.content, "single_word": token.singleWord, "lstrip": token.lstrip,
                    "rstrip": token.rstrip, "normalized": token.normalized, "special": token.special,
                ]
            },
            "normalizer": normalizer, "pre_tokenizer": preTokenizer,
            "post_processor": postProcessor(prefix: prefix, suffix: suffix, tokens: v.tokens),
            "decoder": decoder, "model": model,
        ]
        var config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": false,
            "add_bos_token": v.addBOS, "add_eos_token": v.addEOS,
            "added_tokens_decoder": Dictionary(uniqueKeysWithValues: v.added.map { token in
                (String(token.id), [
                    "content": token.content, "single_word": token.singleWord, "lstrip": token.lstrip,
                    "rstrip": token.rstrip, "normalized": token.normalized, "special": token.special,
                ] as [String: Any])
            }),
        ]
        for (key, id) in [("bos_token", v.bos), ("eos_token", v.eos), ("pad_token", v.pad), ("unk_token", v.unknown)] {
            if let id { config[key] = v.tokens[id] }
        }
        if let chatTemplate { config["chat_template"] = chatTemplate }
        let options: JSONSerialization.WritingOptions = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let tokenizerText: String
        let configData: Data
        do {
            tokenizerText = String(decoding: try JSONSerialization.data(withJSONObject: tokenizer, options: options), as: UTF8.self)
            configData = try JSONSerialization.data(withJSONObject: config, options: options)
        } catch {
            throw TokenizersError.malformed(path: path, reason: "cannot write tokenizer.json: \(error)")
        }
        var seen = Set<[UInt8]>()
        var entries: [String] = []
        entries.reserveCapacity(v.tokens.count)
        for (id, token) in v.tokens.enumerated() where seen.insert(Array(token.utf8)).inserted {
            entries.append("\(JSONText.quoted(token)): \(id)")
        }
        let marker = String(decoding: try JSONSerialization.data(
            withJSONObject: vocabularyMarker, options: [.fragmentsAllowed]), as: UTF8.self)
        let text = tokenizerText.replacingOccurrences(of: marker, with: "{" + entries.joined(separator: ", ") + "}")
        return (Data(text.utf8), configData)
    }

    /// TemplateProcessing that puts `prefix` before and `suffix` after each sequence, or null when both are empty.
    private static func postProcessor(prefix: [Int], suffix: [Int], tokens: [String]) -> Any {
        guard !prefix.isEmpty || !suffix.isEmpty else { return NSNull() }
        func special(_ id: Int) -> [String: Any] { ["SpecialToken": ["id": tokens[id], "type_id": 0]] }
        func sequence(_ name: String, _ type: Int) -> [String: Any] { ["Sequence": ["id": name, "type_id": type]] }
        let single = prefix.map(special) + [sequence("A", 0)] + suffix.map(special)
        let pair = single + prefix.map(special) + [sequence("B", 1)] + suffix.map(special)
        var specials: [String: Any] = [:]
        for id in prefix + suffix { specials[tokens[id]] = ["id": tokens[id], "ids": [id], "tokens": [tokens[id]]] }
        return ["type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials]
    }
}
