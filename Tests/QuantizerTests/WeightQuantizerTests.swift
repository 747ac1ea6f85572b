import Foundation
import Testing
@testable import DyadicQuantizer

/// A stand-in for the engine's float → FP8 E4M3FN → float cast: round to nearest even with
/// 3 mantissa bits, subnormals below 2^−6 (step 2^−9), saturating at ±448.
func fp8E4M3(_ x: Float) -> Float {
    let a = abs(x)
    guard a > 0 else { return x }
    let step: Float = a < 0x1p-6 ? 0x1p-9 : Float(sign: .plus, exponent: a.exponent - 3, significand: 1)
    let r = min((a / step).rounded(.toNearestOrEven) * step, 448)
    return x < 0 ? -r : r
}

@Suite struct WeightQuantizerTests {
    @Test func fp8StandInRoundsLikeE4M3() {
        #expect(fp8E4M3(1.0625) == 1)        // half-way between 1 and 1.125: to even
        #expect(fp8E4M3(1.1) == 1.125)
        #expect(fp8E4M3(392) == 384)         // 392 is half-way between 384 and 416
        #expect(fp8E4M3(1000) == 448 && fp8E4M3(-1000) == -448)
        #expect(fp8E4M3(0x1p-9 * 3) == 0x1p-9 * 3)   // subnormal grid
    }

    @Test func roundToNearestCodesAreInRangeAndExactOnTheGrid() throws {
        var rng = SeededGenerator(seed: 21)
        for bits in 2...8 {
            let qmax = (1 << (bits - 1)) - 1
            for groupSize in [nil, 32] as [Int?] {
                // On the grid: each row/group reaches ±qmax, so its scale is exactly s.
                let rows = 3, cols = 70, span = groupSize ?? cols
                var codes = [Int8](repeating: 0, count: rows * cols), values = [Float](repeating: 0, count: rows * cols)
                for r in 0..<rows {
                    let s = Float(0.01 * Double(r + 1))
                    for c in 0..<cols {
                        var q = Int.random(in: -qmax...qmax, using: &rng)
                        if c % span == 0 { q = (r + c).isMultiple(of: 2) ? qmax : -qmax }
                        codes[r * cols + c] = Int8(q)
                        values[r * cols + c] = s * Float(q)
                    }
                }
                let exact = try RoundToNearest.quantize(WeightMatrix(rows: rows, columns: cols, values: values),
                                                       bits: bits, groupSize: groupSize)
                #expect(exact.codes == codes, "\(bits) bits, group \(groupSize.map(String.init) ?? "none")")
                #expect(exact.reconstructed == values)

                let w = WeightMatrix(rows: 4, columns: 96, values: (0..<384).map { _ in Float(rng.gaussian()) })
                let q = try RoundToNearest.quantize(w, bits: bits, groupSize: groupSize)
                for r in 0..<4 {
                    for c in 0..<96 {
                        let code = Int(q.codes[r * 96 + c]), s = q.scale(row: r, column: c)
                        #expect((-qmax - 1)...qmax ~= code)
                        #expect(abs(w[r, c] - s * Float(code)) <= s / 2 * 1.0001)
                    }
                }
            }
        }
        let zero = try RoundToNearest.quantize(WeightMatrix(rows: 1, columns: 32, values: [Float](repeating: 0, count: 32)), bits: 4)
        #expect(zero.scales == [0] && zero.reconstructed.allSatisfy { $0 == 0 })
        #expect(throws: QuantizerError.self) { try RoundToNearest.quantize(zero.asMatrix, bits: 9) }
        #expect(throws: QuantizerError.self) { try RoundToNearest.quantize(zero.asMatrix, bits: 4, groupSize: 48) }
    }

    /// Without correlation between inputs (diagonal H) error feedback has nowhere to go:
    /// GPTQ, with or without act-order, must give RTN's codes.
    @Test func gptqEqualsRoundToNearestForUncorrelatedInputs() throws {
        var rng = SeededGenerator(seed: 22)
        let k = 40
        let w = WeightMatrix(rows: 6, columns: k, values: (0..<(6 * k)).map { _ in Float(rng.gaussian()) })
        var h = Hessian(size: k, values: [Double](repeating: 0, count: k * k))
        for i in 0..<k { h[i, i] = Double.random(in: 0.5...2, using: &rng) }
        let rtn = try RoundToNearest.quantize(w, bits: 4)
        for actOrder in [false, true] {
            let g = try GPTQ.quantize(w, hessian: h, options: GPTQOptions(bits: 4, actOrder: actOrder))
            #expect(g.codes == rtn.codes && g.scales == rtn.scales, "act-order \(actOrder)")
        }
    }

