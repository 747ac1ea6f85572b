/// ONNX Runtime's dynamic quantization (`quantize_dynamic`): DynamicQuantizeLinear on
/// the activation, MatMulInteger by constant int8 weights, then Cast → Mul(scale) →
/// Add(bias) back to float — or the same as com.microsoft MatMulIntegerToFloat and
/// DynamicQuantizeMatMul. The quantization runs once per value and run; each product
/// runs on the integer GEMM kernels with its dequantization fused into the output.
extension Lowering {
    func lowerDynamicQuantize(_ node: Node) throws -> Bool {
        guard node.inputs.count == 1, node.outputs.count == 3, let xs = env[node.inputs[0]] else { return false }
        if case .constant = xs { return false }
        try node.checkAttributes(known: [])
        let x = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        guard values[x].dtype == .float32 else { return false }
        let codes = addValue(node.outputs[0], .uint8, values[x].shape)
        let scale = addValue(node.outputs[1], .float32, [])
        let zp = addValue(node.outputs[2], .uint8, [])
        layers.append(DynamicQuantizeLayer(source: [node.name], input: x, codes: codes, scale: scale, zeroPoint: zp,
                                           count: values[x].count, label: node.label))
        for (name, v) in zip(node.outputs, [codes, scale, zp]) where !name.isEmpty { env[name] = .value(v) }
        return true
    }

    /// MatMulInteger of run-time uint8 codes by constant weights, with the Cast → Mul →
    /// Add after it fused when each is the only reader of the value before it.
    func lowerIntegerMatMul(_ node: Node) throws -> Bool {
        guard node.inputs.count >= 2, node.outputs.count == 1 else { return false }
        try node.checkAttributes(known: [])
        guard let operands = try integerProductOperands(node, aZeroPoint: node.inputs.count > 2 ? node.inputs[2] : "",
                                                        bZeroPoint: try constantInput(node, 3), hasBZeroPoint: node.inputs.count > 3 && !node.inputs[3].isEmpty)
        else { return false }
        var inputs = operands.inputs
        var fused: [Int] = []
        var outName = node.outputs[0]
        var dequantization: IntegerMatMulLayer.Dequantization?
        // Cast(to float) → Mul(·, scale) → optional Add(bias), each the only reader of the one before.
        if !observable, let cast = soleReader(of: outName), nodes[cast].opType == "Cast", nodes[cast].domain.isEmpty,
           try nodes[cast].int("to", default: 0) == 1, let mul = soleReader(of: nodes[cast].outputs[0]),
           nodes[mul].opType == "Mul", nodes[mul].domain.isEmpty, nodes[mul].inputs.count == 2,
           let sName = nodes[mul].inputs.first(where: { $0 != nodes[cast].outputs[0] }),
           nodes[mul].inputs.contains(nodes[cast].outputs[0]), let s = env[sName] {
            // One scale for every column, or one per column along the last axis.
            func scalarOrPerColumn(_ shape: [Int]) -> Bool {
                let count = shape.reduce(1, *)
                return count == 1 || (count == operands.n && shape.last == operands.n)
            }
            var d = IntegerMatMulLayer.Dequantization(runtimeScale: nil, constantScale: [], bias: nil)
            switch s {
            case .constant(let t) where t.dtype == .float32 && scalarOrPerColumn(t.shape):
                d.constantScale = t.count == 1 ? [Float](repeating: t.floats[0], count: operands.n) : t.floats
            case .value(let v) where values[v].dtype == .float32 && scalarOrPerColumn(values[v].shape):
                d.runtimeScale = (inputs.count, values[v].count == 1)
                d.constantScale = [Float](repeating: 1, count: operands.n)
                inputs.append(v)
            default:
                break
            }
            if !d.constantScale.isEmpty {
                dequantization = d
                fused = [cast, mul]
                outName = nodes[mul].outputs[0]
                if let add = soleReader(of: outName), nodes[add].opType == "Add", nodes[add].domain.isEmpty, nodes[add].inputs.count == 2,
                   let bName = nodes[add].inputs.first(where: { $0 != outName }), nodes[add].inputs.contains(outName),
                   case .constant(let b)? = env[bName], b.dtype == .float32, b.count == operands.n, b.shape.last == operands.n {
                    dequantization?.bias = b.floats
                    fused.append(add)
                    outName = nodes[add].outputs[0]
                }
            }
        }
        let out = addValue(outName, dequantization == nil ? .int32 : .float32, operands.outShape)
        layers.append(try IntegerMatMulLayer(source: [node.name] + fused.map { nodes[$0].name }, inputs: inputs, output: out,
                                             rows: operands.rows, k: operands.k, n: operands.n, weights: operands.weights,
                                             weightZeroPoints: operands.bZeroPoints, aZeroPoint: operands.aZeroPoint,
                                             dequantization: dequantization, context: node.label))
        absorbed.formUnion(fused)
        env[outName] = .value(out)
        return true
    }

