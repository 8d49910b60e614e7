// ggml block formats → Float32, block by block, parallel over big tensors.
//
// Block layouts (ggml-common.h; `half` = IEEE binary16, all little-endian; QK_K = 256):
//  Q4_0  18 B / 32: half d; u8 qs[16]                x[j] = d·((qs[j]&15) − 8), x[j+16] = d·((qs[j]>>4) − 8)
//  Q4_1  20 B / 32: half d, m; u8 qs[16]             x = d·q + m
//  Q5_0  22 B / 32: half d; u32 qh; u8 qs[16]        bit j of qh is the 5th bit of element j; x = d·(q − 16)
//  Q5_1  24 B / 32: half d, m; u32 qh; u8 qs[16]     x = d·q + m
//  Q8_0  34 B / 32: half d; i8 qs[32]                x = d·q
//  Q2_K  84 B:  u8 scales[16] (lo 4 bits scale, hi 4 bits min); u8 qs[64] (2-bit); half d, dmin
//  Q3_K 110 B:  u8 hmask[32]; u8 qs[64] (low 2 bits); u8 scales[12] (16 × 6-bit, signed −32); half d
//  Q4_K 144 B:  half d, dmin; u8 scales[12] (8 × 6-bit scale + 8 × 6-bit min); u8 qs[128]
//  Q5_K 176 B:  half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
//  Q6_K 210 B:  u8 ql[128]; u8 qh[64]; i8 scales[16]; half d
// Float arithmetic follows ggml's dequantize_row_* (scale products in Float32 first), so results match bit for bit.
import Dispatch
import Foundation

/// Converts the tensor types Tailor supports to Float32.
public enum GGUFQuantization {
    /// The types `dequantize` accepts.
    public static let supportedTypes: Set<GGMLType> = [
        .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]

    /// Tensors with at least this many elements are split across cores.
    static let parallelThreshold = 1 << 16

    /// Dequantizes `count` elements of `type` from `bytes` into `into` (which must have room for `count` floats).
    ///
    /// `tensor` and `path` only name the data in errors. Throws `unsupportedTensorType` for other types,
    /// `malformed` when `count` is not a whole number of blocks, `truncated` when `bytes` is too short.
    public static func dequantize(
        _ type: GGMLType, bytes: UnsafeRawBufferPointer, count: Int, into output: UnsafeMutablePointer<Float>,
        tensor: String = "<buffer>", path: String = "<memory>"
    ) throws {
        guard supportedTypes.contains(type), let blockSize = type.blockSize, let typeSize = type.typeSize else {
            throw FormatsError.unsupportedTensorType(path: path, tensor: tensor, type: type.name)
        }
        guard count >= 0, count % blockSize == 0 else {
            throw FormatsError.malformed(
                path: path,
                reason: "tensor '\(tensor)' has \(count) elements, not a multiple of the \(type.name) block size \(blockSize)")
        }
        let blocks = count / blockSize
        let (needed, overflow) = blocks.multipliedReportingOverflow(by: typeSize)
        guard !overflow, needed <= bytes.count else {
            throw FormatsError.truncated(
                path: path, what: "\(type.name) data of tensor '\(tensor)'", needed: needed, available: bytes.count)
        }
        guard blocks > 0, let source = bytes.baseAddress else { return }
        let kernel = Self.kernel(for: type)

        if count < parallelThreshold {
            kernel(source, output, 0..<blocks)
            return
        }
        // Big chunks (a few per core) keep scheduling overhead negligible next to the work.
        let cores = max(1, min(ProcessInfo.activeProcessorCountCached, 64))
        let chunks = min(blocks, cores * 4)
        let perChunk = (blocks + chunks - 1) / chunks
        let shared = SharedPointers(source: source, output: output)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * perChunk
            let end = min(blocks, start + perChunk)
            if start < end { kernel(shared.source, shared.output, start..<end) }
        }
    }

    /// A block kernel: dequantizes blocks `range` of `source` into `output` (block b → output[b·blockSize…]).
    typealias Kernel = @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>, Range<Int>) -> Void

    static func kernel(for type: GGMLType) -> Kernel {
        switch type {
        case .f32: return dequantizeF32
        case .f16: return dequantizeF16
        case .bf16: return dequantizeBF16
        case .q8_0: return dequantizeQ8_0
        case .q4_0: return dequantizeQ4_0
        case .q4_1: return dequantizeQ4_1
        case .q5_0: return dequantizeQ5_0
        case .q5_1: return dequantizeQ5_1
        case .q2_K: return dequantizeQ2_K
        case .q3_K: return dequantizeQ3_K
        case .q4_K: return dequantizeQ4_K
        case .q5_K: return dequantizeQ5_K
        default: return dequantizeQ6_K
        }
    }
}

/// Raw pointers handed to worker threads; each thread writes a disjoint range of blocks.
private struct SharedPointers: @unchecked Sendable {
    let source: UnsafeRawPointer
    let output: UnsafeMutablePointer<Float>
}

