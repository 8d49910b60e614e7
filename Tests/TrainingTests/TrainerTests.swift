// The loop on a tiny model: accumulation, early stopping, NaN detection, checkpoints, resume, adapter files.
import Datasets
import Foundation
import Models
import Tensors
import Testing

@testable import Training

@Suite struct TrainerTests {
    static func parameters(rank: Int = 4, dropout: Float = 0) -> TrainingParameters {
        var p = TrainingParameters()
        p.lora = LoRAConfig(rank: rank, alpha: 8, dropout: dropout)
        p.batchSize = 2
        p.learningRate = 1e-2
        p.maxLength = 32
        p.threads = 2
        return p
    }

    static func trainer(
        _ p: TrainingParameters, train: [TokenizedExample], validation: [TokenizedExample] = [],
        folder: URL, poisonToken: Int? = nil
    ) throws -> Trainer {
        try Trainer(
            model: try Tiny.model(p.lora, poisonToken: poisonToken), train: train, validation: validation,
            parameters: p, runFolder: folder, baseModel: "tiny")
    }

    @Test func accumulatingTwoBatchesGivesTheGradientOfOneDoubleBatch() throws {
        let p = Self.parameters()
        let examples = Tiny.examples(4)
        let folder = Tiny.temporaryFolder("accum")
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try Self.trainer(p, train: examples, folder: folder)
        trainer.lora.initialize(seed: 3)
        // B must be non-zero or A's gradient vanishes; give every value a deterministic non-zero start.
        for i in 0..<trainer.lora.count {
            trainer.lora.values.pointer[i] = Float(0.05 * sin(Double(i) * 0.37))
        }
        let one = trainer.accumulate(
            PlannedStep(microBatches: [[0, 1, 2, 3]], epoch: 0, epochLength: 1, indexInEpoch: 0),
            stepNumber: 1)
        let whole = trainer.lora.gradients.array
        let two = trainer.accumulate(
            PlannedStep(microBatches: [[0, 1], [2, 3]], epoch: 0, epochLength: 1, indexInEpoch: 0),
            stepNumber: 1)
        let split = trainer.lora.gradients.array
        #expect(abs(one.loss - two.loss) <= 1e-6 * abs(one.loss))
        #expect(abs(one.norm - two.norm) <= 1e-5 * one.norm)
        #expect(one.norm > 0)
        let scale = whole.map(abs).max() ?? 1
        let error = zip(whole, split).map { abs($0 - $1) }.max() ?? 0
        #expect(error <= 1e-5 * scale, "accumulated gradient differs by \(error) (scale \(scale))")
        // And the loss is the mean over all target tokens of the step, not a mean of per-batch means.
        let batch = Batching.tokenBatch(examples)
        let totals = trainer.model.run(batch, gradScale: nil)
        #expect(abs(totals.lossSum / Double(totals.targetCount) - one.loss) <= 1e-6 * one.loss)
    }

    /// Phi-2 has no gate projection: its LoRA drops `gate` from the default targets, and the loop must take it.
    @Test func phiTrainsWithTheDefaultTargets() throws {
        var p = Self.parameters()
        p.maxSteps = 2
        #expect(p.lora.targets.contains(.gate))
        let folder = Tiny.temporaryFolder("phi")
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = Transformer(
            weights: try Tiny.weights(of: Tiny.phi), lora: LoRAParameters(model: Tiny.phi, config: p.lora),
            threads: 2, maxPosition: 64)
        #expect(model.lora?.config.targets.contains(.gate) == false)
        let trainer = try Trainer(
            model: model, train: Tiny.examples(4), validation: [], parameters: p, runFolder: folder,
            baseModel: "tiny-phi")
        let summary = try trainer.run(progress: { _ in }, shouldStop: { false })
        #expect(summary.steps == 2)
    }

    @Test func trainingLowersTheValidationLoss() throws {
        var p = Self.parameters()
        p.epochs = 4
        p.evalEvery = 5
        let folder = Tiny.temporaryFolder("learn")
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try Self.trainer(
            p, train: Tiny.examples(24), validation: Tiny.examples(6, seed: 3), folder: folder)
        var events: [TrainingEvent] = []
        let summary = try trainer.run(progress: { events.append($0) }, shouldStop: { false })
        #expect(summary.steps == 48 && summary.totalSteps == 48)
        let first = try #require(summary.firstValidationLoss), best = try #require(summary.bestValidationLoss)
        #expect(best < first * 0.8, "validation loss \(first) → \(best)")
        let evaluations = events.compactMap {
            if case .evaluation(let s, _, _) = $0 { return s } else { return nil }
        }
        #expect(evaluations == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 48])
        let metrics = try String(contentsOf: folder.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == 48 + 11)
        let chart = try String(contentsOf: folder.appendingPathComponent("loss_chart.svg"), encoding: .utf8)
        #expect(chart.hasPrefix("<svg") && chart.contains("polyline"))
        // The written adapter reproduces the final validation loss when read back into a fresh model.
        let read = try AdapterFiles.readPEFT(folder: folder, model: Tiny.config)
        let same = read.values.array == trainer.lora.values.array
        #expect(same)
    }

