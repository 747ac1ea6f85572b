// The layer-wise Hessian GPTQ and DPQ work with, and its inverse in the form they use.
//
// For a linear layer y = W x, the reconstruction error ‖W x − Ŵ x‖² summed over N calibration
// inputs has, for every output row, the Hessian H = 2/N · Σ x xᵀ (K × K, K inputs; for a
// convolution x is one im2col row). It is accumulated in Double from streamed rows, so a
// large calibration set never has to be held: accumulators of disjoint row sets merge by
// adding their sums.
//
// GPTQ needs the upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU): row j of U, divided by U_jj,
// says how the error of quantizing column j is spread over the later columns. Instead of
// GPTQ's Cholesky → inverse → Cholesky, U is computed with one factorisation: with J the
// reversal permutation, JHJ = L̃L̃ᵀ gives H⁻¹ = (J L̃⁻¹ J)ᵀ (J L̃⁻¹ J), and J L̃⁻¹ J is upper
// triangular with a positive diagonal, so by uniqueness it is U.

import Foundation

/// A symmetric K × K matrix in Double, row-major.
public struct Hessian: Sendable, Equatable {
    public let size: Int
    public var values: [Double]

    public init(size: Int, values: [Double]) {
        precondition(values.count == size * size, "a \(size)×\(size) Hessian needs \(size * size) values")
        self.size = size
        self.values = values
    }

    public subscript(i: Int, j: Int) -> Double {
        get { values[i * size + j] }
        set { values[i * size + j] = newValue }
    }

    public var diagonal: [Double] { (0..<size).map { values[$0 * size + $0] } }
    public var trace: Double { diagonal.reduce(0, +) }

    /// Inputs that were zero in every calibration row (H_ii = 0).
    public var deadInputs: [Int] { (0..<size).filter { values[$0 * size + $0] == 0 } }

    /// The matrix with rows and columns reordered: entry (i, j) is self[order[i], order[j]].
    public func permuted(_ order: [Int]) -> Hessian {
        var out = [Double](repeating: 0, count: size * size)
        for i in 0..<size {
            for j in 0..<size { out[i * size + j] = values[order[i] * size + order[j]] }
        }
        return Hessian(size: size, values: out)
    }

    /// The upper factor U of (H')⁻¹ = UᵀU, where H' is H prepared as GPTQ prepares it: dead
    /// inputs get H_ii = 1 (their weights are zeroed by the caller, so they take no error),
    /// and λ = dampening · mean(diag H) is added to the diagonal. When H' is not positive
    /// definite (too few or degenerate calibration rows), the dampening is multiplied by 10
    /// (starting from 0.01 if it was 0) up to `attempts` times before giving up.
    public func inverseCholeskyFactor(dampening: Double = 0.01, attempts: Int = 6) throws(QuantizerError) -> InverseCholeskyFactor {
        var h = values
        let dead = deadInputs
        for i in dead { h[i * size + i] = 1 }
        let mean = (0..<size).reduce(0.0) { $0 + h[$1 * size + $1] } / Double(max(size, 1))
        var percent = dampening
        for _ in 0..<max(attempts, 1) {
            var damped = h
            let lambda = percent * mean
            for i in 0..<size { damped[i * size + i] += lambda }
            if let u = Hessian.upperInverseFactor(damped, size) {
                return InverseCholeskyFactor(size: size, upper: u, dampening: lambda, deadInputs: dead)
            }
            percent = percent > 0 ? percent * 10 : 0.01
        }
        throw QuantizerError("the \(size)×\(size) Hessian is not positive definite even with dampening \(percent / 10) · mean(diag); are the calibration inputs degenerate?")
    }

