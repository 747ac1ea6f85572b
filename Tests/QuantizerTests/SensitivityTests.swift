import Foundation
import Testing
@testable import DyadicQuantizer

@Suite struct SensitivityTests {
    @Test func omegaIsMeanInputEnergyTimesWeightError() {
        let h = Hessian(size: 2, values: [4, 1, 1, 2])                 // tr = 6, K = 2
        let w = WeightMatrix(rows: 2, columns: 2, values: [1, 2, 3, 4])
        let q: [Float] = [1, 2.5, 3, 3]                                // ‖ΔW‖² = 0.25 + 1
        #expect(Sensitivity.omega(hessian: h, original: w, quantized: q) == 3 * 1.25)
        #expect(Sensitivity.squaredError(w.values, w.values) == 0)
    }

    @Test func sqnrAndCosine() {
        let r: [Float] = [1, -1, 1, -1]
        let a: [Float] = [1.1, -0.9, 1.1, -0.9]                        // noise power 1% of the signal's
        #expect(abs(Sensitivity.sqnr(reference: r, approximation: a) - 20) < 1e-5)
        #expect(Sensitivity.sqnr(reference: r, approximation: r) == .infinity)
        #expect(abs(Sensitivity.cosineSimilarity(r, r.map { 2 * $0 }) - 1) < 1e-15)
        #expect(Sensitivity.cosineSimilarity([1, 0], [0, 1]) == 0)
        #expect(Sensitivity.cosineSimilarity([0, 0], [0, 0]) == 1)
    }
}
