import DyadicKernels

/// Float32 convolution with constant weights (float models, the float parts of partly
/// quantized ones, and the quantizer's calibration passes): NCHW in and out.
final class FloatConvLayer: TiledLayer {
    let op = "Conv"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let handle: KernelHandle
    let tiles: Int
    let kernel: String
    let workspaceSize: Int
    let macs: Int
    let details: String

    init(source: [String], input: Int, output: Int, geometry: dyd_conv_geometry,
         weights: [Float], bias: [Float]?, context: String) throws {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        var err = [CChar](repeating: 0, count: 256)
        let created: OpaquePointer? = weights.withUnsafeBufferPointer { wp in
            (bias ?? []).withUnsafeBufferPointer { bp in
                var d = dyd_f32conv_desc(geometry: geometry, weights: wp.baseAddress,
                                         bias: bias == nil ? nil : bp.baseAddress)
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
        details = "k\(g.kernel_h)x\(g.kernel_w) s\(g.stride_h) g\(g.groups) \(g.in_c)→\(g.out_c)"
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        dyd_f32conv_run(handle.op, context.pointer(inputs[0]).assumingMemoryBound(to: Float.self),
                        context.pointer(outputs[0]).assumingMemoryBound(to: Float.self),
                        start, count, context.workspace(worker))
    }
}

/// Float32 matrix product with a constant right-hand side: Y = X·B (+ bias), X of
/// `rows`×k row-major, B k×n (or n×k when `transposed`); rows split across workers.
final class FloatGemmLayer: TiledLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel: String
    let macs: Int
    let details: String
    let tiles: Int
    private let rows: Int, k: Int, n: Int
    private let weights: [Float]
    private let transposed: Bool
    private let bias: [Float]?
    private static let rowsPerTile = 16

    init(op: String, source: [String], input: Int, output: Int, rows: Int, k: Int, n: Int,
         weights: [Float], transposed: Bool, bias: [Float]?) {
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        (self.rows, self.k, self.n) = (rows, k, n)
        self.weights = weights
        self.transposed = transposed
        self.bias = bias
        tiles = max(1, (rows + Self.rowsPerTile - 1) / Self.rowsPerTile)
        kernel = String(cString: dyd_f32_gemm_kernel_name(dyd_active_isa()))
        macs = rows * k * n
        details = "\(rows)×\(k) · \(k)×\(n)"
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let r0 = start * Self.rowsPerTile, r1 = min(rows, (start + count) * Self.rowsPerTile)
        guard r1 > r0 else { return }
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self) + r0 * k
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self) + r0 * n
        weights.withUnsafeBufferPointer { b in
            dyd_f32_gemm(r1 - r0, n, k, x, k, b.baseAddress, transposed ? k : n, transposed ? 1 : 0, y, n)
        }
        if let bias {
            for r in 0..<(r1 - r0) {
                for j in 0..<n { y[r * n + j] += bias[j] }
            }
        }
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
