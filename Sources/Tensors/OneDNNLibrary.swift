// oneDNN, opened at first use rather than linked, so a machine without libdnnl still runs (the products fall back to
// the platform BLAS). Its OpenMP runtime (libgomp) keeps its own wait policy: idle threads spin a few milliseconds,
// then sleep. A training step opens thousands of short parallel regions (every product and element-wise kernel runs
// on the same team, see Parallel.swift); waking sleeping threads for each one cost 1.8× in step time (SmolLM2,
// bf16, 2 cores: 5.9 s passive against 3.3 s with the default spin). OMP_WAIT_POLICY and GOMP_SPINCOUNT set by
// the user are honoured as libgomp reads them.
#if TAILOR_ONEDNN
import DNNL
#if canImport(Glibc)
import Glibc
#endif

/// The oneDNN entry points Tailor uses, resolved from `libdnnl.so.2`.
struct OneDNNLibrary: @unchecked Sendable {
    typealias SGEMM = @convention(c) (
        CChar, CChar, Int64, Int64, Int64, Float, UnsafePointer<Float>?, Int64, UnsafePointer<Float>?, Int64, Float,
        UnsafeMutablePointer<Float>?, Int64
    ) -> dnnl_status_t
    typealias Version = @convention(c) () -> UnsafePointer<dnnl_version_t>?
    typealias EffectiveISA = @convention(c) () -> dnnl_cpu_isa_t
    typealias EngineCreate = @convention(c) (UnsafeMutablePointer<dnnl_engine_t?>?, dnnl_engine_kind_t, Int)
        -> dnnl_status_t
    typealias StreamCreate = @convention(c) (UnsafeMutablePointer<dnnl_stream_t?>?, dnnl_engine_t?, UInt32)
        -> dnnl_status_t
    typealias Destroy = @convention(c) (OpaquePointer?) -> dnnl_status_t
    typealias MemoryDescInit = @convention(c) (
        UnsafeMutablePointer<dnnl_memory_desc_t>?, Int32, UnsafePointer<Int64>?, dnnl_data_type_t, UnsafePointer<Int64>?
    ) -> dnnl_status_t
    typealias MatmulDescInit = @convention(c) (
        UnsafeMutablePointer<dnnl_matmul_desc_t>?, UnsafePointer<dnnl_memory_desc_t>?,
        UnsafePointer<dnnl_memory_desc_t>?, UnsafePointer<dnnl_memory_desc_t>?, UnsafePointer<dnnl_memory_desc_t>?
    ) -> dnnl_status_t
    typealias Create = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> dnnl_status_t
    typealias AppendSum = @convention(c) (OpaquePointer?, Float) -> dnnl_status_t
    typealias SetPostOps = @convention(c) (OpaquePointer?, OpaquePointer?) -> dnnl_status_t
    typealias PrimitiveDescCreate = @convention(c) (
        UnsafeMutablePointer<OpaquePointer?>?, UnsafeRawPointer?, OpaquePointer?, dnnl_engine_t?, OpaquePointer?
    ) -> dnnl_status_t
    typealias PrimitiveDescQuery = @convention(c) (OpaquePointer?, dnnl_query_t, Int32, UnsafeMutableRawPointer?)
        -> dnnl_status_t
    typealias PrimitiveCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, OpaquePointer?)
        -> dnnl_status_t
    typealias MemoryCreate = @convention(c) (
        UnsafeMutablePointer<OpaquePointer?>?, UnsafePointer<dnnl_memory_desc_t>?, dnnl_engine_t?,
        UnsafeMutableRawPointer?
    ) -> dnnl_status_t
    typealias Execute = @convention(c) (OpaquePointer?, dnnl_stream_t?, Int32, UnsafePointer<dnnl_exec_arg_t>?)
        -> dnnl_status_t
    typealias StreamWait = @convention(c) (dnnl_stream_t?) -> dnnl_status_t

    let sgemm: SGEMM
    let version: Version
    let effectiveISA: EffectiveISA
    let engineCreate: EngineCreate
    let engineDestroy: Destroy
    let streamCreate: StreamCreate
    let streamDestroy: Destroy
    let streamWait: StreamWait
    let memoryDescInit: MemoryDescInit
    let matmulDescInit: MatmulDescInit
    let attrCreate: Create
    let attrDestroy: Destroy
    let postOpsCreate: Create
    let postOpsAppendSum: AppendSum
    let postOpsDestroy: Destroy
    let attrSetPostOps: SetPostOps
    let primitiveDescCreate: PrimitiveDescCreate
    let primitiveDescQuery: PrimitiveDescQuery
    let primitiveDescDestroy: Destroy
    let primitiveCreate: PrimitiveCreate
    let primitiveDestroy: Destroy
    let memoryCreate: MemoryCreate
    let memoryDestroy: Destroy
    let execute: Execute

    /// The library, or nil when `libdnnl.so.2` cannot be opened (then products use the platform BLAS).
    static let shared: OneDNNLibrary? = load()

    private static func load() -> OneDNNLibrary? {
        guard let handle = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL) ?? dlopen("libdnnl.so", RTLD_NOW | RTLD_GLOBAL)
        else { return nil }
        func symbol<T>(_ name: String, _: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: T.self) }
        }
        guard let sgemm = symbol("dnnl_sgemm", SGEMM.self), let version = symbol("dnnl_version", Version.self),
            let effectiveISA = symbol("dnnl_get_effective_cpu_isa", EffectiveISA.self),
            let engineCreate = symbol("dnnl_engine_create", EngineCreate.self),
            let engineDestroy = symbol("dnnl_engine_destroy", Destroy.self),
            let streamCreate = symbol("dnnl_stream_create", StreamCreate.self),
            let streamDestroy = symbol("dnnl_stream_destroy", Destroy.self),
            let streamWait = symbol("dnnl_stream_wait", StreamWait.self),
            let memoryDescInit = symbol("dnnl_memory_desc_init_by_strides", MemoryDescInit.self),
            let matmulDescInit = symbol("dnnl_matmul_desc_init", MatmulDescInit.self),
            let attrCreate = symbol("dnnl_primitive_attr_create", Create.self),
            let attrDestroy = symbol("dnnl_primitive_attr_destroy", Destroy.self),
            let postOpsCreate = symbol("dnnl_post_ops_create", Create.self),
            let postOpsAppendSum = symbol("dnnl_post_ops_append_sum", AppendSum.self),
            let postOpsDestroy = symbol("dnnl_post_ops_destroy", Destroy.self),
            let attrSetPostOps = symbol("dnnl_primitive_attr_set_post_ops", SetPostOps.self),
            let primitiveDescCreate = symbol("dnnl_primitive_desc_create", PrimitiveDescCreate.self),
            let primitiveDescQuery = symbol("dnnl_primitive_desc_query", PrimitiveDescQuery.self),
            let primitiveDescDestroy = symbol("dnnl_primitive_desc_destroy", Destroy.self),
            let primitiveCreate = symbol("dnnl_primitive_create", PrimitiveCreate.self),
            let primitiveDestroy = symbol("dnnl_primitive_destroy", Destroy.self),
            let memoryCreate = symbol("dnnl_memory_create", MemoryCreate.self),
            let memoryDestroy = symbol("dnnl_memory_destroy", Destroy.self),
            let execute = symbol("dnnl_primitive_execute", Execute.self)
        else { return nil }
        return OneDNNLibrary(
            sgemm: sgemm, version: version, effectiveISA: effectiveISA, engineCreate: engineCreate,
            engineDestroy: engineDestroy, streamCreate: streamCreate, streamDestroy: streamDestroy,
            streamWait: streamWait, memoryDescInit: memoryDescInit, matmulDescInit: matmulDescInit,
            attrCreate: attrCreate, attrDestroy: attrDestroy, postOpsCreate: postOpsCreate,
            postOpsAppendSum: postOpsAppendSum, postOpsDestroy: postOpsDestroy, attrSetPostOps: attrSetPostOps,
            primitiveDescCreate: primitiveDescCreate, primitiveDescQuery: primitiveDescQuery,
            primitiveDescDestroy: primitiveDescDestroy, primitiveCreate: primitiveCreate,
            primitiveDestroy: primitiveDestroy, memoryCreate: memoryCreate, memoryDestroy: memoryDestroy,
            execute: execute)
    }
}
#endif
