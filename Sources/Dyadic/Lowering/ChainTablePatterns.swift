/// A chain of element-wise ops that all read one 8-bit activation x (and scalar
/// constants) between its DequantizeLinear and a QuantizeLinear, e.g. Erf-GELU written
/// out (Div → Erf → Add → Mul by x → Mul) or SiLU as Sigmoid → Mul by x: the whole chain
/// is a function of one byte, so it runs as one 256-entry table (integer-only), built by
/// evaluating the nodes themselves on every code.
extension Lowering {
    static let chainTableOps: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Erf", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs",
        "Reciprocal", "Relu", "Clip", "HardSigmoid", "HardSwish", "LeakyRelu", "Softplus", "Elu", "Gelu", "Mish", "Floor", "Ceil",
        "Round", "Sign",
    ]
    static let longestChain = 16

    func lowerQDQChainTable(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard node.domain.isEmpty, Lowering.chainTableOps.contains(node.opType), node.outputs.count == 1 else { return false }
        // The one activation input; everything else a scalar constant.
        var xName: String? = nil, x: (value: Int, params: QuantParams)? = nil
        for (i, s) in symbols.enumerated() {
            guard let s else { continue }
            if let q = quantizedActivation(s), !Lowering.isConstant(s) {
                guard xName == nil || xName == node.inputs[i] else { return false }
                (xName, x) = (node.inputs[i], q)
            } else {
                guard let c = try constantInput(node, i), c.count == 1 else { return false }
            }
        }
        guard let xName, let x else { return false }
        // Grow the chain while each step's only consumer reads just the chain, x and scalars.
        var chain = [index]
        var current = node.outputs[0]
        var out: OutputQuantization? = nil
        while chain.count <= Lowering.longestChain {
            if let o = try outputQuantization(of: current) { out = o; break }
            guard !graphOutputs.contains(current), let users = consumers[current], users.count == 1 else { return false }
            let next = nodes[users[0]]
            guard next.domain.isEmpty, Lowering.chainTableOps.contains(next.opType), next.outputs.count == 1 else { return false }
            for (i, name) in next.inputs.enumerated() where !name.isEmpty && name != current && name != xName {
                guard let c = try constantInput(next, i), c.count == 1 else { return false }
            }
            chain.append(users[0])
            current = next.outputs[0]
        }
        // A chain of one node is the single-node table's work.
        guard let out, chain.count > 1 else { return false }
        let steps = chain.map { nodes[$0] }
        let t = try table(input: x.params, inputType: values[x.value].dtype, output: out) { reals in
            var env: [String: Tensor] = [xName: Tensor(reals, shape: [reals.count])]
            for step in steps {
                let inputs = try step.inputs.enumerated().map { i, name -> Tensor? in
                    if name.isEmpty { return nil }
                    if let t = env[name] { return t }
                    return try constantInput(step, i).map { $0.reshaped([]) }
                }
                env[step.outputs[0]] = try ReferenceOps.evaluate(step, inputs, opset: graph.opset)[0]
            }
            guard let result = env[steps.last!.outputs[0]], result.count == reals.count else {
                throw node.invalid("the element-wise chain does not keep its input's shape")
            }
            return result.floats
        }
        let info = values[x.value]
        let y = try addValue(out.name, out.dtype, info.shape, layout: info.layout, quant: out.params)
        let names = steps.map(\.opType).joined(separator: "→")
        layers.append(TableLayer(op: "QTable(\(steps.count) ops)", source: steps.map(\.name) + out.nodes.map { nodes[$0].name },
                                 input: x.value, output: y, table: t, count: info.count, what: "256-entry table of \(names)"))
        absorbed.formUnion(chain.dropFirst())
        finish(out, value: y)
        return true
    }
}
