// A run folder and the one typed reader and writer of what it holds:
//
//   config.json                                     the run's configuration (TrainingConfig)
//   adapter_config.json, adapter_model.safetensors  the PEFT adapter (the best by validation loss with --patience)
//   metrics.jsonl, loss_chart.svg                   one JSON object per step or evaluation; their chart
//   checkpoints/step-NNNNNN/                        everything a resume needs (Checkpoint)
//   torch/                                          the torch backend's hand-off files
//   export-peft/, adapter.gguf, export-merged/, merged-<type>.gguf, export-ollama/   exports, where not told otherwise
import Foundation
import Models

/// The folder `tailor train` writes; train, export, eval, chat and generate read it through this.
public struct RunFolder: Sendable, Equatable {
    public let url: URL

    public init(_ url: URL) { self.url = url }

    public var path: String { url.path }
    public var name: String { url.lastPathComponent }
    public var configURL: URL { url.appendingPathComponent("config.json") }
    public var metricsURL: URL { url.appendingPathComponent("metrics.jsonl") }
    public var chartURL: URL { url.appendingPathComponent("loss_chart.svg") }
    public var adapterWeightsURL: URL { url.appendingPathComponent(AdapterFiles.weightsName) }
    public var adapterConfigURL: URL { url.appendingPathComponent(AdapterFiles.configName) }
    public var checkpointsURL: URL { Checkpoint.folder(in: url) }

    // MARK: Configuration

    /// Whether the folder has a run configuration (a plain PEFT adapter folder has none).
    public var hasConfig: Bool { FileManager.default.fileExists(atPath: configURL.path) }

    /// `config.json`, typed.
    public func readConfig() throws -> TrainingConfig {
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw TrainingError.checkpoint(
                path: url.path, reason: "not a run folder (no config.json); give the folder `tailor train` wrote")
        }
        do {
            return try JSONDecoder().decode(TrainingConfig.self, from: data)
        } catch {
            throw TrainingError.checkpoint(
                path: configURL.path, reason: "unreadable run configuration (\(error)); start the run again")
        }
    }

    /// Writes `config.json` atomically, creating the folder.
    public func write(_ config: TrainingConfig) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            try config.json().write(to: configURL, options: .atomic)
        } catch {
            throw TrainingError.io(path: configURL.path, reason: "\(error)")
        }
    }

    // MARK: Adapter

    /// The first of the two PEFT adapter files that is not there (nil: the adapter is complete).
    public var missingAdapterFile: String? {
        [adapterConfigURL, adapterWeightsURL].first { !FileManager.default.fileExists(atPath: $0.path) }?
            .lastPathComponent
    }

    /// Whether both PEFT adapter files are there.
    public var hasAdapter: Bool { missingAdapterFile == nil }

    /// Throws unless the run has written its adapter.
    public func requireAdapter() throws {
        if let missing = missingAdapterFile {
            throw TrainingError.checkpoint(
                path: url.path, reason: "no \(missing); the run has not saved an adapter yet (resume it to finish)")
        }
    }

    /// Writes the PEFT adapter files (`values` instead of the LoRA's own, such as the best kept by early stopping).
    public func writeAdapter(_ lora: LoRAParameters, values: [Float]? = nil, baseModel: String) throws {
        try AdapterFiles.writePEFT(lora: lora, values: values, baseModel: baseModel, to: url)
    }

    /// The adapter read against the model it was trained on.
    public func readAdapter(model: ModelConfig) throws -> LoRAParameters {
        try AdapterFiles.readPEFT(folder: url, model: model)
    }

    // MARK: Metrics and checkpoints

    /// `metrics.jsonl` opened for a run continuing after `step`.
    public func openMetrics(keepingThrough step: Int) throws -> MetricsLog {
        try MetricsLog(url: metricsURL, keepingThrough: step)
    }

    /// The losses `metrics.jsonl` records.
    public func metrics() -> (train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)]) {
        let read = MetricsLog.read(metricsURL)
        return (read.train, read.validation)
    }

    /// Draws `loss_chart.svg` from the metrics so far (a chart that cannot be written is not worth stopping for).
    public func writeChart(_ metrics: MetricsLog) {
        let svg = LossChart.svg(train: metrics.train, validation: metrics.validation)
        try? Data(svg.utf8).write(to: chartURL, options: .atomic)
    }

    /// The newest complete checkpoint.
    public var latestCheckpoint: URL? { Checkpoint.latest(in: url) }

    // MARK: Exports

    /// Where an export goes when not told: `name` inside the run folder.
    public func defaultExport(_ name: String) -> URL { url.appendingPathComponent(name) }
}
