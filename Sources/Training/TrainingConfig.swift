// A run's configuration: every setting it was started with, as `config.json` in the run folder holds it.
import Datasets
import Foundation

/// Everything a run was started with, saved as `config.json` in the run folder; `--resume` reads it back.
///
/// Its fields are written by the settings of `TrainingSettings.table`, one setting each (or a part of a setting
/// group: the torch backend's settings live in `torch`).
public struct TrainingConfig: Codable, Equatable, Sendable {
    /// The model as the user named it (a path, an HF id, an Ollama or LM Studio name).
    public var model: String
    /// Where that name resolved to when the run began (filled by the caller that resolves models).
    public var modelPath: String
    public var data: String
    public var valFile: String?
    /// `--format` as given (nil: detected per file).
    public var format: String?
    /// `--field NAME=FIELD` mappings (nil: the files use the usual names).
    public var fields: [String: String]?
    public var chatTemplate: String?
    public var skipInvalid: Bool
    public var output: String
    public var parameters: TrainingParameters
    /// "native" (nil in runs saved before backends existed) or "torch".
    public var backend: String?
    public var torch: TorchSettings?
    /// Native engine: `--precision` and `--weights` (auto, fp32, bf16 / auto, f32, bf16, quantized); a run saves
    /// what auto resolved to, so a resumed run multiplies as it began. nil in runs saved before they existed
    /// (fp32 and f32 then).
    public var precision: String?
    public var weights: String?

    /// The defaults every setting starts from; `model`, `data` and `output` are empty until set.
    public init() {
        model = ""
        modelPath = ""
        data = ""
        skipInvalid = false
        output = ""
        parameters = TrainingParameters()
    }

    public var usesTorch: Bool { backend == "torch" }

    /// How the dataset pipeline reads this run's files.
    public func dataSettings() throws -> DataSettings {
        var settings = try DataSettings(
            formatName: format, fields: [], skipInvalid: skipInvalid, maxLength: parameters.maxLength)
        settings.fieldMapping = fields ?? [:]
        return settings
    }

    /// The JSON `config.json` holds (sorted keys, so runs diff cleanly).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
