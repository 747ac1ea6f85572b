import DyadicKernels

/// Float32 convolution with constant weights (float models, the float parts of partly
/// quantized ones, and the quantizer's calibration passes): NCHW in and out.
final class FloatConvLayer: TiledLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let handle: KernelHandle
    let tiles: Int
    let kernel: String
    let workspaceSize: Int
    let macs: Int
    let details: String

    /// A fused activation after the bias: Relu/Clip bounds, SiLU, LeakyRelu then bounds,
    /// or y·HardSigmoid(y) (the float GEMM takes them too).
    enum Activation: Sendable {
        case none, clamp(Float, Float), silu, leakyClamp(alpha: Float, Float, Float), hardSwish(alpha: Float, beta: Float)

        /// The kernel descriptors' activation, activation_min, _max, _alpha and _beta.
        var kernelFields: (dyd_f32_activation, Float, Float, Float, Float) {
            switch self {
            case .none: (DYD_F32_ACT_NONE, 0, 0, 0, 0)
            case .clamp(let lo, let hi): (DYD_F32_ACT_CLAMP, lo, hi, 0, 0)
            case .silu: (DYD_F32_ACT_SILU, 0, 0, 0, 0)
            case .leakyClamp(let alpha, let lo, let hi): (DYD_F32_ACT_LEAKY_CLAMP, lo, hi, alpha, 0)
            case .hardSwish(let alpha, let beta): (DYD_F32_ACT_HARDSWISH, 0, 0, alpha, beta)
            }
        }

        /// How `--describe` shows it after a layer's details.
        var detailsSuffix: String {
            switch self {
            case .none: ""
            case .clamp(let lo, let hi): ", clamp [\(lo), \(hi)]"
            case .silu: ", SiLU"
            case .leakyClamp(let alpha, let lo, let hi): ", LeakyRelu \(alpha), clamp [\(lo), \(hi)]"
            case .hardSwish(let alpha, let beta): ", y·HardSigmoid(y) \(alpha), \(beta)"
            }
        }
    }

    init(source: [String], input: Int, output: Int, geometry: dyd_conv_geometry,
         weights: [Float], bias: [Float]?, context: String, op: String = "Conv", activation: Activation = .none) throws {
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        var err = [CChar](repeating: 0, count: 256)
        let created: OpaquePointer? = weights.withUnsafeBufferPointer { wp in
            (bias ?? []).withUnsafeBufferPointer { bp in
                var d = dyd_f32conv_desc(geometry: geometry, weights: wp.baseAddress,
                                         bias: bias == nil ? nil : bp.baseAddress)
                (d.activation, d.activation_min, d.activation_max, d.activation_alpha, d.activation_beta) = activation.kernelFields
                return dyd_f32conv_create(&d, &err, err.count)
            }
        }
        guard let created else { throw DyadicError("\(context): \(kernelError(err))") }
        handle = KernelHandle(created, destroy: { dyd_f32conv_destroy($0) })
        tiles = dyd_f32conv_tile_count(created)
        kernel = String(cString: dyd_f32conv_kernel_name(created))
        workspaceSize = dyd_f32conv_workspace_size(created)
        let g = geometry
        macs = Int(g.batch) * Int(g.out_h) * Int(g.out_w) * Int(g.out_c) * Int(g.kernel_h) * Int(g.kernel_w) * Int(g.in_c / g.groups)
        details = "k\(g.kernel_h)x\(g.kernel_w) s\(g.stride_h) g\(g.groups) \(g.in_c)→\(g.out_c)" + activation.detailsSuffix
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        dyd_f32conv_run(handle.op, context.pointer(inputs[0]).assumingMemoryBound(to: Float.self),
                        context.pointer(outputs[0]).assumingMemoryBound(to: Float.self),
                        start, count, context.workspace(worker))
    }
}

