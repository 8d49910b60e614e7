// IEEE half (binary16) and bfloat16 ↔ Float32, bit-exact, used by safetensors and GGUF alike.

/// Converts IEEE binary16 bits to Float32 exactly (subnormals, infinities and NaN included).
@inline(__always)
public func float16BitsToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: value = mantissa · 2⁻²⁴.
        let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// Converts Float32 to IEEE binary16 bits with round-to-nearest-even (as numpy's `astype(float16)`).
@inline(__always)
public func floatToFloat16Bits(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    let mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF {  // Inf or NaN
        return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0)
    }
    let unbiased = exponent - 127
    if unbiased > 15 { return sign | 0x7C00 }
    if unbiased >= -14 {
        var half = UInt32((unbiased + 15) << 10) | (mantissa >> 13)
        let rest = mantissa & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half)
    }
    if unbiased < -25 { return sign }
    // Subnormal half: shift the full mantissa (with its implicit bit) into place and round to nearest even.
    let full = mantissa | 0x80_0000
    let shift = UInt32(-unbiased - 14 + 13)
    var half = full >> shift
    let rest = full & ((1 << shift) - 1)
    let halfway = UInt32(1) << (shift - 1)
    if rest > halfway || (rest == halfway && (half & 1) == 1) { half += 1 }
    return sign | UInt16(half)
}

/// Converts bfloat16 bits to Float32 exactly.
@inline(__always)
public func bfloat16BitsToFloat(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

/// Converts Float32 to bfloat16 bits with round-to-nearest-even (as PyTorch's `.to(torch.bfloat16)`).
@inline(__always)
public func floatToBFloat16Bits(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if f.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}
