/// LayerNormalization of 8-bit codes in integers (I-BERT's integer LayerNorm).
///
/// With d = q − zp per element and S1 = Σd, S2 = Σd² over a row of n, the normalized
/// value (x − mean)/sqrt(var + ε) equals (n·d − S1)/sqrt(D), D = n·S2 − S1² + E,
/// E = round(ε·n²/s_x²). The square root is the integer one (Newton's iteration) of
/// D·2^16, so r = isqrt(D·2^16) ≈ 2^8·sqrt(D); t = (n·d − S1)·2^24 / r is the normalized
/// value in Q16. Each output is zp_y + round((t·m_i + B_i)·2^−s_i), where m_i·2^−s_i is
/// the dyadic form of |γ_i|/s_y·2^−16 (t negated for γ_i < 0) and B_i = round(β_i/s_y·2^s_i),
/// clamped. Errors: the square root and the division truncate (each below 2^−8 relative
/// for D ≥ 1), the multiplier has 31 bits: under one output step plus rounding.
final class IntegerLayerNormLayer: TiledLayer {
    let op = "QLayerNorm"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel = "layernorm_isqrt"
    let rows: Int, width: Int
    let inputZeroPoint: Int64, inputSigned: Bool
    let epsilonTerm: Int64
    let multipliers: [Int64], shifts: [Int64], negative: [Bool], offsets: [Int64]
    let zeroPoint: Int64, qmin: Int64, qmax: Int64, outputSigned: Bool
    var tiles: Int { rows }

    init(source: [String], input: Int, output: Int, rows: Int, width: Int, inputParams: QuantParams, inputSigned: Bool,
         gamma: [Float], beta: [Float]?, epsilon: Double, out: Lowering.OutputQuantization) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        (self.rows, self.width) = (rows, width)
        inputZeroPoint = Int64(inputParams.zeroPoint[0])
        self.inputSigned = inputSigned
        let sx = Double(inputParams.scale[0]), sy = Double(out.params.scale[0])
        epsilonTerm = Int64((epsilon * Double(width) * Double(width) / (sx * sx)).rounded())
        var m: [Int64] = [], s: [Int64] = [], neg: [Bool] = [], off: [Int64] = []
        for i in 0..<width {
            let d = DyadicMultiplier(abs(Double(gamma[i])) / sy / 65536)
            m.append(Int64(d.multiplier))
            s.append(Int64(d.shift))
            neg.append(gamma[i] < 0)
            off.append(Int64(((Double(beta?[i] ?? 0) / sy) * Double(Int64(1) << Int64(d.shift))).rounded()))
        }
        (multipliers, shifts, negative, offsets) = (m, s, neg, off)
        zeroPoint = Int64(out.params.zeroPoint[0])
        (qmin, qmax) = (Int64(out.qmin), Int64(out.qmax))
        outputSigned = out.dtype == .int8
    }

    var details: String { "\(rows) rows of \(width), integer square root, ε term \(epsilonTerm), zp \(zeroPoint) clamp [\(qmin),\(qmax)]" }

    /// floor(sqrt(n)) by Newton's iteration from a power of two above the root.
    static func isqrt(_ n: UInt64) -> UInt64 {
        guard n > 1 else { return n }
        var x = UInt64(1) << ((64 - UInt64(n.leadingZeroBitCount) + 1) / 2)
        while true {
            let next = (x + n / x) / 2
            if next >= x { return x }
            x = next
        }
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        let n = Int64(width)
        // Signed codes read as unsigned with the sign bit flipped (code + 128); d is unchanged.
        let flip: UInt8 = inputSigned ? 0x80 : 0, zx = inputSigned ? inputZeroPoint + 128 : inputZeroPoint
        multipliers.withUnsafeBufferPointer { mul in
        shifts.withUnsafeBufferPointer { sh in
        negative.withUnsafeBufferPointer { neg in
        offsets.withUnsafeBufferPointer { off in
            for r in start..<(start + count) {
                let row = x + r * width, out = y + r * width
                // Wrapping operators: |d| ≤ 255 and rows of at most 2^18 values keep every
                // sum and product in range, and the checks would cost more than the arithmetic.
                var s1: Int64 = 0, s2: Int64 = 0
                for i in 0..<width {
                    let d = Int64(row[i] ^ flip) &- zx
                    s1 &+= d
                    s2 &+= d &* d
                }
                let dsum = n * s2 - s1 * s1 + epsilonTerm
                let root = Int64(IntegerLayerNormLayer.isqrt(UInt64(max(dsum, 0)) << 16))
                // root = 0 (a constant row and no ε term) makes every numerator 0, and so every t.
                let divisor = ReciprocalDivisor(max(root, 1))
                for i in 0..<width {
                    let d = Int64(row[i] ^ flip) &- zx
                    var t = divisor.quotient((n &* d &- s1) &<< 24)
                    if neg[i] { t = 0 &- t }
                    let shift = sh[i]
                    let v = (t &* mul[i] &+ off[i] &+ (Int64(1) &<< (shift &- 1))) &>> shift
                    let q = min(max(v &+ zeroPoint, qmin), qmax)
                    out[i] = UInt8(truncatingIfNeeded: q) // the bit pattern of an int8 q too
                }
            }
        }
        }
        }
        }
    }
}
