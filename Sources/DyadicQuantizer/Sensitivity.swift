// Layer sensitivity for bit allocation, and the error measures the reports print.
//
// HAWQ-V3 ranks precisions of layer i by Ω_i = tr(H_i)/n_i · ‖Q(W_i) − W_i‖², with H_i the
// Hessian of the loss in the layer's n_i weights. Dyadic uses the layer-wise Hessian that
// GPTQ also uses: for the output reconstruction error, the Hessian in all weights is
// block-diagonal, one K × K block H = 2/N·Σ x xᵀ per output row, so its trace is rows·tr(H),
// n = rows·K, and tr(H_full)/n = tr(H)/K — the mean input energy.

import Foundation

public enum Sensitivity {
    /// Ω = tr(H)/K · ‖Q(W) − W‖² for a layer with K inputs.
    public static func omega(hessianTrace: Double, inputs: Int, original: [Float], quantized: [Float]) -> Double {
        precondition(inputs > 0, "a layer has at least one input")
        return hessianTrace / Double(inputs) * squaredError(original, quantized)
    }

    /// Ω from the layer's Hessian and weights.
    public static func omega(hessian: Hessian, original: WeightMatrix, quantized: [Float]) -> Double {
        omega(hessianTrace: hessian.trace, inputs: original.columns, original: original.values, quantized: quantized)
    }

    /// Σ over rows of Δw H Δwᵀ (Δw = Q(w) − w): the second-order change of the layer's
    /// squared output error, which GPTQ minimises. Unlike the trace form it does not charge
    /// error placed on inputs the calibration data never excites.
    public static func quadraticError(hessian: Hessian, original: WeightMatrix, quantized: [Float]) -> Double {
        precondition(hessian.size == original.columns && quantized.count == original.values.count, "sizes differ")
        let n = original.columns
        var total = 0.0
        var d = [Double](repeating: 0, count: n)
        hessian.values.withUnsafeBufferPointer { h in
            for r in 0..<original.rows {
                for c in 0..<n { d[c] = Double(quantized[r * n + c]) - Double(original.values[r * n + c]) }
                for i in 0..<n where d[i] != 0 {
                    var row = 0.0
                    for j in 0..<n { row += h[i * n + j] * d[j] }
                    total += d[i] * row
                }
            }
        }
        return total
    }

    /// ‖a − b‖², in Double.
    public static func squaredError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "\(a.count) values against \(b.count)")
        var s = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            s += d * d
        }
        return s
    }

    /// Signal-to-quantization-noise ratio in dB: 10·log10(Σ r² / Σ (r − a)²); +∞ when the
    /// approximation is exact, −∞ when the reference is all zero and the approximation not.
    public static func sqnr(reference: [Float], approximation: [Float]) -> Double {
        let noise = squaredError(reference, approximation)
        let signal = reference.reduce(0.0) { $0 + Double($1) * Double($1) }
        if noise == 0 { return .infinity }
        return 10 * log10(signal / noise)
    }

    /// Cosine similarity in Double; 1 when both are all zero, 0 when only one is.
    public static func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "\(a.count) values against \(b.count)")
        var ab = 0.0, aa = 0.0, bb = 0.0
        for i in a.indices {
            let x = Double(a[i]), y = Double(b[i])
            ab += x * y
            aa += x * x
            bb += y * y
        }
        if aa == 0 && bb == 0 { return 1 }
        if aa == 0 || bb == 0 { return 0 }
        return ab / (aa.squareRoot() * bb.squareRoot())
    }
}
