// A flat batch of packed or padded sequences: what the engine's forward and backward passes take.

/// A flat batch of tokens: packed or padded sequences side by side.
public struct TokenBatch: Sendable, Equatable {
    /// Input token ids [N].
    public var tokens: [Int32]
    /// The token each position should predict, or −1 where no loss is taken [N].
    public var targets: [Int32]
    /// Position of each token inside its own sequence (RoPE restarts for every packed sequence) [N].
    public var positions: [Int32]
    /// Which sequence each token belongs to; −1 marks padding [N].
    public var sequenceIds: [Int32]

    public init(tokens: [Int32], targets: [Int32], positions: [Int32], sequenceIds: [Int32]) {
        precondition(
            tokens.count == targets.count && tokens.count == positions.count && tokens.count == sequenceIds.count,
            "batch arrays differ in length")
        self.tokens = tokens
        self.targets = targets
        self.positions = positions
        self.sequenceIds = sequenceIds
    }

    /// Packs sequences one after another. `labels[i][t]` is the target at position t of sequence i (−1: none).
    public init(sequences: [[Int32]], labels: [[Int32]]) {
        var tokens: [Int32] = [], targets: [Int32] = [], positions: [Int32] = [], ids: [Int32] = []
        for (i, sequence) in sequences.enumerated() {
            tokens += sequence
            targets += labels[i]
            positions += (0..<sequence.count).map(Int32.init)
            ids += Array(repeating: Int32(i), count: sequence.count)
        }
        self.init(tokens: tokens, targets: targets, positions: positions, sequenceIds: ids)
    }

    public var count: Int { tokens.count }
    /// Positions that carry a loss.
    public var targetCount: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}
