// SmolLM2's weights as ModelWeights loads them from the GGUF, checked against transformers' own GGUF loading
// (Tests/Fixtures/models/smollm2_slices.json, written by Scripts/reference/gguf_model_slices.py).
import Foundation
import Models
import TestSupport
import Testing

/// The fixture's layout; see the generator script for how each field is computed.
private struct SlicesFixture: Decodable {
    struct Row: Decodable {
        let row: Int
        let head: [Float]
        let tail: [Float]
    }
    struct Tensor: Decodable {
        let name: String
        let shape: [Int]
        let sum_squares: Double
        let rows: [Row]
        let row_dots: [Double]?
    }
    let lm_head_equals_embedding: Bool
    let tensors: [Tensor]
}

@Suite struct ModelWeightsNumericTests {
    @Test func smolLM2MatchesTransformersGGUFLoading() throws {
        let url = try TestPaths.require(TestPaths.smolLM2)
        let fixtureURL = TestPaths.fixtures.appendingPathComponent("models/smollm2_slices.json")
        let fixture = try JSONDecoder().decode(SlicesFixture.self, from: Data(contentsOf: fixtureURL))

        let start = ContinuousClock.now
        let weights = try ModelWeights.load(from: url)
        let elapsed = ContinuousClock.now - start
        let elements = weights.tensors.values.reduce(0) { $0 + $1.values.count }
        print("Models: loaded \(weights.tensors.count) tensors (\(elements) values) of SmolLM2 in \(elapsed)")

        #expect(weights.tied == fixture.lm_head_equals_embedding)
        #expect(try weights.tensor("lm_head.weight") == weights.tensor("model.embed_tokens.weight"))
        #expect(fixture.tensors.count == 20)
        for expected in fixture.tensors {
            let tensor = try weights.tensor(expected.name)
            try #require(tensor.shape == expected.shape, "\(expected.name)")
            let values = tensor.values  // decoded from the stored blocks once
            let columns = expected.shape.count == 2 ? expected.shape[1] : expected.shape[0]
            // Spot values: the same dequantized float32 numbers, so 1e-6 is loose (FMA may move the last bit).
            for row in expected.rows {
                let rowValues = values[(row.row * columns)..<((row.row + 1) * columns)]
                let head = Array(rowValues.prefix(row.head.count)), tail = Array(rowValues.suffix(row.tail.count))
                for (found, wanted) in zip(head + tail, row.head + row.tail) {
                    #expect(
                        abs(found - wanted) <= 1e-6, "\(expected.name) row \(row.row): \(found) vs \(wanted)")
                }
            }
            // Every row's dot with the probe pins the row order: a wrong Q/K un-permutation fails here.
            if let dots = expected.row_dots {
                let probe = (0..<columns).map { sin(0.01 * Double($0 + 1)) }
                var worst = 0.0
                for (r, wanted) in dots.enumerated() {
                    var dot = 0.0
                    for c in 0..<columns { dot += Double(values[r * columns + c]) * probe[c] }
                    worst = max(worst, abs(dot - wanted))
                }
                #expect(worst <= 1e-6, "\(expected.name): row dots differ by up to \(worst)")
            }
            let sumSquares = values.reduce(0.0) { $0 + Double($1) * Double($1) }
            #expect(
                abs(sumSquares - expected.sum_squares) <= 1e-9 * max(1, expected.sum_squares),
                "\(expected.name): sum of squares \(sumSquares) vs \(expected.sum_squares)")
        }
    }
}
