import Foundation
import Testing
@testable import DyadicQuantizer

@Suite struct HessianTests {
    @Test func streamedAccumulationEqualsTheDirectProduct() throws {
        var rng = SeededGenerator(seed: 11)
        let n = 101, k = 13
        var x = (0..<(n * k)).map { _ in Float(rng.gaussian()) }
        for r in 0..<n { x[r * k + 5] = 0 }   // a dead input
        var a = HessianAccumulator(inputs: k), b = HessianAccumulator(inputs: k)
        try a.add(rows: Array(x[0..<(37 * k)]))
        try b.add(rows: Array(x[(37 * k)...]))
        try a.merge(b)
        let h = a.hessian
        #expect(a.rows == n)
        var worst = 0.0
        for i in 0..<k {
            for j in 0..<k {
                let direct = 2 / Double(n) * (0..<n).reduce(0.0) { $0 + Double(x[$1 * k + i]) * Double(x[$1 * k + j]) }
                worst = max(worst, abs(h[i, j] - direct))
            }
        }
        #expect(worst < 1e-12)
        #expect(h.deadInputs == [5])
        #expect(abs(h.trace - h.diagonal.reduce(0, +)) == 0)
        #expect(throws: QuantizerError.self) { try a.add(rows: [1, 2, 3]) }
    }

    @Test func inverseFactorMatchesADirectInverse() throws {
        var rng = SeededGenerator(seed: 12)
        for n in 1...8 {
            // SPD: A Aᵀ plus a little identity.
            let a = (0..<(n * n)).map { _ in rng.gaussian() }
            var h = Hessian(size: n, values: [Double](repeating: 0, count: n * n))
            for i in 0..<n {
                for j in 0..<n { h[i, j] = (0..<n).reduce(0.0) { $0 + a[i * n + $1] * a[j * n + $1] } + (i == j ? 0.1 : 0) }
            }
            for damp in [0.0, 0.01] {
                let f = try h.inverseCholeskyFactor(dampening: damp)
                let mean = h.trace / Double(n)
                #expect(abs(f.dampening - damp * mean) < 1e-15)
                var damped = h.values
                for i in 0..<n { damped[i * n + i] += f.dampening }
                let inverse = gaussJordanInverse(damped, n)
                for i in 0..<n {
                    #expect(f.upper[i * n + i] > 0)
                    for j in 0..<i { #expect(f.upper[i * n + j] == 0) }
                    for j in 0..<n {
                        let utu = (0..<n).reduce(0.0) { $0 + f.upper[$1 * n + i] * f.upper[$1 * n + j] }
                        #expect(abs(utu - inverse[i * n + j]) <= 1e-9 * max(1, abs(inverse[i * n + j])), "n \(n) (\(i),\(j))")
                    }
                }
            }
        }
    }

    @Test func deadInputsAndIndefiniteMatrices() throws {
        // One calibration row: rank 1, not positive definite without dampening.
        var acc = HessianAccumulator(inputs: 4)
        try acc.add(rows: [1, 2, 0, -1])
        let h = acc.hessian
        #expect(h.deadInputs == [2])
        #expect(Hessian.cholesky(h.values, 4) == nil)
        let f = try h.inverseCholeskyFactor(dampening: 0)   // retried with dampening
        #expect(f.dampening > 0 && f.deadInputs == [2])
        // Negative definite: no dampening helps.
        let negative = Hessian(size: 2, values: [-1, 0, 0, -1])
        #expect(throws: QuantizerError.self) { try negative.inverseCholeskyFactor() }
    }

    private func gaussJordanInverse(_ a: [Double], _ n: Int) -> [Double] {
        var m = a, inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        for c in 0..<n {
            let p = (c..<n).max { abs(m[$0 * n + c]) < abs(m[$1 * n + c]) }!
            for j in 0..<n {
                m.swapAt(c * n + j, p * n + j)
                inv.swapAt(c * n + j, p * n + j)
            }
            let d = m[c * n + c]
            for j in 0..<n { m[c * n + j] /= d; inv[c * n + j] /= d }
            for r in 0..<n where r != c {
                let f = m[r * n + c]
                for j in 0..<n { m[r * n + j] -= f * m[c * n + j]; inv[r * n + j] -= f * inv[c * n + j] }
            }
        }
        return inv
    }
}
