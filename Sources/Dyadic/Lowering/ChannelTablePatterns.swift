/// Element-wise ops of one 8-bit activation and per-channel constants, quantized.
///
/// Between Q/DQ pairs, BatchNormalization, PRelu, and an Add/Sub/Mul/Div/Max/Min/Pow
/// by a [1,C,1,1] constant are a function of the input byte and the channel: one
/// 256-entry table per channel, built at load by running the op itself on every
/// code of every channel, so the lookup reproduces the float computation exactly
/// and runs integer-only.
extension Lowering {
    static let channelTableOps: Set<String> = ["BatchNormalization", "PRelu", "Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"]

    func lowerQDQChannelTable(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard Lowering.channelTableOps.contains(node.opType), node.outputs.count == 1 || node.outputs.dropFirst().allSatisfy(\.isEmpty),
              let x = quantizedActivation(symbols.first ?? nil) else { return false }
        let shape = values[x.value].shape
        let rank = shape.count
        guard rank >= 2 else { return false }
        let channels = shape[1]
        var constants: [Tensor?] = [nil]
        for i in 1..<node.inputs.count {
            guard let c = try constantInput(node, i) else {
                if node.inputs[i].isEmpty { constants.append(nil); continue }
                return false
            }
            if node.opType == "BatchNormalization" {
                guard c.count == channels else { return false }
            } else {
                // Broadcasts against x along the channel axis only.
                guard c.shape.count <= rank else { return false }
                let aligned = Array(repeating: 1, count: rank - c.shape.count) + c.shape
                guard aligned.enumerated().allSatisfy({ $0.element == 1 || ($0.offset == 1 && $0.element == channels) }) else { return false }
            }
            constants.append(c)
        }
        guard let (out, viaMaxPool) = try tableOutput(of: node.outputs[0]) else { return false }
        let tables = try channelTables(node, x: x, constants: constants, channels: channels, rank: rank, out: out)
        let info = values[x.value]
        let inner = info.layout == .nhwc ? 1 : shape[2...].reduce(1, *)
        let outer = info.count / max(channels * inner, 1)
        let y = try addValue(out.name, out.dtype, shape, layout: info.layout, quant: out.params)
        layers.append(ChannelTableLayer(op: "QChannelTable(\(node.opType))", source: sourceNames(node, out), input: x.value,
                                        output: y, tables: tables, outer: outer, channels: channels, inner: inner,
                                        what: "\(channels) per-channel 256-entry tables of \(node.opType)"))
        absorbed.formUnion(out.nodes)
        values[y].quant = out.params
        if viaMaxPool != nil {
            // The MaxPool runs on the table's codes: quantization is monotone, so the max of
            // the quantized values is the quantized max (whatever the op before it does).
            env[out.name] = .dequantized(.value(y), out.params)
        } else {
            env[out.name] = .value(y)
        }
        return true
    }

    /// Where the table's result goes: a QuantizeLinear (through Relu/Clip), or a MaxPool
    /// followed directly by one, whose quantization the table then writes
    /// (DQ → PRelu → MaxPool → Q: Q(max f) = max Q(f), Q being monotone). The returned
    /// name is the value the table defines; the second member the MaxPool's index.
    func tableOutput(of name: String) throws -> (OutputQuantization, Int?)? {
        if let out = try outputQuantization(of: name) { return (out, nil) }
        guard let chain = try activationChain(from: name) else { return nil }
        let pool = nodes[chain.end]
        guard pool.opType == "MaxPool", pool.domain.isEmpty, pool.outputs.count == 1 || pool.outputs[1].isEmpty,
              var after = try outputQuantization(of: pool.outputs[0]), after.nodes.count == 1 else { return nil }
        let last = chain.nodes.last.map { nodes[$0].outputs[0] } ?? name
        // The Relu/Clip before the pool clamps the same way after it.
        if chain.low > -.infinity {
            after.qmin = max(after.qmin, Quantization.quantize(chain.low, scale: after.params.scale[0], zeroPoint: after.params.zeroPoint[0], range: after.dtype.integerRange))
        }
        if chain.high < .infinity {
            after.qmax = min(after.qmax, Quantization.quantize(chain.high, scale: after.params.scale[0], zeroPoint: after.params.zeroPoint[0], range: after.dtype.integerRange))
        }
        after.qmax = max(after.qmax, after.qmin)
        after.name = last
        after.nodes = chain.nodes
        return (after, chain.end)
    }

    /// channels × 256 table bytes: the op evaluated on a [1, C, 256, 1…] (or [256, C])
    /// tensor holding every code of every channel. nil entries stay empty inputs.
    func channelTables(_ node: Node, x: (value: Int, params: QuantParams), constants: [Tensor?], channels: Int,
                       rank: Int, out: OutputQuantization) throws -> [UInt8] {
        let type = values[x.value].dtype
        let codes = (0..<256).map { type == .int8 ? Int32(Int8(truncatingIfNeeded: $0)) : Int32($0) }
        let reals = codes.map { Float($0 - x.params.zeroPoint[0]) * x.params.scale[0] }
        let probe: Tensor
        if rank == 2 {
            var data = [Float](repeating: 0, count: 256 * channels)
            for k in 0..<256 { for c in 0..<channels { data[k * channels + c] = reals[k] } }
            probe = Tensor(data, shape: [256, channels])
        } else {
            let data = (0..<channels).flatMap { _ in reals }
            probe = Tensor(data, shape: [1, channels, 256] + Array(repeating: 1, count: rank - 3))
        }
        var inputs = constants
        inputs[0] = probe
        let result = try ReferenceOps.evaluate(node, inputs, opset: graph.opset)[0].floats
        guard result.count == 256 * channels else { throw node.invalid("per-channel constants do not match \(channels) channels") }
        let range = out.dtype.integerRange
        var tables = [UInt8](repeating: 0, count: 256 * channels)
        for c in 0..<channels {
            for k in 0..<256 {
                let v = rank == 2 ? result[k * channels + c] : result[c * 256 + k]
                let q = Quantization.quantize(v, scale: out.params.scale[0], zeroPoint: out.params.zeroPoint[0], range: range)
                tables[c * 256 + k] = UInt8(truncatingIfNeeded: min(max(q, out.qmin), out.qmax))
            }
        }
        return tables
    }
}
