// The real GGUFs (SmolLM2-135M Q4_1, Gemma 3 270M Q4_K_M) against transformers loading the same files
// (Scripts/reference/smollm2_generation.py, gemma3_generation.py): prompt logits within 1e-3 (SmolLM2 absolute,
// Gemma 3 of the logits' scale), an identical 32-token greedy continuation (end of turn suppressed, as the scripts'
// min_new_tokens does), with and without the KV cache path; Gemma 3's token ids against HF's tokenizer.
import Foundation
import Formats
import Models
import TestSupport
import Testing
import Tokenizers

/// One real model and its transformers reference.
struct RealModelCase: Sendable, CustomTestStringConvertible {
    let fixture: String
    let file: URL
    /// Compare logits relative to their largest magnitude (Gemma's are in the tens) instead of absolutely.
    let relativeTolerance: Bool
    var testDescription: String { fixture }

    static let smolLM2 = RealModelCase(fixture: "smollm2", file: TestPaths.smolLM2, relativeTolerance: false)
    static let gemma3 = RealModelCase(fixture: "gemma3", file: TestPaths.gemma3, relativeTolerance: true)
}

struct RealModelReference {
    let promptIds: [Int32]
    let logitsHead: [[Float]]
    let greedyIds: [Int32]
    let lastLogits: [Float]
    let tokenizerCases: [(text: String, ids: [Int])]

    init(_ fixture: String) throws {
        let folder = TestPaths.fixtures.appendingPathComponent(fixture)
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("generation.json")))
                as? [String: Any])
        promptIds = (json["prompt_ids"] as? [Int] ?? []).map(Int32.init)
        logitsHead = (json["logits_head"] as? [[Double]] ?? []).map { $0.map(Float.init) }
        greedyIds = (json["greedy_ids"] as? [Int] ?? []).map(Int32.init)
        let binary = try Data(contentsOf: folder.appendingPathComponent("generation_last_logits.bin"))
        lastLogits = binary.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        tokenizerCases = (json["tokenizer"] as? [[String: Any]] ?? []).compactMap { entry in
            guard let text = entry["text"] as? String, let ids = entry["ids"] as? [Int] else { return nil }
            return (text, ids)
        }
    }
}

@Suite(.serialized) struct RealModelParityTests {
    static let cases = [RealModelCase.smolLM2, .gemma3]

    static func model(_ model: RealModelCase) throws -> Transformer {
        let weights = try ModelWeights.load(from: try TestPaths.require(model.file))
        return Transformer(weights: try TransformerWeights(weights), lora: nil, maxPosition: 512)
    }

    @Test(arguments: cases)
    func promptLogitsMatchTransformers(_ real: RealModelCase) throws {
        let reference = try RealModelReference(real.fixture)
        let model = try Self.model(real)
        let n = reference.promptIds.count
        let batch = TokenBatch(sequences: [reference.promptIds], labels: [Array(repeating: -1, count: n)])
        let logits = model.logits(batch)
        let vocab = model.config.vocabSize
        #expect(reference.lastLogits.count == vocab)
        let scale = real.relativeTolerance ? reference.lastLogits.map(abs).max() ?? 1 : 1
        var worst: Float = 0
        for t in 0..<n {
            for j in 0..<64 { worst = max(worst, abs(logits[t * vocab + j] - reference.logitsHead[t][j])) }
        }
        let last = Array(logits[((n - 1) * vocab)..<(n * vocab)])
        for j in 0..<vocab { worst = max(worst, abs(last[j] - reference.lastLogits[j])) }
        #expect(worst / scale <= 1e-3, "\(real.fixture): max |logit difference| \(worst), scale \(scale)")
        // The KV-cache path computes the same last-position logits.
        let cached = model.decode(reference.promptIds, cache: KVCache(config: model.config, capacity: n))
        let cachedWorst = zip(cached, reference.lastLogits).map { abs($0 - $1) }.max() ?? 1
        #expect(cachedWorst / scale <= 1e-3, "\(real.fixture): cached max |logit difference| \(cachedWorst)")
    }

    @Test(arguments: cases)
    func greedyContinuationIsIdentical(_ real: RealModelCase) throws {
        let reference = try RealModelReference(real.fixture)
        let model = try Self.model(real)
        let tokens = Generator(model: model).generate(
            prompt: reference.promptIds, maxTokens: 32, sampling: .greedy,
            stopTokens: Set(model.config.eosTokenIds.map(Int32.init)), minTokens: 32)
        #expect(tokens == reference.greedyIds, "\(real.fixture)")
    }

    @Test func gemma3TokenIdsMatchHuggingFace() throws {
        let reference = try RealModelReference("gemma3")
        let tokenizer = try Tokenizer(gguf: try GGUFFile(url: try TestPaths.require(TestPaths.gemma3)))
        #expect(reference.tokenizerCases.count >= 5)
        for (text, ids) in reference.tokenizerCases {
            #expect(tokenizer.encode(text, addSpecialTokens: false) == ids, "\(text.debugDescription)")
            #expect(tokenizer.decode(ids) == text, "\(text.debugDescription)")
        }
        #expect(tokenizer.encode(reference.tokenizerCases[0].text).map(Int32.init) == reference.promptIds)
    }
}
