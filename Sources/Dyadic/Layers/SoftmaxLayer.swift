import Foundation

/// Softmax of an 8-bit tensor in integers (default numerics).
///
/// Along a row, every input code differs from the row's maximum by d ∈ [0, 255], so
/// exp(−s_x·d) is a 256-entry table of Q20 fixed-point values built at load. A row
/// sums its entries in 64 bits; each output is the probability E/S in Q30 (one
/// rounded integer division) times the dyadic multiplier 2^−30/s_y, plus the zero
/// point, clamped. The layout is outer × n × inner: row (o, j) holds the n elements
/// o·n·inner + i·inner + j.
final class IntegerSoftmaxLayer: TiledLayer {
    let op = "QSoftmax"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel = "softmax-exp-lut"
    /// exp(−s_x·d) in Q20 for d = 0…255.
    let exponentials: [Int64]
    let requant: DyadicMultiplier
    let zeroPoint: Int64, qmin: Int64, qmax: Int64
    let inputSigned: Bool, outputSigned: Bool
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
        requant = DyadicMultiplier(pow(2.0, -Double(IntegerSoftmaxLayer.probabilityBits)) / Double(out.params.scale[0]))
        zeroPoint = Int64(out.params.zeroPoint[0])
        qmin = Int64(out.qmin)
        qmax = Int64(out.qmax)
        self.inputSigned = inputSigned
        outputSigned = out.dtype == .int8
        self.outer = outer
        self.n = n
        self.inner = inner
    }

    var details: String { "exp table Q\(IntegerSoftmaxLayer.exponentBits), rows of \(n), M \(requant) zp \(zeroPoint) clamp [\(qmin),\(qmax)]" }
    var tiles: Int { outer }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        exponentials.withUnsafeBufferPointer { table in
            for o in start..<(start + count) {
                for j in 0..<inner {
                    let base = o * n * inner + j
                    // Signed codes compare as unsigned after flipping the sign bit; differences are the same.
                    let flip: UInt8 = inputSigned ? 0x80 : 0
                    var largest = 0
                    for i in 0..<n { largest = max(largest, Int(x[base + i * inner] ^ flip)) }
                    var sum: Int64 = 0
                    for i in 0..<n { sum += table[largest - Int(x[base + i * inner] ^ flip)] }
                    // sum ≥ table[0] = 2^20, and e·2^30 + sum/2 < 2^52 for rows under 2^30 values.
                    let divisor = ReciprocalDivisor(sum)
                    for i in 0..<n {
                        let e = table[largest - Int(x[base + i * inner] ^ flip)]
                        let p = divisor.quotient((e << IntegerSoftmaxLayer.probabilityBits) + sum / 2)
                        let q = min(max(requant.apply(p) + zeroPoint, qmin), qmax)
                        y[base + i * inner] = outputSigned ? UInt8(bitPattern: Int8(q)) : UInt8(q)
                    }
                }
            }
        }
    }
}
