/// QuantizeLinear / DequantizeLinear and the data-movement ops that commute with them.
extension Lowering {
    func lowerDequantize(_ node: Node, _ symbols: [Symbol?]) throws {
        try node.checkAttributes(known: ["axis", "block_size", "output_dtype"])
        guard let base = symbols.first ?? nil else { throw node.invalid("input 0 is required") }
        // FP8 and blocked scales have no integer form here: their dequantization is
        // computed (once, for constants) on the float reference path.
        let baseType: DType? = switch base {
        case .value(let v): values[v].dtype
        case .constant(let t): t.dtype
        case .dequantized: nil
        }
        let blocked = try node.int("block_size", default: 0) != 0
        if baseType == .float8e4m3fn || blocked {
            if case .constant = base, symbols.dropFirst().allSatisfy({ $0 == nil || Self.isConstant($0!) }) {
                try fold(node, symbols)
            } else {
                try lowerReference(node)
            }
            return
        }
        let rank: Int
        switch base {
        case .value(let v):
            guard values[v].dtype.isQuantized8Bit || values[v].dtype.isQuantized4Bit || values[v].dtype == .int32 else {
                throw node.unsupported("input type \(values[v].dtype)")
            }
            rank = values[v].shape.count
        case .constant(let t):
            guard t.dtype.isQuantized8Bit || t.dtype.isQuantized4Bit || t.dtype == .int32 else { throw node.unsupported("input type \(t.dtype)") }
            rank = t.shape.count
        case .dequantized:
            throw node.invalid("input is already a float value")
        }
        var axis = try node.int("axis", default: 1)
        if axis < 0 { axis += rank }
        let (q, _) = try params(node, scale: 1, axis: axis)
        env[node.outputs[0]] = .dequantized(base, q)
    }

    func lowerQuantize(_ node: Node, _ symbols: [Symbol?]) throws {
        try node.checkAttributes(known: ["axis", "saturate", "block_size", "output_dtype"])
        let dtype = try Quantization.outputType(node, zeroPoint: try constantInput(node, 2))
        guard dtype.isQuantized8Bit, try node.int("block_size", default: 0) == 0 else {
            // 4-bit and FP8 activations, blocked scales: the float reference path.
            try lowerReference(node)
            return
        }
        let (q, _) = try params(node, scale: 1)
        let out = OutputQuantization(name: node.outputs[0], params: q, dtype: dtype,
                                     qmin: dtype.integerRange.lowerBound, qmax: dtype.integerRange.upperBound, nodes: [])
        if q.isPerTensor, let x = quantizedActivation(symbols[0]) {
            // DQ → Q: the same integers, or a requantization between scales.
            if x.params == q && values[x.value].dtype == dtype {
                env[out.name] = .value(x.value)
            } else {
                let info = values[x.value]
                let y = addValue(out.name, dtype, info.shape, layout: info.layout, quant: q)
                layers.append(TableLayer(op: "QRequantize", source: [node.name], input: x.value, output: y,
                                         table: requantTable(input: x.params, inputType: info.dtype, output: out),
                                         count: info.count, what: "\(x.params) → \(q)"))
                env[out.name] = .value(y)
            }
            return
        }
        let x = try materialize(node.inputs[0], as: nil, context: node.label)
        guard values[x].dtype == .float32 else { throw node.unsupported("input type \(values[x].dtype)") }
        if q.isPerTensor {
            let info = values[x]
            let y = addValue(out.name, dtype, info.shape, layout: info.layout, quant: q)
            layers.append(QuantizeLayer(source: [node.name], input: x, output: y, scale: q.scale[0],
                                        zeroPoint: q.zeroPoint[0], dtype: dtype, count: info.count))
            env[out.name] = .value(y)
        } else {
            try lowerReference(node)
        }
    }

    /// Reshape/Transpose/Pad/Resize … of a dequantized value run on its integers; the
    /// result is the dequantization of the moved integers (exact: values are not changed).
    func lowerDataMovement(_ node: Node, _ symbols: [Symbol?]) throws -> Bool {
        guard case .dequantized(.value(let v), let q)? = symbols.first ?? nil, q.isPerTensor else { return false }
        var inputs = node.inputs
        if node.opType == "Pad" {
            let mode = try node.string("mode", default: "constant")
            if mode == "constant" {
                // The pad value must be exactly representable on the integer grid.
                let real = try constantInput(node, 2)?.floats.first ?? 0
                let code = Quantization.quantize(real, scale: q.scale[0], zeroPoint: q.zeroPoint[0], range: values[v].dtype.integerRange)
                guard Float(code - q.zeroPoint[0]) * q.scale[0] == real else { return false }
                let padName = node.name + "_pad_code"
                let t = Tensor(dtype: values[v].dtype, shape: [], bytes: [UInt8(truncatingIfNeeded: code)])
                env[padName] = .constant(t)
                while inputs.count < 3 { inputs.append("") }
                inputs[2] = padName
            }
        }
        let integerName = node.outputs[0] + "_q"
        env[node.inputs[0] + "_int"] = .value(v)
        inputs[0] = node.inputs[0] + "_int"
        let moved = Node(name: node.name, opType: node.opType, inputs: inputs, outputs: [integerName], attributes: node.attributes)
        try lowerReference(moved)
        guard case .value(let y)? = env[integerName] else { return false }
        values[y].quant = q
        env[node.outputs[0]] = .dequantized(.value(y), q)
        return true
    }
}
