import DyadicKernels
import Foundation

/// Softmax of an 8-bit tensor in integers (default numerics).
///
/// Along a row, every input code differs from the row's maximum by d ∈ [0, 255], so
/// exp(−s_x·d) is a 256-entry table of Q20 fixed-point values built at load. A row
/// sums its entries in 64 bits; each output is the probability E/S in Q30 (one
/// rounded integer division) times the dyadic multiplier 2^−30/s_y, plus the zero
/// point, clamped — `dyd_softmax_u8_rows` in the kernel library. The layout is outer × n × inner: row (o, j) holds the n elements
/// o·n·inner + i·inner + j.
final class IntegerSoftmaxLayer: TiledLayer {
    let op = "QSoftmax"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel = "softmax-exp-lut"
    /// exp(−s_x·d) in Q20 for d = 0…255.
    let exponentials: [Int64]
    let inputSigned: Bool
    /// The requantization as the row kernel takes it (an int8 result is stored as its bit pattern).
    let params: dyd_requant_scalar
    let outer: Int, n: Int, inner: Int

    static let exponentBits = 20
    static let probabilityBits = 30

    init(source: [String], input: Int, output: Int, inputScale: Float, inputSigned: Bool,
         out: Lowering.OutputQuantization, outer: Int, n: Int, inner: Int) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        let one = Double(1 << IntegerSoftmaxLayer.exponentBits)
        exponentials = (0..<256).map { d in Int64((exp(-Double(inputScale) * Double(d)) * one).rounded()) }
        let m = DyadicMultiplier(pow(2.0, -Double(IntegerSoftmaxLayer.probabilityBits)) / Double(out.params.scale[0]))
        params = dyd_requant_scalar(kind: DYD_REQUANT_DYADIC, multiplier: m.multiplier, shift: m.shift, scale: 0,
                                    zero_point: out.params.zeroPoint[0], qmin: out.qmin, qmax: out.qmax)
        self.inputSigned = inputSigned
        self.outer = outer
        self.n = n
        self.inner = inner
    }

    var details: String { "exp table Q\(IntegerSoftmaxLayer.exponentBits), rows of \(n), M \(DyadicMultiplier(multiplier: params.multiplier, shift: params.shift)) zp \(params.zero_point) clamp [\(params.qmin),\(params.qmax)]" }
    var tiles: Int { outer }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self) + start * n * inner
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self) + start * n * inner
        exponentials.withUnsafeBufferPointer { table in
            withUnsafePointer(to: params) {
                dyd_softmax_u8_rows(x, y, count, n, inner, inputSigned ? 1 : 0, table.baseAddress, Int32(IntegerSoftmaxLayer.probabilityBits), $0)
            }
        }
    }
}
