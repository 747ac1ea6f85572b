import DyadicKernels

/// MatMul of two 8-bit run-time tensors (attention's Q·Kᵀ and P·V once quantized):
/// int32 sums of (a − za)(b − zb) per output, requantized to the output's 8 bits.
/// A tile is one output matrix of the broadcast batch: its sums come from the
/// `dyd_qmatmul_s32` kernel, its bytes from `dyd_requantize_array`.
final class IntegerBatchedMatMulLayer: TiledLayer {
    let op = "QMatMul"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let kernel = String(cString: dyd_qmatmul_s32_kernel_name())
    let m: Int, n: Int, k: Int
    let aOffsets: [Int], bOffsets: [Int]
    let aZeroPoint: Int32, bZeroPoint: Int32
    let aSigned: Bool, bSigned: Bool, outputSigned: Bool
    let requant: Requantization
    let requantParams: dyd_requant_scalar
    var tiles: Int { aOffsets.count }
    var macs: Int { aOffsets.count * m * n * k }
    var workspaceSize: Int { m * n * 4 }
    var details: String { "\(aOffsets.count) × [\(m), \(k)]·[\(k), \(n)], \(requant.summary)" }

    init(source: [String], a: Int, b: Int, output: Int, m: Int, n: Int, k: Int, aOffsets: [Int], bOffsets: [Int],
         aZeroPoint: Int32, bZeroPoint: Int32, aSigned: Bool, bSigned: Bool, outputSigned: Bool, requant: Requantization) {
        sourceNodes = source
        inputs = [a, b]
        outputs = [output]
        (self.m, self.n, self.k, self.aOffsets, self.bOffsets) = (m, n, k, aOffsets, bOffsets)
        (self.aZeroPoint, self.bZeroPoint, self.aSigned, self.bSigned, self.outputSigned) = (aZeroPoint, bZeroPoint, aSigned, bSigned, outputSigned)
        self.requant = requant
        requantParams = requant.scalarKernelParams
        isIntegerOnly = requant.numerics == .dyadic
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let a = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let b = context.pointer(inputs[1]).assumingMemoryBound(to: UInt8.self)
        let c = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        let acc = context.workspace(worker).assumingMemoryBound(to: Int32.self)
        for t in start..<(start + count) {
            let ct = c + t * m * n
            dyd_qmatmul_s32(m, n, k, a + aOffsets[t], k, aZeroPoint, aSigned ? 1 : 0, b + bOffsets[t], n, bZeroPoint, bSigned ? 1 : 0, acc)
            withUnsafePointer(to: requantParams) { dyd_requantize_array(acc, ct, m * n, $0, outputSigned ? 1 : 0) }
        }
    }
}
