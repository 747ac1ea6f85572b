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
        let codes = try addValue(node.outputs[0], .uint8, values[x].shape)
        let scale = try addValue(node.outputs[1], .float32, [])
        let zp = try addValue(node.outputs[2], .uint8, [])
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
        let rank = operands.outShape.count
        let stage = try outputStage(after: node.outputs[0], channels: operands.n, axis: rank - 1, rank: rank, inputs: &inputs)
        let (dequantization, fused, outName) = stage.map { ($0.stage, $0.fused, $0.name) } ?? (nil, [], node.outputs[0])
        let out = try addValue(outName, dequantization == nil ? .int32 : .float32, operands.outShape)
        layers.append(try IntegerMatMulLayer(source: [node.name] + fused.map { nodes[$0].name }, inputs: inputs, output: out,
                                             rows: operands.rows, k: operands.k, n: operands.n, weights: operands.weights,
                                             weightZeroPoints: operands.bZeroPoints, aZeroPoint: operands.aZeroPoint,
                                             dequantization: dequantization, context: node.label))
        absorbed.formUnion(fused)
        env[outName] = .value(out)
        return true
    }

    /// Whether `shape` holds one value, or one per channel on the channel axis (shapes
    /// right-aligned), broadcasting against a product of rank `rank` without widening it.
    static func isScalarOrPerChannel(_ shape: [Int], channels n: Int, axis: Int, rank: Int) -> Bool {
        guard shape.count <= rank else { return false }
        return shape.enumerated().allSatisfy { i, d in d == 1 || (i + rank - shape.count == axis && d == n) }
    }

    /// Cast(to float) → Mul(·, scale) → optional Add(constant bias) after an integer
    /// product of `channels` output channels, each node the only reader of the value before
    /// it. The scale is a scalar or per channel, constant or a run-time value (appended to
    /// `inputs`); the bias a constant, scalar or per channel. The product's output has rank
    /// `rank` with its channels on `axis`. Returns the stage, the nodes it absorbs and the
    /// value it defines.
    func outputStage(after product: String, channels n: Int, axis: Int, rank: Int,
                     inputs: inout [Int]) throws -> (stage: Dequantization, fused: [Int], name: String)? {
        guard !observable, let cast = soleReader(of: product), nodes[cast].opType == "Cast", nodes[cast].domain.isEmpty,
              try nodes[cast].int("to", default: 0) == 1, let mul = soleReader(of: nodes[cast].outputs[0]),
              nodes[mul].opType == "Mul", nodes[mul].domain.isEmpty, nodes[mul].inputs.count == 2,
              let sName = nodes[mul].inputs.first(where: { $0 != nodes[cast].outputs[0] }),
              nodes[mul].inputs.contains(nodes[cast].outputs[0]), try lowerAhead(sName), let s = env[sName] else { return nil }
        func fits(_ shape: [Int]) -> Bool { Self.isScalarOrPerChannel(shape, channels: n, axis: axis, rank: rank) }
        var d = Dequantization(runtimeScale: nil, constantScale: [], bias: nil)
        switch s {
        case .constant(let t) where t.dtype == .float32 && fits(t.shape):
            d.constantScale = t.count == 1 ? [Float](repeating: t.floats[0], count: n) : t.floats
        case .value(let v) where values[v].dtype == .float32 && fits(values[v].shape):
            d.runtimeScale = (inputs.count, values[v].count == 1)
            d.constantScale = [Float](repeating: 1, count: n)
            inputs.append(v)
        default:
            return nil
        }
        var fused = [cast, mul], name = nodes[mul].outputs[0]
        if let add = soleReader(of: name), nodes[add].opType == "Add", nodes[add].domain.isEmpty, nodes[add].inputs.count == 2,
           let bName = nodes[add].inputs.first(where: { $0 != name }), nodes[add].inputs.contains(name),
           case .constant(let b)? = env[bName], b.dtype == .float32, fits(b.shape) {
            d.bias = b.count == 1 ? [Float](repeating: b.floats[0], count: n) : b.floats
            fused.append(add)
            name = nodes[add].outputs[0]
        }
        return (d, fused, name)
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
        var d = Dequantization(runtimeScale: nil, constantScale: bScale.count == 1 ? [Float](repeating: bScale.floats[0], count: operands.n) : bScale.floats, bias: nil)
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
        let out = try addValue(node.outputs[0], .float32, operands.outShape)
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
        guard case .some(let za) = activationZeroPoint(aZeroPoint, inputs: &inputs),
              case .some(let zb) = weightZeroPoints(bZeroPoint, present: hasBZeroPoint, weights: b.dtype, channels: n) else { return nil }
        let weights = Self.signedWeights(b)
        return IntegerProductOperands(inputs: inputs, rows: values[a].count / max(k, 1), k: k, n: n,
                                      outShape: Array(shape.dropLast()) + [n], weights: weights, bZeroPoints: zb, aZeroPoint: za)
    }

    /// A's zero point: 0 when absent, a constant, or nil when it is a run-time uint8
    /// scalar (appended to `inputs`); .none when it is neither.
    func activationZeroPoint(_ name: String, inputs: inout [Int]) -> Int32?? {
        guard !name.isEmpty else { return .some(0) }
        switch env[name] {
        case .constant(let t)? where t.count == 1 && t.dtype == .uint8: return .some(Int32(t.bytes[0]))
        case .value(let v)? where values[v].count == 1 && values[v].dtype == .uint8:
            inputs.append(v)
            return .some(nil)
        default: return .none
        }
    }

    /// The weights' zero points as the int8 kernels take them (uint8 weights are shifted
    /// by −128, their zero points with them): one per channel, nil when all are 0; .none
    /// for a zero point that is not a constant of the weights' type, one or one per channel.
    func weightZeroPoints(_ t: Tensor?, present: Bool, weights dtype: DType, channels n: Int) -> [Int32]?? {
        let shift: Int32 = dtype == .uint8 ? 128 : 0
        guard let t else { return present ? .none : .some(shift == 0 ? nil : [Int32](repeating: -shift, count: n)) }
        guard t.dtype == dtype, t.count == 1 || t.count == n else { return .none }
        let v = t.int32Values.map { $0 - shift }
        let all = v.count == 1 ? [Int32](repeating: v[0], count: n) : v
        return .some(all.allSatisfy { $0 == 0 } ? nil : all)
    }

    /// 8-bit weights as int8 (uint8 codes shifted by −128).
    static func signedWeights(_ t: Tensor) -> [Int8] {
        t.dtype == .int8 ? t.bytes.map { Int8(bitPattern: $0) } : t.bytes.map { Int8(Int32($0) - 128) }
    }

    /// ConvInteger (1-D or 2-D, any groups) of run-time uint8 codes by constant 8-bit
    /// weights, with the Cast → Mul → Add after it fused (`dyd_qconv`); false without
    /// that stage, which then runs on the reference path.
    func lowerIntegerConv(_ node: Node) throws -> Bool {
        guard node.inputs.count >= 2, node.outputs.count == 1, case .value(let x0)? = env[node.inputs[0]],
              let w = try constantInput(node, 1), w.dtype.isQuantized8Bit else { return false }
        try node.checkAttributes(known: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        let x = try nchw(x0, key: node.inputs[0])
        let shape = values[x].shape
        let oneD = shape.count == 3 && w.shape.count == 3
        guard values[x].dtype == .uint8, oneD || (shape.count == 4 && w.shape.count == 4) else { return false }
        // A 1-D conv is the 2-D one over [N, C, 1, L]: the same bytes.
        var (geometry, outShape) = oneD
            ? try convGeometry(OneDimensional.node(node), inputShape: OneDimensional.shape(shape), weightShape: OneDimensional.shape(w.shape))
            : try convGeometry(node, inputShape: shape, weightShape: w.shape)
        if oneD { outShape.remove(at: 2) }
        let m = w.shape[0]
        // The GEMM path reads NHWC codes; depthwise reads them as they are.
        var codes = x
        if !(geometry.in_c == geometry.groups && geometry.out_c == geometry.groups) {
            if oneD {
                let shape4 = OneDimensional.shape(shape)
                codes = try addValue(values[x].name + "_nhwc", .uint8, shape4, layout: .nhwc)
                layers.append(LayoutLayer(source: [values[x].name], input: x, output: codes, toNHWC: true, shape: shape4, elementSize: 1))
            } else {
                codes = try nhwc(x, key: node.inputs[0])
            }
        }
        var inputs = [codes]
        func input(_ i: Int) -> String { i < node.inputs.count ? node.inputs[i] : "" }
        guard case .some(let za) = activationZeroPoint(input(2), inputs: &inputs),
              case .some(let zb) = weightZeroPoints(try constantInput(node, 3), present: !input(3).isEmpty, weights: w.dtype, channels: m)
        else { return false }
        // Older quantizers add an int32 bias (quantized per run with the input's scale)
        // to the accumulators before the Cast.
        var product = node.outputs[0], accumulatorBias: IntegerConvLayer.AccumulatorBias?, biasNode: [Int] = []
        func perChannel(_ shape: [Int]) -> Bool {
            shape.reduce(1, *) == m && Self.isScalarOrPerChannel(shape, channels: m, axis: 1, rank: outShape.count)
        }
        if let add = soleReader(of: product), nodes[add].opType == "Add", nodes[add].domain.isEmpty, nodes[add].inputs.count == 2,
           let other = nodes[add].inputs.first(where: { $0 != product }), nodes[add].inputs.contains(product),
           try lowerAhead(other) {
            switch env[other] {
            case .constant(let b)? where b.dtype == .int32 && perChannel(b.shape):
                accumulatorBias = .constant(b.int32Values)
            case .value(let v)? where values[v].dtype == .int32 && perChannel(values[v].shape):
                accumulatorBias = .input(inputs.count)
                inputs.append(v)
            default:
                break
            }
            if accumulatorBias != nil {
                biasNode = [add]
                product = nodes[add].outputs[0]
            }
        }
        guard let stage = try outputStage(after: product, channels: m, axis: 1, rank: outShape.count, inputs: &inputs) else { return false }
        // A Relu/Clip after the stage clamps in the same pass (exact: it only selects).
        var (fused, name, bounds) = (biasNode + stage.fused, stage.name, (lo: -Float.infinity, hi: Float.infinity))
        let (activation, activationNodes, activationName) = try fusedActivation(after: stage.name, rank: outShape.count)
        if case .clamp(let lo, let hi) = activation {
            fused += activationNodes
            name = activationName
            bounds = (lo, hi)
        }
        let out = try addValue(name, .float32, outShape)
        layers.append(try IntegerConvLayer(source: [node.name] + fused.map { nodes[$0].name }, inputs: inputs, output: out,
                                           geometry: geometry, weights: Self.signedWeights(w), weightZeroPoints: zb,
                                           accumulatorBias: accumulatorBias, aZeroPoint: za, dequantization: stage.stage,
                                           bounds: bounds, context: node.label))
        absorbed.formUnion(fused)
        env[name] = .value(out)
        return true
    }

    /// The one node that reads `name`, if exactly one does and it is not a graph output.
    func soleReader(of name: String) -> Int? {
        guard !graphOutputs.contains(name), let users = consumers[name], users.count == 1 else { return nil }
        return users[0]
    }
}
