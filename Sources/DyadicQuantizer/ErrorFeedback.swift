// The error-feedback loop shared by GPTQ and DPQ.
//
// Columns are quantized one at a time; the error of column j, divided by U_jj, is spread over
// the later columns along row j of U (the upper Cholesky factor of H⁻¹), which is the
// optimal update of the not-yet-quantized weights for the layer's output error. As in GPTQ,
// updates inside a block of columns are applied at once and those to later columns lazily,
// one rank-B update per block, which keeps the O(rows·K²) work cache-friendly.
//
// The quantizer sees each column with every update so far applied. When scales are chosen
// per group from the updated weights, blocks are aligned to groups (the block size is
// rounded to a multiple of the group size) so that a group's columns are complete when its
// first column is reached.

import Foundation

enum ErrorFeedback {
    /// - weights: rows × columns, row-major, in processing order; left holding each
    ///   quantized column's reconstruction.
    /// - upper: U in processing order (columns × columns, row-major).
    /// - groupSize: when set, `startGroup(first, weights)` runs before each group's first
    ///   column, with the group's columns fully updated.
    /// - quantize(column, values): replaces the column's values (one per row) by what the
    ///   quantized weights reconstruct.
    static func run(rows: Int, columns: Int, weights: inout [Double], upper: [Double], blockSize: Int,
                    groupSize: Int?, startGroup: (Int, [Double]) -> Void,
                    quantize: (Int, inout [Double]) -> Void) {
        let block = groupSize.map { max(1, blockSize / $0) * $0 } ?? max(blockSize, 1)
        var column = [Double](repeating: 0, count: rows)
        var errors = [Double](repeating: 0, count: rows * block)   // [row][column in block]
        var first = 0
        while first < columns {
            let end = min(first + block, columns)
            for j in first..<end {
                if let g = groupSize, j % g == 0 { startGroup(j, weights) }
                for r in 0..<rows { column[r] = weights[r * columns + j] }
                let original = column
                quantize(j, &column)
                let d = upper[j * columns + j]
                weights.withUnsafeMutableBufferPointer { w in
                    upper.withUnsafeBufferPointer { u in
                        for r in 0..<rows {
                            let e = (original[r] - column[r]) / d
                            w[r * columns + j] = column[r]
                            errors[r * block + (j - first)] = e
                            if e == 0 { continue }
                            for k in (j + 1)..<end { w[r * columns + k] -= e * u[j * columns + k] }
                        }
                    }
                }
            }
            if end < columns {
                weights.withUnsafeMutableBufferPointer { w in
                    upper.withUnsafeBufferPointer { u in
                        for r in 0..<rows {
                            for t in 0..<(end - first) {
                                let e = errors[r * block + t]
                                if e == 0 { continue }
                                let urow = (first + t) * columns
                                for k in end..<columns { w[r * columns + k] -= e * u[urow + k] }
                            }
                        }
                    }
                }
            }
            first = end
        }
    }
}
