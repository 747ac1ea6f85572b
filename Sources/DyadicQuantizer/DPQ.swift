// DPQ (Dual Precision Quantization) for W4A8 with FP8 compute.
//
// Weights are stored as INT4 codes q ∈ [−8, 7] with, per output channel c, a scale s_c and,
// per group of G inputs, a relative scale g. Inference turns each group's 16 codes into FP8
// through a 16-entry table fp8(q·g), computes in FP8 with FP32 accumulation, and multiplies
// by s_c. So the weight inference really uses is
//     ŵ = s_c · fp8(q · g),
// and DPQ runs GPTQ's error feedback with that reconstruction, so the compensation covers
// both roundings (INT4, then FP8).
//
// Scales: s_c = max|W_c| / (7 · 56), so the channel's largest group gets g = 56 and its codes
// span q·g ∈ [−448, 392] — the E4M3 range (max 448). Each group's g = max|group| / (7 s_c) is
// taken from the updated weights when the group is reached (capped at 56, so q·g never
// leaves the FP8 range).
//
// Reordering: within each group, columns are processed by decreasing Hessian diagonal (the
// most sensitive inputs first, so later, less sensitive ones absorb the error). Columns never
// leave their group, so every group has the same members and scale in either order. Codes
// and reconstructions are written back to natural column order: the reordering only changes
// which weights absorb the error, and inference needs no gather.

import Foundation

/// INT4 weights with per-channel and relative per-group scales, reconstructed through FP8.
public struct DPQWeights: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public let groupSize: Int
    /// Codes in [−8, 7], row-major like the weights.
    public var codes: [Int8]
    /// s_c, one per output channel.
    public var channelScales: [Float]
    /// g, rows × groupsPerRow, row-major.
    public var groupScales: [Float]
    /// s_c · fp8(q · g), row-major.
    public var reconstructed: [Float]

    public var groupsPerRow: Int { (columns + groupSize - 1) / groupSize }

    /// The FP8 values of one group's 16 codes (index q + 8), as inference tabulates them.
    public func table(row: Int, group: Int, fp8: (Float) -> Float) -> [Float] {
        let g = groupScales[row * groupsPerRow + group]
        return (-8...7).map { fp8(Float($0) * g) }
    }
}

public enum DPQ {
    /// Largest relative group scale: 8 · 56 = 448, the largest finite E4M3 value.
    public static let maxGroupScale: Float = 56

    /// DPQ error feedback. `fp8` is the float → FP8 → float cast (E4M3, round to nearest even,
    /// saturating), supplied by the engine.
    public static func quantize(_ w: WeightMatrix, hessian: Hessian, groupSize: Int, dampening: Double = 0.01,
                                blockSize: Int = 128, fp8: (Float) -> Float) throws(QuantizerError) -> DPQWeights {
        guard groupSize > 0 else { throw QuantizerError("DPQ group size \(groupSize) is not positive") }
        guard hessian.size == w.columns else {
            throw QuantizerError("Hessian is \(hessian.size)×\(hessian.size) for \(w.columns) weight columns")
        }
        let rows = w.rows, k = w.columns
        let groups = (k + groupSize - 1) / groupSize
        let channelScales = channelScales(w)

        // Within-group order by decreasing H_ii (ties by column, for determinism).
        let diagonal = hessian.diagonal
        var order: [Int] = []
        for g in 0..<groups {
            order += (g * groupSize..<min((g + 1) * groupSize, k)).sorted { (diagonal[$0], -$0) > (diagonal[$1], -$1) }
        }
        let factor = try hessian.permuted(order).inverseCholeskyFactor(dampening: dampening)

        var work = [Double](repeating: 0, count: rows * k)
        for r in 0..<rows {
            for p in 0..<k { work[r * k + p] = Double(w[r, order[p]]) }
        }
        var codes = [Int8](repeating: 0, count: rows * k)
        var groupScales = [Float](repeating: 0, count: rows * groups)
        var out = [Float](repeating: 0, count: rows * k)
        ErrorFeedback.run(
            rows: rows, columns: k, weights: &work, upper: factor.upper, blockSize: blockSize, groupSize: groupSize,
            startGroup: { first, weights in
                let cols = first..<min(first + groupSize, k)
                for r in 0..<rows {
                    let m = Float(cols.reduce(0.0) { max($0, abs(weights[r * k + $1])) })
                    groupScales[r * groups + first / groupSize] = groupScale(groupMax: m, channelScale: channelScales[r])
                }
            },
            quantize: { p, column in
                let c = order[p]
                for r in 0..<rows {
                    let (q, v) = code(Float(column[r]), channelScale: channelScales[r],
                                      groupScale: groupScales[r * groups + c / groupSize], fp8: fp8)
                    codes[r * k + c] = q
                    out[r * k + c] = v
                    column[r] = Double(v)
                }
            })
        return DPQWeights(rows: rows, columns: k, groupSize: groupSize, codes: codes,
                          channelScales: channelScales, groupScales: groupScales, reconstructed: out)
    }

    /// The baseline DPQ improves on: the same scales from the original weights, codes by
    /// round to nearest, then the FP8 cast — no error feedback.
    public static func roundToNearest(_ w: WeightMatrix, groupSize: Int, fp8: (Float) -> Float) throws(QuantizerError) -> DPQWeights {
        guard groupSize > 0 else { throw QuantizerError("DPQ group size \(groupSize) is not positive") }
        let rows = w.rows, k = w.columns
        let groups = (k + groupSize - 1) / groupSize
        let channelScales = channelScales(w)
        var codes = [Int8](repeating: 0, count: rows * k)
        var groupScales = [Float](repeating: 0, count: rows * groups)
        var out = [Float](repeating: 0, count: rows * k)
        for r in 0..<rows {
            for g in 0..<groups {
                let cols = (g * groupSize)..<min((g + 1) * groupSize, k)
                let gs = groupScale(groupMax: cols.reduce(0) { max($0, abs(w[r, $1])) }, channelScale: channelScales[r])
                groupScales[r * groups + g] = gs
                for c in cols {
                    (codes[r * k + c], out[r * k + c]) = code(w[r, c], channelScale: channelScales[r], groupScale: gs, fp8: fp8)
                }
            }
        }
        return DPQWeights(rows: rows, columns: k, groupSize: groupSize, codes: codes,
                          channelScales: channelScales, groupScales: groupScales, reconstructed: out)
    }

    /// s_c = max|W_c| / (7 · 56): the channel's largest group reaches g = 56.
    static func channelScales(_ w: WeightMatrix) -> [Float] {
        (0..<w.rows).map { r in (0..<w.columns).reduce(0) { max($0, abs(w[r, $1])) } / (7 * maxGroupScale) }
    }

    static func groupScale(groupMax: Float, channelScale: Float) -> Float {
        guard channelScale > 0 else { return 0 }
        return min(groupMax / (7 * channelScale), maxGroupScale)
    }

    /// The INT4 code nearest to w / (s_c·g) and the weight it reconstructs, s_c · fp8(q·g).
    static func code(_ w: Float, channelScale: Float, groupScale: Float, fp8: (Float) -> Float) -> (Int8, Float) {
        let step = channelScale * groupScale
        guard step > 0 else { return (0, 0) }
        let q = min(max((w / step).rounded(.toNearestOrEven), -8), 7)
        return (Int8(q), channelScale * fp8(q * groupScale))
    }
}
