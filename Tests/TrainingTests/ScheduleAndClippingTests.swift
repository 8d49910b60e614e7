// Learning-rate schedules and gradient clipping against transformers/torch (Scripts/reference/training_schedules.py).
import Foundation
import Tensors
import TestSupport
import Testing

@testable import Training

@Suite struct ScheduleAndClippingTests {
    static func fixture() throws -> [String: Any] {
        let url = TestPaths.fixtures.appendingPathComponent("training/schedules.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    @Test func schedulesMatchTransformers() throws {
        let cases = try #require(try Self.fixture()["schedules"] as? [[String: Any]])
        #expect(cases.count == 9)
        for c in cases {
            let name = try #require(c["schedule"] as? String)
            let schedule = try #require(LearningRateSchedule(rawValue: name))
            let total = try #require(c["total"] as? Int), warmup = try #require(c["warmup"] as? Int)
            let rates = try #require(c["rates"] as? [Double])
            for step in 1...total {
                let rate = schedule.learningRate(step: step, total: total, warmup: warmup, peak: 2e-4)
                #expect(
                    abs(Double(rate) - rates[step - 1]) <= 1e-10,
                    "\(schedule) total \(total) warmup \(warmup) step \(step): \(rate) vs \(rates[step - 1])")
            }
        }
    }

    @Test func clippingMatchesTorch() throws {
        let clipping = try #require(try Self.fixture()["clipping"] as? [String: Any])
        let gradient = try #require(clipping["gradient"] as? [Double]).map(Float.init)
        let expected = try #require(clipping["clipped"] as? [Double])
        let buffer = FloatBuffer(gradient)
        let norm = gradient.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(abs(norm - (try #require(clipping["norm"] as? Double))) <= 1e-5)
        Trainer.clip(buffer, norm: norm, maxNorm: 1)
        for (a, b) in zip(buffer.array, expected) { #expect(abs(Double(a) - b) <= 1e-7) }
        let clippedNorm = buffer.array.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(abs(clippedNorm - 1) <= 1e-5)
        // Under the limit nothing changes; 0 turns clipping off.
        let small = FloatBuffer([0.1, -0.2])
        Trainer.clip(small, norm: 0.2236, maxNorm: 1)
        #expect(small.array == [0.1, -0.2])
        let off = FloatBuffer(gradient)
        Trainer.clip(off, norm: norm, maxNorm: 0)
        #expect(off.array == gradient)
    }
}
