// Picks the next token from logits: greedy, or temperature with top-k, top-p and min-p filters, after a
// repetition penalty (as transformers' RepetitionPenaltyLogitsProcessor: divide positive logits, multiply negative ones).
import Foundation

/// How to choose tokens during generation.
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// Keep only the k most likely tokens (0: off).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches p (1: off).
    public var topP: Float
    /// Drop tokens less likely than minP × the most likely one (0: off).
    public var minP: Float
    /// > 1 discourages tokens already in the context (1: off).
    public var repetitionPenalty: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0,
                repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    /// Greedy decoding.
    public static let greedy = SamplingParameters()
}

/// A seeded token sampler; one per generation so results are reproducible.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var generator: SplitMix64

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        generator = SplitMix64(seed: parameters.seed)
    }

    /// The next token given `logits` [V] and the tokens seen so far (for the repetition penalty).
    public mutating func next(logits input: [Float], context: [Int32]) -> Int32 {
        var logits = input
        if parameters.repetitionPenalty != 1 {
            for token in Set(context) where Int(token) < logits.count {
                let value = logits[Int(token)]
                logits[Int(token)] = value > 0 ? value / parameters.repetitionPenalty : value * parameters.repetitionPenalty
            }
        }
        if parameters.temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        // Candidates sorted by logit; the filters only ever cut the tail.
        var candidates = logits.indices.map { (index: $0, logit: logits[$0] / parameters.temperature) }
        candidates.sort { $0.logit > $1.logit }
        if parameters.topK > 0 { candidates = Array(candidates.prefix(parameters.topK)) }
        let maximum = candidates[0].logit
        var probabilities = candidates.map { Double(exp($0.logit - maximum)) }
        var total = probabilities.reduce(0, +)
        var keep = candidates.count
        if parameters.minP > 0 {
            let threshold = Double(parameters.minP) * probabilities[0]
            keep = max(1, probabilities.prefix { $0 >= threshold }.count)
        }
        if parameters.topP < 1 {
            var cumulative = 0.0
            var needed = 0
            for p in probabilities.prefix(keep) {
                cumulative += p / total
                needed += 1
                if cumulative >= Double(parameters.topP) { break }
            }
            keep = min(keep, max(1, needed))
        }
        probabilities = Array(probabilities.prefix(keep))
        total = probabilities.reduce(0, +)
        var u = Double(generator.next() >> 11) * (1.0 / 9_007_199_254_740_992.0) * total
        for (i, p) in probabilities.enumerated() {
            u -= p
            if u <= 0 { return Int32(candidates[i].index) }
        }
        return Int32(candidates[keep - 1].index)
    }
}

/// Generates tokens with a KV cache, streaming each one.
public struct Generator {
    public let model: Transformer

    public init(model: Transformer) { self.model = model }

    /// Continues `prompt` until a stop token, `maxTokens`, or `onToken` returning false. Returns the new tokens
    /// (a stop token that ended generation is not included). Stop tokens are suppressed until `minTokens` have been
    /// produced, as transformers' `min_new_tokens` does.
    public func generate(
        prompt: [Int32], maxTokens: Int, sampling: SamplingParameters, stopTokens: Set<Int32>, minTokens: Int = 0,
        onToken: (Int32) -> Bool = { _ in true }
    ) -> [Int32] {
        guard !prompt.isEmpty, maxTokens > 0 else { return [] }
        let cache = KVCache(config: model.config, capacity: prompt.count + maxTokens)
        var sampler = Sampler(sampling)
        var context = prompt
        var output: [Int32] = []
        var logits = model.decode(prompt, cache: cache)
        while output.count < maxTokens {
            if output.count < minTokens {
                for stop in stopTokens where Int(stop) < logits.count { logits[Int(stop)] = -.infinity }
            }
            let token = sampler.next(logits: logits, context: context)
            if stopTokens.contains(token) { break }
            output.append(token)
            context.append(token)
            if !onToken(token) || output.count == maxTokens { break }
            logits = model.decode([token], cache: cache)
        }
        return output
    }
}
