import Foundation

/// The text `quantize --report` writes: the allocation, each layer's sensitivity, and
/// the quantized model's accuracy layer by layer, worst first.
public enum QuantizationReport {
    public static func text(_ r: QuantizationResult, accuracy: [LayerAccuracy], packedWeightBytes: Int?) -> String {
        func f(_ x: Double, _ d: Int = 2) -> String { x.isFinite ? String(format: "%.\(d)f", x) : "inf" }
        func e(_ x: Double) -> String { String(format: "%.3e", x) }
        func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
            s.count >= w ? s : (right ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count))
        }
        var out: [String] = []
        out.append("# Quantization report")
        out.append("method: \(r.method.rawValue); \(r.layers.count) weighted layers, \(r.activationCount) quantized activations")
        out.append("")
        out.append("## Layers")
        out.append("Ω = tr(H)/n · ‖Q(W) − W‖² (HAWQ); E = Σ Δw H Δwᵀ with \(r.method.rawValue) and with round-to-nearest;")
        out.append("SQNR: the model output's (dB) with only this layer quantized. The allocation minimised \(["trace": "ΣΩ", "quadratic": "ΣE", "output": "Σ 10^(−SQNR/10)"][r.objective.rawValue]!).")
        let labels = r.candidates[r.layers[0].name]!.map(\.label)
        var header = pad("layer", 28) + " " + pad("choice", 6)
        for l in labels {
            header += " " + pad("Ω \(l)", 10, right: true) + " " + pad("E \(l)", 10, right: true)
                + " " + pad("E RTN", 10, right: true) + " " + pad("SQNR", 6, right: true)
        }
        header += " " + pad("E RTN/E", 8, right: true)
        out.append(header)
        var gainLog = 0.0, gainCount = 0
        for layer in r.layers {
            let cs = r.candidates[layer.name]!
            var line = pad(String(layer.name.suffix(28)), 28) + " " + pad(r.chosen[layer.name] ?? "", 6)
            for c in cs {
                line += " " + pad(e(c.omega), 10, right: true) + " " + pad(e(c.quadratic), 10, right: true)
                    + " " + pad(e(c.quadraticRTN), 10, right: true) + " " + pad(c.outputSQNR.map { f($0, 1) } ?? "-", 6, right: true)
            }
            if let c = cs.first(where: { $0.label == r.chosen[layer.name] }), c.quadratic > 0 {
                line += " " + pad(f(c.quadraticRTN / c.quadratic), 8, right: true)
                gainLog += log(c.quadraticRTN / c.quadratic)
                gainCount += 1
            }
            out.append(line)
        }
        func chosen(_ l: QuantizableLayer) -> LayerCandidate { r.candidates[l.name]!.first { $0.label == r.chosen[l.name] }! }
        out.append("")
        out.append("ΣΩ \(e(r.layers.reduce(0.0) { $0 + chosen($1).omega })) (RTN \(e(r.layers.reduce(0.0) { $0 + chosen($1).omegaRTN })));"
                   + " ΣE \(e(r.layers.reduce(0.0) { $0 + chosen($1).quadratic })) (RTN \(e(r.layers.reduce(0.0) { $0 + chosen($1).quadraticRTN })))"
                   + (gainCount > 0 ? "; geometric mean of E RTN/E \(f(exp(gainLog / Double(gainCount))))" : ""))
        out.append("")
        out.append("## Totals (ratio to all-INT8)")
        let predicted = [r.layers.reduce(0.0) { $0 + ModelQuantizer.storedBytes($1, chosen($1).weights) }]
        for (d, name) in r.dimensions.enumerated() {
            let total = r.allocation?.totals[d] ?? (d == 0 ? predicted[0] : .nan)
            let full = total + (d == 2 ? r.fixedLatency : 0)
            guard full.isFinite, r.int8Totals[d] > 0 else { continue }
            var line = "\(name): predicted \(f(full, 0)) = \(f(full / r.int8Totals[d], 3))× INT8 (\(f(r.int8Totals[d], 0)))"
            if let b = r.budgets[d] { line += "; budget \(f(b, 0))" }
            if d == 0, let packed = packedWeightBytes { line += "; Dyadic stores \(packed) bytes of weights" }
            out.append(line)
        }
        if let a = r.allocation { out.append("allocation: ΣΩ \(e(a.objective)), \(a.nodesExplored) branch-and-bound nodes") }
        out.append("")
        out.append("## Accuracy against the float model, worst first (SQNR dB, cosine)")
        for a in accuracy {
            out.append(pad(String(a.tensor.suffix(40)), 40) + " " + pad(String(a.node.suffix(24)), 24) + " "
                       + pad(f(a.sqnr), 8, right: true) + " " + pad(f(a.cosine, 5), 8, right: true))
        }
        return out.joined(separator: "\n") + "\n"
    }
}
