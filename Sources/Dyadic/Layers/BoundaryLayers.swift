import DyadicKernels

/// Float → integer or FP8 E4M3FN codes (QuantizeLinear), per tensor; integer outputs
/// may be written NHWC from an NCHW input (the reordering every image input needs).
final class QuantizeLayer: TiledLayer {
    let op = "Quantize"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel: String
    let scale: Float, zeroPoint: Int32, dtype: DType, count: Int
    /// FP8 only: out-of-range values become ±448 (true) or NaN (false).
    let saturate: Bool
    /// (batch, channels, H·W) when the output is NHWC.
    let nhwc: (batch: Int, channels: Int, plane: Int)?
    /// Elements (flat) or pixels of one image (NHWC) per tile.
    static let tileSize = 8192
    let tilesPerImage: Int
    let tiles: Int

    init(source: [String], input: Int, output: Int, scale: Float, zeroPoint: Int32, dtype: DType, count: Int,
         nhwcFrom shape: [Int]? = nil, saturate: Bool = true) {
        sourceNodes = source
        self.saturate = saturate
        inputs = [input]
        outputs = [output]
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.dtype = dtype
        self.count = count
        let g = shape.map { (batch: $0[0], channels: $0[1], plane: $0[2] * $0[3]) }
        nhwc = g
        let fp8 = dtype == .float8e4m3fn
        kernel = g == nil ? (fp8 ? "dyd_fp8_quantize_f32" : "dyd_quantize_f32") : (fp8 ? "dyd_fp8_quantize_f32_to_nhwc" : "dyd_quantize_f32_to_nhwc")
        tilesPerImage = max(1, ((g?.plane ?? count) + QuantizeLayer.tileSize - 1) / QuantizeLayer.tileSize)
        tiles = (g?.batch ?? 1) * tilesPerImage
    }

    var details: String { "scale \(scale) zp \(zeroPoint)" }

    func runTiles(_ start: Int, _ n: Int, worker: Int, _ context: ExecutionContext) {
        let x = UnsafePointer(context.pointer(inputs[0]).assumingMemoryBound(to: Float.self))
        let y = context.pointer(outputs[0])
        let signed: Int32 = dtype == .int8 ? 1 : 0
        var t = start
        while t < start + n {
            defer { t += 1 }
            let image = t / tilesPerImage, part = t % tilesPerImage
            if let g = nhwc {
                let first = part * QuantizeLayer.tileSize, pixels = min(QuantizeLayer.tileSize, g.plane - first)
                let offset = image * g.channels * g.plane
                if dtype == .float8e4m3fn {
                    dyd_fp8_quantize_f32_to_nhwc(x + offset, (y + offset).assumingMemoryBound(to: UInt8.self), g.channels, g.plane,
                                                 first, pixels, scale, saturate ? 1 : 0)
                } else {
                    dyd_quantize_f32_to_nhwc(x + offset, y + offset, g.channels, g.plane, first, pixels, scale, zeroPoint, signed)
                }
            } else if dtype == .float8e4m3fn {
                let first = part * QuantizeLayer.tileSize
                dyd_fp8_quantize_f32(x + first, (y + first).assumingMemoryBound(to: UInt8.self),
                                     min(QuantizeLayer.tileSize, count - first), scale, saturate ? 1 : 0)
            } else {
                let first = part * QuantizeLayer.tileSize
                dyd_quantize_f32(x + first, y + first, min(QuantizeLayer.tileSize, count - first), scale, zeroPoint, signed)
            }
        }
    }
}

/// Integer or FP8 → float (DequantizeLinear), per tensor: (q − zp)·scale.
final class DequantizeLayer: Layer {
    let op = "Dequantize"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    var kernel: String { table == nil ? "swift.dequantize" : "f32_lut" }
    let scale: Float, zeroPoint: Int32, dtype: DType, count: Int
    /// For 8-bit (and narrower, one per byte) codes: the result of every byte, computed
    /// once with the same expression, so a run is one load per element.
    private let table: [Float]?

