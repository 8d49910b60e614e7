// The matmul seam for frozen weights: y = x·Wᵀ and dx = dy·W in fp32 or bf16, with W in whatever layout it was
// stored (Float32, bfloat16, GGUF blocks). Weights not already in the product's input precision are widened a
// panel of rows at a time into a reusable scratch, so no Float32 copy of the model ever exists.
//
// On x86 the products run in oneDNN (it picks AVX2 / AVX-512 / AVX512-BF16 / AMX from cpuid); without it, fp32
// goes to the platform BLAS and bf16 inputs are widened to Float32 first. `MatmulKernels.current` says which.
#if TAILOR_ONEDNN
import DNNL
#endif

// x: [N, In]   W: [Out, In]   y: [N, Out] (row stride ldy)   dy: [N, Out] (row stride ldDy)   dx: [N, In]

/// Runs the large products of one model in one precision; owns the widening scratch and the oneDNN primitives.
///
/// One engine per model: it is not safe to call from several threads at once (the model never does).
public final class MatmulEngine: @unchecked Sendable {
    public let precision: Precision
    public let pool: WorkerPool
    /// Elements of W widened per panel (bounds the scratch: 8 MB in bf16).
    public static let panelElements = 1 << 22
    /// Products with at most this many rows read W straight from its stored layout (generation).
    public static let vectorRows = 2

    private var weightScratch32 = FloatBuffer(count: 0)
    private var weightScratch16 = BFloat16Buffer(count: 0)
    private var inputScratch16 = BFloat16Buffer(count: 0)
    #if TAILOR_ONEDNN
    private lazy var bf16: OneDNNBF16Products? = OneDNNLibrary.shared.map(OneDNNBF16Products.init)
    #endif

    public init(precision: Precision, pool: WorkerPool) {
        self.precision = precision
        self.pool = pool
    }

    /// Bytes of scratch the products of a model whose largest non-native matrix has `weightElements` elements and
    /// whose widest product input has `inputElements` elements need (the memory estimate).
    public static func scratchBytes(precision: Precision, weightElements: Int, inputElements: Int) -> Int {
        min(weightElements, panelElements + 65_536) * precision.inputBytes
            + (precision == .bf16 ? 2 * inputElements : 0)
    }

    /// Bytes of scratch allocated so far.
    public var scratchBytes: Int { 4 * weightScratch32.count + 2 * (weightScratch16.count + inputScratch16.count) }

    /// The implementation oneDNN chose for the bf16 products so far (e.g. `brg:avx512_core_amx`), if any ran.
    public var bf16Implementations: [String] {
        #if TAILOR_ONEDNN
        return bf16?.implementations ?? []
        #else
        return []
        #endif
    }

    /// Rows of W per panel: all of them when that fits the budget, else a multiple of 16.
    private func panelRows(_ weight: WeightMatrix) -> Int {
        let rows = max(1, Self.panelElements / max(weight.columns, 1))
        return rows >= weight.rows ? weight.rows : max(16, rows / 16 * 16)
    }

    /// Calls `body` with each panel of W's rows, in order.
    private func forEachPanel(_ weight: WeightMatrix, _ body: (Range<Int>) -> Void) {
        let step = panelRows(weight)
        for start in stride(from: 0, to: weight.rows, by: step) { body(start..<min(start + step, weight.rows)) }
    }

    private func scratch32(_ count: Int) -> UnsafeMutablePointer<Float> {
        if weightScratch32.count < count { weightScratch32 = FloatBuffer(count: count) }
        return weightScratch32.pointer
    }

    private func scratch16(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        if weightScratch16.count < count { weightScratch16 = BFloat16Buffer(count: count) }
        return weightScratch16.pointer
    }

    /// `x` ([rows, columns] with row stride `stride`) rounded to bfloat16, packed densely.
    private func input16(_ x: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int) -> UnsafePointer<UInt16> {
        let count = rows * columns
        if inputScratch16.count < count { inputScratch16 = BFloat16Buffer(count: count) }
        let out = inputScratch16.pointer
        if stride == columns {
            convertToBFloat16(x, out, count: count, pool: pool)
        } else {
            pool.forEachChunk(rows, minimumChunk: 8) { range in
                let single = WorkerPool(threadCount: 1)
                for r in range { convertToBFloat16(x + r * stride, out + r * columns, count: columns, pool: single) }
            }
        }
        return UnsafePointer(out)
    }

    // MARK: Forward

