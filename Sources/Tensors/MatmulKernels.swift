// Which library and instruction set the engine's products run on, reported by `bench` and `doctor`, and the one
// place the products' thread count is set.
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
#if TAILOR_ONEDNN
import DNNL
#endif
import Foundation

/// The widest instruction set the matrix products use.
public enum InstructionSet: String, Sendable, Codable {
    case amx, avx512_bf16, avx512, avx2, neon, other
}

/// The kernel path of the engine's matrix products on this machine.
public struct MatmulKernels: Sendable, Equatable, CustomStringConvertible {
    /// `oneDNN 2.6.3`, `OpenBLAS 0.3.21 (Cooperlake kernels)` or `Accelerate`.
    public let library: String
    public let instructionSet: InstructionSet
    /// Whether bf16 products run natively (AMX or AVX512-BF16 through oneDNN); `--precision auto` picks bf16 then.
    public let nativeBFloat16: Bool

    /// What this process runs on.
    public static let current = MatmulKernels.detect()

    private static func detect() -> MatmulKernels {
        #if TAILOR_ONEDNN
        if let dnnl = OneDNNLibrary.shared, let version = dnnl.version()?.pointee {
            let isa = dnnl.effectiveISA().rawValue
            func has(_ set: dnnl_cpu_isa_t) -> Bool { isa & set.rawValue == set.rawValue }
            let set: InstructionSet =
                has(dnnl_cpu_isa_avx512_core_amx) ? .amx : has(dnnl_cpu_isa_avx512_core_bf16) ? .avx512_bf16
                : has(dnnl_cpu_isa_avx512_core) ? .avx512 : has(dnnl_cpu_isa_avx2) ? .avx2 : .other
            return MatmulKernels(
                library: "oneDNN \(version.major).\(version.minor).\(version.patch)", instructionSet: set,
                nativeBFloat16: set == .amx || set == .avx512_bf16)
        }
        #endif
        #if canImport(Accelerate)
        return MatmulKernels(library: "Accelerate", instructionSet: .neon, nativeBFloat16: false)
        #else
        let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) }
            ?? []
        let set: InstructionSet = flags.contains("avx512f") ? .avx512 : flags.contains("avx2") ? .avx2 : .other
        return MatmulKernels(library: "OpenBLAS (\(core) kernels; libdnnl not found)", instructionSet: set,
                             nativeBFloat16: false)
        #endif
    }

    /// `oneDNN 2.6.3, avx512_bf16`.
    public var description: String { "\(library), \(instructionSet.rawValue)" }

    /// The precision `auto` resolves to, and why.
    public func automaticPrecision() -> (precision: Precision, reason: String) {
        if nativeBFloat16 {
            return (.bf16, "the CPU multiplies bf16 natively (\(instructionSet.rawValue))")
        }
        return (.fp32, "no native bf16 products on this machine (\(description))")
    }
}

/// Sets the threads the matrix-product libraries use (oneDNN's OpenMP runtime, OpenBLAS); Accelerate manages its own.
public func setMatmulThreadCount(_ count: Int) {
    #if TAILOR_ONEDNN
    // oneDNN's CPU runtime is OpenMP: libgomp, loaded with libdnnl (looked up, since only its runtime is installed).
    if OneDNNLibrary.shared != nil, let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") {
        unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Void).self)(Int32(max(1, count)))
    }
    #endif
    #if !canImport(Accelerate)
    openblas_set_num_threads(Int32(max(1, count)))
    #endif
}

/// The BLAS linked in (the fallback for fp32 products without oneDNN), for reports: OpenBLAS names the kernel
/// family it picked for this CPU (which `OPENBLAS_CORETYPE` can override).
public func blasDescription() -> String {
    #if canImport(Accelerate)
    return "Accelerate"
    #else
    let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
    let config = openblas_get_config().map { String(cString: $0) } ?? "?"
    return "OpenBLAS \(core) kernels (\(config.trimmingCharacters(in: .whitespaces)))"
    #endif
}
