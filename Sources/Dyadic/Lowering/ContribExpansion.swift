/// ONNX Runtime's fused transformer ops written back as the standard ops they fuse, at
/// load, so they run on the float (and quantized) layers the rest of the model uses
/// instead of the reference path: Gelu, BiasGelu, FastGelu, SkipLayerNormalization,
/// EmbedLayerNormalization and Attention (self-attention without past state). Forms
/// the expansion does not cover (extra statistics outputs, unidirectional attention,
/// other mask shapes) keep the com.microsoft node.
enum ContribExpansion {
    static func expand(_ graph: Graph) -> Graph {
        guard graph.nodes.contains(where: { $0.domain == "com.microsoft" }) else { return graph }
        var g = graph
        var nodes: [Node] = []
        // Ranks of the values an Attention mask may come from: graph inputs, EmbedLayerNormalization's
        // mask_index, and Casts of either.
        var ranks: [String: Int] = Dictionary(graph.inputs.map { ($0.name, $0.shape.count) }, uniquingKeysWith: { a, _ in a })
        for node in graph.nodes {
            if node.opType == "EmbedLayerNormalization", node.outputs.count > 1 { ranks[node.outputs[1]] = 1 }
            if node.opType == "Cast", let r = ranks[node.inputs.first ?? ""] { ranks[node.outputs[0]] = r }
        }
        for node in graph.nodes {
            var e = Expander(prefix: node.name, opset: graph.opset)
            if node.opType == "Attention", node.inputs.count > 1 {
                e.widthHint = graph.initializers[node.inputs[1]]?.shape.last
                if node.inputs.count > 3, !node.inputs[3].isEmpty { e.maskRank = ranks[node.inputs[3]] }
            }
            if node.domain == "com.microsoft", let expanded = try? e.expand(node, graph: graph) {
                nodes += expanded
                for (name, t) in e.constants { g.initializers[name] = t }
            } else {
                nodes.append(node)
            }
        }
        g.nodes = nodes
        return g
    }

    struct Expander {
        let prefix: String
        let opset: Int
        var constants: [String: Tensor] = [:]
        var nodes: [Node] = []
        var counter = 0

        init(prefix: String, opset: Int) {
            self.prefix = prefix
            self.opset = opset
        }

        /// Squeeze, Unsqueeze and ReduceSum take their axes as an input from opset 13, an attribute before.
        mutating func withAxes(_ op: String, _ x: String, _ axes: [Int64], output: String? = nil, _ attributes: [String: Attribute] = [:]) -> String {
            if opset >= 13 { return add(op, [x, constant(Tensor(axes, shape: [axes.count]), "axes")], output: output, attributes) }
            return add(op, [x], output: output, attributes.merging(["axes": .ints(axes)]) { a, _ in a })
        }

        /// The sequence length (axis 1 of `x`) as an int64 scalar, folded at plan time.
        mutating func sequenceLength(_ x: String) -> String {
            withAxes("Squeeze", add("Shape", [x], ["start": .int(1), "end": .int(2)]), [0])
        }

        mutating func name(_ hint: String) -> String {
            counter += 1
            return "\(prefix)/\(hint)_\(counter)"
        }

        mutating func constant(_ t: Tensor, _ hint: String) -> String {
            let n = name(hint)
            constants[n] = t
            return n
        }

        @discardableResult
        mutating func add(_ op: String, _ inputs: [String], output: String? = nil, _ attributes: [String: Attribute] = [:]) -> String {
            let out = output ?? name(op.lowercased())
            nodes.append(Node(name: name(op), opType: op, inputs: inputs, outputs: [out], attributes: attributes))
            return out
        }

        mutating func scalar(_ v: Float) -> String { constant(Tensor([v], shape: []), "c") }

        /// 0.5·x·(1 + erf(x/√2)), as exporters write Erf-GELU.
        mutating func erfGelu(_ x: String, output: String) {
            let erf = add("Erf", [add("Div", [x, scalar(Float(2).squareRoot())])])
            add("Mul", [add("Mul", [x, add("Add", [erf, scalar(1)])]), scalar(0.5)], output: output)
        }

