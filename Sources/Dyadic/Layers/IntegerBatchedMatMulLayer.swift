/// MatMul of two 8-bit run-time tensors (attention's Q·Kᵀ and P·V once quantized):
/// int32 sums of (a − za)(b − zb) per output, requantized to the output's 8 bits.
/// A tile is one output matrix of the broadcast batch; rows accumulate over B's rows
/// so the inner loop runs along contiguous memory (vectorised by the compiler).
final class IntegerBatchedMatMulLayer: TiledLayer {
    let op = "QMatMul"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let kernel = "u8_matmul_rows_s32"
    let m: Int, n: Int, k: Int
    let aOffsets: [Int], bOffsets: [Int]
    let aZeroPoint: Int32, bZeroPoint: Int32
    let aSigned: Bool, bSigned: Bool, outputSigned: Bool
    let requant: Requantization
    var tiles: Int { aOffsets.count }
    var macs: Int { aOffsets.count * m * n * k }
    var workspaceSize: Int { n * 4 }
    var details: String { "\(aOffsets.count) × [\(m), \(k)]·[\(k), \(n)], \(requant.summary)" }

    init(source: [String], a: Int, b: Int, output: Int, m: Int, n: Int, k: Int, aOffsets: [Int], bOffsets: [Int],
         aZeroPoint: Int32, bZeroPoint: Int32, aSigned: Bool, bSigned: Bool, outputSigned: Bool, requant: Requantization) {
        sourceNodes = source
        inputs = [a, b]
        outputs = [output]
        (self.m, self.n, self.k, self.aOffsets, self.bOffsets) = (m, n, k, aOffsets, bOffsets)
        (self.aZeroPoint, self.bZeroPoint, self.aSigned, self.bSigned, self.outputSigned) = (aZeroPoint, bZeroPoint, aSigned, bSigned, outputSigned)
        self.requant = requant
        isIntegerOnly = requant.numerics == .dyadic
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let a = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let b = context.pointer(inputs[1]).assumingMemoryBound(to: UInt8.self)
        let c = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        let acc = context.workspace(worker).assumingMemoryBound(to: Int32.self)
        // Signed codes are read through their bit pattern: flipping the sign bit maps
        // int8 to uint8 − 128, so both types run the same unsigned loop with a shifted zero point.
        let za = aZeroPoint + (aSigned ? 128 : 0), zb = bZeroPoint + (bSigned ? 128 : 0)
        let aFlip: UInt8 = aSigned ? 0x80 : 0, bFlip: UInt8 = bSigned ? 0x80 : 0
        for t in start..<(start + count) {
            let at = a + aOffsets[t], bt = b + bOffsets[t], ct = c + t * m * n
            for i in 0..<m {
                for j in 0..<n { acc[j] = 0 }
                for kk in 0..<k {
                    let av = Int32(at[i * k + kk] ^ aFlip) &- za
                    if av == 0 { continue }
                    let row = bt + kk * n
                    for j in 0..<n { acc[j] &+= av &* (Int32(row[j] ^ bFlip) &- zb) }
                }
                for j in 0..<n {
                    let q = requant.apply(Int64(acc[j]))
                    ct[i * n + j] = outputSigned ? UInt8(bitPattern: Int8(q)) : UInt8(q)
                }
            }
        }
    }
}
