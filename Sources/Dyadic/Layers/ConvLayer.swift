import DyadicKernels

/// Owns a C kernel op; freed with the plan.
final class KernelHandle: @unchecked Sendable {
    let op: OpaquePointer
    let destroy: (OpaquePointer) -> Void
    init(_ op: OpaquePointer, destroy: @escaping (OpaquePointer) -> Void) {
        self.op = op
        self.destroy = destroy
    }
    deinit { destroy(op) }
}

/// Reads a kernel-side error message.
func kernelError(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Quantized convolution, fully connected layer or MatMul with constant weights:
/// int32 accumulation and fused requantization + clamp, NHWC in and out.
final class ConvLayer: TiledLayer, WeightedLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let requant: Requantization
    let handle: KernelHandle
    let tiles: Int
    let kernel: String
    let workspaceSize: Int
    let shapeSummary: String
    /// Bytes the kernel stores for the weights themselves (2- and 4-bit weights packed
    /// where a qc2w/qc4w kernel runs).
    let weightBytes: Int
    /// Bits per weight (2...8): the narrowest width that holds every weight.
    let weightBits: Int
    let macs: Int

    init(op: String, source: [String], input: Int, output: Int, desc: dyd_conv_desc,
         weights: [Int8], bias: [Int32]?, requant: Requantization, context: String) throws {
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.requant = requant
        var d = desc
        var err = [CChar](repeating: 0, count: 256)
        let created: OpaquePointer? = weights.withUnsafeBufferPointer { wp in
            (bias ?? []).withUnsafeBufferPointer { bp in
                requant.withKernelParams { rq in
                    d.weights = wp.baseAddress
                    d.bias = bias == nil ? nil : bp.baseAddress
                    d.requant = rq
                    return dyd_conv_create(&d, &err, err.count)
                }
            }
        }
        guard let created else { throw DyadicError("\(context): \(kernelError(err))") }
        handle = KernelHandle(created, destroy: { dyd_conv_destroy($0) })
        tiles = dyd_conv_tile_count(created)
        kernel = String(cString: dyd_conv_kernel_name(created))
        workspaceSize = dyd_conv_workspace_size(created)
        weightBytes = dyd_conv_packed_weight_bytes(created)
        weightBits = desc.weight_bits == 0 ? 8 : Int(desc.weight_bits)
        let g = desc.geometry
        macs = Int(g.batch) * Int(g.out_h) * Int(g.out_w) * Int(g.out_c) * Int(g.kernel_h) * Int(g.kernel_w) * Int(g.in_c / g.groups)
        shapeSummary = "k\(g.kernel_h)x\(g.kernel_w) s\(g.stride_h) g\(g.groups) \(g.in_c)→\(g.out_c)"
    }

    var details: String { "\(shapeSummary); \(requant.summary)" }
    var precision: String { weightBits == 8 ? "int8" : "w\(weightBits)a8" }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        dyd_conv_run(handle.op, context.pointer(inputs[0]), context.pointer(outputs[0]), start, count, context.workspace(worker))
    }
}
