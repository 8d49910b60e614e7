// Weight matrices kept as stored (GGUF quant blocks, bf16) against the same weights dequantized at load: logits and
// every LoRA gradient agree to 1e-5 relative (same values, different panelling), per block type; llama's Q/K rows
// are moved whole (WeightLoaderTests); generation's matrix-vector products from the blocks agree with the widened rows.
import Formats
import Foundation
import Tensors
import Testing

@testable import Models

/// Random but valid blocks: random bytes with every scale field set to a small finite half, so weights stay O(0.1).
func randomBlocks(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
    let blockSize = type.blockSize!, typeSize = type.typeSize!
    let blocks = rows * columns / blockSize
    var generator = SplitMix64(seed: seed)
    var bytes = (0..<(blocks * typeSize)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    // (offset of each half in the block, its value): ggml-common.h layouts.
    let scales: [(Int, Float)]
    switch type {
    case .q8_0: scales = [(0, 0.0025)]
    case .q4_0: scales = [(0, 0.04)]
    case .q4_1: scales = [(0, 0.04), (2, -0.3)]
    case .q5_0: scales = [(0, 0.02)]
    case .q5_1: scales = [(0, 0.02), (2, -0.3)]
    case .q2_K: scales = [(80, 0.006), (82, 0.003)]
    case .q3_K: scales = [(108, 0.002)]
    case .q4_K, .q5_K: scales = [(0, 0.0003), (2, 0.0003)]
    case .q6_K: scales = [(208, 0.0001)]
    default: scales = []
    }
    for b in 0..<blocks {
        for (offset, value) in scales {
            let bits = floatToFloat16Bits(value * Float(1 + (b % 7)) / 4)
            bytes[b * typeSize + offset] = UInt8(bits & 0xFF)
            bytes[b * typeSize + offset + 1] = UInt8(bits >> 8)
        }
    }
    return bytes
}

@Suite struct StoredWeightsTests {
    /// Every matrix dimension a multiple of 256, so K-quant super-blocks fit each row.
    static let config = ModelConfig(
        architecture: .llama, hiddenSize: 256, intermediateSize: 512, layerCount: 2, headCount: 4, kvHeadCount: 2,
        headDim: 64, vocabSize: 320, rmsNormEps: 1e-5, ropeTheta: 10_000, ropeScaling: nil,
        maxPositionEmbeddings: 64, tieWordEmbeddings: false, attentionBias: false, qkNorm: false, bosTokenId: 1,
        eosTokenIds: [2])

    /// The model's tensors with every matrix in `type` blocks (a view of bytes owned by `owner`).
    static func weights(_ type: GGMLType, owner: BytesOwner) -> ModelWeights {
        var tensors: [String: WeightTensor] = [:]
        for (k, expected) in WeightNames.expectedTensors(for: config).enumerated() {
            if expected.shape.count == 2 {
                let (rows, columns) = (expected.shape[0], expected.shape[1])
                let bytes = owner.keep(randomBlocks(type, rows: rows, columns: columns, seed: UInt64(k) + 1))
                let matrix = WeightMatrix(
                    viewing: bytes, layout: .packed(GGUFRowFormat(type)!), rows: rows, columns: columns, owner: owner)
                tensors[expected.huggingFaceName] = WeightTensor(matrix: matrix)
            } else {
                let values = (0..<expected.shape[0]).map { 1 + 0.1 * Float(sin(Double($0 + k))) }
                tensors[expected.huggingFaceName] = WeightTensor(shape: expected.shape, values: values)
            }
        }
        return ModelWeights(config: config, path: "blocks", tensors: tensors)
    }

    static func lora() -> LoRAParameters {
        let lora = LoRAParameters(model: config, config: LoRAConfig(rank: 4, alpha: 8))
        for i in 0..<lora.count { lora.values.pointer[i] = 0.05 * Float(sin(0.37 * Double(i) + 0.001 * Double(i * i))) }
        return lora
    }

    static let batch: TokenBatch = {
        let sequences: [[Int32]] = [(0..<24).map { Int32(($0 * 37 + 5) % 320) }, (0..<17).map { Int32(($0 * 11 + 3) % 320) }]
        return TokenBatch(sequences: sequences, labels: sequences.map { Array($0.dropFirst()) + [-1] })
    }()

    /// Logits and LoRA gradients of `weights` held as `storage`.
    static func run(_ weights: ModelWeights, storage: WeightStorage) throws -> (logits: [Float], gradients: [Float]) {
        let lora = lora()
        let model = Transformer(
            weights: try TransformerWeights(weights, storage: storage), lora: lora, threads: 2, maxPosition: 64)
        let logits = model.logits(batch)
        model.run(batch, gradScale: 1 / Float(batch.targetCount))
        return (logits, lora.gradients.array)
    }

    static let blockTypes: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    @Test(arguments: blockTypes)
    func quantizedStorageMatchesDequantizingAtLoad(_ type: GGMLType) throws {
        let owner = BytesOwner()
        let stored = try Self.run(Self.weights(type, owner: owner), storage: .quantized)
        let widened = try Self.run(Self.weights(type, owner: owner), storage: .float32)
        #expect(stored.logits.allSatisfy(\.isFinite) && stored.gradients.allSatisfy(\.isFinite))
        #expect(scaledError(stored.logits, widened.logits) <= 1e-5, "\(type) logits")
        #expect(scaledError(stored.gradients, widened.gradients) <= 1e-5, "\(type) LoRA gradients")
        #expect(stored.gradients.contains { $0 != 0 })
    }

    @Test(arguments: blockTypes)
    func matrixVectorProductsFromBlocksMatchWidenedRows(_ type: GGMLType) {
        let owner = BytesOwner()
        let (rows, columns) = (40, 512)
        let bytes = owner.keep(randomBlocks(type, rows: rows, columns: columns, seed: 9))
        let matrix = WeightMatrix(
            viewing: bytes, layout: .packed(GGUFRowFormat(type)!), rows: rows, columns: columns, owner: owner)
        let x = (0..<columns).map { Float(sin(0.3 * Double($0))) }
        var widened = [Float](repeating: 0, count: rows * columns)
        matrix.decodeRows(0..<rows, into: &widened, pool: WorkerPool(threadCount: 2))
        let expected = (0..<rows).map { r in
            Float((0..<columns).reduce(0.0) { $0 + Double(widened[r * columns + $1]) * Double(x[$1]) })
        }
        var y = [Float](repeating: 0, count: rows)
        matrix.multiply(vector: x, into: &y, accumulate: false, pool: WorkerPool(threadCount: 2), integer: false)
        #expect(scaledError(y, expected) <= 1e-5, "\(type)")
    }

    // Integer kernels exist on x86-64 with AVX2; elsewhere the test is reported as skipped.
    @Test(.enabled(if: GGUFQuantization.integerKernelISA != nil), arguments: [GGMLType.q8_0, .q4_0, .q4_1])
    func integerProductsEqualTheBlocksTimesQuantizedActivations(_ type: GGMLType) {
        let owner = BytesOwner()
        let (rows, columns) = (70, 576)
        let bytes = owner.keep(randomBlocks(type, rows: rows, columns: columns, seed: 11))
        let format = GGUFRowFormat(type)!
        #expect(format.hasIntegerDot)
        let matrix = WeightMatrix(viewing: bytes, layout: .packed(format), rows: rows, columns: columns, owner: owner)
        let x = (0..<columns).map { Float(sin(0.37 * Double($0)) * (1 + Double($0 % 7))) }
        var widened = [Float](repeating: 0, count: rows * columns)
        matrix.decodeRows(0..<rows, into: &widened, pool: WorkerPool(threadCount: 2))
        let quantized = Int16Activations(x, count: columns)
        let xHat = (0..<columns).map { Float(quantized.quantized[$0]) * quantized.scales[$0 / 32] }
        for b in 0..<(columns / 32) {
            let sum = (0..<32).reduce(Float(0)) { $0 + Float(quantized.quantized[32 * b + $1]) }
            #expect(abs(quantized.sums[b] - quantized.scales[b] * sum) <= 1e-6 * abs(quantized.scales[b] * 32 * 32767))
        }
        // Each element within half a quantization step (and the Float rounding of x · 32767 / largest).
        #expect((0..<columns).allSatisfy { abs(xHat[$0] - x[$0]) <= 0.51 * quantized.scales[$0 / 32] })
        func product(_ v: [Float]) -> [Float] {
            (0..<rows).map { r in
                Float((0..<columns).reduce(0.0) { $0 + Double(widened[r * columns + $1]) * Double(v[$1]) })
            }
        }
        var y = [Float](repeating: 1, count: rows)
        matrix.multiply(vector: x, into: &y, accumulate: true, pool: WorkerPool(threadCount: 2), integer: true)
        let exact = product(xHat).map { $0 + 1 }
        #expect(scaledError(y, exact) <= 1e-5, "\(type): the same products as W · x̂")
        #expect(scaledError(y, product(x).map { $0 + 1 }) <= 1e-4, "\(type): within the rounding of x to 16 bits")
        // Every path this CPU has (the portable C loop, AVX2, AVX512-VNNI) gives the same products.
        for path in GGUFQuantization.IntegerKernelPath.allCases {
            var z = [Float](repeating: 0, count: rows)
            let ran = GGUFQuantization.dotRows(
                type, bytes, rowBytes: matrix.rowBytes, rows: rows, blocks: columns / 32,
                quantized: quantized.quantized, scales: quantized.scales, sums: quantized.sums, into: &z,
                accumulate: false, on: path)
            if ran { #expect(scaledError(z, product(xHat)) <= 1e-5, "\(type) on \(path)") }
            if path == .portable { #expect(ran) }
        }
    }

    // bf16 products need oneDNN and a CPU with native bf16; elsewhere the test is reported as skipped.
    @Test(.enabled(if: MatmulKernels.current.nativeBFloat16))
    func bfloat16ProductsTrackFloat32() throws {
        let owner = BytesOwner()
        let lora32 = Self.lora(), lora16 = Self.lora()
        let fp32 = Transformer(
            weights: try TransformerWeights(Self.weights(.q8_0, owner: owner), storage: .quantized), lora: lora32,
            threads: 2, maxPosition: 64)
        let bf16 = Transformer(
            weights: try TransformerWeights(Self.weights(.q8_0, owner: owner), storage: .quantized), lora: lora16,
            threads: 2, maxPosition: 64, precision: .bf16)
        let scale = 1 / Float(Self.batch.targetCount)
        let a = fp32.run(Self.batch, gradScale: scale), b = bf16.run(Self.batch, gradScale: scale)
        // bf16 inputs carry 8 bits of mantissa: the loss within 1%, and the gradient pointing the same way (on random
        // weights single entries move by up to ~10% of the largest; the direction is what the optimizer follows).
        #expect(abs(a.lossSum - b.lossSum) / a.lossSum < 1e-2)
        let g16 = lora16.gradients.array.map(Double.init), g32 = lora32.gradients.array.map(Double.init)
        let cosine = zip(g16, g32).reduce(0) { $0 + $1.0 * $1.1 }
            / (g16.reduce(0) { $0 + $1 * $1 }.squareRoot() * g32.reduce(0) { $0 + $1 * $1 }.squareRoot())
        #expect(cosine > 0.99, "cosine of bf16 and fp32 gradients \(cosine)")
        #expect(scaledError(lora16.gradients.array, lora32.gradients.array) < 0.15)
        #expect(fp32.matmul.bf16Implementations.isEmpty && !bf16.matmul.bf16Implementations.isEmpty)
    }
}

/// Keeps test-made block bytes alive for the matrices that view them.
final class BytesOwner: @unchecked Sendable {
    private var buffers: [UnsafeMutableRawPointer] = []

    func keep(_ bytes: [UInt8]) -> UnsafeRawPointer {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        buffers.append(buffer)
        return UnsafeRawPointer(buffer)
    }

    deinit { for buffer in buffers { buffer.deallocate() } }
}
