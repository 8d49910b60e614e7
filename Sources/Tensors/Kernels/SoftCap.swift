// Logit soft-capping (Gemma 2: attention scores and final logits): y = cap · tanh(x / cap).
// The backward pass needs only the output: dy/dx = 1 − tanh² = 1 − (y / cap)².

// x, y, dx, dy: [count]

/// y = cap · tanh(x / cap), in place.
public func softCapForward(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
    let inverse = 1 / cap
    var i = 0
    while i < count {
        let lanes = min(16, count - i)
        let v = lanes == 16 ? load16(x + i) : loadPartial16(x + i, count: lanes, fill: 0)
        // tanh(u) = 1 − 2 / (e^{2u} + 1)
        let one = SIMD16<Float>(repeating: 1)
        let e: SIMD16<Float> = exp16((2 * inverse) * v)
        let capped: SIMD16<Float> = cap * (one - 2 / (e + one))
        if lanes == 16 { store16(capped, x + i) } else { storePartial16(capped, x + i, count: lanes) }
        i += 16
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
