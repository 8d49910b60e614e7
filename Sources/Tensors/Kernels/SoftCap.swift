// Logit soft-capping (Gemma 2: attention scores and final logits): y = cap · tanh(x / cap).
// The backward pass needs only the output: dy/dx = 1 − tanh² = 1 − (y / cap)².

// x, y, dx, dy: [count]

/// y = cap · tanh(x / cap), in place.
public func softCapForward(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
    let inverse = 1 / cap
    forEachVector(count, pool: WorkerPool(threadCount: 1)) { i, lanes in
        store16(cap * tanh16(inverse * load16(x + i, lanes: lanes)), x + i, lanes: lanes)
    }
}

/// dx = dy · (1 − (y / cap)²) where y is the capped output; `dx` may be `dy`.
public func softCapBackward(
    dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, count: Int, cap: Float
) {
    let inverse = 1 / cap
    for i in 0..<count {
        let t = y[i] * inverse
        dx[i] = dy[i] * (1 - t * t)
    }
}
