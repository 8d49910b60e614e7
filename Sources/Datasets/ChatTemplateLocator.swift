// Finding a model's chat template: a file given by the user, GGUF metadata, tokenizer_config.json, chat_template.jinja,
// or a fallback: Gemma's turn format when the vocabulary has its turn tokens, else ChatML.
import ChatTemplates
import Formats
import Foundation

/// A chat template and where it came from.
public struct ModelChatTemplate: Sendable {
    public let template: ChatTemplate
    /// Where it was found, for messages ("GGUF tokenizer.chat_template", "tokenizer_config.json", ...).
    public let origin: String
    /// True when the model has none and a built-in format stands in; callers should warn.
    public let isFallback: Bool
    /// The built-in format that stands in ("ChatML", "Gemma's turn format"), for warnings; empty otherwise.
    public private(set) var fallbackName = ""
}

/// Finds the chat template `tailor data check` and `tailor train` render conversations with.
public enum ChatTemplateLocator {
    /// The template for `model` (a `.gguf` file or a Hugging Face folder), or `override` when given.
    /// Lookup order: `override`; GGUF `tokenizer.chat_template` (`.tool_use` when `wantsTools` and present);
    /// `chat_template.jinja` (which transformers lets override the config); `tokenizer_config.json` `chat_template`
    /// (a string, or a list of `{name, template}`: `tool_use` when `wantsTools` and present, else `default`, as
    /// transformers picks); else, with ``ModelChatTemplate/isFallback``, Gemma's turn format when the vocabulary
    /// has `<start_of_turn>` and `<end_of_turn>` (a Gemma GGUF converted without its template), or ChatML.
    public static func locate(model: URL, override: URL? = nil, wantsTools: Bool = false) throws -> ModelChatTemplate {
        if let override {
            let source: String
            do {
                source = try String(contentsOf: override, encoding: .utf8)
            } catch {
                throw DatasetsError.chatTemplate(path: override.path, reason: "cannot read it as UTF-8 text")
            }
            return ModelChatTemplate(template: try parse(source, path: override.path), origin: override.path, isFallback: false)
        }
        if let (source, origin) = try find(model: model, wantsTools: wantsTools) {
            return ModelChatTemplate(template: try parse(source, path: origin), origin: origin, isFallback: false)
        }
        if hasGemmaTurnTokens(model: model) {
            return ModelChatTemplate(
                template: ChatTemplate.gemmaTurns(),
                origin: "Gemma's turn format (the model has no chat template; its vocabulary has <start_of_turn>)",
                isFallback: true, fallbackName: "Gemma's turn format")
        }
        return ModelChatTemplate(
            template: ChatTemplate.chatML(), origin: "ChatML (the model has no chat template)", isFallback: true,
            fallbackName: "ChatML")
    }

    /// Whether the model's vocabulary holds Gemma's turn tokens.
    private static func hasGemmaTurnTokens(model: URL) -> Bool {
        let turns = ["<start_of_turn>", "<end_of_turn>"]
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model.path, isDirectory: &isFolder) else { return false }
        if !isFolder.boolValue, let file = try? GGUFFile(url: model) {
            let tokens = file.metadata["tokenizer.ggml.tokens"]?.strings ?? []
            return turns.allSatisfy(tokens.contains)
        }
        let folder = isFolder.boolValue ? model : model.deletingLastPathComponent()
        for name in ["tokenizer_config.json", "tokenizer.json"] {
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            if turns.allSatisfy({ text.contains("\"\($0)\"") }) { return true }
        }
        return false
    }

    private static func parse(_ source: String, path: String) throws -> ChatTemplate {
        do {
            return try ChatTemplate(source: source)
        } catch {
            throw DatasetsError.chatTemplate(path: path, reason: "\(error)")
        }
    }

    private static func find(model: URL, wantsTools: Bool) throws -> (String, String)? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model.path, isDirectory: &isFolder) else {
            throw DatasetsError.io(path: model.path, reason: "no such file or folder")
        }
        if !isFolder.boolValue {
            if model.lastPathComponent == "tokenizer.json" || model.lastPathComponent == "tokenizer_config.json" {
                return try find(model: model.deletingLastPathComponent(), wantsTools: wantsTools)
            }
            let file: GGUFFile
            do {
                file = try GGUFFile(url: model)
            } catch {
                throw DatasetsError.io(path: model.path, reason: "\(error)")
            }
            if wantsTools, let source = file.metadata["tokenizer.chat_template.tool_use"]?.string, !source.isEmpty {
                return (source, "\(model.lastPathComponent) (GGUF tokenizer.chat_template.tool_use)")
            }
            guard let source = file.metadata["tokenizer.chat_template"]?.string, !source.isEmpty else { return nil }
            return (source, "\(model.lastPathComponent) (GGUF tokenizer.chat_template)")
        }
        let jinja = model.appendingPathComponent("chat_template.jinja")
        if let source = try? String(contentsOf: jinja, encoding: .utf8), !source.isEmpty {
            return (source, jinja.path)
        }
        let config = model.appendingPathComponent("tokenizer_config.json")
        if let data = try? Data(contentsOf: config),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        {
            if let source = json["chat_template"] as? String, !source.isEmpty {
                return (source, config.path)
            }
            if let list = json["chat_template"] as? [[String: Any]] {
                let named = list.compactMap { entry -> (String, String)? in
                    guard let name = entry["name"] as? String, let template = entry["template"] as? String else { return nil }
                    return (name, template)
                }
                let toolUse = wantsTools ? named.first(where: { $0.0 == "tool_use" }) : nil
                guard let chosen = toolUse ?? named.first(where: { $0.0 == "default" }) else {
                    throw DatasetsError.chatTemplate(
                        path: config.path,
                        reason: "has named chat templates (\(named.map(\.0).joined(separator: ", "))) but none called"
                            + " 'default'; pass the one to use with --chat-template FILE")
                }
                return (chosen.1, "\(config.path) (template '\(chosen.0)')")
            }
        }
        return nil
    }
}