    /// Lower Cholesky factor of a symmetric matrix (row-major), or nil if it is not
    /// numerically positive definite: a pivot — the part of H_jj that earlier inputs do not
    /// explain — at or below rounding level (n·ε·H_jj) means the inputs are linearly
    /// dependent, and a factor built on it would amplify noise by 1/√ε.
    static func cholesky(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            var d = a[j * n + j]
            for k in 0..<j { d -= l[j * n + k] * l[j * n + k] }
            guard d > Double(n) * .ulpOfOne * a[j * n + j], d.isFinite else { return nil }
            let ljj = d.squareRoot()
            l[j * n + j] = ljj
            for i in (j + 1)..<n {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = s / ljj
            }
        }
        return l
    }

    /// U with A⁻¹ = UᵀU, U upper triangular (see the note at the top of the file).
    static func upperInverseFactor(_ a: [Double], _ n: Int) -> [Double]? {
        var reversed = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n { reversed[i * n + j] = a[(n - 1 - i) * n + (n - 1 - j)] }
        }
        guard let l = cholesky(reversed, n) else { return nil }
        // M = L⁻¹ by forward substitution, column by column (M is lower triangular).
        var m = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            m[j * n + j] = 1 / l[j * n + j]
            for i in (j + 1)..<n {
                var s = 0.0
                for k in j..<i { s -= l[i * n + k] * m[k * n + j] }
                m[i * n + j] = s / l[i * n + i]
            }
        }
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n { u[i * n + j] = m[(n - 1 - i) * n + (n - 1 - j)] }
        }
        return u
    }
}

/// The upper Cholesky factor of the dampened inverse Hessian, as GPTQ uses it.
public struct InverseCholeskyFactor: Sendable {
    public let size: Int
    /// U, row-major and upper triangular, with (H + λI)⁻¹ = UᵀU.
    public let upper: [Double]
    /// The λ that was added to the diagonal.
    public let dampening: Double
    /// Inputs with H_ii = 0, whose weights the quantizers zero.
    public let deadInputs: [Int]
}

/// Streams calibration rows into Σ x xᵀ (Double); `hessian` is then 2/N · Σ x xᵀ.
public struct HessianAccumulator: Sendable {
    public let inputs: Int
    /// Rows accumulated so far (N).
    public private(set) var rows = 0
    /// Upper triangle of Σ x xᵀ (the lower one is filled when the Hessian is read).
    private var sum: [Double]
    /// Σ x, for the mean input (bias correction).
    private var columnSum: [Double]

    public init(inputs: Int) {
        self.inputs = inputs
        sum = [Double](repeating: 0, count: inputs * inputs)
        columnSum = [Double](repeating: 0, count: inputs)
    }

    /// The mean input row E[x] (zeros before any row).
    public var mean: [Double] { columnSum.map { rows > 0 ? $0 / Double(rows) : 0 } }

    /// Adds `data.count / inputs` rows of `inputs` values each (row-major).
    public mutating func add(rows data: [Float]) throws(QuantizerError) {
        guard inputs > 0, data.count % inputs == 0 else {
            throw QuantizerError("\(data.count) values are not whole rows of \(inputs) inputs")
        }
        let n = inputs, count = data.count / n
        // Blocks of rows, converted to Double once, give each sum entry several products per
        // load; only the upper triangle is computed.
        let block = 8
        var x = [Double](repeating: 0, count: block * n)
        sum.withUnsafeMutableBufferPointer { s in
            var start = 0
            while start < count {
                let b = min(block, count - start)
                for r in 0..<b {
                    for i in 0..<n {
                        x[r * n + i] = Double(data[(start + r) * n + i])
                        columnSum[i] += x[r * n + i]
                    }
                }
                x.withUnsafeBufferPointer { x in
                    for i in 0..<n {
                        for r in 0..<b {
                            let xi = x[r * n + i]
                            if xi == 0 { continue }
                            let row = i * n, xr = r * n
                            for j in i..<n { s[row + j] += xi * x[xr + j] }
                        }
                    }
                }
                start += b
            }
        }
        rows += count
    }

    /// Adds the rows another accumulator has seen (e.g. from another thread or batch).
    public mutating func merge(_ other: HessianAccumulator) throws(QuantizerError) {
        guard other.inputs == inputs else {
            throw QuantizerError("cannot merge Hessians of \(other.inputs) and \(inputs) inputs")
        }
        for i in sum.indices { sum[i] += other.sum[i] }
        for i in columnSum.indices { columnSum[i] += other.columnSum[i] }
        rows += other.rows
    }

    /// H = 2/N · Σ x xᵀ (all zeros before any row).
    public var hessian: Hessian {
        let n = inputs, f = rows > 0 ? 2 / Double(rows) : 0
        var h = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                h[i * n + j] = f * sum[i * n + j]
                h[j * n + i] = h[i * n + j]
            }
        }
        return Hessian(size: n, values: h)
    }
}