    @Test func earlyStoppingKeepsTheBestAdapter() throws {
        var p = Self.parameters()
        p.learningRate = 5e-2
        p.epochs = 20
        p.evalEvery = 1
        p.patience = 2
        let folder = Tiny.temporaryFolder("early")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Validation follows a rule that contradicts training (stride 3 vs 1): learning one unlearns the other.
        let trainer = try Self.trainer(
            p, train: Tiny.examples(8), validation: Tiny.examples(4, stride: 3), folder: folder)
        var stopped: (Int, Int, Double)?
        var losses: [Int: Double] = [:]
        let summary = try trainer.run(
            progress: { event in
                if case .stoppedEarly(let step, let bestStep, let bestLoss) = event {
                    stopped = (step, bestStep, bestLoss)
                }
                if case .evaluation(let step, let loss, _) = event { losses[step] = loss }
            }, shouldStop: { false })
        let (step, bestStep, bestLoss) = try #require(stopped)
        #expect(
            summary.stoppedEarly && summary.adapterIsBest && summary.steps == step
                && step < summary.totalSteps)
        #expect(step == bestStep + 2)
        #expect(bestLoss == losses.values.min())
        let lastTwo = [try #require(losses[step - 1]), try #require(losses[step])]
        #expect(lastTwo.allSatisfy { $0 >= bestLoss })
        // The adapter on disk is the best one: its validation loss is the best loss, not the last.
        let best = try AdapterFiles.readPEFT(folder: folder, model: Tiny.config)
        trainer.lora.values.pointer.update(from: best.values.pointer, count: best.count)
        let reloaded = try #require(trainer.validationLoss())
        #expect(abs(reloaded - bestLoss) <= 1e-9)
    }

    @Test func nonFiniteLossStopsWithoutApplyingTheStep() throws {
        var p = Self.parameters()
        p.batchSize = 1
        p.epochs = 1
        p.saveEvery = 1
        // Token 31 appears in no generated example; one extra example carries it (its row of embeddings is NaN).
        let poison = 31
        var examples = Tiny.examples(6)
        examples.insert(
            TokenizedExample(ids: [5, 6, 31, 7, 8], trained: [false, true, true, true, true]), at: 2)
        let folder = Tiny.temporaryFolder("nan")
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try Self.trainer(p, train: examples, folder: folder, poisonToken: poison)
        let bad =
            try #require(
                trainer.plan.firstIndex {
                    $0.microBatches[0].contains { examples[$0].ids.contains(Int32(poison)) }
                }) + 1
        #expect(bad > 1, "the poisoned example should not come first in this seed's order")
        var before: [Float] = []
        var flagged: Int?
        do {
            _ = try trainer.run(
                progress: { event in
                    if case .step(let report) = event, report.step == bad - 1 {
                        before = trainer.lora.values.array
                    }
                    if case .nonFinite(let step, let what) = event {
                        flagged = step
                        #expect(what == "loss")
                    }
                }, shouldStop: { false })
            Issue.record("training should have stopped at step \(bad)")
        } catch let error as TrainingError {
            guard case .nonFinite(let step, _, let kept) = error else { throw error }
            #expect(step == bad && flagged == bad)
            #expect(kept?.hasSuffix("step-" + String(format: "%06d", bad - 1)) == true)
            #expect(error.description.contains("learning rate"))
        }
        let unchanged = trainer.lora.values.array == before && !before.isEmpty
        #expect(unchanged, "the non-finite step must not touch the adapter")
        let finite = trainer.lora.values.array.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    @Test func checkpointRoundTripsBitForBit() throws {
        let p = Self.parameters()
        let folder = Tiny.temporaryFolder("ckpt")
        defer { try? FileManager.default.removeItem(at: folder) }
        let lora = LoRAParameters(model: Tiny.config, config: p.lora)
        for i in 0..<lora.count {
            lora.values.pointer[i] = Float(sin(Double(i))) * 1e-3 + .ulpOfOne * Float(i % 7)
        }
        let m = FloatBuffer((0..<lora.count).map { Float(cos(Double($0))) * 1e-5 })
        let v = FloatBuffer((0..<lora.count).map { Float($0 % 13) * 1e-9 })
        let best = (0..<lora.count).map { Float($0) * 0.5 }
        let state = CheckpointState(
            step: 7, totalSteps: 20, parameters: p, trainFingerprint: "abc", validationFingerprint: "def",
            bestValidationLoss: 1.234_567_890_123, bestStep: 5, firstValidationLoss: 2.5,
            evaluationsWithoutImprovement: 1, lastLoss: 0.1 + 0.2)
        for step in [3, 5, 7] {
            var s = state
            s.step = step
            try Checkpoint.write(
                state: s, lora: lora, m: m, v: v, best: best, baseModel: "tiny", runFolder: folder, keep: 2)
        }
        #expect(Checkpoint.all(in: folder).map(\.step) == [5, 7])
        let hidden = try FileManager.default.contentsOfDirectory(atPath: Checkpoint.folder(in: folder).path)
        #expect(hidden.sorted() == ["step-000005", "step-000007"])
        let latest = try #require(Checkpoint.latest(in: folder))
        let restored = LoRAParameters(model: Tiny.config, config: p.lora)
        let m2 = FloatBuffer(count: lora.count), v2 = FloatBuffer(count: lora.count)
        let (readState, readBest) = try Checkpoint.read(
            latest, model: Tiny.config, into: restored, m: m2, v: v2)
        #expect(readState == state)
        #expect(readBest == best)
        let sameValues = restored.values.array.map(\.bitPattern) == lora.values.array.map(\.bitPattern)
        let sameM = m2.array.map(\.bitPattern) == m.array.map(\.bitPattern)
        let sameV = v2.array.map(\.bitPattern) == v.array.map(\.bitPattern)
        #expect(sameValues && sameM && sameV)
    }

