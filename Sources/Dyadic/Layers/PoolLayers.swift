import DyadicKernels

/// Quantized average pooling (sum, then a dyadic multiply that includes 1/N), NHWC.
final class AvgPoolLayer: TiledLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let handle: KernelHandle
    let tiles: Int
    let kernel: String
    let summary: String

    init(global: Bool, source: [String], input: Int, output: Int, desc: dyd_avgpool_desc,
         requants: [Requantization], context: String) throws {
        op = global ? "QGlobalAvgPool" : "QAvgPool"
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        isIntegerOnly = requants.first?.numerics == .dyadic
        var err = [CChar](repeating: 0, count: 256)
        // Flatten every count's parameters into stable arrays the C side copies.
        let m = requants.map { $0.multipliers[0].multiplier }, s = requants.map { $0.multipliers[0].shift }
        let f = requants.map { $0.scales[0] }
        let created: OpaquePointer? = m.withUnsafeBufferPointer { mp in
            s.withUnsafeBufferPointer { sp in
                f.withUnsafeBufferPointer { fp in
                    let list = requants.indices.map { i in
                        dyd_requant(kind: requants[i].numerics == .dyadic ? DYD_REQUANT_DYADIC : DYD_REQUANT_FP32,
                                    per_channel: 0, multiplier: mp.baseAddress! + i, shift: sp.baseAddress! + i,
                                    scale: fp.baseAddress! + i, zero_point: requants[i].zeroPoint,
                                    qmin: requants[i].qmin, qmax: requants[i].qmax)
                    }
                    return list.withUnsafeBufferPointer { lp in
                        var d = desc
                        d.requant_by_count = lp.baseAddress
                        return dyd_avgpool_create(&d, &err, err.count)
                    }
                }
            }
        }
        guard let created else { throw DyadicError("\(context): \(kernelError(err))") }
        handle = KernelHandle(created, destroy: { dyd_avgpool_destroy($0) })
        tiles = dyd_avgpool_tile_count(created)
        kernel = String(cString: dyd_avgpool_kernel_name(created))
        summary = requants.last?.summary ?? ""
    }

    var details: String { summary }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        dyd_avgpool_run(handle.op, context.pointer(inputs[0]), context.pointer(outputs[0]), start, count)
    }
}

/// Max pooling of 8-bit values (data movement: no rescaling), NHWC.
final class MaxPoolLayer: TiledLayer {
    let op = "QMaxPool"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let handle: KernelHandle
    let tiles: Int
    let kernel: String

    init(source: [String], input: Int, output: Int, desc: dyd_maxpool_desc, context: String) throws {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        var err = [CChar](repeating: 0, count: 256)
        var d = desc
        guard let created = dyd_maxpool_create(&d, &err, err.count) else {
            throw DyadicError("\(context): \(kernelError(err))")
        }
        handle = KernelHandle(created, destroy: { dyd_maxpool_destroy($0) })
        tiles = dyd_maxpool_tile_count(created)
        kernel = String(cString: dyd_maxpool_kernel_name(created))
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        dyd_maxpool_run(handle.op, context.pointer(inputs[0]), context.pointer(outputs[0]), start, count)
    }
}
