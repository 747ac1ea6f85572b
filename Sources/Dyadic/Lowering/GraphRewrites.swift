/// Graph-to-graph rewrites applied before lowering.
enum GraphRewrites {
    /// Folds each inference BatchNormalization into the float Conv or ConvTranspose
    /// before it when that product's output feeds nothing else and its weights, bias
    /// and the normalisation's parameters are constants: W' = W·a per output channel,
    /// b' = b·a + (β − μ·a) with a = γ/√(σ²+ε) (as exporters' and ONNX Runtime's
    /// optimisers fold them). Other BatchNormalizations stay and run standalone.
    static func foldBatchNormalization(_ graph: Graph) -> Graph {
        guard graph.nodes.contains(where: { $0.opType == "BatchNormalization" && $0.domain.isEmpty }) else { return graph }
        var g = graph
        var producer: [String: Int] = [:]
        var readers: [String: Int] = [:]
        for (i, node) in g.nodes.enumerated() {
            for o in node.outputs where !o.isEmpty { producer[o] = i }
            for input in node.inputs where !input.isEmpty { readers[input, default: 0] += 1 }
        }
        let graphOutputs = Set(g.outputs.map(\.name))
        var removed = Set<Int>()
        for (bi, bn) in g.nodes.enumerated() where bn.opType == "BatchNormalization" && bn.domain.isEmpty {
            guard bn.inputs.count == 5, bn.outputs.count >= 1, bn.outputs.dropFirst().allSatisfy(\.isEmpty),
                  (try? bn.int("training_mode", default: 0)) == 0,
                  let pi = producer[bn.inputs[0]], !removed.contains(pi), readers[bn.inputs[0]] == 1,
                  !graphOutputs.contains(bn.inputs[0]) else { continue }
            let conv = g.nodes[pi]
            guard conv.domain.isEmpty, conv.opType == "Conv" || conv.opType == "ConvTranspose", conv.outputs.count == 1,
                  conv.inputs.count >= 2, let w = g.initializers[conv.inputs[1]], w.dtype == .float32, w.shape.count >= 3 else { continue }
            let bias = conv.inputs.count > 2 && !conv.inputs[2].isEmpty ? g.initializers[conv.inputs[2]] : nil
            if conv.inputs.count > 2 && !conv.inputs[2].isEmpty && bias == nil { continue }
            let params = bn.inputs[1...].map { g.initializers[$0] }
            guard params.allSatisfy({ $0 != nil }) else { continue }
            // Output channels: axis 0 of a Conv's weights; for ConvTranspose, group·(axis 1).
            let group = (try? conv.int("group", default: 1)) ?? 1
            let channels = conv.opType == "Conv" ? w.shape[0] : w.shape[1] * group
            guard let (a, b) = try? Normalization.batchNormAffine(bn, scale: params[0]!, bias: params[1]!, mean: params[2]!,
                                                                    variance: params[3]!, channels: channels),
                  bias == nil || bias!.count == channels else { continue }
            var wv = w.floats
            let perChannel = w.count / w.shape[0]
            if conv.opType == "Conv" {
                for i in 0..<wv.count { wv[i] *= a[i / perChannel] }
            } else {
                // [C_in][M/group][kh][kw]: output channel = group of the input channel · M/group + j.
                let mpg = w.shape[1], taps = perChannel / mpg, cpg = w.shape[0] / group
                for i in 0..<wv.count {
                    let ic = i / perChannel, j = (i % perChannel) / taps
                    wv[i] *= a[(ic / cpg) * mpg + j]
                }
            }
            let bv = bias?.floats ?? [Float](repeating: 0, count: channels)
            let newBias = (0..<channels).map { bv[$0] * a[$0] + b[$0] }
            let wName = "\(conv.name)/batchnorm_folded_weights", bName = "\(conv.name)/batchnorm_folded_bias"
            g.initializers[wName] = Tensor(wv, shape: w.shape)
            g.initializers[bName] = Tensor(newBias, shape: [channels])
            var folded = conv
            folded.inputs = [conv.inputs[0], wName, bName]
            folded.outputs = [bn.outputs[0]]
            g.nodes[pi] = folded
            removed.insert(bi)
        }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return g
    }

