import DyadicKernels

/// DynamicQuantizeLinear: uint8 codes with a scale and zero point taken from the
/// tensor's own range on every run (`Quantization.dynamicParameters`), the codes
/// quantized with them as QuantizeLinear does.
/// Outputs: the codes (the input's shape), the scale (f32 []), the zero point (u8 []).
final class DynamicQuantizeLayer: Layer {
    let op = "DynamicQuantize"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = "dyd_quantize_f32"
    let count: Int
    let label: String
    var details: String { "\(count) values, scale and zero point per run" }

    init(source: [String], input: Int, codes: Int, scale: Int, zeroPoint: Int, count: Int, label: String) {
        sourceNodes = source
        inputs = [input]
        outputs = [codes, scale, zeroPoint]
        self.count = count
        self.label = label
    }

    func run(_ context: ExecutionContext) {
        guard context.failure == nil else { return }
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        var lo: Float = 0, hi: Float = 0
        guard count == 0 || dyd_f32_range(x, count, &lo, &hi) != 0 else {
            context.failure = DyadicError("\(label): the input holds a non-finite value")
            return
        }
        let (scale, zp) = Quantization.dynamicParameters(lo: lo, hi: hi)
        dyd_quantize_f32(x, context.pointer(outputs[0]), count, scale, Int32(zp), 0)
        context.pointer(outputs[1]).assumingMemoryBound(to: Float.self).pointee = scale
        context.pointer(outputs[2]).assumingMemoryBound(to: UInt8.self).pointee = zp
    }
}

/// MatMulInteger of run-time uint8 codes by constant 8-bit weights on the integer
/// GEMM kernels (exact int32 sums), either as is (int32 out) or with ONNX Runtime's
/// dequantization after it (`Dequantization`) in the same float32 steps, so the output
/// equals ONNX Runtime's bit for bit.
final class IntegerMatMulLayer: TiledLayer {
    let op = "MatMulInteger"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let handle: KernelHandle
    let kernel: String
    let rows: Int, k: Int, n: Int
    let tiles: Int
    let workspaceSize: Int
    let kernelWorkspace: Int

    /// A's zero point: a constant, or read from input 1 (a uint8 value) on each run.
    let aZeroPoint: Int32?
    /// The float output stage; nil for an int32 output.
    let dequantization: Dequantization?
    var macs: Int { rows * k * n }
    var details: String {
        let s = "[\(rows), \(k)]·[\(k), \(n)]"
        return s + (dequantization?.description ?? " → i32")
    }

    /// `weights` is B as [k][n] int8 (uint8 weights arrive shifted by −128, and their zero points with them).
    init(source: [String], inputs: [Int], output: Int, rows: Int, k: Int, n: Int, weights: [Int8], weightZeroPoints: [Int32]?,
         aZeroPoint: Int32?, dequantization: Dequantization?, context: String) throws {
        sourceNodes = source
        self.inputs = inputs
        outputs = [output]
        (self.rows, self.k, self.n) = (rows, k, n)
        self.aZeroPoint = aZeroPoint
        self.dequantization = dequantization
        isIntegerOnly = dequantization == nil
        var err = [CChar](repeating: 0, count: 256)
        let created: OpaquePointer? = weights.withUnsafeBufferPointer { wp in
            (weightZeroPoints ?? []).withUnsafeBufferPointer { zp in
                var d = dyd_qgemm_desc(k: k, n: n, b: wp.baseAddress, b_zero_point: weightZeroPoints == nil ? nil : zp.baseAddress)
                return dyd_qgemm_create(&d, &err, err.count)
            }
        }
        guard let created else { throw DyadicError("\(context): \(kernelError(err))") }
        handle = KernelHandle(created, destroy: { dyd_qgemm_destroy($0) })
        kernel = String(cString: dyd_qgemm_kernel_name(created))
        tiles = dyd_qgemm_tile_count(created, rows)
        kernelWorkspace = (dyd_qgemm_workspace_size(created, rows) + 63) & ~63
        // A run-time scale becomes n column scales in the scratch.
        workspaceSize = kernelWorkspace + (dequantization?.scratchBytes ?? 0)
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let a = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let za = aZeroPoint ?? Int32(context.pointer(inputs[1]).assumingMemoryBound(to: UInt8.self).pointee)
        let scratch = context.workspace(worker)
        guard let d = dequantization else {
            dyd_qgemm_run_s32(handle.op, rows, a, k, za, context.pointer(outputs[0]).assumingMemoryBound(to: Int32.self), n,
                              start, count, scratch)
            return
        }
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        d.withScaleAndBias(context, inputs: inputs, scratch: scratch + kernelWorkspace) { scale, bias in
            dyd_qgemm_run_f32(handle.op, rows, a, k, za, scale, bias, y, n, start, count, scratch)
        }
    }
}

/// ONNX Runtime's float output stage after an integer product: Cast to float, Mul by a
/// scale, optional Add of a constant bias, one value per output channel. The scale of
/// channel j is a run-time value's element (one, or one per channel) times a constant
/// (one per channel), the product rounded once as ONNX Runtime's Mul of the two does.
struct Dequantization: Sendable {
    /// Input position of a run-time scale, and whether it is one value for all channels.
    var runtimeScale: (input: Int, isScalar: Bool)?
    /// One constant factor per channel (ones when the scale is only the run-time value).
    var constantScale: [Float]
    var bias: [Float]?

    /// Scratch bytes the channel scales need on each run.
    var scratchBytes: Int { runtimeScale == nil ? 0 : constantScale.count * 4 }

