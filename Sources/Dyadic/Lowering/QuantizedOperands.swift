/// Recognising quantized operands and the quantization that ends a pattern.
extension Lowering {
    /// An 8-bit activation seen through DequantizeLinear, per tensor.
    func quantizedActivation(_ s: Symbol?) -> (value: Int, params: QuantParams)? {
        guard case .dequantized(let base, let q)? = s, q.isPerTensor else { return nil }
        switch base {
        case .value(let v) where values[v].dtype.isQuantized8Bit: return (v, q)
        case .constant(let t) where t.dtype.isQuantized8Bit:
            // A tensor already in memory: its size needs no check.
            return (appendValue(PlanValue(name: "const", dtype: t.dtype, shape: t.shape, layout: .nchw, quant: q, constant: t)), q)
        default: return nil
        }
    }

    /// A constant integer tensor seen through DequantizeLinear (weights, bias).
    func quantizedConstant(_ s: Symbol?) -> (tensor: Tensor, params: QuantParams)? {
        guard case .dequantized(.constant(let t), let q)? = s else { return nil }
        return (t, q)
    }

    /// Scale and zero point given as constant inputs `scaleIndex`, `scaleIndex + 1`.
    func params(_ node: Node, scale scaleIndex: Int, axis: Int? = nil) throws -> (QuantParams, DType?) {
        guard let scale = try constantInput(node, scaleIndex) else { throw node.unsupported("a scale that is not a constant") }
        let zp = try constantInput(node, scaleIndex + 1)
        if scaleIndex + 1 < node.inputs.count, !node.inputs[scaleIndex + 1].isEmpty, zp == nil {
            throw node.unsupported("a zero point that is not a constant")
        }
        guard scale.dtype == .float32 else { throw node.unsupported("a scale of type \(scale.dtype)") }
        let scales = scale.floats
        guard !scales.isEmpty, scales.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw node.invalid("scales must be finite and non-negative")
        }
        let zps = zp?.int32Values ?? [0]
        guard zps.count == scales.count || zps.count == 1 else { throw node.invalid("scale and zero point counts differ") }
        let full = zps.count == scales.count ? zps : Array(repeating: zps[0], count: scales.count)
        return (QuantParams(scale: scales, zeroPoint: full, axis: scales.count > 1 ? axis : nil), zp?.dtype)
    }

    /// The single-consumer chain of Relu/Clip nodes after `name` and the node that ends
    /// it: the clamp bounds in the real domain, the Relu/Clip nodes, and the index of the
    /// first other consumer. nil when the chain branches, reaches a graph output or has a
    /// Clip with non-constant bounds.
    struct ActivationChain {
        var low = -Float.infinity, high = Float.infinity
        var nodes: [Int] = []
        var end: Int
    }

    func activationChain(from name: String) throws -> ActivationChain? {
        var current = name
        var nodes: [Int] = []
        var low = -Float.infinity, high = Float.infinity
        while true {
            guard !graphOutputs.contains(current), let users = consumers[current], users.count == 1 else { return nil }
            let i = users[0]
            let node = self.nodes[i]
            guard node.domain.isEmpty, node.inputs.first == current else { return nil }
            switch node.opType {
            case "Relu":
                low = max(low, 0)
            case "Clip":
                if graph.opset < 11 {
                    low = max(low, try node.float("min", default: -.infinity))
                    high = min(high, try node.float("max", default: .infinity))
                } else {
                    if node.inputs.count > 1, !node.inputs[1].isEmpty {
                        guard let t = try constantInput(node, 1), t.dtype == .float32 else { return nil }
                        low = max(low, t.floats[0])
                    }
                    if node.inputs.count > 2, !node.inputs[2].isEmpty {
                        guard let t = try constantInput(node, 2), t.dtype == .float32 else { return nil }
                        high = min(high, t.floats[0])
                    }
                }
            default:
                return ActivationChain(low: low, high: high, nodes: nodes, end: i)
            }
            nodes.append(i)
            current = node.outputs[0]
        }
    }

    /// Follows the single consumer chain Relu/Clip … QuantizeLinear (8-bit) from `name`.
    func outputQuantization(of name: String) throws -> OutputQuantization? {
        guard let chain = try activationChain(from: name) else { return nil }
        let node = nodes[chain.end]
        guard node.opType == "QuantizeLinear" else { return nil }
        let (q, zpType) = try params(node, scale: 1)
        guard q.isPerTensor else { return nil }
        let dtype = zpType ?? .uint8
        guard dtype.isQuantized8Bit else { return nil }
        let range = dtype.integerRange
        // Quantization is monotonic, so clamping before it equals clamping after it.
        var qmin = range.lowerBound, qmax = range.upperBound
        if chain.low > -.infinity { qmin = max(qmin, Quantization.quantize(chain.low, scale: q.scale[0], zeroPoint: q.zeroPoint[0], range: range)) }
        if chain.high < .infinity { qmax = min(qmax, Quantization.quantize(chain.high, scale: q.scale[0], zeroPoint: q.zeroPoint[0], range: range)) }
        return OutputQuantization(name: node.outputs[0], params: q, dtype: dtype, qmin: qmin, qmax: min(max(qmax, qmin), range.upperBound),
                                  nodes: chain.nodes + [chain.end])
    }

    /// The output of a QOperator node: its scale/zero point inputs at `scaleIndex`.
    func explicitOutput(_ node: Node, scale scaleIndex: Int, defaultType: DType) throws -> OutputQuantization {
        let (q, zpType) = try params(node, scale: scaleIndex)
        guard q.isPerTensor else { throw node.unsupported("a per-axis output quantization") }
        let dtype = zpType ?? defaultType
        guard dtype.isQuantized8Bit else { throw node.unsupported("output type \(dtype)") }
        return OutputQuantization(name: node.outputs[0], params: q, dtype: dtype,
                                  qmin: dtype.integerRange.lowerBound, qmax: dtype.integerRange.upperBound, nodes: [])
    }

    /// An integer input of a QOperator node with its explicit scale/zero point.
    func explicitActivation(_ node: Node, input: Int, scale: Int) throws -> (value: Int, params: QuantParams) {
        let v = try materialize(node.inputs[input], as: nil, context: node.label)
        guard values[v].dtype.isQuantized8Bit else { throw node.invalid("input \(input) must be uint8 or int8, not \(values[v].dtype)") }
        let (q, _) = try params(node, scale: scale)
        guard q.isPerTensor else { throw node.unsupported("a per-axis activation quantization") }
        return (v, q)
    }

    /// The ONNX nodes a fused layer implements: the pattern's root and the nodes it absorbed.
    func sourceNames(_ node: Node, _ out: OutputQuantization) -> [String] {
        [node.name] + out.nodes.map { nodes[$0].name }
    }

    /// Registers the integer result of a fused pattern under the Q node's output name.
    func finish(_ out: OutputQuantization, value: Int) {
        absorbed.formUnion(out.nodes)
        values[value].quant = out.params
        env[out.name] = .value(value)
    }

    /// The 256-entry table y = clamp(q_out(f(dq_in(x)))), indexed by the input byte.
    func table(input: QuantParams, inputType: DType, output: OutputQuantization, _ f: ([Float]) throws -> [Float]) rethrows -> [UInt8] {
        let codes = (0..<256).map { inputType == .int8 ? Int32(Int8(truncatingIfNeeded: $0)) : Int32($0) }
        let real = codes.map { Float($0 - input.zeroPoint[0]) * input.scale[0] }
        let mapped = try f(real)
        let range = output.dtype.integerRange
        return mapped.map { v in
            let q = Quantization.quantize(v, scale: output.params.scale[0], zeroPoint: output.params.zeroPoint[0], range: range)
            return UInt8(truncatingIfNeeded: min(max(q, output.qmin), output.qmax))
        }
    }

    /// Requantization table from one 8-bit scale to another: dyadic (integer) in the
    /// default profile, float dequantize-then-quantize as ONNX Runtime does otherwise.
    func requantTable(input: QuantParams, inputType: DType, output: OutputQuantization) -> [UInt8] {
        if numerics == .onnxruntime { return table(input: input, inputType: inputType, output: output) { $0 } }
        let r = Requantization(numerics: .dyadic, real: Double(input.scale[0]) / Double(output.params.scale[0]),
                               floatScale: 0, zeroPoint: output.params.zeroPoint[0], qmin: output.qmin, qmax: output.qmax)
        return (0..<256).map { code in
            let x = inputType == .int8 ? Int64(Int8(truncatingIfNeeded: code)) : Int64(code)
            return UInt8(truncatingIfNeeded: r.apply(x - Int64(input.zeroPoint[0])))
        }
    }
}
