import DyadicKernels

/// MatMul of two 8-bit run-time tensors (attention's Q·Kᵀ and P·V once quantized):
/// int32 sums of (a − za)(b − zb) per output, requantized to the output's 8 bits.
/// A tile is one output matrix of the broadcast batch: its B is packed into the
/// worker's scratch for the integer GEMM kernels (`dyd_qgemm_init_in`), the sums come
/// from `dyd_qgemm_run_s32` and the bytes from `dyd_requantize_array`.
final class IntegerBatchedMatMulLayer: TiledLayer {
    let op = "QMatMul"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let kernel: String
    let m: Int, n: Int, k: Int
    let aOffsets: [Int], bOffsets: [Int]
    let aZeroPoint: Int32, bZeroPoint: Int32
    let aSigned: Bool, bSigned: Bool, outputSigned: Bool
    let requant: Requantization
    let requantParams: dyd_requant_scalar
    var tiles: Int { aOffsets.count }
    var macs: Int { aOffsets.count * m * n * k }
    /// Scratch per worker: the op with B packed, B as int8, B's zero points, A as uint8,
    /// the GEMM's own scratch, the int32 sums — each region 64-byte aligned.
    let regions: [Int]
    var workspaceSize: Int { regions.last! }
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
        // The GEMM's scratch size and name come from an op of this shape made once here.
        var zeros = [Int8](repeating: 0, count: k * n), err = [CChar](repeating: 0, count: 128)
        let probe = zeros.withUnsafeMutableBufferPointer { bp in
            var d = dyd_qgemm_desc(k: k, n: n, b: bp.baseAddress, b_zero_point: nil)
            return dyd_qgemm_create(&d, &err, err.count)
        }
        let gemmScratch = probe.map { dyd_qgemm_workspace_size($0, m) } ?? 0
        kernel = probe.map { String(cString: dyd_qgemm_kernel_name($0)) } ?? "none"
        if let probe { dyd_qgemm_destroy(probe) }
        let sizes = [dyd_qgemm_inplace_size(k, n), k * n, n * 4, m * k, gemmScratch, m * n * 4]
        regions = sizes.reduce(into: [0]) { $0.append($0.last! + (($1 + 63) & ~63)) }
        isIntegerOnly = requant.numerics == .dyadic
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let a = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let b = context.pointer(inputs[1]).assumingMemoryBound(to: UInt8.self)
        let c = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        let scratch = context.workspace(worker)
        let opMemory = scratch + regions[0]
        let bCodes = (scratch + regions[1]).assumingMemoryBound(to: Int8.self)
        let zbs = (scratch + regions[2]).assumingMemoryBound(to: Int32.self)
        let aCodes = (scratch + regions[3]).assumingMemoryBound(to: UInt8.self)
        let gemmScratch = scratch + regions[4]
        let sums = (scratch + regions[5]).assumingMemoryBound(to: Int32.self)
        // The GEMM takes uint8 A and int8 B: flipping the sign bit shifts a code and its
        // zero point by 128 alike, so (a − za)(b − zb) is unchanged.
        let za = aZeroPoint + (aSigned ? 128 : 0), zb = bZeroPoint - (bSigned ? 0 : 128)
        for j in 0..<n { zbs[j] = zb }
        for t in start..<(start + count) {
            let bt = b + bOffsets[t]
            for i in 0..<(k * n) { bCodes[i] = Int8(bitPattern: bSigned ? bt[i] : bt[i] ^ 0x80) }
            var at = UnsafePointer(a + aOffsets[t])
            if aSigned {
                for i in 0..<(m * k) { aCodes[i] = at[i] ^ 0x80 }
                at = UnsafePointer(aCodes)
            }
            var d = dyd_qgemm_desc(k: k, n: n, b: bCodes, b_zero_point: zb == 0 ? nil : UnsafePointer(zbs))
            let op = dyd_qgemm_init_in(&d, opMemory, regions[1] - regions[0])!
            dyd_qgemm_run_s32(op, m, at, k, za, sums, n, 0, dyd_qgemm_tile_count(op, m), gemmScratch)
            withUnsafePointer(to: requantParams) { dyd_requantize_array(sums, c + t * m * n, m * n, $0, outputSigned ? 1 : 0) }
        }
    }
}
