import DyadicKernels

/// Quantized Add or Mul of two same-shaped 8-bit tensors (or one broadcast scalar).
final class BinaryLayer: TiledLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let params: dyd_binary_params
    let count: Int, aInc: Int, bInc: Int
    let kernel: String
    let isMul: Bool
    /// Per-channel broadcast in NHWC ([N,C,H,W] with [N,C,1,1], squeeze-and-excite):
    /// the kernel runs once per pixel over its C channels, the small operand's row being
    /// its image's C values.
    struct ChannelBroadcast: Sendable { let channels: Int, pixelsPerImage: Int, aIsSmall: Bool }
    let channelBroadcast: ChannelBroadcast?

    init(mul: Bool, source: [String], a: Int, b: Int, output: Int, params: dyd_binary_params,
         count: Int, aIsScalar: Bool, bIsScalar: Bool, channelBroadcast: ChannelBroadcast? = nil) {
        isMul = mul
        self.channelBroadcast = channelBroadcast
        op = mul ? "QMul" : "QAdd"
        sourceNodes = source
        inputs = [a, b]
        outputs = [output]
        self.params = params
        self.count = count
        aInc = aIsScalar ? 0 : 1
        bInc = bIsScalar ? 0 : 1
        isIntegerOnly = params.kind == DYD_REQUANT_DYADIC
        kernel = String(cString: mul ? dyd_qmul_kernel_name(params.kind, params.y_signed)
                                    : dyd_qadd_kernel_name(params.kind, params.y_signed))
    }

    var details: String {
        if params.kind == DYD_REQUANT_DYADIC {
            return isMul ? "M \(params.a_mul)·2^-\(params.shift) zp \(params.y_zero_point) clamp [\(params.qmin),\(params.qmax)]"
                : "a·\(params.a_mul) + b·\(params.b_mul) >> \(params.shift) zp \(params.y_zero_point) clamp [\(params.qmin),\(params.qmax)]"
        }
        return "a·\(params.a_scale) \(isMul ? "×" : "+") b·\(params.b_scale) zp \(params.y_zero_point)"
    }

    /// The kernels read element i of each input before writing element i.
    var inPlaceInputs: [Int]? {
        if let cb = channelBroadcast { return [cb.aIsSmall ? 1 : 0] }
        return [aInc == 1 ? 0 : nil, bInc == 1 ? 1 : nil].compactMap { $0 }
    }

    /// Elements per tile: large enough to amortise a call, small enough to split.
    static let tileSize = 4096
    var tiles: Int {
        if let cb = channelBroadcast { return max(1, count / max(cb.channels, 1)) }
        return (count + BinaryLayer.tileSize - 1) / BinaryLayer.tileSize
    }

    func runTiles(_ start: Int, _ n: Int, worker: Int, _ context: ExecutionContext) {
        if let cb = channelBroadcast {
            // A tile is one pixel.
            let c = cb.channels
            withUnsafePointer(to: params) { p in
                for pixel in start..<(start + n) {
                    let small = (pixel / cb.pixelsPerImage) * c, big = pixel * c
                    let a = context.pointer(inputs[0]).advanced(by: cb.aIsSmall ? small : big)
                    let b = context.pointer(inputs[1]).advanced(by: cb.aIsSmall ? big : small)
                    let y = context.pointer(outputs[0]).advanced(by: big)
                    if isMul { dyd_qmul_run(p, a, 1, b, 1, y, c) } else { dyd_qadd_run(p, a, 1, b, 1, y, c) }
                }
            }
            return
        }
        let lo = start * BinaryLayer.tileSize, hi = min(count, (start + n) * BinaryLayer.tileSize)
        let a = context.pointer(inputs[0]).advanced(by: lo * aInc), b = context.pointer(inputs[1]).advanced(by: lo * bInc)
        let y = context.pointer(outputs[0]).advanced(by: lo)
        withUnsafePointer(to: params) { p in
            if isMul { dyd_qmul_run(p, a, aInc, b, bInc, y, hi - lo) } else { dyd_qadd_run(p, a, aInc, b, bInc, y, hi - lo) }
        }
    }
}