    init(source: [String], input: Int, output: Int, scale: Float, zeroPoint: Int32, dtype: DType, count: Int) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.dtype = dtype
        self.count = count
        switch dtype {
        case .uint8, .uint4, .uint2: table = (0..<256).map { Float(Int32($0) - zeroPoint) * scale }
        case .int8, .int4, .int2: table = (0..<256).map { Float(Int32(Int8(truncatingIfNeeded: $0)) - zeroPoint) * scale }
        default: table = nil
        }
    }

    var details: String { "scale \(scale) zp \(zeroPoint)" }

    func run(_ context: ExecutionContext) {
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        let raw = context.pointer(inputs[0])
        if let table {  // narrow values are held one per byte (signed ones sign-extended)
            let x = raw.assumingMemoryBound(to: UInt8.self)
            table.withUnsafeBufferPointer { t in for i in 0..<count { y[i] = t[Int(x[i])] } }
            return
        }
        switch dtype {
        case .float8e4m3fn: // FP8 zero points are 0
            dyd_fp8_e4m3_to_f32_array(raw.assumingMemoryBound(to: UInt8.self), y, count, scale)
        default:
            let x = raw.assumingMemoryBound(to: Int32.self)
            for i in 0..<count { y[i] = Float(x[i] &- zeroPoint) * scale }
        }
    }
}

/// A value whose bytes stay as they are under a new shape (Reshape, Flatten,
/// Squeeze, Unsqueeze, Identity, a layout change of a 1×1 or one-channel image).
/// The memory plan usually places the output over the input, and then there is
/// nothing to copy.
final class CopyLayer: Layer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel = "memcpy"
    let byteCount: Int

    init(op: String, source: [String], input: Int, output: Int, byteCount: Int) {
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.byteCount = byteCount
    }

    var inPlaceInputs: [Int]? { [0] }

    func run(_ context: ExecutionContext) {
        let x = context.pointer(inputs[0]), y = context.pointer(outputs[0])
        if x != y { y.copyMemory(from: x, byteCount: byteCount) }
    }
}

/// NCHW ↔ NHWC reordering of a rank-4 tensor of any element type.
final class LayoutLayer: Layer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel = "dyd_transpose_planes"
    /// Physical input dims and the permutation to the output.
    let n: Int, a: Int, b: Int, elementSize: Int

    /// Moves dimension of size `a` past `b` in [n][a][b] blocks: NCHW→NHWC is a=C, b=H·W.
    /// `shape` is the logical (NCHW) shape.
    init(source: [String], input: Int, output: Int, toNHWC: Bool, shape: [Int], elementSize: Int) {
        op = toNHWC ? "ToNHWC" : "ToNCHW"
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        n = shape[0]
        a = toNHWC ? shape[1] : shape[2] * shape[3]
        b = toNHWC ? shape[2] * shape[3] : shape[1]
        self.elementSize = elementSize
    }

    func run(_ context: ExecutionContext) {
        dyd_transpose_planes(context.pointer(inputs[0]), context.pointer(outputs[0]), n, a, b, elementSize)
    }
}

/// Any reference operator (float ops, data movement, ConvInteger …) on NCHW values.
/// It allocates per run; it is the fallback and the float baseline, not the fast path.
final class ReferenceLayer: Layer {
    let node: Node
    let opset: Int
    let inputs: [Int], outputs: [Int]
    /// Input positions that are absent (ONNX optional inputs).
    let inputSlots: [Int?]
    let isIntegerOnly: Bool
    var op: String { node.opType }
    var sourceNodes: [String] { [node.name] }
    var kernel: String { "reference" }

    init(node: Node, opset: Int, inputSlots: [Int?], outputs: [Int], isIntegerOnly: Bool) {
        self.node = node
        self.opset = opset
        self.inputSlots = inputSlots
        inputs = inputSlots.compactMap { $0 }
        self.outputs = outputs
        self.isIntegerOnly = isIntegerOnly
    }

    func run(_ context: ExecutionContext) {
        guard context.failure == nil else { return }
        let tensors = inputSlots.map { $0.map { context.tensor($0) } }
        do {
            let results = try ReferenceOps.evaluate(node, tensors, opset: opset)
            for (value, tensor) in zip(outputs, results) { context.store(tensor, into: value) }
        } catch let error as DyadicError {
            context.failure = error
        } catch {
            context.failure = DyadicError("\(node.label): \(error)")
        }
    }
}
