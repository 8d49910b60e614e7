// Exponentials sixteen lanes at a time, for the softmaxes (attention, cross-entropy) and the SwiGLU gate.
// libm's expf is one call per element and was 6% of a bf16 training step; these stay in registers.
//
// e^x = 2^n · e^r with n = round(x / ln 2) and r = x − n·ln 2 in [−ln2/2, ln2/2]. ln 2 is split in two
// (Cody–Waite: a short high part whose product with n is exact, and the remainder) so r keeps full precision, and
// e^r comes from the degree-6 minimax polynomial of Cephes' expf. Relative error ≤ 2 ulp on the clamped range;
// inputs below −87.3 give ~1.2e−38 (the smallest normal float) instead of a denormal or 0.

// x, y: [count] (any count; the tail is computed in one padded vector)

@inline(__always)
func exp16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // The upper clamp keeps n ≤ 127 (e^88 ≈ 1.7e38): only a softmax's shifted scores or −g of a gate reach here.
    // Compare-and-select clamps compile to two masked moves; `clamped` and `pointwiseMin/Max` go lane by lane.
    let low = SIMD16<Float>(repeating: -87.33), high = SIMD16<Float>(repeating: 88.0)
    var clamped = x.replacing(with: low, where: x .< low)
    clamped.replace(with: high, where: clamped .> high)
    // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits (Swift's generic
    // rounding and Float→Int32 vector conversions are per-lane calls).
    let magic: Float = 12_582_912
    let shifted = SIMD16(repeating: magic).addingProduct(clamped, SIMD16(repeating: 1.442_695_04))
    let n = shifted - magic
    var r = clamped.addingProduct(n, SIMD16(repeating: -0.693_359_375))
    r = r.addingProduct(n, SIMD16(repeating: 2.121_944_4e-4))
    @inline(__always) func step(_ p: SIMD16<Float>, _ c: Float) -> SIMD16<Float> {
        SIMD16(repeating: c).addingProduct(p, r)
    }
    var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
    p = step(p, 1.398_199_950_7e-3)
    p = step(p, 8.333_451_907_3e-3)
    p = step(p, 4.166_579_589_4e-2)
    p = step(p, 1.666_666_545_9e-1)
    p = step(p, 5.000_000_120_1e-1)
    let er = (r + 1).addingProduct(p, r * r)
    let exponent = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return er * unsafeBitCast(exponent, to: SIMD16<Float>.self)
}

/// σ(g) = 1 / (1 + e^−g), sixteen lanes.
@inline(__always)
func sigmoid16(_ g: SIMD16<Float>) -> SIMD16<Float> {
    1 / (1 + exp16(-g))
}

/// tanh(u) = 1 − 2 / (e^{2u} + 1); exp16's clamp keeps it at ±1 for large |u|. Exact in absolute terms, loses
/// relative precision for tiny |u| (fine for gates and capped scores).
@inline(__always)
func tanh16(_ u: SIMD16<Float>) -> SIMD16<Float> {
    let one = SIMD16<Float>(repeating: 1)
    let e: SIMD16<Float> = exp16(u + u)
    return one - 2 / (e + one)
}

/// Runs `body` over sixteen-lane slices of `0..<count`, split across the pool for large counts; the last slice of a
/// chunk holds `lanes` < 16 valid elements (load and store it with `load16(_:lanes:)` / `store16(_:_:lanes:)`).
/// The compiler keeps a large `body` out of line (a call per sixteen elements, about 15% of a training step when
/// SwiGLU used it), so the kernels on the training path write their loops out instead.
@inline(__always)
func forEachVector(_ count: Int, pool: WorkerPool, _ body: (_ start: Int, _ lanes: Int) -> Void) {
    pool.forEachChunk(count, minimumChunk: 16_384) { range in
        // Full vectors with a constant lane count (their lane checks fold away), then the tail once.
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            body(i, 16)
            i += 16
        }
        if i < range.upperBound { body(i, range.upperBound - i) }
    }
}

/// `lanes` (≤ 16) floats, zeros in the other lanes.
@inline(__always)
func load16(_ x: UnsafePointer<Float>, lanes: Int) -> SIMD16<Float> {
    lanes == 16 ? load16(x) : loadPartial16(x, count: lanes, fill: 0)
}

/// Stores the first `lanes` (≤ 16) lanes.
@inline(__always)
func store16(_ v: SIMD16<Float>, _ y: UnsafeMutablePointer<Float>, lanes: Int) {
    if lanes == 16 { store16(v, y) } else { storePartial16(v, y, count: lanes) }
}

/// Loads `count` (< 16) floats into the low lanes, `fill` in the others.
@inline(__always)
func loadPartial16(_ x: UnsafePointer<Float>, count: Int, fill: Float) -> SIMD16<Float> {
    var v = SIMD16<Float>(repeating: fill)
    for i in 0..<count { v[i] = x[i] }
    return v
}

@inline(__always)
func storePartial16(_ v: SIMD16<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] = v[i] }
}

@inline(__always)
func load16(_ x: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(x).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func store16(_ v: SIMD16<Float>, _ y: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(y).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// The largest of x[0..<count] (count ≥ 1).
func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var best = SIMD16<Float>(repeating: -.infinity)
    var i = 0
    while i + 16 <= count {
        let v = load16(x + i)
        best.replace(with: v, where: v .> best)
        i += 16
    }
    var result = best.max()
    while i < count {
        result = max(result, x[i])
        i += 1
    }
    return result
}

/// y[i] = e^(x[i] − shift) for i < count; returns Σ y. `x` and `y` may be the same buffer.
func exponentials(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
    var sum = SIMD16<Float>(repeating: 0)
    var i = 0
    while i + 16 <= count {
        let e = exp16(load16(x + i) - shift)
        store16(e, y + i)
        sum += e
        i += 16
    }
    var total = sum.sum()
    if i < count {
        let e = exp16(loadPartial16(x + i, count: count - i, fill: shift) - shift)
        storePartial16(e, y + i, count: count - i)
        for lane in 0..<(count - i) { total += e[lane] }
    }
    return total
}

/// x[i] *= factor for i < count.
func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    var i = 0
    while i + 16 <= count {
        store16(load16(x + i) * factor, x + i)
        i += 16
    }
    while i < count {
        x[i] *= factor
        i += 1
    }
}

/// e^x through `exp16`, one lane used: for tests of the vector path against Double.
public func vectorExp(_ x: Float) -> Float {
    exp16(SIMD16(repeating: x))[0]
}
