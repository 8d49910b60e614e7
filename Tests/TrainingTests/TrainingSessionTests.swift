// TrainingSession on SmolLM2 (the fetched GGUF) with a few tiny steps: what it plans and reports, what it saves, and
// how it refuses a resume that has nothing to resume from.
import Foundation
import TestSupport
import Testing
import Training

@Suite struct TrainingSessionTests {
    static func config(output: URL) throws -> TrainingConfig {
        let flags: [String: SettingValue] = [
            "model": .string("SmolLM2"), "data": .string(TestPaths.fixtures.appendingPathComponent("training/smoke.jsonl").path),
            "output": .string(output.path), "max-steps": .int(2), "max-length": .int(48), "batch-size": .int(2),
            "rank": .int(2), "threads": .int(2), "precision": .string("fp32"), "weights": .string("auto"),
            "seed": .string("7"),
        ]
        var config = try TrainingSettings.resolve(flags: flags)
        config.modelPath = try TestPaths.require(TestPaths.smolLM2).path
        return config
    }

    static func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tailor-session-\(UUID().uuidString)")
    }

    @Test func plansReportsTrainsAndSaves() throws {
        let output = Self.folder()
        defer { try? FileManager.default.removeItem(at: output) }
        let session = TrainingSession(config: try Self.config(output: output), resuming: false)
        var events: [TrainingEvent] = []
        let plan = try session.plan { events.append($0) }

        // The data event carries the pipeline's counts; 48 examples hold out 10% for validation.
        guard case .data(let report)? = events.first else { Issue.record("no data event first: \(events)"); return }
        #expect(report.summary.records == 48 && report.summary.invalid == 0 && report.summary.examples == 48)
        #expect(events.contains { if case .note(let text) = $0 { text.contains("holding out 10%") } else { false } })
        #expect(plan.prepared.train.count == 43 && plan.prepared.validation.count == 5)
        #expect(plan.modelConfig.architecture.rawValue == "llama" && plan.trainableParameters > 0)
        let native = try #require(plan.native)
        #expect(native.precision.rawValue == "fp32" && native.estimate.total > native.estimate.weights)
        // What resume needs: the choices auto made are what the run keeps.
        #expect(plan.config.precision == "fp32" && plan.config.weights == native.storage.rawValue)

        let summary = try session.train(
            plan, on: try session.loadNativeEngine(plan), progress: { events.append($0) }, shouldStop: { false })
        #expect(summary.steps == 2 && summary.totalSteps == 2)
        #expect(try plan.run.readConfig() == plan.config)
        #expect(plan.run.hasAdapter)
        #expect(plan.run.metrics().train.map(\.step) == [1, 2])
        #expect(events.contains { if case .started = $0 { true } else { false } })
        #expect(events.contains { if case .finished = $0 { true } else { false } })
    }

    @Test func resumingARunWithoutACheckpointIsRefused() throws {
        let output = Self.folder()
        defer { try? FileManager.default.removeItem(at: output) }
        let session = TrainingSession(config: try Self.config(output: output), resuming: true)
        let plan = try session.plan { _ in }
        #expect(throws: TrainingError.self) {
            try session.train(plan, on: try session.loadNativeEngine(plan), progress: { _ in }, shouldStop: { false })
        }
        #expect(!plan.run.hasConfig, "a refused resume wrote config.json")
    }

    @Test func theTorchBackendGetsAPlanWithoutTheNativeEngine() throws {
        var config = try Self.config(output: Self.folder())
        config = try TrainingSettings.resolve(flags: [
            "model": .string(config.model), "data": .string(config.data), "output": .string(config.output),
            "backend": .string("torch"), "max-length": .int(48),
        ])
        config.modelPath = try TestPaths.require(TestPaths.smolLM2).path
        let plan = try TrainingSession(config: config, resuming: false).plan { _ in }
        #expect(plan.native == nil && plan.config.precision == nil && plan.config.torch != nil)
    }
}
