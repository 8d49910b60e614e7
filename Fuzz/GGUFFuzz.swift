// libFuzzer entry for the GGUF reader: any bytes must parse or throw FormatsError, never crash, hang or blow up memory.
// fuzz-modules: BlockKernels Formats
import Formats

/// Largest tensor (in elements) the fuzzer dequantizes, so one input cannot allocate gigabytes.
private let maxFuzzElements = 1 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let mapped = MappedFile(bytes: UnsafeBufferPointer(start: data, count: size), path: "fuzz.gguf")
    guard let file = try? GGUFFile(mapped: mapped) else { return 0 }
    for key in file.metadataKeys {
        guard let value = file.metadata[key] else { fatalError("metadata key without a value: \(key)") }
        _ = (value.int, value.double, value.strings, value.floats, value.ints)
    }
    for tensor in file.tensors where tensor.elementCount <= maxFuzzElements {
        let bytes = file.rawBytes(of: tensor)
        guard bytes.count == tensor.byteCount else { fatalError("raw bytes of \(tensor.name) have the wrong size") }
        if let values = try? file.dequantize(tensor), values.count != tensor.elementCount {
            fatalError("\(tensor.name): dequantized \(values.count) values, expected \(tensor.elementCount)")
        }
    }
    return 0
}