    /// y (+)= x·Wᵀ. `ldy` is y's row stride (default: W's row count). Single rows multiply packed weights with
    /// int16 blocks of x where an integer kernel exists (`WeightMatrix.multiply(vector:…)`).
    public func forward(
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil, x: UnsafePointer<Float>, weight: WeightMatrix, rows n: Int,
        accumulate: Bool
    ) {
        let (input, output) = (weight.columns, weight.rows)
        let ldy = ldy ?? output
        guard n > 0, output > 0 else { return }
        if n <= Self.vectorRows {
            for r in 0..<n {
                weight.multiply(vector: x + r * input, into: y + r * ldy, accumulate: accumulate, pool: pool)
            }
            return
        }
        let beta: Float = accumulate ? 1 : 0
        if precision == .fp32 || !bf16Available {
            if let w = weight.float32 {
                sgemm(false, true, n, output, input, 1, x, input, w, input, beta, y, ldy)
                return
            }
            let panel = scratch32(panelRows(weight) * input)
            forEachPanel(weight) { rows in
                weight.decodeRows(rows, into: panel, pool: pool)
                sgemm(false, true, n, rows.count, input, 1, x, input, panel, input, beta, y + rows.lowerBound, ldy)
            }
            return
        }
        let x16 = input16(x, rows: n, columns: input, stride: input)
        if let w = weight.bfloat16 {
            bf16Product(false, true, n, output, input, x16, input, w, input, beta, y, ldy)
            return
        }
        let panel = scratch16(panelRows(weight) * input)
        forEachPanel(weight) { rows in
            weight.decodeRows(rows, intoBFloat16: panel, pool: pool)
            bf16Product(false, true, n, rows.count, input, x16, input, panel, input, beta, y + rows.lowerBound, ldy)
        }
    }

    // MARK: Backward

    /// dx (+)= dy·W (the input gradient through a frozen W). `ldDy` is dy's row stride (default: W's row count).
    public func inputGradient(
        dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, ldDy: Int? = nil, weight: WeightMatrix,
        rows n: Int, accumulate: Bool
    ) {
        let (input, output) = (weight.columns, weight.rows)
        let ldDy = ldDy ?? output
        guard n > 0, input > 0 else { return }
        if output == 0 {
            if !accumulate { dx.update(repeating: 0, count: n * input) }
            return
        }
        // Panels split the sum over W's rows: the first overwrites dx (unless accumulating), the rest add to it.
        if precision == .fp32 || !bf16Available {
            if let w = weight.float32 {
                sgemm(false, false, n, input, output, 1, dy, ldDy, w, input, accumulate ? 1 : 0, dx, input)
                return
            }
            let panel = scratch32(panelRows(weight) * input)
            forEachPanel(weight) { rows in
                weight.decodeRows(rows, into: panel, pool: pool)
                let beta: Float = (accumulate || rows.lowerBound > 0) ? 1 : 0
                sgemm(false, false, n, input, rows.count, 1, dy + rows.lowerBound, ldDy, panel, input, beta, dx, input)
            }
            return
        }
        let dy16 = input16(dy, rows: n, columns: output, stride: ldDy)
        if let w = weight.bfloat16 {
            bf16Product(false, false, n, input, output, dy16, output, w, input, accumulate ? 1 : 0, dx, input)
            return
        }
        let panel = scratch16(panelRows(weight) * input)
        forEachPanel(weight) { rows in
            weight.decodeRows(rows, intoBFloat16: panel, pool: pool)
            let beta: Float = (accumulate || rows.lowerBound > 0) ? 1 : 0
            bf16Product(
                false, false, n, input, rows.count, dy16 + rows.lowerBound, output, panel, input, beta, dx, input)
        }
    }

    // MARK: The bf16 product

    private var bf16Available: Bool {
        #if TAILOR_ONEDNN
        return OneDNNLibrary.shared != nil
        #else
        return false
        #endif
    }

    /// C = op(A)·op(B) + beta·C with bfloat16 A and B and Float32 C (beta 0 or 1).
    private func bf16Product(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<UInt16>,
        _ lda: Int, _ b: UnsafePointer<UInt16>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>,
        _ ldc: Int
    ) {
        #if TAILOR_ONEDNN
        guard let bf16 else { preconditionFailure("bf16 products need oneDNN") }
        bf16.multiply(transposeA, transposeB, m, n, k, a, lda, b, ldb, beta, c, ldc)
        #else
        preconditionFailure("bf16 products need oneDNN")
        #endif
    }
}

#if TAILOR_ONEDNN
/// oneDNN matmul primitives for bf16 × bf16 → f32, created once per shape and reused.
///
/// On CPUs with AMX the shapes are fixed (oneDNN's brgemm kernels need them and use the tiles); elsewhere the row
/// count is a runtime dimension, so one primitive serves every batch size (oneDNN's jit gemm, as fast there).
final class OneDNNBF16Products {
    private struct Key: Hashable {
        let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        let transposeA: Bool, transposeB: Bool, accumulate: Bool
    }

    private let dnnl: OneDNNLibrary
    private let engine: dnnl_engine_t
    private let stream: dnnl_stream_t
    private let fixedShapes: Bool
    private var primitives: [Key: dnnl_primitive_t] = [:]
    private(set) var implementations: [String] = []

