// Checkpoints: everything needed to continue a run exactly, in `checkpoints/step-NNNNNN/`.
//
//   adapter_config.json, adapter_model.safetensors   the LoRA values (a usable PEFT adapter on its own)
//   optimizer.safetensors                            F32 "exp_avg" [P], "exp_avg_sq" [P] (AdamW moments),
//                                                    and "best" [P] when early stopping keeps the best adapter
//   state.json                                       step, parameters, data fingerprints, evaluation bookkeeping
// There is no RNG state to save: data order is a function of (seed, epoch) and dropout masks of (seed, step,
// micro-batch), so the step number restores both. A checkpoint is written into a hidden temporary folder and renamed
// into place, so a crash never leaves a half-written `step-…` folder.
import Formats
import Foundation
import Models
import Tensors

/// The bookkeeping half of a checkpoint.
public struct CheckpointState: Codable, Sendable, Equatable {
    public var step: Int
    public var totalSteps: Int
    public var parameters: TrainingParameters
    public var trainFingerprint: String
    public var validationFingerprint: String
    public var bestValidationLoss: Double?
    public var bestStep: Int?
    public var firstValidationLoss: Double?
    public var evaluationsWithoutImprovement: Int
    public var lastLoss: Double?
}

/// Reads and writes checkpoint folders.
public enum Checkpoint {
    static let optimizerName = "optimizer.safetensors"
    static let stateName = "state.json"

    /// `runFolder/checkpoints`.
    public static func folder(in runFolder: URL) -> URL { runFolder.appendingPathComponent("checkpoints") }

    static func name(step: Int) -> String { "step-" + String(format: "%06d", step) }

    /// Checkpoint folders of a run, oldest first.
    public static func all(in runFolder: URL) -> [(step: Int, url: URL)] {
        let root = folder(in: runFolder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5)) else { return nil }
            return (step, root.appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// The newest complete checkpoint of a run.
    public static func latest(in runFolder: URL) -> URL? { all(in: runFolder).last?.url }

    /// Writes a checkpoint atomically and deletes all but the newest `keep`.
    @discardableResult
    public static func write(
        state: CheckpointState, lora: LoRAParameters, m: FloatBuffer, v: FloatBuffer,
        best: [Float]?, baseModel: String, runFolder: URL, keep: Int
    ) throws -> URL {
        let root = folder(in: runFolder)
        let final = root.appendingPathComponent(name(step: state.step))
        let temporary = root.appendingPathComponent(".\(name(step: state.step)).\(UUID().uuidString).tmp")
        do {
            try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
            try AdapterFiles.writePEFT(lora: lora, baseModel: baseModel, to: temporary)
            var writer = SafetensorsWriter(metadata: ["format": "pt"])
            writer.add(name: "exp_avg", shape: [m.count], floats: m.array)
            writer.add(name: "exp_avg_sq", shape: [v.count], floats: v.array)
            if let best { writer.add(name: "best", shape: [best.count], floats: best) }
            try writer.write(to: temporary.appendingPathComponent(optimizerName))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(state).write(to: temporary.appendingPathComponent(stateName), options: .atomic)
            if FileManager.default.fileExists(atPath: final.path) {
                try FileManager.default.removeItem(at: final)
            }
            guard rename(temporary.path, final.path) == 0 else {
                throw TrainingError.io(
                    path: final.path,
                    reason: "cannot rename the checkpoint into place: "
                        + String(cString: strerror(errno)))
            }
        } catch let error as TrainingError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw TrainingError.io(path: final.path, reason: "cannot write the checkpoint: \(error)")
        }
        for old in all(in: runFolder).dropLast(keep) { try? FileManager.default.removeItem(at: old.url) }
        return final
    }

    /// Reads the state of a checkpoint folder.
    public static func readState(_ folder: URL) throws -> CheckpointState {
        let url = folder.appendingPathComponent(stateName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TrainingError.checkpoint(
                path: folder.path, reason: "no \(stateName); the checkpoint is incomplete")
        }
        do { return try JSONDecoder().decode(CheckpointState.self, from: data) } catch {
            throw TrainingError.checkpoint(path: url.path, reason: "unreadable checkpoint state: \(error)")
        }
    }

    /// Loads a checkpoint's LoRA values and AdamW moments into `lora`, `m` and `v`; returns its state and kept best values.
    public static func read(
        _ folder: URL, model: ModelConfig, into lora: LoRAParameters, m: FloatBuffer, v: FloatBuffer
    )
        throws -> (state: CheckpointState, best: [Float]?)
    {
        let state = try readState(folder)
        let saved: LoRAParameters
        do { saved = try AdapterFiles.readPEFT(folder: folder, model: model) } catch {
            throw TrainingError.checkpoint(path: folder.path, reason: "unreadable adapter: \(error)")
        }
        guard saved.config == lora.config, saved.count == lora.count else {
            throw TrainingError.checkpoint(
                path: folder.path,
                reason: "the adapter's rank, alpha or targets differ from the run's settings")
        }
        lora.values.pointer.update(from: saved.values.pointer, count: lora.count)
        let url = folder.appendingPathComponent(optimizerName)
        do {
            let file = try SafetensorsFile(url: url)
            func load(_ name: String, into buffer: FloatBuffer) throws {
                let values = try file.floats(named: name)
                guard values.count == buffer.count else {
                    throw TrainingError.checkpoint(
                        path: url.path,
                        reason: "\(name) holds \(values.count) values, the"
                            + " adapter has \(buffer.count)")
                }
                _ = UnsafeMutableBufferPointer(start: buffer.pointer, count: buffer.count)
                    .update(fromContentsOf: values)
            }
            try load("exp_avg", into: m)
            try load("exp_avg_sq", into: v)
            let best = file.tensor(named: "best") == nil ? nil : try file.floats(named: "best")
            return (state, best)
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.checkpoint(path: url.path, reason: "unreadable optimizer state: \(error)")
        }
    }
}