    /// Runs to the end, or until `stopAfter` steps (then returns nil), writing into `folder`.
    static func resumableRun(_ p: TrainingParameters, folder: URL, stopAfter: Int?, resume: Bool) throws
        -> TrainingSummary?
    {
        let trainer = try trainer(
            p, train: Tiny.examples(20), validation: Tiny.examples(4, seed: 5), folder: folder)
        var steps = 0
        do {
            return try trainer.run(
                resumeFrom: resume ? Checkpoint.latest(in: folder) : nil,
                progress: { if case .step = $0 { steps += 1 } },
                shouldStop: { stopAfter.map { steps >= $0 } ?? false })
        } catch TrainingError.interrupted(let step, _) {
            #expect(step == stopAfter)
            return nil
        }
    }

    @Test func interruptedAndResumedRunEndsWithTheSameAdapterBytes() throws {
        var p = Self.parameters(dropout: 0.1)
        p.gradAccum = 2
        p.epochs = 3
        p.warmupSteps = 2
        p.evalEvery = 3
        p.saveEvery = 4
        p.patience = 5
        let straight = Tiny.temporaryFolder("straight"), broken = Tiny.temporaryFolder("broken")
        defer {
            try? FileManager.default.removeItem(at: straight)
            try? FileManager.default.removeItem(at: broken)
        }
        let full = try #require(try Self.resumableRun(p, folder: straight, stopAfter: nil, resume: false))
        #expect(try Self.resumableRun(p, folder: broken, stopAfter: 7, resume: false) == nil)
        #expect(Checkpoint.all(in: broken).last?.step == 7)
        let resumed = try #require(try Self.resumableRun(p, folder: broken, stopAfter: nil, resume: true))
        #expect(resumed.steps == full.steps && resumed.bestValidationLoss == full.bestValidationLoss)
        for name in [AdapterFiles.weightsName, AdapterFiles.configName] {
            let a = try Data(contentsOf: straight.appendingPathComponent(name))
            let b = try Data(contentsOf: broken.appendingPathComponent(name))
            let same = a == b  // one Bool: the test library would diff megabytes otherwise
            #expect(same, "\(name) differs after resume")
        }
        // metrics.jsonl holds each step once.
        let metrics = try String(contentsOf: broken.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let steps = metrics.split(separator: "\n").filter { $0.contains("\"loss\"") }.count
        #expect(steps == full.steps)
        // Changed data is refused.
        let other = try Self.trainer(
            p, train: Tiny.examples(21), validation: Tiny.examples(4, seed: 5), folder: broken)
        #expect(throws: TrainingError.self) {
            _ = try other.run(
                resumeFrom: Checkpoint.latest(in: broken), progress: { _ in }, shouldStop: { false })
        }
    }

    @Test func peftAdapterFilesRoundTrip() throws {
        let config = LoRAConfig(rank: 4, alpha: 8, dropout: 0.05, useRSLoRA: true, targets: [.q, .v, .down])
        let lora = LoRAParameters(model: Tiny.config, config: config)
        lora.initialize(seed: 9)
        for i in 0..<lora.count where lora.values.pointer[i] == 0 { lora.values.pointer[i] = Float(i) * 1e-4 }
        let folder = Tiny.temporaryFolder("peft")
        defer { try? FileManager.default.removeItem(at: folder) }
        try AdapterFiles.writePEFT(lora: lora, baseModel: "org/tiny", to: folder)
        let json = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: folder.appendingPathComponent("adapter_config.json")))
                as? [String: Any])
        #expect(json["peft_type"] as? String == "LORA" && json["task_type"] as? String == "CAUSAL_LM")
        #expect(
            json["r"] as? Int == 4 && json["lora_alpha"] as? Double == 8
                && json["use_rslora"] as? Bool == true)
        #expect(json["target_modules"] as? [String] == ["q_proj", "v_proj", "down_proj"])
        #expect(json["base_model_name_or_path"] as? String == "org/tiny" && json["bias"] as? String == "none")
        #expect(json["fan_in_fan_out"] as? Bool == false && json["inference_mode"] as? Bool == true)
        let read = try AdapterFiles.readPEFT(folder: folder, model: Tiny.config)
        #expect(read.config == config)
        let same = read.values.array.map(\.bitPattern) == lora.values.array.map(\.bitPattern)
        #expect(same)
    }
}
