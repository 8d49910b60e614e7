// libFuzzer entry for the safetensors reader: any bytes must parse or throw a FormatsError, never crash or over-read.
// Built and run by Scripts/fuzz (`Scripts/fuzz 60 Safetensors`).
// fuzz-modules: BlockKernels Formats
import Formats
import Foundation

/// Element budget per input: a valid header may describe huge tensors, and converting them would only test memory.
private let elementBudget = 1 << 16

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let mapped = MappedFile(bytes: UnsafeBufferPointer(start: data, count: size), path: "<fuzz>")
    guard let file = try? SafetensorsFile(mapped: mapped) else { return 0 }
    var budget = elementBudget
    for tensor in file.tensors where tensor.elementCount <= budget {
        budget -= tensor.elementCount
        precondition(file.rawBytes(of: tensor).count == tensor.dataRange.count)
        precondition(file.tensor(named: tensor.name) == tensor)
        if let floats = try? file.floats(tensor) { precondition(floats.count == tensor.elementCount) }
        if let ints = try? file.int64s(tensor) { precondition(ints.count == tensor.elementCount) }
    }
    var writer = SafetensorsWriter(metadata: file.metadata)
    for tensor in file.tensors.prefix(64) where tensor.dataRange.count <= elementBudget {
        writer.add(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: Array(file.rawBytes(of: tensor)))
    }
    // Whatever the reader accepts, the writer must write and the reader must accept again.
    if let bytes = try? writer.serialized() {
        precondition((try? SafetensorsFile(mapped: MappedFile(bytes: bytes))) != nil, "rewritten file does not parse")
    }
    return 0
}
