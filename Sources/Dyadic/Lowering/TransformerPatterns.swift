/// Softmax and LayerNormalization of 8-bit activations (DQ → op → Q, com.microsoft.QLinearSoftmax).
extension Lowering {
    /// DQ → Softmax → Q: integer in the default numerics; with ONNX Runtime's numerics
    /// the float path reproduces its float computation instead.
    func lowerQDQSoftmax(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard numerics == .dyadic, let x = quantizedActivation(symbols.first ?? nil),
              let out = try outputQuantization(of: node.outputs[0]) else { return false }
        try node.checkAttributes(known: ["axis"])
        return try emitIntegerSoftmax(node, x: x, out: out, opset: graph.opset)
    }

    /// Rows of the softmax in the value's physical layout: opset 13 normalises along one
    /// axis, earlier opsets over the dimensions from `axis` on, flattened.
    func emitIntegerSoftmax(_ node: Node, x: (value: Int, params: QuantParams), out: OutputQuantization, opset: Int) throws -> Bool {
        var input = x.value
        let rank = values[input].shape.count
        var axis = try node.int("axis", default: opset >= 13 ? -1 : 1)
        if axis < 0 { axis += rank }
        guard axis >= 0 && axis < rank else { throw node.invalid("axis out of range") }
        let (outer, n, inner): (Int, Int, Int)
        if rank == 4, values[input].layout == .nhwc, opset >= 13, axis == 1 {
            // Channels are contiguous in NHWC.
            let s = values[input].shape
            (outer, n, inner) = (s[0] * s[2] * s[3], s[1], 1)
        } else {
            input = try nchw(input, key: node.inputs[0])
            let s = values[input].shape
            if opset >= 13 {
                (outer, n, inner) = (s[..<axis].reduce(1, *), s[axis], s[(axis + 1)...].reduce(1, *))
            } else {
                (outer, n, inner) = (s[..<axis].reduce(1, *), s[axis...].reduce(1, *), 1)
            }
        }
        guard n > 0 else { return false }
        let info = values[input]
        let y = try addValue(out.name, out.dtype, info.shape, layout: info.layout, quant: out.params)
        layers.append(IntegerSoftmaxLayer(source: sourceNames(node, out), input: input, output: y, inputScale: x.params.scale[0],
                                          inputSigned: info.dtype == .int8, out: out, outer: outer, n: n, inner: inner))
        finish(out, value: y)
        return true
    }

    /// DQ → LayerNormalization → Q: integer (square root by Newton's iteration) in the
    /// default numerics; ONNX Runtime's numerics keep its float formula.
    func lowerQDQLayerNorm(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard numerics == .dyadic, node.outputs.count == 1 || node.outputs.dropFirst().allSatisfy(\.isEmpty),
              let x = quantizedActivation(symbols.first ?? nil), let gamma = try constantInput(node, 1), gamma.dtype == .float32,
              let out = try outputQuantization(of: node.outputs[0]) else { return false }
        let beta = try constantInput(node, 2)
        if node.inputs.count > 2, !node.inputs[2].isEmpty, beta?.dtype != .float32 { return false }
        try node.checkAttributes(known: ["axis", "epsilon", "stash_type"])
        let input = try nchw(x.value, key: node.inputs[0])
        let shape = values[input].shape
        let axis = try Indexing.axis(node, try node.int("axis", default: -1), rank: shape.count)
        let width = shape[axis...].reduce(1, *)
        // The layer's 64-bit arithmetic holds rows of up to 2^18 values (see ReciprocalDivisor).
        guard width > 0, width <= 1 << 18, gamma.count == width, beta.map({ $0.count == width }) ?? true else { return false }
        let y = try addValue(out.name, out.dtype, shape, quant: out.params)
        layers.append(IntegerLayerNormLayer(source: sourceNames(node, out), input: input, output: y, rows: values[input].count / width,
                                            width: width, inputParams: x.params, inputSigned: values[input].dtype == .int8,
                                            gamma: gamma.floats, beta: beta?.floats,
                                            epsilon: Double(try node.float("epsilon", default: 1e-5)), out: out))
        finish(out, value: y)
        return true
    }
}