    @Test func gptqReducesTheLayerOutputErrorAgainstRoundToNearest() throws {
        var rng = SeededGenerator(seed: 23)
        let (x, n, k) = correlatedInputs(&rng)
        let w = WeightMatrix(rows: 32, columns: k, values: (0..<(32 * k)).map { _ in Float(rng.gaussian()) })
        var acc = HessianAccumulator(inputs: k)
        try acc.add(rows: x)
        let h = acc.hessian
        for bits in [4, 3] {
            for (groupSize, actOrder) in [(nil, false), (nil, true), (32, false), (32, true)] as [(Int?, Bool)] {
                let rtn = try RoundToNearest.quantize(w, bits: bits, groupSize: groupSize)
                let gptq = try GPTQ.quantize(w, hessian: h, options: GPTQOptions(bits: bits, groupSize: groupSize, actOrder: actOrder))
                let qmax = (1 << (bits - 1)) - 1
                #expect(gptq.codes.allSatisfy { (-qmax - 1)...qmax ~= Int($0) })
                let e0 = outputError(x, n, k, w, rtn.reconstructed), e1 = outputError(x, n, k, w, gptq.reconstructed)
                print(String(format: "GPTQ %d-bit group %@ act-order %@: output error %.4g vs RTN %.4g (%.1f%% lower)",
                             bits, groupSize.map(String.init) ?? "none", actOrder ? "yes" : "no", e1, e0, 100 * (1 - e1 / e0)))
                #expect(e1 < 0.9 * e0)
            }
        }
    }

    @Test func dpqReducesTheLayerOutputErrorAgainstRoundToNearestThenFP8() throws {
        var rng = SeededGenerator(seed: 24)
        let (x, n, k) = correlatedInputs(&rng)
        // Rows with different magnitudes, so groups use a range of relative scales.
        let w = WeightMatrix(rows: 32, columns: k, values: (0..<(32 * k)).map { i in
            Float(rng.gaussian() * (1 + Double((i % k) / 32)))
        })
        var acc = HessianAccumulator(inputs: k)
        try acc.add(rows: x)
        for groupSize in [32, 64] {
            let base = try DPQ.roundToNearest(w, groupSize: groupSize, fp8: fp8E4M3)
            let dpq = try DPQ.quantize(w, hessian: acc.hessian, groupSize: groupSize, fp8: fp8E4M3)
            // Inference needs no gather: natural-order codes through each group's table
            // reproduce the reconstruction.
            for r in 0..<w.rows {
                for g in 0..<dpq.groupsPerRow {
                    let table = dpq.table(row: r, group: g, fp8: fp8E4M3)
                    #expect(dpq.groupScales[r * dpq.groupsPerRow + g] <= DPQ.maxGroupScale)
                    for c in (g * groupSize)..<min((g + 1) * groupSize, k) {
                        let q = Int(dpq.codes[r * k + c])
                        #expect((-8...7).contains(q))
                        #expect(dpq.reconstructed[r * k + c] == dpq.channelScales[r] * table[q + 8])
                    }
                }
            }
            let e0 = outputError(x, n, k, w, base.reconstructed), e1 = outputError(x, n, k, w, dpq.reconstructed)
            print(String(format: "DPQ group %d: output error %.4g vs RTN then FP8 %.4g (%.1f%% lower)",
                         groupSize, e1, e0, 100 * (1 - e1 / e0)))
            #expect(e1 < 0.9 * e0)
        }
    }

    /// 512 rows of 64 inputs mixed from 16 latent factors plus noise: strongly correlated.
    private func correlatedInputs(_ rng: inout SeededGenerator) -> ([Float], Int, Int) {
        let n = 512, k = 64, latent = 16
        let mix = (0..<(latent * k)).map { _ in rng.gaussian() }
        var x = [Float](repeating: 0, count: n * k)
        for r in 0..<n {
            let z = (0..<latent).map { _ in rng.gaussian() }
            for c in 0..<k {
                x[r * k + c] = Float((0..<latent).reduce(0.0) { $0 + z[$1] * mix[$1 * k + c] } + 0.1 * rng.gaussian())
            }
        }
        return (x, n, k)
    }

    /// ‖X Ŵᵀ − X Wᵀ‖² over the calibration rows.
    private func outputError(_ x: [Float], _ n: Int, _ k: Int, _ w: WeightMatrix, _ q: [Float]) -> Double {
        var e = 0.0
        for r in 0..<n {
            for o in 0..<w.rows {
                var d = 0.0
                for c in 0..<k { d += Double(x[r * k + c]) * (Double(q[o * k + c]) - Double(w[o, c])) }
                e += d * d
            }
        }
        return e
    }
}

extension QuantizedWeights {
    var asMatrix: WeightMatrix { WeightMatrix(rows: rows, columns: columns, values: reconstructed) }
}
