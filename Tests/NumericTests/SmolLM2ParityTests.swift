// The real SmolLM2-135M GGUF against transformers loading the same file (Scripts/reference/smollm2_generation.py):
// prompt logits within 1e-3 and an identical 32-token greedy continuation (end of turn suppressed, as the
// script's min_new_tokens does), with and without the KV cache path.
import Foundation
import Models
import TestSupport
import Testing

@Suite(.serialized) struct SmolLM2ParityTests {
    struct Reference {
        let promptIds: [Int32]
        let logitsHead: [[Float]]
        let greedyIds: [Int32]
        let lastLogits: [Float]

        init() throws {
            let folder = TestPaths.fixtures.appendingPathComponent("smollm2")
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("generation.json")))
                    as? [String: Any])
            promptIds = (json["prompt_ids"] as? [Int] ?? []).map(Int32.init)
            logitsHead = (json["logits_head"] as? [[Double]] ?? []).map { $0.map(Float.init) }
            greedyIds = (json["greedy_ids"] as? [Int] ?? []).map(Int32.init)
            let binary = try Data(contentsOf: folder.appendingPathComponent("generation_last_logits.bin"))
            lastLogits = binary.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
    }

    static let model: Result<Transformer, any Error> = Result {
        let weights = try ModelWeights.load(from: try TestPaths.require(TestPaths.smolLM2))
        return Transformer(weights: try TransformerWeights(weights), lora: nil, maxPosition: 512)
    }

    @Test func promptLogitsMatchTransformers() throws {
        let reference = try Reference()
        let model = try Self.model.get()
        let n = reference.promptIds.count
        let batch = TokenBatch(sequences: [reference.promptIds], labels: [Array(repeating: -1, count: n)])
        let logits = model.logits(batch)
        let vocab = model.config.vocabSize
        var worst: Float = 0
        for t in 0..<n {
            for j in 0..<64 { worst = max(worst, abs(logits[t * vocab + j] - reference.logitsHead[t][j])) }
        }
        let last = Array(logits[((n - 1) * vocab)..<(n * vocab)])
        for j in 0..<vocab { worst = max(worst, abs(last[j] - reference.lastLogits[j])) }
        #expect(worst <= 1e-3, "max |logit difference| \(worst)")
        // The KV-cache path computes the same last-position logits.
        let cached = model.decode(reference.promptIds, cache: KVCache(config: model.config, capacity: n))
        #expect(zip(cached, reference.lastLogits).map { abs($0 - $1) }.max() ?? 1 <= 1e-3)
    }

    @Test func greedyContinuationIsIdentical() throws {
        let reference = try Reference()
        let model = try Self.model.get()
        let tokens = Generator(model: model).generate(
            prompt: reference.promptIds, maxTokens: 32, sampling: .greedy,
            stopTokens: Set(model.config.eosTokenIds.map(Int32.init)), minTokens: 32)
        #expect(tokens == reference.greedyIds)
    }
}
