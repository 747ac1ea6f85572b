// GPTQ: integer weights chosen column by column with Hessian-weighted error feedback.
//
// Scales follow the reference implementation: one per output channel from the original
// weights; with groups, each group's scale is taken from the updated weights when the group
// is reached. With act-order (columns processed by decreasing H_ii), groups would otherwise
// be formed in permuted order and inference would need a gather, so group scales are then
// computed up front from the original weights in natural column order ("static groups").
// Either way codes and scales are returned in natural column order: the processing order
// changes which weights absorb the error, not the layout.

import Foundation

public struct GPTQOptions: Sendable, Equatable {
    public var bits: Int
    /// Inputs per scale along K (a multiple of 32), or nil for one scale per channel.
    public var groupSize: Int?
    /// λ = dampening · mean(diag H) is added to the Hessian's diagonal.
    public var dampening: Double
    /// Process columns by decreasing Hessian diagonal.
    public var actOrder: Bool
    /// Columns per lazy-update block.
    public var blockSize: Int
    /// Static scales by `SymmetricGrid.clippedScale` (per channel, or per group under act-order).
    public var clipSearch = false

    public init(bits: Int, groupSize: Int? = nil, dampening: Double = 0.01, actOrder: Bool = false, blockSize: Int = 128) {
        self.bits = bits
        self.groupSize = groupSize
        self.dampening = dampening
        self.actOrder = actOrder
        self.blockSize = blockSize
    }
}

public enum GPTQ {
    /// Quantizes W given the Hessian of its layer inputs (K × K, K = W's columns).
    public static func quantize(_ w: WeightMatrix, hessian: Hessian, options: GPTQOptions) throws(QuantizerError) -> QuantizedWeights {
        try validateWeightOptions(bits: options.bits, groupSize: options.groupSize)
        guard hessian.size == w.columns else {
            throw QuantizerError("Hessian is \(hessian.size)×\(hessian.size) for \(w.columns) weight columns")
        }
        let rows = w.rows, k = w.columns, grid = SymmetricGrid(bits: options.bits)
        let groupSize = options.groupSize
        let groups = groupSize.map { (k + $0 - 1) / $0 } ?? 1

        // Static scales: per channel, or per group under act-order, from the original weights.
        var scales = [Float](repeating: 0, count: rows * groups)
        if groupSize == nil || options.actOrder {
            let span = groupSize ?? max(k, 1)
            for r in 0..<rows {
                for g in 0..<groups {
                    let cols = (g * span)..<min((g + 1) * span, k)
                    scales[r * groups + g] = options.clipSearch ? grid.clippedScale(cols.map { w[r, $0] })
                        : grid.scale(maxAbs: cols.reduce(0) { max($0, abs(w[r, $1])) })
                }
            }
        }

        let diagonal = hessian.diagonal
        let order = options.actOrder
            ? (0..<k).sorted { (diagonal[$0], -$0) > (diagonal[$1], -$1) }
            : Array(0..<k)
        let factor = try (options.actOrder ? hessian.permuted(order) : hessian)
            .inverseCholeskyFactor(dampening: options.dampening)

        // Working weights in processing order. Inputs the calibration data never excites keep
        // their weights: their prepared Hessian row is the identity, so they round to nearest
        // and pass no error on (zeroing them, as GPTQ's reference does, breaks unseen data
        // that does excite them).
        var work = [Double](repeating: 0, count: rows * k)
        for r in 0..<rows {
            for p in 0..<k { work[r * k + p] = Double(w[r, order[p]]) }
        }
        var codes = [Int8](repeating: 0, count: rows * k)
        var out = [Float](repeating: 0, count: rows * k)
        let dynamicGroups = options.actOrder ? nil : groupSize
        ErrorFeedback.run(
            rows: rows, columns: k, weights: &work, upper: factor.upper, blockSize: options.blockSize,
            groupSize: dynamicGroups,
            startGroup: { first, weights in
                let g = first / dynamicGroups!
                let cols = first..<min(first + dynamicGroups!, k)
                for r in 0..<rows {
                    let m = cols.reduce(0.0) { max($0, abs(weights[r * k + $1])) }
                    scales[r * groups + g] = grid.scale(maxAbs: Float(m))
                }
            },
            quantize: { p, column in
                let c = order[p], g = groupSize.map { c / $0 } ?? 0
                for r in 0..<rows {
                    let s = scales[r * groups + g]
                    let q = grid.code(Float(column[r]), scale: s)
                    codes[r * k + c] = Int8(q)
                    out[r * k + c] = s * q
                    column[r] = Double(s * q)
                }
            })
        return QuantizedWeights(bits: options.bits, rows: rows, columns: k, groupSize: groupSize,
                                codes: codes, scales: scales, reconstructed: out)
    }
}
