// Dequantization of every supported ggml type and of real SmolLM2 tensors, against the Python gguf package.
// Fixtures: Tests/Fixtures/gguf, written by Scripts/reference/gguf_dequant.py.
import Foundation
import TestSupport
import Testing

@testable import Formats

private let fixtureFolder = TestPaths.fixtures.appendingPathComponent("gguf")

private struct BlockFixture: Decodable {
    let type: String
    let id: UInt32
    let count: Int
}

private struct RealTensorFixture: Decodable {
    let name: String
    let type: String
    let shape: [Int]
    let rows: [Int]
    let values: [[Double]]
    let sum: Double
    let absSum: Double
}

private func readFloats(_ url: URL) throws -> [Float] {
    let data = try Data(contentsOf: url)
    return data.withUnsafeBytes { raw in
        (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
    }
}

@Suite struct GGUFDequantizationTests {
    static let blockTypes: [String] = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]

    @Test func fixtureCoversEverySupportedType() throws {
        let manifest = try JSONDecoder().decode(
            [BlockFixture].self, from: Data(contentsOf: fixtureFolder.appendingPathComponent("blocks.json")))
        #expect(Set(manifest.map(\.type)) == Set(Self.blockTypes))
        #expect(Set(manifest.map { GGMLType(rawValue: $0.id) }) == GGUFQuantization.supportedTypes)
        for entry in manifest {
            #expect(GGMLType(rawValue: entry.id).name == entry.type)
        }
    }

    @Test(arguments: blockTypes)
    func generatedBlocksMatchGGUFPackage(type name: String) throws {
        let manifest = try JSONDecoder().decode(
            [BlockFixture].self, from: Data(contentsOf: fixtureFolder.appendingPathComponent("blocks.json")))
        let entry = try #require(manifest.first { $0.type == name })
        let type = GGMLType(rawValue: entry.id)
        let raw = try Data(contentsOf: fixtureFolder.appendingPathComponent("blocks/\(name).bin"))
        let expected = try readFloats(fixtureFolder.appendingPathComponent("blocks/\(name).f32"))
        #expect(expected.count == entry.count)
        #expect(raw.count == entry.count / (type.blockSize ?? 1) * (type.typeSize ?? 0))

        var output = [Float](repeating: .nan, count: entry.count)
        try raw.withUnsafeBytes { bytes in
            try output.withUnsafeMutableBufferPointer { out in
                try GGUFQuantization.dequantize(type, bytes: bytes, count: entry.count, into: out.baseAddress!)
            }
        }
        var maxDiff: Float = 0
        for (a, b) in zip(output, expected) { maxDiff = max(maxDiff, abs(a - b)) }
        #expect(maxDiff <= 1e-6, "\(name): max abs diff \(maxDiff)")
        #expect(expected.contains { $0 != 0 })

        // Too few bytes for the count is an error, not a read past the end.
        #expect(throws: FormatsError.self) {
            try raw.dropLast().withUnsafeBytes { bytes in
                try output.withUnsafeMutableBufferPointer { out in
                    try GGUFQuantization.dequantize(type, bytes: bytes, count: entry.count, into: out.baseAddress!)
                }
            }
        }
    }

    @Test func bigTensorsTakeTheParallelPathAndAgree() throws {
        // Many copies of the Q4_K fixture blocks: the parallel split must give exactly the serial result.
        let raw = try [UInt8](Data(contentsOf: fixtureFolder.appendingPathComponent("blocks/Q4_K.bin")))
        let expected = try readFloats(fixtureFolder.appendingPathComponent("blocks/Q4_K.f32"))
        let copies = 700  // 700 × 768 values > the parallel threshold
        let bytes = [UInt8]((0..<copies).map { _ in raw }.joined())
        var output = [Float](repeating: .nan, count: expected.count * copies)
        #expect(output.count >= GGUFQuantization.parallelThreshold)
        try bytes.withUnsafeBytes { source in
            try output.withUnsafeMutableBufferPointer { out in
                try GGUFQuantization.dequantize(.q4_K, bytes: source, count: out.count, into: out.baseAddress!)
            }
        }
        #expect(output == [Float]((0..<copies).map { _ in expected }.joined()))
    }

    @Test func realSmolLM2TensorsMatchGGUFPackage() throws {
        let file = try GGUFFile(url: try TestPaths.require(TestPaths.smolLM2))
        let fixtures = try JSONDecoder().decode(
            [RealTensorFixture].self, from: Data(contentsOf: fixtureFolder.appendingPathComponent("real_tensors.json")))
        #expect(Set(fixtures.map(\.type)) == ["Q4_1", "Q8_0", "F32"])
        for fixture in fixtures {
            let info = try #require(file.tensor(named: fixture.name))
            #expect(info.shape == fixture.shape)
            #expect(info.type.name == fixture.type)
            let values = try file.dequantize(info)
            #expect(values.count == fixture.shape.reduce(1, *))
            let rowLength = fixture.shape.count > 1 ? fixture.shape.dropFirst().reduce(1, *) : values.count
            var maxDiff = 0.0
            for (row, expectedRow) in zip(fixture.rows, fixture.values) {
                #expect(expectedRow.count == rowLength)
                for (j, expected) in expectedRow.enumerated() {
                    maxDiff = max(maxDiff, abs(Double(values[row * rowLength + j]) - expected))
                }
            }
            #expect(maxDiff <= 1e-6, "\(fixture.name): max abs diff \(maxDiff)")
            var sum = 0.0, absSum = 0.0
            for v in values {
                sum += Double(v)
                absSum += Double(abs(v))
            }
            #expect(abs(absSum - fixture.absSum) <= 1e-9 * fixture.absSum, "\(fixture.name): Σ|x| \(absSum) vs \(fixture.absSum)")
            #expect(abs(sum - fixture.sum) <= 1e-9 * fixture.absSum, "\(fixture.name): Σx \(sum) vs \(fixture.sum)")
        }
    }

    @Test func wholeSmolLM2Dequantizes() throws {
        let file = try GGUFFile(url: try TestPaths.require(TestPaths.smolLM2))
        var total = 0
        var seconds = 0.0
        for tensor in file.tensors {
            let start = Date()
            let values = try file.dequantize(tensor)
            seconds += Date().timeIntervalSince(start)
            total += values.count
            let finite = values.allSatisfy { $0.isFinite }
            #expect(finite, "\(tensor.name) has non-finite values")
        }
        print("GGUF: dequantized \(total) values of SmolLM2 in \(seconds) s")
        #expect(total == 134_515_008)
        // Recorded for the report; a release build on two cores takes well under this.
        #expect(seconds < 20, "dequantizing SmolLM2 took \(seconds) s")
    }
}