/// Float32 product of `rows` rows by a constant [k, n] matrix, plus a bias and a fused
/// activation (Gemm and MatMul with constant weights): the packed-B GEMM operator, its
/// weights packed once at load.
final class FloatGemmLayer: TiledLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let handle: KernelHandle
    let rows: Int, k: Int, n: Int
    let tiles: Int
    let kernel: String
    let workspaceSize: Int
    var macs: Int { rows * k * n }
    let details: String

    /// `b` is [k][n] row-major.
    init(op: String, source: [String], input: Int, output: Int, rows: Int, k: Int, n: Int, b: [Float], bias: [Float]?,
         activation: FloatConvLayer.Activation, context: String) throws {
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        (self.rows, self.k, self.n) = (rows, k, n)
        var err = [CChar](repeating: 0, count: 256)
        let created: OpaquePointer? = b.withUnsafeBufferPointer { bp in
            (bias ?? []).withUnsafeBufferPointer { biasp in
                var d = dyd_f32gemm_desc()
                (d.k, d.n, d.b, d.bias) = (k, n, bp.baseAddress, bias == nil ? nil : biasp.baseAddress)
                (d.activation, d.activation_min, d.activation_max, d.activation_alpha, d.activation_beta) = activation.kernelFields
                return dyd_f32gemm_create(&d, &err, err.count)
            }
        }
        guard let created else { throw DyadicError("\(context): \(kernelError(err))") }
        handle = KernelHandle(created, destroy: { dyd_f32gemm_destroy($0) })
        tiles = dyd_f32gemm_tile_count(created, rows)
        kernel = String(cString: dyd_f32gemm_kernel_name(created))
        workspaceSize = dyd_f32gemm_workspace_size(created, rows)
        details = "[\(rows), \(k)]·[\(k), \(n)]" + (bias == nil ? "" : " + bias") + activation.detailsSuffix
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        dyd_f32gemm_run(handle.op, rows, context.pointer(inputs[0]).assumingMemoryBound(to: Float.self), k,
                        context.pointer(outputs[0]).assumingMemoryBound(to: Float.self), n, start, count, context.workspace(worker))
    }
}

/// Float32 Relu / Clip with constant bounds: y = min(max(x, lo), hi), element-wise.
final class FloatClampLayer: Layer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = "clamp"
    let count: Int
    let lower: Float, upper: Float
    var details: String { "[\(lower), \(upper)]" }
    var inPlaceInputs: [Int]? { [0] }

    init(op: String, source: [String], input: Int, output: Int, count: Int, lower: Float, upper: Float) {
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.count = count
        self.lower = lower
        self.upper = upper
    }

    func run(_ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        let (lo, hi) = (lower, upper)
        // NaN propagates (a comparison with NaN is false), as in the reference op.
        for i in 0..<count {
            let v = x[i]
            y[i] = v < lo ? lo : (v > hi ? hi : v)
        }
    }
}

/// Float32 MatMul of two run-time tensors (attention's Q·Kᵀ and P·V): one GEMM per
/// matrix of the broadcast batch, on the packed float micro-kernels.
final class FloatBatchedMatMulLayer: TiledLayer {
    let op = "MatMul"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = String(cString: dyd_f32_gemm_kernel_name(dyd_active_isa()))
    let m: Int, n: Int, k: Int
    /// Element offsets of each batch matrix in A and B (broadcast batches repeat).
    let aOffsets: [Int], bOffsets: [Int]
    var tiles: Int { aOffsets.count }
    var macs: Int { aOffsets.count * m * n * k }
    var details: String { "\(aOffsets.count) × [\(m), \(k)]·[\(k), \(n)]" }

    init(source: [String], a: Int, b: Int, output: Int, m: Int, n: Int, k: Int, aOffsets: [Int], bOffsets: [Int]) {
        sourceNodes = source
        inputs = [a, b]
        outputs = [output]
        (self.m, self.n, self.k, self.aOffsets, self.bOffsets) = (m, n, k, aOffsets, bOffsets)
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let a = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let b = context.pointer(inputs[1]).assumingMemoryBound(to: Float.self)
        let c = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        for t in start..<(start + count) {
            dyd_f32_gemm(m, n, k, a + aOffsets[t], k, b + bOffsets[t], n, 0, c + t * m * n, n)
        }
    }
}