    init(_ dnnl: OneDNNLibrary) {
        self.dnnl = dnnl
        var engine: dnnl_engine_t?
        var stream: dnnl_stream_t?
        precondition(dnnl.engineCreate(&engine, dnnl_cpu, 0) == dnnl_success, "oneDNN CPU engine")
        precondition(
            dnnl.streamCreate(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success,
            "oneDNN stream")
        self.engine = engine!
        self.stream = stream!
        fixedShapes = dnnl.effectiveISA().rawValue & dnnl_cpu_isa_avx512_core_amx.rawValue
            == dnnl_cpu_isa_avx512_core_amx.rawValue
    }

    deinit {
        for primitive in primitives.values { _ = dnnl.primitiveDestroy(primitive) }
        _ = dnnl.streamDestroy(stream)
        _ = dnnl.engineDestroy(engine)
    }

    /// A [rows, columns] descriptor with row stride `ld`, read transposed when `transposed` (stored [columns, rows]).
    private func descriptor(rows: Int64, columns: Int64, ld: Int, transposed: Bool, type: dnnl_data_type_t)
        -> dnnl_memory_desc_t
    {
        var md = dnnl_memory_desc_t()
        let dims: [Int64] = [rows, columns]
        let strides: [Int64] = transposed ? [1, Int64(ld)] : [Int64(ld), 1]
        let status = dnnl.memoryDescInit(&md, 2, dims, type, strides)
        precondition(status == dnnl_success, "oneDNN memory descriptor: status \(status.rawValue)")
        return md
    }

    private func primitive(for key: Key) -> dnnl_primitive_t {
        if let cached = primitives[key] { return cached }
        let m = fixedShapes ? Int64(key.m) : Int64.min  // DNNL_RUNTIME_DIM_VAL
        var a = descriptor(rows: m, columns: Int64(key.k), ld: key.lda, transposed: key.transposeA, type: dnnl_bf16)
        var b = descriptor(rows: Int64(key.k), columns: Int64(key.n), ld: key.ldb, transposed: key.transposeB,
                           type: dnnl_bf16)
        var c = descriptor(rows: m, columns: Int64(key.n), ld: key.ldc, transposed: false, type: dnnl_f32)
        var operation = dnnl_matmul_desc_t()
        precondition(dnnl.matmulDescInit(&operation, &a, &b, nil, &c) == dnnl_success, "oneDNN matmul descriptor")
        var attributes: dnnl_primitive_attr_t?
        dnnl.attrCreate(&attributes)
        defer { _ = dnnl.attrDestroy(attributes) }
        if key.accumulate {
            var postOps: dnnl_post_ops_t?
            _ = dnnl.postOpsCreate(&postOps)
            _ = dnnl.postOpsAppendSum(postOps, 1)
            _ = dnnl.attrSetPostOps(attributes, postOps)
            _ = dnnl.postOpsDestroy(postOps)
        }
        var descriptor: dnnl_primitive_desc_t?
        let status = dnnl.primitiveDescCreate(&descriptor, &operation, attributes, engine, nil)
        precondition(status == dnnl_success, "oneDNN bf16 matmul for \(key): status \(status.rawValue)")
        defer { _ = dnnl.primitiveDescDestroy(descriptor) }
        var name: UnsafePointer<CChar>?
        if dnnl.primitiveDescQuery(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name {
            let implementation = String(cString: name)
            if !implementations.contains(implementation) { implementations.append(implementation) }
        }
        var primitive: dnnl_primitive_t?
        precondition(dnnl.primitiveCreate(&primitive, descriptor) == dnnl_success, "oneDNN primitive")
        primitives[key] = primitive!
        return primitive!
    }

    func multiply(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<UInt16>,
        _ lda: Int, _ b: UnsafePointer<UInt16>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>,
        _ ldc: Int
    ) {
        precondition(beta == 0 || beta == 1, "bf16 products accumulate with beta 0 or 1")
        let key = Key(m: fixedShapes ? m : 0, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, transposeA: transposeA,
                      transposeB: transposeB, accumulate: beta == 1)
        let primitive = primitive(for: key)
        var aDesc = descriptor(rows: Int64(m), columns: Int64(k), ld: lda, transposed: transposeA, type: dnnl_bf16)
        var bDesc = descriptor(rows: Int64(k), columns: Int64(n), ld: ldb, transposed: transposeB, type: dnnl_bf16)
        var cDesc = descriptor(rows: Int64(m), columns: Int64(n), ld: ldc, transposed: false, type: dnnl_f32)
        var aMemory: dnnl_memory_t?, bMemory: dnnl_memory_t?, cMemory: dnnl_memory_t?
        _ = dnnl.memoryCreate(&aMemory, &aDesc, engine, UnsafeMutableRawPointer(mutating: a))
        _ = dnnl.memoryCreate(&bMemory, &bDesc, engine, UnsafeMutableRawPointer(mutating: b))
        _ = dnnl.memoryCreate(&cMemory, &cDesc, engine, UnsafeMutableRawPointer(c))
        defer {
            _ = dnnl.memoryDestroy(aMemory)
            _ = dnnl.memoryDestroy(bMemory)
            _ = dnnl.memoryDestroy(cMemory)
        }
        // DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST
        let arguments = [
            dnnl_exec_arg_t(arg: 1, memory: aMemory), dnnl_exec_arg_t(arg: 33, memory: bMemory),
            dnnl_exec_arg_t(arg: 17, memory: cMemory),
        ]
        let status = dnnl.execute(primitive, stream, 3, arguments)
        precondition(status == dnnl_success, "oneDNN bf16 matmul: status \(status.rawValue)")
        _ = dnnl.streamWait(stream)
    }
}
#endif
