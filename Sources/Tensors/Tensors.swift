// Dense Float32 buffers and the kernels on them (DESIGN.md §2–3). The engine issue fills this module.
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Namespace for the BLAS seam; the engine's kernels build on it.
public enum BLAS {
    /// The BLAS implementation this build links: Accelerate on macOS, OpenBLAS elsewhere.
    public static var implementation: String {
        #if canImport(Accelerate)
        return "Accelerate"
        #else
        return "OpenBLAS"
        #endif
    }
}
