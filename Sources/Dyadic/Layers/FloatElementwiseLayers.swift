import DyadicKernels

import Foundation

/// Float32 binary element-wise ops with NumPy broadcasting, planned once: the output's
/// dimensions are merged where both operands walk them alike, so the work becomes an
/// outer odometer over a few dimensions around one inner loop whose operands step by
/// 1 or 0 (a vector, or a scalar broadcast along it). [N,C,H,W]·[N,C,1,1] (squeeze-and-
/// excite) is then C inner loops of H·W with a scalar, a same-shape op one loop.
final class FloatBinaryLayer: TiledLayer {
    enum Operation: String, Sendable {
        case add = "Add", sub = "Sub", mul = "Mul", div = "Div", max = "Max", min = "Min", prelu = "PRelu", pow = "Pow"
    }

    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let operation: Operation
    let kernel: String
    let details: String
    let tiles: Int
    /// Outer dimensions (sizes, a strides, b strides), innermost last; the inner loop.
    private let outerSizes: [Int], outerA: [Int], outerB: [Int]
    private let inner: Int, innerA: Int, innerB: Int
    private let outerCount: Int
    private let sameShapeAsA: Bool

    init(operation: Operation, source: [String], a: Int, aShape: [Int], b: Int, bShape: [Int], output: Int, outShape: [Int]) {
        self.operation = operation
        op = operation.rawValue
        sourceNodes = source
        inputs = [a, b]
        outputs = [output]
        let rank = outShape.count
        func strides(_ s: [Int]) -> [Int] {
            let padded = Array(repeating: 1, count: rank - s.count) + s
            var out = [Int](repeating: 0, count: rank), step = 1
            for d in stride(from: rank - 1, through: 0, by: -1) {
                out[d] = padded[d] == 1 ? 0 : step
                step *= padded[d]
            }
            return out
        }
        let sa = strides(aShape), sb = strides(bShape)
        // Merge dimension d into d+1 when both operands continue contiguously (or stay put).
        var sizes: [Int] = [], da: [Int] = [], db: [Int] = []
        for d in 0..<rank where outShape[d] != 1 {
            if let last = sizes.indices.last,
               da[last] == sa[d] * outShape[d] || (da[last] == 0 && sa[d] == 0),
               db[last] == sb[d] * outShape[d] || (db[last] == 0 && sb[d] == 0) {
                sizes[last] *= outShape[d]
                da[last] = sa[d]
                db[last] = sb[d]
            } else {
                sizes.append(outShape[d]); da.append(sa[d]); db.append(sb[d])
            }
        }
        if sizes.isEmpty { sizes = [1]; da = [0]; db = [0] }
        inner = sizes.removeLast()
        innerA = da.removeLast()
        innerB = db.removeLast()
        outerSizes = sizes
        outerA = da
        outerB = db
        outerCount = sizes.reduce(1, *)
        sameShapeAsA = aShape == outShape
        // Whole inner loops per tile, at least ~16k elements each.
        let perTile = Swift.max(1, 16384 / Swift.max(inner, 1))
        tiles = Swift.max(1, (outerCount + perTile - 1) / perTile)
        kernel = "f32_v\(operation.rawValue.lowercased())_\(innerA == 1 ? "v" : "s")\(innerB == 1 ? "v" : "s")"
        details = "\(outerCount)×\(inner)"
    }