        mutating func expand(_ node: Node, graph: Graph) throws -> [Node]? {
            let used = node.outputs.enumerated().filter { !$0.element.isEmpty }.map(\.offset)
            switch node.opType {
            case "Gelu":
                erfGelu(node.inputs[0], output: node.outputs[0])
            case "BiasGelu":
                guard node.inputs.count == 2 else { return nil }
                erfGelu(add("Add", [node.inputs[0], node.inputs[1]]), output: node.outputs[0])
            case "FastGelu":
                var x = node.inputs[0]
                if node.inputs.count > 1, !node.inputs[1].isEmpty { x = add("Add", [x, node.inputs[1]]) }
                let cube = add("Mul", [add("Mul", [x, x]), x])
                let inner = add("Mul", [add("Add", [x, add("Mul", [cube, scalar(0.044715)])]), scalar(0.7978845608028654)])
                let t = add("Tanh", [inner])
                add("Mul", [add("Mul", [x, add("Add", [t, scalar(1)])]), scalar(0.5)], output: node.outputs[0])
            case "SkipLayerNormalization":
                // Mean and inverse standard deviation outputs stay with the fused node.
                guard node.inputs.count >= 3, used.allSatisfy({ $0 == 0 || $0 == 3 }) else { return nil }
                var sum = add("Add", [node.inputs[0], node.inputs[1]])
                if node.inputs.count > 4, !node.inputs[4].isEmpty { sum = add("Add", [sum, node.inputs[4]]) }
                if used.contains(3) { sum = add("Identity", [sum], output: node.outputs[3]) }
                if used.contains(0) {
                    let beta = node.inputs.count > 3 ? node.inputs[3] : ""
                    add("LayerNormalization", [sum, node.inputs[2]] + (beta.isEmpty ? [] : [beta]), output: node.outputs[0],
                        ["axis": .int(-1), "epsilon": .float(try node.float("epsilon", default: 1e-12))])
                }
            case "EmbedLayerNormalization":
                return try embedLayerNormalization(node, used: used)
            case "Attention":
                return try attention(node, used: used)
            default:
                return nil
            }
            return nodes
        }

        mutating func embedLayerNormalization(_ node: Node, used: [Int]) throws -> [Node]? {
            func input(_ i: Int) -> String? { i < node.inputs.count && !node.inputs[i].isEmpty ? node.inputs[i] : nil }
            guard let ids = input(0), let word = input(2), let position = input(3), let gamma = input(5), let beta = input(6),
                  used.allSatisfy({ $0 <= 2 }), used.contains(1) ? input(7) != nil : true else { return nil }
            var sum = add("Gather", [word, ids], ["axis": .int(0)])
            let positions: String
            if let p = input(8) {
                positions = p
            } else {
                // 0 ..< sequence length, from the ids' shape (folded at plan time).
                positions = add("Range", [constant(Tensor([Int64(0)], shape: []), "start"), sequenceLength(ids),
                                          constant(Tensor([Int64(1)], shape: []), "delta")])
            }
            sum = add("Add", [sum, add("Gather", [position, positions], ["axis": .int(0)])])
            if let segments = input(1), let table = input(4) { sum = add("Add", [sum, add("Gather", [table, segments], ["axis": .int(0)])]) }
            if used.contains(2) { sum = add("Identity", [sum], output: node.outputs[2]) }
            if used.contains(0) {
                add("LayerNormalization", [sum, gamma, beta], output: node.outputs[0],
                    ["axis": .int(-1), "epsilon": .float(try node.float("epsilon", default: 1e-12))])
            }
            if used.contains(1), let mask = input(7) {
                // mask_index: the number of non-zero mask entries per sequence, int32.
                let nonZero = add("Not", [add("Equal", [add("Cast", [mask], ["to": .int(7)]), constant(Tensor([Int64(0)], shape: []), "zero")])])
                let count = withAxes("ReduceSum", add("Cast", [nonZero], ["to": .int(7)]), [1], ["keepdims": .int(0)])
                add("Cast", [count], output: node.outputs[1], ["to": .int(6)])
            }
            return nodes
        }

