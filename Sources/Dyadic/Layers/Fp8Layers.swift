import DyadicKernels

/// W4A8 convolution, fully connected layer or MatMul in FP8 (DPQ): E4M3 activations,
/// 4-bit weight indices into a 16-entry E4M3 table per group, FP32 accumulation, and
/// an output in E4M3 codes or float32. NHWC in and out for convolutions.
final class Fp8ConvLayer: TiledLayer, WeightedLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let handle: KernelHandle
    let tiles: Int
    let kernel: String
    let workspaceSize: Int
    /// Bytes stored for the weights: 4-bit indices and the groups' tables.
    let weightBytes: Int
    let macs: Int
    let summary: String
    /// The description as created, for `reference(input:output:)`. Its pointers are nil
    /// (set from the arrays below for each call), so sharing it across threads is safe.
    nonisolated(unsafe) let desc: dyd_fp8conv_desc
    let weights: [Int8], tables: [UInt8], channelScale: [Float], bias: [Float]?

    init(op: String, source: [String], input: Int, output: Int, desc: dyd_fp8conv_desc, weights: [Int8], tables: [UInt8],
         channelScale: [Float], bias: [Float]?, context: String) throws {
        self.op = op
        self.desc = desc
        self.weights = weights
        self.tables = tables
        self.channelScale = channelScale
        self.bias = bias
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        var d = desc
        var err = [CChar](repeating: 0, count: 256)
        let created: OpaquePointer? = weights.withUnsafeBufferPointer { wp in
            tables.withUnsafeBufferPointer { tp in
                channelScale.withUnsafeBufferPointer { sp in
                    (bias ?? []).withUnsafeBufferPointer { bp in
                        d.weights = wp.baseAddress
                        d.tables = tp.baseAddress
                        d.channel_scale = sp.baseAddress
                        d.bias = bias == nil ? nil : bp.baseAddress
                        return dyd_fp8conv_create(&d, &err, err.count)
                    }
                }
            }
        }
        guard let created else { throw DyadicError("\(context): \(kernelError(err))") }
        handle = KernelHandle(created, destroy: { dyd_fp8conv_destroy($0) })
        tiles = dyd_fp8conv_tile_count(created)
        kernel = String(cString: dyd_fp8conv_kernel_name(created))
        workspaceSize = dyd_fp8conv_workspace_size(created)
        weightBytes = dyd_fp8conv_packed_weight_bytes(created)
        let g = desc.geometry
        macs = Int(g.batch) * Int(g.out_h) * Int(g.out_w) * Int(g.out_c) * Int(g.kernel_h) * Int(g.kernel_w) * Int(g.in_c / g.groups)
        let grouping = desc.group_size == 0 ? "table per channel" : "table per \(desc.group_size) inputs"
        let output = desc.output_fp8 != 0 ? "→ e4m3·\(desc.output_scale)" : "→ f32"
        summary = "k\(g.kernel_h)x\(g.kernel_w) s\(g.stride_h) g\(g.groups) \(g.in_c)→\(g.out_c); e4m3·\(desc.input_scale), \(grouping) \(output)"
    }

    var details: String { summary }
    var precision: String { "w4a8-fp8" }

    /// The layer on the float64 oracle (dyd_ref_fp8conv), for checks of a run's layers
    /// against it on the inputs the run produced.
    func reference(input: UnsafePointer<UInt8>, output: UnsafeMutableRawPointer) {
        var d = desc
        weights.withUnsafeBufferPointer { wp in
            tables.withUnsafeBufferPointer { tp in
                channelScale.withUnsafeBufferPointer { sp in
                    (bias ?? []).withUnsafeBufferPointer { bp in
                        d.weights = wp.baseAddress
                        d.tables = tp.baseAddress
                        d.channel_scale = sp.baseAddress
                        d.bias = bias == nil ? nil : bp.baseAddress
                        dyd_ref_fp8conv(&d, input, output)
                    }
                }
            }
        }
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        dyd_fp8conv_run(handle.op, context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self), context.pointer(outputs[0]),
                        start, count, context.workspace(worker))
    }
}

/// Add of two E4M3 tensors (or one broadcast scalar) to E4M3: decoded, scaled and
/// summed in float32, clamped (fused Relu/Clip), encoded.
final class Fp8AddLayer: TiledLayer {
    let op = "FP8Add"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let params: dyd_fp8_add_params
    let count: Int, aInc: Int, bInc: Int
    let kernel = String(cString: dyd_fp8_add_kernel_name())

    init(source: [String], a: Int, b: Int, output: Int, aScale: Float, bScale: Float, yScale: Float,
         low: Float, high: Float, count: Int, aIsScalar: Bool, bIsScalar: Bool) {
        sourceNodes = source
        inputs = [a, b]
        outputs = [output]
        params = dyd_fp8_add_params(a_scale: aScale, b_scale: bScale, y_scale: yScale, out_min: low, out_max: high)
        self.count = count
        aInc = aIsScalar ? 0 : 1
        bInc = bIsScalar ? 0 : 1
    }

    var details: String { "e4m3·\(params.a_scale) + e4m3·\(params.b_scale) → e4m3·\(params.y_scale)" }
    var precision: String { "fp8" }
    var inPlaceInputs: [Int]? { [aInc == 1 ? 0 : nil, bInc == 1 ? 1 : nil].compactMap { $0 } }
    var tiles: Int { (count + BinaryLayer.tileSize - 1) / BinaryLayer.tileSize }

    func runTiles(_ start: Int, _ n: Int, worker: Int, _ context: ExecutionContext) {
        let lo = start * BinaryLayer.tileSize, hi = min(count, (start + n) * BinaryLayer.tileSize)
        let a = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self).advanced(by: lo * aInc)
        let b = context.pointer(inputs[1]).assumingMemoryBound(to: UInt8.self).advanced(by: lo * bInc)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self).advanced(by: lo)
        withUnsafePointer(to: params) { p in dyd_fp8_add_run(p, a, aInc, b, bInc, y, hi - lo) }
    }
}

/// Global average pooling of an NHWC E4M3 tensor to E4M3: per channel the float32
/// mean over the pixels, scaled and encoded.
final class Fp8GlobalAvgPoolLayer: Layer {
    let op = "FP8GlobalAvgPool"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = String(cString: dyd_fp8_global_avgpool_kernel_name())
    let params: dyd_fp8_avgpool_params

    init(source: [String], input: Int, output: Int, batch: Int, channels: Int, pixels: Int, xScale: Float, yScale: Float) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        params = dyd_fp8_avgpool_params(batch: UInt32(batch), pixels: UInt32(pixels), channels: UInt32(channels),
                                         in_pixel_stride: UInt32(channels), input_scale: xScale, output_scale: yScale)
    }

    var details: String { "\(params.pixels) pixels, e4m3·\(params.input_scale) → e4m3·\(params.output_scale)" }
    var precision: String { "fp8" }

    func run(_ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        withUnsafePointer(to: params) { p in dyd_fp8_global_avgpool_run(p, x, y) }
    }
}