extension ProcessInfo {
    static let activeProcessorCountCached = ProcessInfo.processInfo.activeProcessorCount
}

@inline(__always)
private func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

/// binary16 bits → Float32 (exact either way): the CPU's own conversion (F16C, NEON) where Swift has `Float16`.
@inline(__always)
func halfToFloat(_ bits: UInt16) -> Float {
    #if (arch(x86_64) && !os(macOS)) || arch(arm64)
    return Float(Float16(bitPattern: bits))
    #else
    return float16BitsToFloat(bits)
    #endif
}

@inline(__always)
private func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
    p.load(fromByteOffset: offset, as: UInt8.self)
}

@Sendable private func dequantizeF32(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    let base = src + range.lowerBound * 4
    for i in 0..<range.count {
        out[range.lowerBound + i] = Float(
            bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
    }
}

@Sendable private func dequantizeF16(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    let base = src + range.lowerBound * 2
    for i in 0..<range.count {
        out[range.lowerBound + i] = half(base, i * 2)
    }
}

@Sendable private func dequantizeBF16(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    let base = src + range.lowerBound * 2
    for i in 0..<range.count {
        out[range.lowerBound + i] = bfloat16BitsToFloat(
            UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
    }
}

// Q8_0, Q4_0 and Q4_1 sixteen lanes at a time: the same products and sums as the scalar forms, so the same bits.

/// Sixteen small integers as floats; written as a loop, which the compiler turns into one widening and one convert
/// (the generic SIMD conversions compile to calls).
@inline(__always)
func widen(_ q: SIMD16<UInt8>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for j in 0..<16 { r[j] = Float(q[j]) }
    return r
}

@inline(__always)
func widen(_ q: SIMD16<Int8>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for j in 0..<16 { r[j] = Float(q[j]) }
    return r
}

@Sendable private func dequantizeQ8_0(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 34
        let y = UnsafeMutableRawPointer(out + b * 32)
        let d = half(block, 0)
        let q = block.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self)
        y.storeBytes(of: widen(q.lowHalf) * d, as: SIMD16<Float>.self)
        y.storeBytes(of: widen(q.highHalf) * d, toByteOffset: 64, as: SIMD16<Float>.self)
    }
}

@Sendable private func dequantizeQ4_0(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 18
        let y = UnsafeMutableRawPointer(out + b * 32)
        let d = half(block, 0)
        let q = block.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
        y.storeBytes(of: (widen(q & 0x0F) - 8) * d, as: SIMD16<Float>.self)
        y.storeBytes(of: (widen(q &>> 4) - 8) * d, toByteOffset: 64, as: SIMD16<Float>.self)
    }
}

@Sendable private func dequantizeQ4_1(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 20
        let y = UnsafeMutableRawPointer(out + b * 32)
        let d = half(block, 0)
        let m = half(block, 2)
        let q = block.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        y.storeBytes(of: widen(q & 0x0F) * d + m, as: SIMD16<Float>.self)
        y.storeBytes(of: widen(q &>> 4) * d + m, toByteOffset: 64, as: SIMD16<Float>.self)
    }
}

@Sendable private func dequantizeQ5_0(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 22
        let y = out + b * 32
        let d = half(block, 0)
        let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(block, 6 + j)
            let high0 = Int((qh >> UInt32(j)) & 1) << 4
            let high1 = Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = Float((Int(q & 0x0F) | high0) - 16) * d
            y[j + 16] = Float((Int(q >> 4) | high1) - 16) * d
        }
    }
}

@Sendable private func dequantizeQ5_1(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 24
        let y = out + b * 32
        let d = half(block, 0)
        let m = half(block, 2)
        let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(block, 8 + j)
            let high0 = Int((qh >> UInt32(j)) & 1) << 4
            let high1 = Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = Float(Int(q & 0x0F) | high0) * d + m
            y[j + 16] = Float(Int(q >> 4) | high1) * d + m
        }
    }
}

@Sendable private func dequantizeQ2_K(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 84
        var y = out + b * 256
        let d = half(block, 80)
        let dmin = half(block, 82)
        var scaleIndex = 0
        for half128 in 0..<2 {
            let qs = 16 + half128 * 32  // 128 elements use 32 bytes of 2-bit values, four shifts deep
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0..<2 {  // two groups of 16 elements, each with its own scale and min
                    let sc = byte(block, scaleIndex)
                    scaleIndex += 1
                    let dl = d * Float(sc & 0x0F)
                    let ml = dmin * Float(sc >> 4)
                    for l in 0..<16 {
                        y[l] = dl * Float((byte(block, qs + part * 16 + l) >> UInt8(shift)) & 3) - ml
                    }
                    y += 16
                }
            }
        }
    }
}