    var description: String {
        " → f32, scale " + (runtimeScale.map { $0.isScalar ? "per run" : "per run and channel" } ?? "constant")
            + (bias == nil ? "" : " + bias")
    }

    /// Calls `body` with the channel scales (built in `scratch` when they come from a
    /// run-time value) and the bias or nil.
    func withScaleAndBias(_ context: ExecutionContext, inputs: [Int], scratch: UnsafeMutableRawPointer,
                          _ body: (UnsafePointer<Float>, UnsafePointer<Float>?) -> Void) {
        constantScale.withUnsafeBufferPointer { constant in
            var scale = constant.baseAddress!
            if let (input, isScalar) = runtimeScale {
                let r = context.pointer(inputs[input]).assumingMemoryBound(to: Float.self)
                let s = scratch.assumingMemoryBound(to: Float.self)
                for j in 0..<constant.count { s[j] = r[isScalar ? 0 : j] * constant[j] }
                scale = UnsafePointer(s)
            }
            if let bias { bias.withUnsafeBufferPointer { body(scale, $0.baseAddress) } } else { body(scale, nil) }
        }
    }
}

/// ConvInteger of run-time uint8 codes (NCHW) by constant 8-bit weights with the float
/// output stage fused (`dyd_qconv`): im2col rows on the integer GEMM kernels, or a
/// direct loop for depthwise; reads and writes NCHW, as the float layers around it do.
final class IntegerConvLayer: TiledLayer {
    let op = "ConvInteger"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let handle: KernelHandle
    let kernel: String
    let tiles: Int
    let workspaceSize: Int
    let kernelWorkspace: Int
    let macs: Int
    let aZeroPoint: Int32?
    let dequantization: Dequantization
    /// A fused Relu/Clip (−∞, ∞ for none).
    let bounds: (lo: Float, hi: Float)
    /// An int32 bias added to the accumulators before the float stage: constant (one or
    /// one per channel) or a run-time value's (one per channel) at an input position.
    enum AccumulatorBias {
        case constant([Int32])
        case input(Int)
    }
    let accumulatorBias: AccumulatorBias?
    let geometry: dyd_conv_geometry
    var details: String {
        let g = geometry
        return "\(g.kernel_h)x\(g.kernel_w)/\(g.stride_h) \(g.in_c)→\(g.out_c)" + (g.groups > 1 ? " groups \(g.groups)" : "")
            + dequantization.description + (bounds == (-.infinity, .infinity) ? "" : ", clamp [\(bounds.lo), \(bounds.hi)]")
    }

    /// `weights` OIHW int8 (uint8 weights arrive shifted by −128, with their zero points).
    init(source: [String], inputs: [Int], output: Int, geometry: dyd_conv_geometry, weights: [Int8], weightZeroPoints: [Int32]?,
         accumulatorBias: AccumulatorBias?, aZeroPoint: Int32?, dequantization: Dequantization, bounds: (lo: Float, hi: Float),
         context: String) throws {
        sourceNodes = source
        self.inputs = inputs
        outputs = [output]
        self.geometry = geometry
        self.bounds = bounds
        self.accumulatorBias = accumulatorBias
        self.aZeroPoint = aZeroPoint
        self.dequantization = dequantization
        var err = [CChar](repeating: 0, count: 256)
        let created: OpaquePointer? = weights.withUnsafeBufferPointer { wp in
            (weightZeroPoints ?? []).withUnsafeBufferPointer { zp in
                var d = dyd_qconv_desc(geometry: geometry, weights: wp.baseAddress,
                                       weight_zero_point: weightZeroPoints == nil ? nil : zp.baseAddress)
                return dyd_qconv_create(&d, &err, err.count)
            }
        }
        guard let created else { throw DyadicError("\(context): \(kernelError(err))") }
        handle = KernelHandle(created, destroy: { dyd_qconv_destroy($0) })
        kernel = String(cString: dyd_qconv_kernel_name(created))
        tiles = dyd_qconv_tile_count(created)
        kernelWorkspace = (dyd_qconv_workspace_size(created) + 63) & ~63
        workspaceSize = kernelWorkspace + dequantization.scratchBytes
        let g = geometry
        macs = Int(g.batch) * Int(g.out_h) * Int(g.out_w) * Int(g.out_c) * Int(g.kernel_h) * Int(g.kernel_w) * Int(g.in_c / g.groups)
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let za = aZeroPoint ?? Int32(context.pointer(inputs[1]).assumingMemoryBound(to: UInt8.self).pointee)
        let scratch = context.workspace(worker)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        dequantization.withScaleAndBias(context, inputs: inputs, scratch: scratch + kernelWorkspace) { scale, bias in
            switch accumulatorBias {
            case .constant(let values)?:
                values.withUnsafeBufferPointer {
                    dyd_qconv_run_f32(handle.op, x, UInt8(za), $0.baseAddress, scale, bias, bounds.lo, bounds.hi, y, start, count, scratch)
                }
            case .input(let position)?:
                let b = UnsafePointer(context.pointer(inputs[position]).assumingMemoryBound(to: Int32.self))
                dyd_qconv_run_f32(handle.op, x, UInt8(za), b, scale, bias, bounds.lo, bounds.hi, y, start, count, scratch)
            case nil:
                dyd_qconv_run_f32(handle.op, x, UInt8(za), nil, scale, bias, bounds.lo, bounds.hi, y, start, count, scratch)
            }
        }
    }
}