    var inPlaceInputs: [Int]? { sameShapeAsA && innerA == 1 ? [0] : nil }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let a = UnsafePointer(context.pointer(inputs[0]).assumingMemoryBound(to: Float.self))
        let b = UnsafePointer(context.pointer(inputs[1]).assumingMemoryBound(to: Float.self))
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        let perTile = (outerCount + tiles - 1) / tiles
        let first = start * perTile, last = Swift.min(outerCount, (start + count) * perTile)
        guard last > first else { return }
        switch operation {
        case .add: run(AddOp.self, a, b, y, first, last)
        case .sub: run(SubOp.self, a, b, y, first, last)
        case .mul: run(MulOp.self, a, b, y, first, last)
        case .div: run(DivOp.self, a, b, y, first, last)
        case .max: run(MaxOp.self, a, b, y, first, last)
        case .min: run(MinOp.self, a, b, y, first, last)
        case .prelu: run(PReluOp.self, a, b, y, first, last)
        case .pow: run(PowOp.self, a, b, y, first, last)
        }
    }

    private func run<Op: FloatBinaryOp>(_: Op.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                        _ y: UnsafeMutablePointer<Float>, _ first: Int, _ last: Int) {
        let rank = outerSizes.count
        // Odometer position of `first` and its operand offsets.
        var index = [Int](repeating: 0, count: rank)
        var rest = first, offA = 0, offB = 0
        for d in stride(from: rank - 1, through: 0, by: -1) {
            index[d] = rest % outerSizes[d]
            rest /= outerSizes[d]
            offA += index[d] * outerA[d]
            offB += index[d] * outerB[d]
        }
        for o in first..<last {
            let out = y + o * inner, pa = a + offA, pb = b + offB
            // Constant steps, so that each call's loop is specialised for its operand forms.
            switch (innerA, innerB) {
            case (1, 1): Self.row(Op.self, pa, 1, pb, 1, out, inner)
            case (1, _): Self.row(Op.self, pa, 1, pb, 0, out, inner)
            case (_, 1): Self.row(Op.self, pa, 0, pb, 1, out, inner)
            default: Self.row(Op.self, pa, 0, pb, 0, out, inner)
            }
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                offA += outerA[d]
                offB += outerB[d]
                if index[d] < outerSizes[d] { break }
                offA -= outerA[d] * outerSizes[d]
                offB -= outerB[d] * outerSizes[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    /// One inner loop of n outputs, 8 at a time: an operand with step 1 is a vector,
    /// with step 0 a scalar broadcast along the loop (the scalar loops were not
    /// vectorised by the compiler).
    @inline(__always)
    private static func row<Op: FloatBinaryOp>(_: Op.Type, _ pa: UnsafePointer<Float>, _ stepA: Int, _ pb: UnsafePointer<Float>,
                                               _ stepB: Int, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        @inline(__always) func load(_ p: UnsafePointer<Float>, _ step: Int, _ i: Int) -> SIMD8<Float> {
            step == 1 ? UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) : SIMD8(repeating: p[0])
        }
        var i = 0
        while i + 8 <= n {
            UnsafeMutableRawPointer(out + i).storeBytes(of: Op.apply(load(pa, stepA, i), load(pb, stepB, i)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { out[i] = Op.apply(pa[i * stepA], pb[i * stepB]); i += 1 }
    }
}

/// One binary operation, specialised into FloatBinaryLayer's loops. The vector form
/// computes 8 lanes with the same per-element operations (a select for PRelu), so both
/// forms give the same bits; by default it applies the scalar form lane by lane (Pow).
protocol FloatBinaryOp {
    static func apply(_ a: Float, _ b: Float) -> Float
    static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float>
}
extension FloatBinaryOp {
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = apply(a[i], b[i]) }
        return r
    }
}
enum AddOp: FloatBinaryOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a + b }
}
enum SubOp: FloatBinaryOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a - b }
}
enum MulOp: FloatBinaryOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a * b }
}
enum DivOp: FloatBinaryOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a / b }
}
/// NaN in either operand gives NaN, as the reference Min/Max do.
enum MaxOp: FloatBinaryOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a.isNaN || b.isNaN ? .nan : (a > b ? a : b) }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: .!(a .> b)).replacing(with: .nan, where: (a .!= a) .| (b .!= b))
    }
}
enum MinOp: FloatBinaryOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a.isNaN || b.isNaN ? .nan : (a < b ? a : b) }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: .!(a .< b)).replacing(with: .nan, where: (a .!= a) .| (b .!= b))
    }
}
enum PReluOp: FloatBinaryOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a >= 0 ? a : a * b }
    @inline(__always) static func apply(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: a * b, where: .!(a .>= 0))
    }
}
enum PowOp: FloatBinaryOp {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { b == 2 ? a * a : Foundation.pow(a, b) }
}

