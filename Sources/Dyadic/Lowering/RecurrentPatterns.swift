/// LSTM with constant weights and the default activations on the packed float GEMM
/// (`FloatLSTMLayer`); anything else (other activations, input_forget, run-time
/// weights) stays on the reference op.
extension Lowering {
    func lowerFloatLSTM(_ node: Node) throws -> Bool {
        guard node.opType == "LSTM", node.inputs.count >= 3, let xs = env[node.inputs[0]] else { return false }
        if case .constant = xs { return false }
        try node.checkAttributes(known: ["activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size",
                                         "layout", "input_forget"])
        if case .strings(let names)? = node.attributes["activations"],
           names.count % 3 != 0 || names.enumerated().contains(where: { $1.lowercased() != ["sigmoid", "tanh", "tanh"][$0 % 3] }) { return false }
        guard try node.int("input_forget", default: 0) == 0,
              let w = try constantInput(node, 1), let r = try constantInput(node, 2), w.dtype == .float32, r.dtype == .float32 else { return false }
        func input(_ i: Int) -> String { i < node.inputs.count ? node.inputs[i] : "" }
        let bias = try constantInput(node, 3), peephole = try constantInput(node, 7)
        if !input(3).isEmpty && bias?.dtype != .float32 || !input(7).isEmpty && peephole?.dtype != .float32 { return false }
        let x = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        guard values[x].dtype == .float32 else { return false }
        let d = try Recurrent.dimensions(node, x: values[x].shape, w: w.shape, gates: 4)
        let (D, N, H) = (d.directions, d.batch, d.hidden)
        guard r.shape == [D, 4 * H, H] else { throw node.invalid("R must be \([D, 4 * H, H].shapeString), not \(r.shape.shapeString)") }
        let biasValues = bias?.floats ?? [Float](repeating: 0, count: D * 8 * H)
        guard biasValues.count == D * 8 * H else { throw node.invalid("B must have \(D * 8 * H) values") }
        if let peephole, peephole.count != D * 3 * H { throw node.invalid("P must have \(D * 3 * H) values") }

        var inputs = [x]
        var lengths: (position: Int, is64Bit: Bool)?
        if !input(4).isEmpty {
            let v = try materialize(input(4), as: nil, context: node.label)
            guard values[v].dtype == .int32 || values[v].dtype == .int64, values[v].count == N else {
                throw node.invalid("sequence_lens must be \(N) int32 values")
            }
            lengths = (inputs.count, values[v].dtype == .int64)
            inputs.append(v)
        }
        var states: [Int?] = []
        for (i, what) in [(5, "initial_h"), (6, "initial_c")] {
            guard !input(i).isEmpty else { states.append(nil); continue }
            let v = try nchw(try materialize(input(i), as: nil, context: node.label), key: input(i))
            guard values[v].dtype == .float32, values[v].count == D * N * H else { throw node.invalid("\(what) must have \(D * N * H) float values") }
            states.append(inputs.count)
            inputs.append(v)
        }
        let shapes = try Recurrent.outputShapes(node, x: values[x].shape, w: w.shape)
        var outputs: [Int] = [], positions: [Int?] = []
        for (i, name) in node.outputs.prefix(3).enumerated() {
            guard !name.isEmpty else { positions.append(nil); continue }
            positions.append(outputs.count)
            let v = try addValue(name, .float32, shapes[i])
            outputs.append(v)
            env[name] = .value(v)
        }
        guard !outputs.isEmpty else { return true }
        let direction = try node.string("direction", default: "forward")
        let reverse = direction == "bidirectional" ? [false, true] : [direction == "reverse"]
        func position(_ i: Int) -> Int? { i < positions.count ? positions[i] : nil }
        layers.append(try FloatLSTMLayer(
            source: [node.name], inputs: inputs, lengths: lengths, initialH: states[0], initialC: states[1], outputs: outputs,
            y: position(0), h: position(1), c: position(2),
            shape: FloatLSTMLayer.Shape(seq: d.seq, batch: N, input: d.input, hidden: H, batchMajor: d.layout != 0),
            reverse: reverse, w: w.floats, r: r.floats, bias: biasValues, peephole: peephole?.floats,
            clip: try node.float("clip", default: .infinity), context: node.label))
        return true
    }
}
