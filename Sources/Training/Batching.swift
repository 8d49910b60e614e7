import Datasets
// From tokenized examples to optimizer steps: the validation split, the seeded order of each epoch, micro-batches,
// and the shift of loss masks into next-token targets.
//
// Batches never pad: TokenBatch lays sequences side by side with per-token sequence ids, so a micro-batch costs
// exactly its tokens and "grouping by length" would save nothing. What matters is the token budget of a micro-batch
// (it sets activation memory): without packing a micro-batch is `batchSize` examples (at most batchSize × maxLength
// tokens); with `packing` it takes whole examples in order until the next one would pass batchSize × maxLength
// tokens, so every step carries about the same number of tokens and short examples need fewer steps.
import Foundation
import Models

/// One optimizer step: the examples of each of its micro-batches, and the epoch it belongs to (0-based).
public struct PlannedStep: Sendable, Equatable {
    public var microBatches: [[Int]]
    public var epoch: Int
    /// Steps in a whole pass of this epoch (also when `maxSteps` cuts the pass short).
    public var epochLength: Int
    /// 0-based index of this step inside its epoch.
    public var indexInEpoch: Int
}

/// Pure functions that turn examples into batches; every random choice comes from the run's seed.
public enum Batching {
    /// Splits off `fraction` of `examples` (at least one when the fraction is positive) for validation, after a
    /// seeded shuffle; both parts keep the file order.
    public static func split(_ examples: [TokenizedExample], fraction: Double, seed: UInt64)
        -> (train: [TokenizedExample], validation: [TokenizedExample])
    {
        guard fraction > 0, examples.count >= 2 else { return (examples, []) }
        let count = min(examples.count - 1, max(1, Int((fraction * Double(examples.count)).rounded())))
        let held = Set(shuffled(Array(examples.indices), seed: seed ^ 0x5641_4C5F_5350_4C54).prefix(count))
        let train = examples.indices.filter { !held.contains($0) }.map { examples[$0] }
        let validation = examples.indices.filter(held.contains).map { examples[$0] }
        return (train, validation)
    }

    /// Fisher–Yates shuffle driven by SplitMix64 (the same order on every platform).
    public static func shuffled(_ values: [Int], seed: UInt64) -> [Int] {
        var generator = SplitMix64(seed: seed)
        var result = values
        guard result.count > 1 else { return result }
        for i in stride(from: result.count - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            result.swapAt(i, j)
        }
        return result
    }

    /// The example order of `epoch`: a function of the seed and the epoch only, so resume can rebuild it.
    public static func order(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        shuffled(Array(0..<count), seed: seed &+ UInt64(epoch + 1) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Cuts `order` into micro-batches (see the file comment for `packing`).
    public static func microBatches(
        order: [Int], lengths: [Int], batchSize: Int, maxLength: Int, packing: Bool
    )
        -> [[Int]]
    {
        guard packing else {
            return stride(from: 0, to: order.count, by: batchSize).map {
                Array(order[$0..<min($0 + batchSize, order.count)])
            }
        }
        let budget = batchSize * maxLength
        var batches: [[Int]] = []
        var current: [Int] = []
        var tokens = 0
        for index in order {
            let length = min(lengths[index], maxLength)
            if !current.isEmpty && tokens + length > budget {
                batches.append(current)
                current = []
                tokens = 0
            }
            current.append(index)
            tokens += length
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// Every optimizer step of a run.
    ///
    /// Epochs of seeded order, cut into micro-batches, grouped `gradAccum` at a time (an epoch's last step may hold
    /// fewer). With `maxSteps`, epochs repeat until that many steps exist.
    public static func plan(lengths: [Int], parameters p: TrainingParameters) -> [PlannedStep] {
        var steps: [PlannedStep] = []
        var epoch = 0
        let wanted = p.maxSteps
        while wanted.map({ steps.count < $0 }) ?? (epoch < p.epochs) {
            let micro = microBatches(
                order: order(count: lengths.count, seed: p.seed, epoch: epoch), lengths: lengths,
                batchSize: p.batchSize, maxLength: p.maxLength, packing: p.packing)
            guard !micro.isEmpty else { break }
            let length = (micro.count + p.gradAccum - 1) / p.gradAccum
            for (index, start) in stride(from: 0, to: micro.count, by: p.gradAccum).enumerated() {
                steps.append(
                    PlannedStep(
                        microBatches: Array(micro[start..<min(start + p.gradAccum, micro.count)]),
                        epoch: epoch, epochLength: length, indexInEpoch: index))
            }
            epoch += 1
        }
        if let wanted { steps = Array(steps.prefix(wanted)) }
        return steps
    }

    /// Lays `examples` side by side in one TokenBatch.
    ///
    /// Position t predicts token t+1 when token t+1 is trained
    /// (the loss mask marks tokens to learn, the targets live one position earlier); the last position predicts nothing.
    public static func tokenBatch(_ examples: [TokenizedExample]) -> TokenBatch {
        TokenBatch(sequences: examples.map(\.ids), labels: examples.map(targets))
    }

    /// The token each position of `example` predicts (−1: none): the next token where that one is trained.
    public static func targets(_ example: TokenizedExample) -> [Int32] {
        let n = example.ids.count
        return (0..<n).map { t in t + 1 < n && example.trained[t + 1] ? example.ids[t + 1] : -1 }
    }

    /// Target tokens of one example (trained positions after the first).
    public static func targetCount(_ example: TokenizedExample) -> Int {
        example.trained.dropFirst().reduce(0) { $0 + ($1 ? 1 : 0) }
    }

    /// FNV-1a over every id and mask bit: resume refuses data that changed since the checkpoint.
    public static func fingerprint(_ examples: [TokenizedExample]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ value: UInt64) {
            var v = value
            for _ in 0..<8 {
                hash = (hash ^ (v & 0xFF)) &* 0x100_0000_01B3
                v >>= 8
            }
        }
        mix(UInt64(examples.count))
        for example in examples {
            mix(UInt64(example.ids.count))
            for (id, trained) in zip(example.ids, example.trained) {
                mix(UInt64(UInt32(bitPattern: id)) << 1 | (trained ? 1 : 0))
            }
        }
        return String(hash, radix: 16)
    }
}