    /// com.microsoft MatMulIntegerToFloat (A, B, a_scale, b_scale, a_zp, b_zp, bias) and
    /// DynamicQuantizeMatMul (A float, B, b_scale, b_zp, bias).
    func lowerIntegerMatMulToFloat(_ node: Node) throws -> Bool {
        try node.checkAttributes(known: [])
        guard node.outputs.count == 1 else { return false }
        let dynamic = node.opType == "DynamicQuantizeMatMul"
        let (aScaleAt, bScaleAt, aZeroAt, bZeroAt, biasAt) = dynamic ? (-1, 2, -1, 3, 4) : (2, 3, 4, 5, 6)
        func name(_ i: Int) -> String { i >= 0 && i < node.inputs.count ? node.inputs[i] : "" }
        guard node.inputs.count >= (dynamic ? 3 : 4), let bScale = try constantInput(node, bScaleAt), bScale.dtype == .float32 else { return false }
        var aName = node.inputs[0], aZeroName = name(aZeroAt), aScaleName = name(aScaleAt)
        if dynamic {
            // Quantize A as its own layer, once: other DynamicQuantizeMatMuls of the same A
            // reuse its codes, scale and zero point.
            let q = Node(name: node.name + "/quantize", opType: "DynamicQuantizeLinear", inputs: [aName],
                         outputs: [aName + "#codes", aName + "#scale", aName + "#zero_point"])
            if env[q.outputs[0]] == nil { guard try lowerDynamicQuantize(q) else { return false } }
            (aName, aScaleName, aZeroName) = (q.outputs[0], q.outputs[1], q.outputs[2])
        }
        let product = Node(name: node.name, opType: node.opType, inputs: [aName, node.inputs[1]], outputs: node.outputs)
        guard let operands = try integerProductOperands(product, aZeroPoint: aZeroName, bZeroPoint: try constantInput(node, bZeroAt),
                                                        hasBZeroPoint: !name(bZeroAt).isEmpty)
        else { return false }
        var inputs = operands.inputs
        guard bScale.count == 1 || bScale.count == operands.n else { throw node.invalid("b_scale has \(bScale.count) values for \(operands.n) columns") }
        var d = IntegerMatMulLayer.Dequantization(runtimeScale: nil, constantScale: bScale.count == 1 ? [Float](repeating: bScale.floats[0], count: operands.n) : bScale.floats, bias: nil)
        switch env[aScaleName] {
        case .constant(let t)? where t.dtype == .float32 && t.count == 1:
            d.constantScale = d.constantScale.map { t.floats[0] * $0 }
        case .value(let v)? where values[v].dtype == .float32 && values[v].count == 1:
            d.runtimeScale = (inputs.count, true)
            inputs.append(v)
        default:
            return false
        }
        if let bias = try constantInput(node, biasAt) {
            guard bias.dtype == .float32, bias.count == operands.n else { throw node.invalid("bias has \(bias.count) values for \(operands.n) columns") }
            d.bias = bias.floats
        } else if !name(biasAt).isEmpty {
            return false
        }
        let out = addValue(node.outputs[0], .float32, operands.outShape)
        layers.append(try IntegerMatMulLayer(source: [node.name], inputs: inputs, output: out, rows: operands.rows, k: operands.k, n: operands.n,
                                             weights: operands.weights, weightZeroPoints: operands.bZeroPoints,
                                             aZeroPoint: operands.aZeroPoint, dequantization: d, context: node.label))
        env[node.outputs[0]] = .value(out)
        return true
    }

    struct IntegerProductOperands {
        var inputs: [Int]
        var rows: Int, k: Int, n: Int
        var outShape: [Int]
        var weights: [Int8]
        var bZeroPoints: [Int32]?
        var aZeroPoint: Int32?
    }

    /// A (run-time uint8 [..., K]) and B (constant 8-bit [K, N]) of an integer product,
    /// with A's zero point (absent, a constant or a run-time uint8 scalar) and B's (one or
    /// N constants). uint8 weights become int8 by subtracting 128 from codes and zero points.
    func integerProductOperands(_ node: Node, aZeroPoint: String, bZeroPoint: Tensor?, hasBZeroPoint: Bool) throws -> IntegerProductOperands? {
        guard case .value(let a0)? = env[node.inputs[0]], let b = try constantInput(node, 1) else { return nil }
        let a = try nchw(a0, key: node.inputs[0])
        let shape = values[a].shape
        guard values[a].dtype == .uint8, b.dtype == .int8 || b.dtype == .uint8, b.shape.count == 2, shape.count >= 1 else { return nil }
        let k = b.shape[0], n = b.shape[1]
        guard shape[shape.count - 1] == k else {
            throw node.invalid("shapes \(shape.shapeString) and \(b.shape.shapeString) cannot be multiplied")
        }
        var inputs = [a]
        var za: Int32? = 0
        if !aZeroPoint.isEmpty {
            switch env[aZeroPoint] {
            case .constant(let t)? where t.count == 1 && t.dtype == .uint8: za = Int32(t.bytes[0])
            case .value(let v)? where values[v].count == 1 && values[v].dtype == .uint8:
                za = nil
                inputs.append(v)
            default: return nil
            }
        }
        let shift: Int32 = b.dtype == .uint8 ? 128 : 0
        var zb: [Int32]? = nil
        if let bZeroPoint {
            guard bZeroPoint.dtype == b.dtype, bZeroPoint.count == 1 || bZeroPoint.count == n else { return nil }
            let v = bZeroPoint.int32Values.map { $0 - shift }
            let all = v.count == 1 ? [Int32](repeating: v[0], count: n) : v
            zb = all.allSatisfy { $0 == 0 } ? nil : all
        } else if hasBZeroPoint {
            return nil
        } else if shift != 0 {
            zb = [Int32](repeating: -shift, count: n)
        }
        let weights = b.dtype == .int8 ? b.bytes.map { Int8(bitPattern: $0) } : b.bytes.map { Int8(Int32($0) - 128) }
        return IntegerProductOperands(inputs: inputs, rows: values[a].count / max(k, 1), k: k, n: n,
                                      outShape: Array(shape.dropLast()) + [n], weights: weights, bZeroPoints: zb, aZeroPoint: za)
    }

    /// The one node that reads `name`, if exactly one does and it is not a graph output.
    func soleReader(of name: String) -> Int? {
        guard !graphOutputs.contains(name), let users = consumers[name], users.count == 1 else { return nil }
        return users[0]
    }
}
