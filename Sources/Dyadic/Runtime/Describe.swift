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
        let weights = layers.compactMap { $0 as? ConvLayer }.map(\.weightBytes).reduce(0, +)
        lines.append("weights: \(weights) bytes stored by the integer kernels (4-bit weights two per byte where a qc4w kernel runs)")
        lines.append("arena: \(arenaSize) bytes for all values, shared by liveness (one slot per value: \(unsharedSize) bytes)")
        let floats = floatLayers
        if isIntegerOnly {
            lines.append("integer-only: yes (float only in the input quantization and output dequantization)")
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