/// Float32 unary element-wise ops (activations and math), split into tiles.
final class FloatUnaryLayer: TiledLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel: String
    let tiles: Int
    let count: Int
    private let function: @Sendable (Float) -> Float
    /// Sigmoid, Tanh, Exp, Erf and HardSwish run on the vectorised C kernels (dyd_f32_map).
    private let vectorized: String?
    private static let perTile = 16384
    var inPlaceInputs: [Int]? { [0] }

    /// Piecewise-linear functions with parameters, as plain loops the compiler vectorises
    /// (the same expressions as `MathOps.scalarFunction`, so the same results).
    private enum Linear { case leakyRelu(Float), hardSigmoid(Float, Float) }
    private let linear: Linear?

    init(op: String, source: [String], input: Int, output: Int, count: Int, function: @escaping @Sendable (Float) -> Float,
         node: Node) throws {
        switch op {
        case "LeakyRelu": linear = .leakyRelu(try node.float("alpha", default: 0.01))
        case "HardSigmoid": linear = .hardSigmoid(try node.float("alpha", default: 0.2), try node.float("beta", default: 0.5))
        default: linear = nil
        }
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.count = count
        self.function = function
        vectorized = ["Sigmoid", "Tanh", "Exp", "HardSwish", "Erf"].contains(op) ? op : nil
        kernel = vectorized != nil ? String(cString: dyd_f32_map_kernel_name()) : "f32_\(op.lowercased())"
        tiles = Swift.max(1, (count + Self.perTile - 1) / Self.perTile)
    }

    func runTiles(_ start: Int, _ n: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        let first = start * Self.perTile, last = Swift.min(count, (start + n) * Self.perTile)
        guard last > first else { return }
        switch vectorized {
        case "Sigmoid": dyd_f32_map(DYD_F32_SIGMOID, x + first, y + first, last - first)
        case "Tanh": dyd_f32_map(DYD_F32_TANH, x + first, y + first, last - first)
        case "Exp": dyd_f32_map(DYD_F32_EXP, x + first, y + first, last - first)
        case "HardSwish": dyd_f32_map(DYD_F32_HARDSWISH, x + first, y + first, last - first)
        case "Erf": dyd_f32_map(DYD_F32_ERF, x + first, y + first, last - first)
        default:
            switch linear {
            case .leakyRelu(let alpha)?:
                for i in first..<last { let v = x[i]; y[i] = v >= 0 ? v : v * alpha }
            case .hardSigmoid(let alpha, let beta)?:
                for i in first..<last { y[i] = max(0, min(1, alpha * x[i] + beta)) }
            case nil:
                if op == "Log" { // a direct loop over logf: a closure call per element cost 2 ns
                    for i in first..<last { y[i] = Foundation.log(x[i]) }
                    return
                }
                let f = function
                for i in first..<last { y[i] = f(x[i]) }
            }
        }
    }

    /// Ops this layer serves; their arithmetic is the reference ops' (MathOps.scalarFunction).
    static let ops: Set<String> = ["Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Sqrt", "Exp", "Neg", "Abs",
                                   "Reciprocal", "Erf", "Floor", "Ceil", "Log"]

    /// The function of a float unary node, or nil when this layer does not serve it.
    static func function(for node: Node) throws -> (@Sendable (Float) -> Float)? {
        ops.contains(node.opType) ? try MathOps.scalarFunction(node) : nil
    }
}

/// Float32 MaxPool (NCHW, 2-D) on the C kernel: two passes per plane, the max over
/// each window's columns for every input row, then over its rows; taps outside the
/// input are skipped. Max is associative (and the kernel's is Swift.max's, as the
/// reference uses), so the result is the reference's bit for bit. A tile is one plane.
final class FloatMaxPoolLayer: TiledLayer {
    let op = "MaxPool"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = String(cString: dyd_f32_maxpool_2d_kernel_name())
    let details: String
    let tiles: Int
    let workspaceSize: Int
    private let desc: dyd_f32_maxpool_desc

    /// Nil when a size does not fit the kernel's 32-bit fields.
    init?(source: [String], input: Int, output: Int, planes: Int, geometry g: WindowGeometry) {
        let fields = [g.input.h, g.input.w, g.output.h, g.output.w, g.kernel.h, g.kernel.w, g.stride.h, g.stride.w,
                      g.dilation.h, g.dilation.w, g.pads.t, g.pads.l]
        guard fields.allSatisfy({ $0 >= 0 && $0 <= Int(UInt32.max) }), g.output.h > 0, g.output.w > 0, g.kernel.w > 0 else { return nil }
        let u = fields.map(UInt32.init)
        desc = dyd_f32_maxpool_desc(in_h: u[0], in_w: u[1], out_h: u[2], out_w: u[3], kernel_h: u[4], kernel_w: u[5],
                                    stride_h: u[6], stride_w: u[7], dilation_h: u[8], dilation_w: u[9], pad_top: u[10], pad_left: u[11])
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        tiles = planes
        var d = desc
        workspaceSize = dyd_f32_maxpool_2d_workspace_size(&d)
        details = "k\(g.kernel.h)x\(g.kernel.w) s\(g.stride.h)"
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        let (inPlane, outPlane) = (Int(desc.in_h) * Int(desc.in_w), Int(desc.out_h) * Int(desc.out_w))
        var d = desc
        dyd_f32_maxpool_2d(&d, x + start * inPlane, y + start * outPlane, count, context.workspace(worker))
    }
}
