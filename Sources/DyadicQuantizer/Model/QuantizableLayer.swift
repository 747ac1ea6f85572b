import Dyadic

/// A Conv, Gemm or MatMul with a constant float weight: the layers whose weight
/// precision the quantizer chooses.
public struct QuantizableLayer: Sendable {
    public enum Kind: Sendable { case conv, gemmTransposed, gemm, matmul }
    public let name: String
    public let nodeIndex: Int
    public let kind: Kind
    public let input: String
    public let weightName: String
    public let biasName: String?
    public let weightShape: [Int]
    public let groups: Int
    /// The tensor that gets the output quantization: the product's output, or the
    /// output of the Relu/Clip chain it feeds alone.
    public let quantizedOutput: String

    /// Output channels (rows of the weight matrix).
    public var outputChannels: Int { kind == .conv || kind == .gemmTransposed ? weightShape[0] : weightShape[1] }
    /// Input columns per output channel: in_c/groups·kh·kw, or K.
    public var columnsPerGroup: Int {
        switch kind {
        case .conv: weightShape.dropFirst().reduce(1, *)
        case .gemmTransposed: weightShape[1]
        case .gemm, .matmul: weightShape[0]
        }
    }
    public var weightCount: Int { weightShape.reduce(1, *) }
    /// The axis of the weight tensor that indexes output channels (per-channel scales).
    public var channelAxis: Int { kind == .conv || kind == .gemmTransposed ? 0 : 1 }

    /// The weight as `groups` row-major matrices [outputChannels/groups × columnsPerGroup].
    public func matrices(_ w: Tensor) -> [WeightMatrix] {
        let v = w.floats, rows = outputChannels / groups, cols = columnsPerGroup
        switch kind {
        case .conv, .gemmTransposed:
            return (0..<groups).map { g in
                WeightMatrix(rows: rows, columns: cols, values: Array(v[(g * rows * cols)..<((g + 1) * rows * cols)]))
            }
        case .gemm, .matmul:
            var t = [Float](repeating: 0, count: v.count)
            for k in 0..<cols { for n in 0..<rows { t[n * cols + k] = v[k * rows + n] } }
            return [WeightMatrix(rows: rows, columns: cols, values: t)]
        }
    }

    /// The inverse of `matrices`: values in the weight tensor's own layout.
    public func tensorOrder(_ groupsValues: [[Float]]) -> [Float] {
        switch kind {
        case .conv, .gemmTransposed: return groupsValues.flatMap { $0 }
        case .gemm, .matmul:
            let m = groupsValues[0], rows = outputChannels, cols = columnsPerGroup
            var t = [Float](repeating: 0, count: m.count)
            for n in 0..<rows { for k in 0..<cols { t[k * rows + n] = m[n * cols + k] } }
            return t
        }
    }

    /// The quantizable layers of a float graph, in graph order.
    public static func find(in graph: Graph) throws -> [QuantizableLayer] {
        var consumers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for input in node.inputs where !input.isEmpty { consumers[input, default: []].append(i) }
        }
        let graphOutputs = Set(graph.outputs.map(\.name))
        // Layers, their ranges and the report are keyed by node name.
        var seen: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            if let first = seen[node.name] {
                throw QuantizerError("nodes #\(first) and #\(i) are both named '\(node.name)'; quantize needs unique node names")
            }
            seen[node.name] = i
        }
        var layers: [QuantizableLayer] = []
        for (i, node) in graph.nodes.enumerated() where node.domain.isEmpty {
            guard ["Conv", "Gemm", "MatMul"].contains(node.opType), node.inputs.count >= 2,
                  let w = graph.initializers[node.inputs[1]], w.dtype == .float32 else { continue }
            let kind: Kind
            switch node.opType {
            case "Conv":
                guard w.shape.count == 4 else { continue }
                kind = .conv
            case "Gemm":
                guard w.shape.count == 2, try node.int("transA", default: 0) == 0 else { continue }
                kind = try node.int("transB", default: 0) != 0 ? .gemmTransposed : .gemm
            default:
                guard w.shape.count == 2 else { continue }
                kind = .matmul
            }
            let bias = node.inputs.count > 2 && !node.inputs[2].isEmpty ? node.inputs[2] : nil
            if let bias, graph.initializers[bias]?.dtype != .float32 { continue }
            guard node.outputs.count == 1, !node.outputs[0].isEmpty else { throw QuantizerError("\(node.label): needs one output") }
            // A NaN or infinite weight has no quantization grid.
            for name in [node.inputs[1]] + (bias.map { [$0] } ?? []) where !graph.initializers[name]!.floats.allSatisfy(\.isFinite) {
                throw QuantizerError("\(node.label): '\(name)' holds a value that is not finite")
            }
            // Follow a Relu/Clip chain that only this product feeds.
            var out = node.outputs[0]
            while !graphOutputs.contains(out), let next = consumers[out], next.count == 1,
                  ["Relu", "Clip"].contains(graph.nodes[next[0]].opType), graph.nodes[next[0]].domain.isEmpty {
                out = graph.nodes[next[0]].outputs[0]
            }
            layers.append(QuantizableLayer(
                name: node.name, nodeIndex: i, kind: kind, input: node.inputs[0], weightName: node.inputs[1],
                biasName: bias, weightShape: w.shape, groups: kind == .conv ? try node.int("group", default: 1) : 1,
                quantizedOutput: out))
        }
        return layers
    }
}
