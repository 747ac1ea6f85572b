import Foundation

/// The human-readable form of a plan printed by `runmodel --describe`.
extension Plan {
    public func describe() -> String {
        var lines: [String] = []
        lines.append("numerics: \(numerics.rawValue)")
        for (name, v) in inputs { lines.append("input  \(name): \(values[v].typeString)") }
        for (name, v) in outputs { lines.append("output \(name): \(values[v].typeString)") }
        lines.append("layers: \(layers.count)")
        for (i, layer) in layers.enumerated() {
            let ins = layer.inputs.map { values[$0].typeString }.joined(separator: ", ")
            let outs = layer.outputs.map { values[$0].typeString }.joined(separator: ", ")
            lines.append(String(format: "%4d  %-16@ %-7@ %@ -> %@", i, layer.op as NSString, layer.precision as NSString, ins as NSString, outs as NSString))
            lines.append("      nodes: \(layer.sourceNodes.joined(separator: ", "))  kernel: \(layer.kernel)")
            if !layer.details.isEmpty { lines.append("      \(layer.details)") }
        }
        let weighted = layers.compactMap { $0 as? WeightedLayer }
        var byPrecision: [String: Int] = [:]
        for layer in weighted { byPrecision[layer.precision, default: 0] += layer.weightBytes }
        let split = byPrecision.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("weights: \(weighted.map(\.weightBytes).reduce(0, +)) bytes as stored by the kernels (\(split))")
        lines.append("arena: \(arenaSize) bytes for all values, shared by liveness (one slot per value: \(unsharedSize) bytes)")
        let floats = floatLayers
        let fp8 = fp8Layers
        if !fp8.isEmpty {
            lines.append("integer-only: no — \(fp8.count) FP8 layer(s) (W4A8 products, FP8 add/pool, conversions)"
                         + (floats.isEmpty ? "" : ", \(floats.count) float layer(s)"))
        } else if isIntegerOnly {
            let outside = boundaryFloatLayers.filter { $0.op != "Quantize" && $0.op != "Dequantize" }
            let extra = outside.isEmpty ? "" : "; \(outside.count) float layer(s) before the first quantization or after the last dequantization: "
                + Set(outside.map(\.op)).sorted().joined(separator: ", ")
            lines.append("integer-only: yes (float only in the input quantization and output dequantization\(extra))")
        } else if floats.isEmpty {
            lines.append("integer-only: no (no quantized layers)")
        } else {
            let list = floats.prefix(20).map { layer in
                "#\(layers.firstIndex { $0 === layer } ?? 0) \(layer.op) [\(layer.sourceNodes.joined(separator: ","))]"
            }
            lines.append("integer-only: no — \(floats.count) float layer(s): \(list.joined(separator: "; "))")
        }
        return lines.joined(separator: "\n")
    }
}