        /// Self-attention: QKV projection, heads split by Reshape/Transpose, scaled Q·Kᵀ
        /// plus the additive mask, Softmax, ·V, heads merged.
        mutating func attention(_ node: Node, used: [Int]) throws -> [Node]? {
            func input(_ i: Int) -> String? { i < node.inputs.count && !node.inputs[i].isEmpty ? node.inputs[i] : nil }
            guard let x = input(0), let weights = input(1), used == [0], input(4) == nil, input(5) == nil, input(6) == nil,
                  try node.int("unidirectional", default: 0) == 0, try node.int("do_rotary", default: 0) == 0,
                  try node.ints("qkv_hidden_sizes") == nil else { return nil }
            let heads = try node.int("num_heads", default: 0)
            guard heads > 0 else { return nil }
            // Width per projection: from the weights' shape when it is a constant (checked at plan time otherwise).
            guard let width = widthHint, width % (3 * heads) == 0 else { return nil }
            let hidden = width / 3, headSize = hidden / heads
            var qkv = add("MatMul", [x, weights])
            if let bias = input(2) { qkv = add("Add", [qkv, bias]) }
            let q = name("q"), k = name("k"), v = name("v")
            let sizes = [Int64(hidden), Int64(hidden), Int64(hidden)]
            nodes.append(opset >= 13
                ? Node(name: name("Split"), opType: "Split", inputs: [qkv, constant(Tensor(sizes, shape: [3]), "split")], outputs: [q, k, v],
                       attributes: ["axis": .int(-1)])
                : Node(name: name("Split"), opType: "Split", inputs: [qkv], outputs: [q, k, v], attributes: ["axis": .int(-1), "split": .ints(sizes)]))
            let headShape = constant(Tensor([Int64(0), 0, Int64(heads), Int64(headSize)], shape: [4]), "heads")
            let split = { (e: inout Expander, t: String, perm: [Int64]) -> String in
                e.add("Transpose", [e.add("Reshape", [t, headShape])], ["perm": .ints(perm)])
            }
            let qh = split(&self, q, [0, 2, 1, 3]), kh = split(&self, k, [0, 2, 3, 1]), vh = split(&self, v, [0, 2, 1, 3])
            let scale = try node.float("scale", default: 1 / Float(headSize).squareRoot())
            var scores = add("Mul", [add("MatMul", [qh, kh]), scalar(scale)])
            if let mask = input(3) {
                guard let additive = try maskAddition(mask, x: x, filter: try node.float("mask_filter_value", default: -10000)) else { return nil }
                scores = add("Add", [scores, additive])
            }
            let context = add("Transpose", [add("MatMul", [add("Softmax", [scores], ["axis": .int(-1)]), vh])], ["perm": .ints([0, 2, 1, 3])])
            add("Reshape", [context, constant(Tensor([Int64(0), 0, Int64(hidden)], shape: [3]), "merged")], output: node.outputs[0])
            return nodes
        }

        /// The width of Attention's weights, set by the caller from the initializer.
        var widthHint: Int?

        /// [batch, 1, 1, sequence] additive mask from mask_index: [batch] valid lengths
        /// (keys at or after the length masked), or a [batch, sequence] raw mask (0 masked).
        mutating func maskAddition(_ mask: String, x: String, filter: Float) throws -> String? {
            guard let rank = maskRank else { return nil }
            let masked: String
            if rank == 1 {
                let positions = add("Range", [constant(Tensor([Int64(0)], shape: []), "start"), sequenceLength(x),
                                              constant(Tensor([Int64(1)], shape: []), "delta")])
                let lengths = withAxes("Unsqueeze", add("Cast", [mask], ["to": .int(7)]), [1])
                masked = add("Not", [add("Less", [positions, lengths])])
            } else if rank == 2 {
                masked = add("Equal", [add("Cast", [mask], ["to": .int(7)]), constant(Tensor([Int64(0)], shape: []), "zero")])
            } else {
                return nil
            }
            let additive = add("Where", [masked, scalar(filter), scalar(0)])
            return withAxes("Unsqueeze", additive, [1, 2])
        }

        var maskRank: Int?
    }
}