/// y = table[x] for an 8-bit input: requantization between scales and every
/// element-wise non-linearity of an 8-bit input, built at load.
final class TableLayer: Layer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    /// False for conversions to or from FP8 codes (the lookup itself is integer).
    let isIntegerOnly: Bool
    let table: [UInt8]
    let count: Int
    let kernel = String(cString: dyd_lut_kernel_name())
    let what: String

    init(op: String, source: [String], input: Int, output: Int, table: [UInt8], count: Int, what: String,
         integerOnly: Bool = true) {
        self.op = op
        isIntegerOnly = integerOnly
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.table = table
        self.count = count
        self.what = what
    }

    var details: String { what }
    var inPlaceInputs: [Int]? { [0] }
    var precision: String { isIntegerOnly ? "int8" : "fp8" }

    func run(_ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        table.withUnsafeBufferPointer { t in dyd_lut_run(t.baseAddress, x, y, count) }
    }
}

/// Concatenation along a physical axis: byte runs copied into place; 8-bit inputs may
/// be requantized to the output's scale through a table on the way.
final class ConcatLayer: Layer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let kernel = "dyd_concat_x8"
    /// Per input: bytes per outer step, and its table (nil = copy).
    let chunks: [Int]
    let tables: [[UInt8]?]
    let outer: Int

    init(op: String, source: [String], inputs: [Int], output: Int, chunks: [Int], tables: [[UInt8]?], outer: Int, isIntegerOnly: Bool) {
        self.op = op
        sourceNodes = source
        self.inputs = inputs
        outputs = [output]
        self.chunks = chunks
        self.tables = tables
        self.outer = outer
        self.isIntegerOnly = isIntegerOnly
    }

    var details: String { "\(tables.filter { $0 != nil }.count) of \(inputs.count) inputs requantized" }

    func run(_ context: ExecutionContext) {
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        let total = chunks.reduce(0, +)
        var offset = 0
        for (i, value) in inputs.enumerated() {
            let x = context.pointer(value).assumingMemoryBound(to: UInt8.self)
            if let t = tables[i] {
                t.withUnsafeBufferPointer { dyd_concat_x8(x, chunks[i], outer, y + offset, total, $0.baseAddress) }
            } else {
                dyd_concat_x8(x, chunks[i], outer, y + offset, total, nil)
            }
            offset += chunks[i]
        }
    }
}

/// y = table_c[x] with one 256-entry table per channel: an element-wise op of an 8-bit
/// activation and per-channel constants (BatchNormalization, PRelu, a [1,C,1,1] scale
/// or offset) between Q/DQ pairs. Channel c of element i is (i / inner) % channels:
/// inner = 1 in NHWC, H·W in NCHW.
final class ChannelTableLayer: TiledLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel = "dyd_channel_lut"
    /// channels × 256 bytes, channel-major.
    let tables: [UInt8]
    let outer: Int, channels: Int, inner: Int
    let what: String

    init(op: String, source: [String], input: Int, output: Int, tables: [UInt8],
         outer: Int, channels: Int, inner: Int, what: String) {
        precondition(tables.count == channels * 256)
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.tables = tables
        self.outer = outer
        self.channels = channels
        self.inner = inner
        self.what = what
    }

    var details: String { what }
    var inPlaceInputs: [Int]? { [0] }
    var tiles: Int { outer }

    func runTiles(_ start: Int, _ n: Int, worker: Int, _ context: ExecutionContext) {
        let block = channels * inner
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self).advanced(by: start * block)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self).advanced(by: start * block)
        tables.withUnsafeBufferPointer { dyd_channel_lut($0.baseAddress, x, y, n, channels, inner) }
    }
}