    /// Every value a node reads: its inputs and, through If/Loop/Scan bodies, the
    /// outer-scope values its subgraphs read.
    static func reads(_ node: Node) -> Set<String> {
        var names = Set(node.inputs.filter { !$0.isEmpty })
        for attribute in node.attributes.values {
            guard case .graph(let g) = attribute else { continue }
            let local = Set(g.nodes.flatMap(\.outputs)).union(g.initializers.keys).union(g.inputs.map(\.name))
            for inner in g.nodes { names.formUnion(reads(inner).subtracting(local)) }
        }
        return names
    }

    /// The nodes in an order where each runs after the producers of what it reads
    /// (ONNX asks files for that order; some tools write nodes out of it). Stable: an
    /// ordered file is unchanged. Nodes on a cycle keep their place, and the lowering
    /// then reports the value they read too early.
    static func topologicallySorted(_ graph: Graph) -> Graph {
        var producer: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() { for o in node.outputs where !o.isEmpty { producer[o] = i } }
        let dependencies = graph.nodes.map { node in Set(reads(node).compactMap { producer[$0] }) }
        // Already ordered: nothing to do (the common case, checked in one pass).
        if dependencies.enumerated().allSatisfy({ i, d in d.allSatisfy { $0 < i } }) { return graph }
        var order: [Int] = [], placed = [Bool](repeating: false, count: graph.nodes.count)
        var progress = true
        while order.count < graph.nodes.count && progress {
            progress = false
            for i in graph.nodes.indices where !placed[i] && dependencies[i].allSatisfy({ placed[$0] || $0 == i }) {
                placed[i] = true
                order.append(i)
                progress = true
            }
        }
        order += graph.nodes.indices.filter { !placed[$0] }
        var g = graph
        g.nodes = order.map { graph.nodes[$0] }
        return g
    }

    /// x·Clip(x + 3, 0, 6)/6 (how Paddle and some PyTorch exports write HardSwish) becomes
    /// one HardSwish node when the intermediate values feed nothing else: one pass over
    /// the tensor instead of four on the float path. Graphs with Q/DQ pairs between these
    /// nodes do not match and keep their integer tables.
    static func fuseHardSwish(_ graph: Graph) -> Graph {
        var producer: [String: Int] = [:], readers: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for o in node.outputs where !o.isEmpty { producer[o] = i }
            for input in node.inputs where !input.isEmpty { readers[input, default: 0] += 1 }
        }
        let outputs = Set(graph.outputs.map(\.name))
        func scalar(_ name: String) -> Float? {
            guard let t = graph.initializers[name], t.dtype == .float32, t.count == 1 else { return nil }
            return t.floats[0]
        }
        func private1(_ name: String) -> Int? {
            guard readers[name] == 1, !outputs.contains(name), let i = producer[name], graph.nodes[i].domain.isEmpty else { return nil }
            return i
        }
        var replaced: [Int: Node] = [:], removed = Set<Int>()
        for (di, d) in graph.nodes.enumerated() where d.domain.isEmpty && d.inputs.count == 2 && d.attributes.isEmpty {
            let divides = d.opType == "Div" && scalar(d.inputs[1]) == 6
            let multiplies = d.opType == "Mul" && scalar(d.inputs[1]).map { abs($0 - 1 / 6) < 1e-7 } == true
            guard divides || multiplies, let mi = private1(d.inputs[0]) else { continue }
            let m = graph.nodes[mi]
            guard m.opType == "Mul", m.inputs.count == 2, m.attributes.isEmpty else { continue }
            for (clipSide, x) in [(m.inputs[1], m.inputs[0]), (m.inputs[0], m.inputs[1])] {
                guard let ci = private1(clipSide) else { continue }
                let c = graph.nodes[ci]
                guard c.opType == "Clip", c.attributes.isEmpty, c.inputs.count == 3, scalar(c.inputs[1]) == 0, scalar(c.inputs[2]) == 6,
                      let ai = private1(c.inputs[0]) else { continue }
                let a = graph.nodes[ai]
                guard a.opType == "Add", a.attributes.isEmpty, a.inputs.count == 2,
                      (a.inputs[0] == x && scalar(a.inputs[1]) == 3) || (a.inputs[1] == x && scalar(a.inputs[0]) == 3),
                      removed.isDisjoint(with: [ai, ci, mi, di]) else { continue }
                removed.formUnion([ai, ci, mi])
                replaced[di] = Node(name: d.name, opType: "HardSwish", inputs: [x], outputs: d.outputs)
                break
            }
        }
        guard !replaced.isEmpty else { return graph }
        var g = graph
        g.nodes = graph.nodes.enumerated().compactMap { i, node in removed.contains(i) ? nil : (replaced[i] ?? node) }
        return g
    }
}
