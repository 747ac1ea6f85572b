// Weight matrices, their symmetric integer quantization, and round-to-nearest (RTN).
//
// Weights are symmetric (zero point 0), per output channel, optionally with one scale per
// group of `groupSize` consecutive inputs along K (a multiple of 32, the granularity the
// kernels pack; the last group of a row may be shorter). A b-bit code lies in
// [−2^(b−1), 2^(b−1) − 1] and the scale is max|w| / (2^(b−1) − 1), so RTN never produces
// the most negative code; error feedback (GPTQ) can, when a compensated weight grows.

import Foundation

/// A float weight matrix, `rows` output channels × `columns` inputs (K), row-major.
public struct WeightMatrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "a \(rows)×\(columns) matrix needs \(rows * columns) values")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public subscript(row: Int, column: Int) -> Float { values[row * columns + column] }
}

/// Symmetric integer weights: value = scale[row, group] · code.
public struct QuantizedWeights: Sendable, Equatable {
    public let bits: Int
    public let rows: Int
    public let columns: Int
    /// Inputs per scale along K; nil for one scale per row.
    public let groupSize: Int?
    /// Codes in [−2^(bits−1), 2^(bits−1) − 1], row-major like the weights.
    public var codes: [Int8]
    /// rows × groupsPerRow scales, row-major.
    public var scales: [Float]
    /// scale · code, row-major: what inference computes with.
    public var reconstructed: [Float]

    public var groupsPerRow: Int { groupSize.map { (columns + $0 - 1) / $0 } ?? 1 }

    public func scale(row: Int, column: Int) -> Float {
        scales[row * groupsPerRow + (groupSize.map { column / $0 } ?? 0)]
    }
}

/// The integer grid of one bit width.
struct SymmetricGrid {
    let bits: Int
    var qmin: Float { -Float(1 << (bits - 1)) }
    var qmax: Float { Float((1 << (bits - 1)) - 1) }

    func scale(maxAbs: Float) -> Float { maxAbs / qmax }

    /// The scale among maxAbs·α/qmax, α = 1, 0.95, …, 0.5, with the least squared rounding
    /// error over `values`: clipping a few large weights buys a finer grid for the rest,
    /// which pays at 4 bits.
    func clippedScale(_ values: [Float]) -> Float {
        let top = values.reduce(0) { max($0, abs($1)) }
        var best = scale(maxAbs: top), bestError = Double.infinity
        for step in 0...10 {
            let s = scale(maxAbs: top * (1 - Float(step) * 0.05))
            var e = 0.0
            for v in values { let d = Double(v - s * code(v, scale: s)); e += d * d }
            if e < bestError { (best, bestError) = (s, e) }
        }
        return best
    }

    /// The nearest code (ties to even) for a scale; 0 when the scale is 0 (an all-zero
    /// channel or group).
    func code(_ w: Float, scale: Float) -> Float {
        guard scale > 0 else { return 0 }
        return min(max((w / scale).rounded(.toNearestOrEven), qmin), qmax)
    }
}

func validateWeightOptions(bits: Int, groupSize: Int?) throws(QuantizerError) {
    guard (2...8).contains(bits) else { throw QuantizerError("weight bit width \(bits) is outside 2…8") }
    if let g = groupSize, g <= 0 || g % 32 != 0 {
        throw QuantizerError("group size \(g) is not a positive multiple of 32")
    }
}

public enum RoundToNearest {
    /// Symmetric per-channel (or per-group) round-to-nearest quantization.
    /// With `clipSearch`, each channel's (group's) scale is `SymmetricGrid.clippedScale`.
    public static func quantize(_ w: WeightMatrix, bits: Int, groupSize: Int? = nil,
                                clipSearch: Bool = false) throws(QuantizerError) -> QuantizedWeights {
        try validateWeightOptions(bits: bits, groupSize: groupSize)
        let grid = SymmetricGrid(bits: bits)
        let span = groupSize ?? max(w.columns, 1)
        let groups = groupSize.map { (w.columns + $0 - 1) / $0 } ?? 1
        var codes = [Int8](repeating: 0, count: w.values.count)
        var scales = [Float](repeating: 0, count: w.rows * groups)
        var out = [Float](repeating: 0, count: w.values.count)
        for r in 0..<w.rows {
            for g in 0..<groups {
                let cols = (g * span)..<min((g + 1) * span, w.columns)
                let s = clipSearch ? grid.clippedScale(cols.map { w[r, $0] })
                    : grid.scale(maxAbs: cols.reduce(0) { max($0, abs(w[r, $1])) })
                scales[r * groups + g] = s
                for c in cols {
                    let q = grid.code(w[r, c], scale: s)
                    codes[r * w.columns + c] = Int8(q)
                    out[r * w.columns + c] = s * q
                }
            }
        }
        return QuantizedWeights(bits: bits, rows: w.rows, columns: w.columns, groupSize: groupSize,
                                codes: codes, scales: scales, reconstructed: out)
    }
}
