// Seeded inputs, finite differences and comparisons shared by the kernel tests.
import Tensors
import TestSupport


func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale...scale, using: &generator) }
}

/// Largest |a − b| / max(1, |b|) over the elements.
func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var worst: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i]) / max(1, abs(b[i]))) }
    return worst
}

/// Central finite differences of a scalar function of `x`, one coordinate at a time, in Float32 arithmetic.
func finiteDifferences(_ x: [Float], epsilon: Float = 1e-2, indices: [Int]? = nil, _ f: ([Float]) -> Double)
    -> [(index: Int, value: Float)]
{
    (indices ?? Array(x.indices)).map { i in
        var plus = x
        var minus = x
        plus[i] += epsilon
        minus[i] -= epsilon
        return (i, Float((f(plus) - f(minus)) / Double(2 * epsilon)))
    }
}

/// Σ y·w in Double: the scalar "loss" whose gradient with respect to y is w.
func weightedSum(_ y: [Float], _ w: [Float]) -> Double {
    zip(y, w).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

extension Array where Element == Float {
    /// Runs `body` with a mutable pointer to a copy and returns the copy.
    func mutated(_ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var copy = self
        copy.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        return copy
    }
}
