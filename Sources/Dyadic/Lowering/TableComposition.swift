import DyadicKernels

/// A pass over the lowered layers: an element-wise layer whose inputs are all functions
/// of one 8-bit value's codes — a table of it, a QAdd/QMul of two such functions (x·f(x),
/// as a GELU or SiLU written out) or of one and a constant scalar — becomes one 256-entry
/// table of that value. Each table is computed by running the layers' own kernels on the
/// 256 codes, so it gives the same bytes as the layers it replaces under any numerics;
/// the layers in between drop out when nothing else reads their outputs.
enum TableComposition {
    /// Value v holds table[source's codes], element by element.
    private struct Origin {
        var source: Int
        var table: [UInt8]
        var nodes: [String]
    }

    static func compose(_ layers: [Layer], values: [PlanValue]) -> [Layer] {
        var origins: [Int: Origin] = [:]
        var result: [Layer] = []
        let identity = (0..<256).map { UInt8($0) }
        func origin(_ v: Int) -> Origin { origins[v] ?? Origin(source: v, table: identity, nodes: []) }
        func elementwise(_ a: Int, _ b: Int) -> Bool {
            values[a].shape == values[b].shape && values[a].layout == values[b].layout && values[a].dtype.isQuantized8Bit
                && values[b].dtype.isQuantized8Bit
        }
        for layer in layers {
            var composed: Origin?
            if let t = layer as? TableLayer, t.isIntegerOnly, t.table.count == 256 {
                let x = origin(t.inputs[0])
                if elementwise(x.source, t.outputs[0]) {
                    composed = Origin(source: x.source, table: x.table.map { t.table[Int($0)] }, nodes: x.nodes + t.sourceNodes)
                }
            } else if let b = layer as? BinaryLayer, b.channelBroadcast == nil, b.count == values[b.outputs[0]].count {
                composed = binary(b, values: values, origin: origin, elementwise: elementwise)
            }
            guard let composed else {
                result.append(layer)
                continue
            }
            origins[layer.outputs[0]] = composed
            let replaces = layer.inputs.count > 1 || composed.source != layer.inputs[0]
            guard replaces else {
                result.append(layer)
                continue
            }
            let nodes = composed.nodes.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            result.append(TableLayer(op: "QTable(\(nodes.count) ops)", source: nodes, input: composed.source, output: layer.outputs[0],
                                     table: composed.table, count: values[layer.outputs[0]].count,
                                     what: "256-entry table composed from \(nodes.count) layers' kernels"))
        }
        return result
    }

    /// A QAdd/QMul whose operands are functions of one value (or one of them a constant
    /// scalar): its kernel run on the 256 codes' operands.
    private static func binary(_ b: BinaryLayer, values: [PlanValue], origin: (Int) -> Origin,
                               elementwise: (Int, Int) -> Bool) -> Origin? {
        var operands: [[UInt8]] = []
        var source: Int?
        var nodes: [String] = b.sourceNodes
        for (i, inc) in [(0, b.aInc), (1, b.bInc)] {
            let v = b.inputs[i]
            if inc == 0 {
                // Kept a broadcast scalar: the fp32 add kernel orders its operands by which one is.
                guard let c = values[v].constant, c.count == 1, c.bytes.count == 1 else { return nil }
                operands.append([c.bytes[0]])
            } else {
                let o = origin(v)
                guard source == nil || source == o.source else { return nil }
                source = o.source
                operands.append(o.table)
                nodes = o.nodes + nodes
            }
        }
        guard let source, elementwise(source, b.outputs[0]) else { return nil }
        var table = [UInt8](repeating: 0, count: 256)
        withUnsafePointer(to: b.params) { p in
            operands[0].withUnsafeBufferPointer { x in
                operands[1].withUnsafeBufferPointer { y in
                    table.withUnsafeMutableBufferPointer { t in
                        if b.isMul {
                            dyd_qmul_run(p, x.baseAddress, b.aInc, y.baseAddress, b.bInc, t.baseAddress, 256)
                        } else {
                            dyd_qadd_run(p, x.baseAddress, b.aInc, y.baseAddress, b.bInc, t.baseAddress, 256)
                        }
                    }
                }
            }
        }
        return Origin(source: source, table: table, nodes: nodes)
    }
}