@Sendable private func dequantizeQ3_K(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 110
        let y = out + b * 256
        let d = half(block, 108)
        // 16 six-bit scales: low 4 bits from bytes 0…7 (low then high nibbles), high 2 bits from bytes 8…11.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { s in
            for i in 0..<16 {
                let packed = byte(block, 96 + (i & 7))
                let low = i < 8 ? packed & 0x0F : packed >> 4
                let high = (byte(block, 96 + 8 + (i & 3)) >> UInt8(2 * (i >> 2))) & 3
                s[i] = d * Float(Int(low | (high << 4)) - 32)
            }
            for e in 0..<256 {
                let n = e >> 7, j = (e >> 5) & 3, l = e & 31
                let low = Int((byte(block, 32 + n * 32 + l) >> UInt8(2 * j)) & 3)
                let highSet = (byte(block, l) >> UInt8(n * 4 + j)) & 1 != 0
                // A clear hmask bit means the value is offset by −4.
                y[e] = s[e >> 4] * Float(low - (highSet ? 0 : 4))
            }
        }
    }
}

/// The 8 six-bit (scale, min) pairs of Q4_K and Q5_K, packed in 12 bytes.
@inline(__always)
private func kScaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (UInt8, UInt8) {
    if j < 4 {
        return (byte(scales, j) & 63, byte(scales, j + 4) & 63)
    }
    let sc = (byte(scales, j + 4) & 0x0F) | ((byte(scales, j - 4) >> 6) << 4)
    let m = (byte(scales, j + 4) >> 4) | ((byte(scales, j) >> 6) << 4)
    return (sc, m)
}

@Sendable private func dequantizeQ4_K(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 144
        let y = out + b * 256
        let d = half(block, 0)
        let dmin = half(block, 2)
        for chunk in 0..<4 {  // 64 elements: low nibbles of 32 bytes, then high nibbles
            let (sc0, m0) = kScaleMin(block + 4, 2 * chunk)
            let (sc1, m1) = kScaleMin(block + 4, 2 * chunk + 1)
            let d0 = d * Float(sc0), min0 = dmin * Float(m0)
            let d1 = d * Float(sc1), min1 = dmin * Float(m1)
            let qs = 16 + chunk * 32
            let yc = y + chunk * 64
            for l in 0..<32 {
                let q = byte(block, qs + l)
                yc[l] = d0 * Float(q & 0x0F) - min0
                yc[l + 32] = d1 * Float(q >> 4) - min1
            }
        }
    }
}

@Sendable private func dequantizeQ5_K(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 176
        let y = out + b * 256
        let d = half(block, 0)
        let dmin = half(block, 2)
        for chunk in 0..<4 {
            let (sc0, m0) = kScaleMin(block + 4, 2 * chunk)
            let (sc1, m1) = kScaleMin(block + 4, 2 * chunk + 1)
            let d0 = d * Float(sc0), min0 = dmin * Float(m0)
            let d1 = d * Float(sc1), min1 = dmin * Float(m1)
            let qs = 48 + chunk * 32
            let yc = y + chunk * 64
            for l in 0..<32 {
                let q = byte(block, qs + l)
                let h = byte(block, 16 + l)  // bit s of qh[l] is the 5th bit of sub-block s, element l
                let h0 = ((h >> UInt8(2 * chunk)) & 1) << 4
                let h1 = ((h >> UInt8(2 * chunk + 1)) & 1) << 4
                yc[l] = d0 * Float((q & 0x0F) | h0) - min0
                yc[l + 32] = d1 * Float((q >> 4) | h1) - min1
            }
        }
    }
}

@Sendable private func dequantizeQ6_K(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    for b in range {
        let block = src + b * 210
        let y = out + b * 256
        let d = half(block, 208)
        for n in 0..<2 {  // two halves of 128 elements
            let ql = n * 64, qh = 128 + n * 32, sc = 192 + n * 8
            let yn = y + n * 128
            for l in 0..<32 {
                let h = Int(byte(block, qh + l))
                let a = byte(block, ql + l), c = byte(block, ql + l + 32)
                let q1 = Int(a & 0x0F) | ((h & 3) << 4)
                let q2 = Int(c & 0x0F) | (((h >> 2) & 3) << 4)
                let q3 = Int(a >> 4) | (((h >> 4) & 3) << 4)
                let q4 = Int(c >> 4) | (((h >> 6) & 3) << 4)
                let group = l / 16
                yn[l] = d * Float(Int8(bitPattern: byte(block, sc + group))) * Float(q1 - 32)
                yn[l + 32] = d * Float(Int8(bitPattern: byte(block, sc + group + 2))) * Float(q2 - 32)
                yn[l + 64] = d * Float(Int8(bitPattern: byte(block, sc + group + 4))) * Float(q3 - 32)
                yn[l + 96] = d * Float(Int8(bitPattern: byte(block, sc + group + 6))) * Float(q4 - 32)
            }
        }
    }
}
