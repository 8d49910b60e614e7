// Keys and values of every layer for the tokens generated so far, so each new token costs one row of work.
import Tensors

/// Per-layer key/value rows for up to `capacity` positions of one sequence.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    /// Positions filled so far.
    public internal(set) var count = 0
    let keys: [FloatBuffer]  // L × [capacity, KVH·D]
    let values: [FloatBuffer]

    /// A cache for `config` holding up to `capacity` tokens.
    public init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        let width = config.kvHeadCount * config.headDim
        keys = (0..<config.layerCount).map { _ in FloatBuffer(count: capacity * width) }
        values = (0..<config.layerCount).map { _ in FloatBuffer(count: capacity * width) }
    }

    /// Forgets every position (a new conversation).
    public func reset() { count = 0 }
}
