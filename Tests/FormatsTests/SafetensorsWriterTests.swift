// SafetensorsWriter: round trips through the reader, and byte-identical output to the reference library's writer.
import Foundation
import Testing

@testable import Formats

@Suite struct SafetensorsWriterTests {
    @Test func roundTripsEveryWritableDTypeWithMetadata() throws {
        let values: [Float] = [0, -0.0, 1, -1.5, 3.14159, 65504, 1e-3, -7.25e5, .infinity, Float(bitPattern: 0x0001_1170), 0.1, 255.5]
        var writer = SafetensorsWriter(metadata: ["format": "pt", "base": "smol \"quoted\"\n"])
        writer.add(name: "w.f32", shape: [3, 4], floats: values, as: .f32)
        writer.add(name: "w.f16", shape: [12], floats: values, as: .f16)
        writer.add(name: "w.bf16", shape: [2, 2, 3], floats: values, as: .bf16)
        writer.add(name: "w.f64", shape: [2, 6], floats: values, as: .f64)
        writer.add(name: "ids", shape: [2, 2], int64s: [0, -1, .max, .min])
        writer.add(name: "mask", dtype: .u8, shape: [3], bytes: [1, 0, 200])
        writer.add(name: "scalar", shape: [], floats: [2.5])

        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("adapter_model.safetensors")
        try writer.write(to: url)
        let file = try SafetensorsFile(url: url)

        #expect(file.headerLength % 8 == 0)
        #expect(file.metadata == writer.metadata)
        #expect(Set(file.tensors.map(\.name)) == ["w.f32", "w.f16", "w.bf16", "w.f64", "ids", "mask", "scalar"])
        #expect(file.tensor(named: "w.bf16")?.shape == [2, 2, 3])
        #expect(file.tensor(named: "scalar")?.shape == [])
        #expect(try file.floats(named: "w.f32").map(\.bitPattern) == values.map(\.bitPattern))
        #expect(try file.floats(named: "w.f64").map(\.bitPattern) == values.map(\.bitPattern))
        // Half types: exactly the rounded value (the rounding itself is checked against torch below).
        #expect(try file.floats(named: "w.f16") == values.map { float16BitsToFloat(floatToFloat16Bits($0)) })
        #expect(try file.floats(named: "w.bf16") == values.map { bfloat16BitsToFloat(floatToBFloat16Bits($0)) })
        #expect(try file.floats(named: "w.f16")[5] == 65504)
        #expect(try file.floats(named: "w.bf16")[2] == 1)
        #expect(try file.int64s(#require(file.tensor(named: "ids"))) == [0, -1, .max, .min])
        #expect(try file.int64s(#require(file.tensor(named: "mask"))) == [1, 0, 200])
        for tensor in file.tensors {
            let start = tensor.dataRange.lowerBound
            #expect(start % max(tensor.dtype.byteSize, 1) == 0, "\(tensor.name) is aligned to its element size")
        }
        #expect(try writer.serialized() == Array(Data(contentsOf: url)))
    }

    /// The inputs and the expected bytes both come from Scripts/reference/safetensors_fixtures.py (torch casts + save_file).
    @Test func matchesTheReferenceWriterByteForByte() throws {
        let folder = SafetensorsFixtures.folder
        let input = try JSONDecoder().decode(
            SafetensorsFixtures.ExpectedFile.self,
            from: Data(contentsOf: folder.appendingPathComponent("writer_input.json")))
        var writer = SafetensorsWriter(metadata: input.metadata)
        for (name, tensor) in input.tensors {
            if let ints = tensor.int64 {
                writer.add(name: name, shape: tensor.shape, int64s: ints)
            } else {
                let dtype = try #require(SafetensorsDType(rawValue: tensor.dtype))
                let bits = try #require(tensor.float32Bits)
                writer.add(name: name, shape: tensor.shape, floats: bits.map(Float.init(bitPattern:)), as: dtype)
            }
        }
        let reference = try Array(Data(contentsOf: folder.appendingPathComponent("writer_reference.safetensors")))
        let written = try writer.serialized()
        #expect(written == reference)
        // Keep a copy for `safetensors_fixtures.py verify` (loads it with the reference library).
        if let keep = ProcessInfo.processInfo.environment["TAILOR_SAFETENSORS_KEEP"], !keep.isEmpty {
            try writer.write(to: URL(fileURLWithPath: keep))
        }
    }

    @Test func emptyFileMatchesTheReferenceLayout() throws {
        // The crate's own test vector: "{}" padded with six spaces.
        #expect(try SafetensorsWriter().serialized() == [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
    }

    @Test func writeReplacesAtomicallyAndLeavesNoTemporaryFile() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        try Data("old contents".utf8).write(to: url)
        var writer = SafetensorsWriter()
        writer.add(name: "x", shape: [2], floats: [1, 2])
        try writer.write(to: url)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.safetensors"])
        #expect(try SafetensorsFile(url: url).floats(named: "x") == [1, 2])

        let missing = folder.appendingPathComponent("no/such/folder/model.safetensors")
        #expect {
            try writer.write(to: missing)
        } throws: { error in
            guard case FormatsError.io(let path, _) = error else { return false }
            return path == missing.path
        }
    }

    @Test func invalidAdditionsAreReportedAtWrite() throws {
        func reason(_ build: (inout SafetensorsWriter) -> Void) -> String? {
            var writer = SafetensorsWriter()
            build(&writer)
            do {
                _ = try writer.serialized()
                return nil
            } catch FormatsError.malformed(_, let reason) {
                return reason
            } catch {
                return "unexpected \(error)"
            }
        }
        #expect(reason { $0.add(name: "a", shape: [2, 2], floats: [1, 2, 3]) }?.contains("holds 4 elements but 3") == true)
        #expect(reason { $0.add(name: "a", shape: [-1], floats: []) }?.contains("negative dimension") == true)
        #expect(reason { $0.add(name: "a", shape: [1], floats: [1], as: .i32) }?.contains("cannot be stored as I32") == true)
        #expect(reason { $0.add(name: "a", dtype: .f32, shape: [2], bytes: [0, 0, 0]) }?.contains("3 bytes given") == true)
        #expect(
            reason {
                $0.add(name: "a", shape: [1], floats: [1])
                $0.add(name: "a", shape: [1], int64s: [1])
            }?.contains("added twice") == true)
        #expect(reason { $0.add(name: "__metadata__", shape: [1], floats: [1]) }?.contains("'__metadata__'") == true)
        #expect(reason { $0.add(name: "ok", shape: [0, 5], floats: []) } == nil)
    }
}
