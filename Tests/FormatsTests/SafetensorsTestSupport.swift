// Shared helpers for the safetensors tests: hand-built files, expected-values fixtures, error matchers.
import Foundation
import TestSupport
import Testing

@testable import Formats

enum SafetensorsFixtures {
    static let folder = TestPaths.fixtures.appendingPathComponent("safetensors")

    /// One file's entry in `expected.json` (written by Scripts/reference/safetensors_fixtures.py).
    struct ExpectedFile: Decodable {
        let metadata: [String: String]
        let tensors: [String: ExpectedTensor]
    }

    struct ExpectedTensor: Decodable {
        let dtype: String
        let shape: [Int]
        let float32Bits: [UInt32]?
        let int64: [Int64]?

        enum CodingKeys: String, CodingKey {
            case dtype, shape, int64
            case float32Bits = "float32_bits"
        }
    }

    static func expected() throws -> [String: ExpectedFile] {
        let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
        return try JSONDecoder().decode([String: ExpectedFile].self, from: data)
    }

    /// Compares every tensor of `expected` with what `floats`/`int64s` return, bit for bit.
    static func check(
        _ expected: ExpectedFile, names: [String], dtype: (String) -> SafetensorsDType?, shape: (String) -> [Int]?,
        floats: (String) throws -> [Float], int64s: (String) throws -> [Int64]
    ) throws {
        #expect(Set(names) == Set(expected.tensors.keys))
        for (name, want) in expected.tensors {
            #expect(dtype(name)?.rawValue == want.dtype, "dtype of \(name)")
            #expect(shape(name) == want.shape, "shape of \(name)")
            if let bits = want.float32Bits {
                let got = try floats(name).map(\.bitPattern)
                #expect(got == bits, "values of \(name)")
            } else {
                let want = try #require(want.int64, "fixture entry \(name) has no values")
                #expect(try int64s(name) == want, "values of \(name)")
            }
        }
    }
}

/// Builds a safetensors file: 8-byte length (the real one unless `declaredLength` overrides it), header, data.
func safetensorsBytes(_ header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    safetensorsBytes(headerBytes: Array(header.utf8), data: data, declaredLength: declaredLength)
}

func safetensorsBytes(headerBytes: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let length = declaredLength ?? UInt64(headerBytes.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + headerBytes + data
}

/// The error thrown when opening `bytes`, or nil when it opens.
func safetensorsOpenError(_ bytes: [UInt8]) -> (any Error)? {
    do {
        _ = try SafetensorsFile(mapped: MappedFile(bytes: bytes, path: "hostile.safetensors"))
        return nil
    } catch {
        return error
    }
}

/// Expects opening `bytes` to throw `FormatsError.malformed` whose reason contains `fragment`.
func expectMalformed(
    _ bytes: [UInt8], containing fragment: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let error = safetensorsOpenError(bytes) else {
        Issue.record("the file opened; expected malformed (\(fragment))", sourceLocation: sourceLocation)
        return
    }
    guard case FormatsError.malformed(let path, let reason) = error else {
        Issue.record("expected malformed (\(fragment)), got \(error)", sourceLocation: sourceLocation)
        return
    }
    #expect(path == "hostile.safetensors", sourceLocation: sourceLocation)
    #expect(reason.contains(fragment), "reason: \(reason)", sourceLocation: sourceLocation)
}

/// A fresh empty folder under the temporary directory; the caller removes it.
func makeTemporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-st-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
