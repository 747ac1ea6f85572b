/// QuantizeLinear / DequantizeLinear and the data-movement ops that commute with them.
extension Lowering {
    func lowerDequantize(_ node: Node, _ symbols: [Symbol?]) throws {
        try node.checkAttributes(known: ["axis", "block_size", "output_dtype"])
        guard let base = symbols.first ?? nil else { throw node.invalid("input 0 is required") }
        // Blocked scales, and FP8 with a non-zero zero point, have no kernel form: their
        // dequantization is computed (once, for constants) on the float reference path.
        let baseType: DType? = switch base {
        case .value(let v): values[v].dtype
        case .constant(let t): t.dtype
        case .dequantized: nil
        }
        let blocked = try node.int("block_size", default: 0) != 0
        var fp8Offset = false
        if baseType == .float8e4m3fn, let zp = try constantInput(node, 2) { fp8Offset = zp.bytes.contains { $0 & 0x7F != 0 } }
        if fp8Offset || blocked {
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
            guard values[v].dtype.isQuantized8Bit || values[v].dtype.isSubByteInteger || values[v].dtype == .int32
                    || values[v].dtype == .float8e4m3fn else {
                throw node.unsupported("input type \(values[v].dtype)")
            }
            rank = values[v].shape.count
        case .constant(let t):
            guard t.dtype.isQuantized8Bit || t.dtype.isSubByteInteger || t.dtype == .int32 || t.dtype == .float8e4m3fn else {
                throw node.unsupported("input type \(t.dtype)")
            }
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
        let blocked = try node.int("block_size", default: 0) != 0
        if dtype == .float8e4m3fn, !blocked, try lowerQuantizeFp8(node, symbols) { return }
        guard dtype.isQuantized8Bit, !blocked else {
            // Sub-byte activations, blocked scales, per-axis FP8: the float reference path.
            try lowerReference(node)
            return
        }
        let (q, _) = try params(node, scale: 1)
        let out = OutputQuantization(name: node.outputs[0], params: q, dtype: dtype,
                                     qmin: dtype.integerRange.lowerBound, qmax: dtype.integerRange.upperBound, nodes: [])
        if q.isPerTensor, let x = fp8Activation(symbols[0]) {
            // FP8 → integer: one table of codes.
            let info = values[x.value]
            let xq = QuantParams(scale: [x.scale], zeroPoint: [0], axis: nil)
            let y = try addValue(out.name, dtype, info.shape, layout: info.layout, quant: q)
            let table = (0..<256).map { code in
                UInt8(truncatingIfNeeded: Quantization.quantize(Lowering.dequantizedCode(UInt8(code), type: .float8e4m3fn, params: xq),
                                                                scale: q.scale[0], zeroPoint: q.zeroPoint[0], range: dtype.integerRange))
            }
            layers.append(TableLayer(op: "FromFP8", source: [node.name], input: x.value, output: y, table: table,
                                     count: info.count, what: "e4m3·\(x.scale) → \(q)", integerOnly: false))
            env[out.name] = .value(y)
            return
        }
        if q.isPerTensor, let x = quantizedActivation(symbols[0]) {
            // DQ → Q: the same integers, or a requantization between scales.
            if x.params == q && values[x.value].dtype == dtype {
                env[out.name] = .value(x.value)
            } else {
                let info = values[x.value]
                let y = try addValue(out.name, dtype, info.shape, layout: info.layout, quant: q)
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
            let y = try addValue(out.name, dtype, info.shape, layout: info.layout, quant: q)
            layers.append(QuantizeLayer(source: [node.name], input: x, output: y, scale: q.scale[0],
                                        zeroPoint: q.zeroPoint[0], dtype: dtype, count: info.count))
            env[out.name] = .value(y)
        } else {
            try lowerReference(node)
        }
    }

    /// QuantizeLinear to FP8 per tensor: a conversion table from an 8-bit value, or the
    /// float → E4M3 kernel. False (float reference path) for per-axis scales.
    func lowerQuantizeFp8(_ node: Node, _ symbols: [Symbol?]) throws -> Bool {
        let (q, _) = try params(node, scale: 1)
        guard q.isPerTensor, q.zeroPoint[0] == 0 else { return false }
        let saturate = try node.int("saturate", default: 1) != 0
        let name = node.outputs[0]
        if case .dequantized(.value(let v), let xq)? = symbols[0], xq.isPerTensor,
           values[v].dtype.isQuantized8Bit || values[v].dtype == .float8e4m3fn {
            if values[v].dtype == .float8e4m3fn && xq.scale == q.scale {
                env[name] = .value(v)   // DQ → Q with the same scale: the same codes
                return true
            }
            let info = values[v]
            let y = try addValue(name, .float8e4m3fn, info.shape, layout: info.layout, quant: q)
            layers.append(TableLayer(op: "ToFP8", source: [node.name], input: v, output: y,
                                     table: fp8ConversionTable(from: xq, inputType: info.dtype, scale: q.scale[0], saturate: saturate),
                                     count: info.count, what: "\(xq) → e4m3·\(q.scale[0])", integerOnly: false))
            env[name] = .value(y)
            return true
        }
        let x = try materialize(node.inputs[0], as: nil, context: node.label)
        guard values[x].dtype == .float32 else { return false }
        let info = values[x]
        let y = try addValue(name, .float8e4m3fn, info.shape, layout: info.layout, quant: q)
        layers.append(QuantizeLayer(source: [node.name], input: x, output: y, scale: q.scale[0], zeroPoint: 0,
                                    dtype: .float8e4m3fn, count: info.count, saturate: saturate))
        env[name] = .value(y)
        return true
    }

    /// Reshape/Transpose/Pad/Resize … of a dequantized value run on its integers; the
    /// result is the dequantization of the moved integers (exact: values are not changed).
    func lowerDataMovement(_ node: Node, _ symbols: [Symbol?]) throws -> Bool {
        guard case .dequantized(.value(let v), let q)? = symbols.first ?? nil, q.isPerTensor else { return false }
        // Interpolating Resize mixes values: not data movement.
        if node.opType == "Resize", try node.string("mode", default: "nearest") != "nearest" { return false }
        var inputs = node.inputs
        if node.opType == "Pad" {
            // The pad code below is one byte.
            guard values[v].dtype.isQuantized8Bit else { return false }
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
        // Every output (Split has several) is the dequantization of moved integers.
        let integerNames = node.outputs.map { $0.isEmpty ? "" : $0 + "_q" }
        env[node.inputs[0] + "_int"] = .value(v)
        inputs[0] = node.inputs[0] + "_int"
        let moved = Node(name: node.name, opType: node.opType, inputs: inputs, outputs: integerNames, attributes: node.attributes)
        // Transpose, nearest Resize and the like copy through an index map: an integer
        // layer, where the reference op would count as float for its float parameters.
        if try !lowerIndexedCopy(moved) { try lowerReference(moved) }
        for (name, integerName) in zip(node.outputs, integerNames) where !name.isEmpty {
            guard case .value(let y)? = env[integerName] else { return false }
            values[y].quant = q
            env[name] = .dequantized(.value(y), q)
        }
        return true
    }
}
