import Dyadic

/// A layer's quantized weight, in the weight tensor's own layout.
public struct LayerWeights: Sendable {
    public var bits: Int
    public var codes: [Int8]
    /// One per output channel.
    public var scales: [Float]
    /// W4A8-FP8 (DPQ): the weight is s_c · fp8(q · g), with g per `groupSize` inputs of a channel.
    public var fp8Groups: (size: Int, scales: [Float])?
    /// Added to the bias (one per output channel): −ΔW·E[x], so the quantized layer's mean
    /// output equals the float layer's on the calibration data.
    public var biasCorrection: [Float]?
}

/// Rewrites a float graph into QDQ form: QuantizeLinear → DequantizeLinear on every
/// quantized activation, integer weights (INT8, or INT4 from opset 21) with per-channel
/// DequantizeLinear, and int32 biases at scale s_x·s_w. The result is what ONNX
/// Runtime's quantizer writes, so Dyadic lowers it to integer layers and ONNX Runtime
/// runs it too.
struct QDQGraphBuilder {
    let graph: Graph
    let layers: [QuantizableLayer]
    let weights: [String: LayerWeights]
    /// Integer (u8/s8) parameters of every activation point.
    let activations: [String: ActivationQuantization]
    let activationType: DType
    /// FP8 parameters of every activation point (empty when no layer is FP8). A tensor is
    /// FP8 where its producer is an FP8 product (or a computing op with an FP8 input); a
    /// consumer of the other kind reads it through a second Q/DQ pair, which Dyadic turns
    /// into a 256-entry conversion table.
    var fp8Activations: [String: ActivationQuantization] = [:]

    /// Float activation tensors that get a Q/DQ pair: the graph input, and every output
    /// of a computing op, except a product's output that feeds only a Relu/Clip (the pair
    /// goes after the activation, which fuses into the product).
    static let fp8Ops: Set<String> = ["Add", "GlobalAveragePool"]
    static let movement: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity"]

    static func activationPoints(graph: Graph, floatValues: Set<String>) -> [String] {
        var consumers: [String: [Node]] = [:]
        for node in graph.nodes { for input in node.inputs where !input.isEmpty { consumers[input, default: []].append(node) } }
        let outputs = Set(graph.outputs.map(\.name))
        var points: [String] = graph.inputs.map(\.name).filter { floatValues.contains($0) && consumers[$0] != nil }
        for node in graph.nodes where !movement.contains(node.opType) {
            for out in node.outputs where floatValues.contains(out) {
                let users = consumers[out] ?? []
                if users.isEmpty && !outputs.contains(out) { continue }
                if ["Conv", "Gemm", "MatMul"].contains(node.opType), !outputs.contains(out), users.count == 1,
                   ["Relu", "Clip"].contains(users[0].opType) { continue }
                points.append(out)
            }
        }
        return points
    }

    /// The DPQ weight: W_int4 → DequantizeLinear(g) → QuantizeLinear(1, FLOAT8E4M3FN) →
    /// DequantizeLinear(s_c per channel), which Dyadic folds into 16-entry FP8 tables per group.
    /// g is per channel (one group a channel) or blocked along the input axis, which needs the
    /// input axis to hold all of a channel's inputs (1×1 convolutions and matrix products).
    func fp8WeightChain(_ layer: QuantizableLayer, groups: (size: Int, scales: [Float]),
                        initializers: inout [String: Tensor]) -> [Node] {
        let w = layer.weightName
        var first: [String: Attribute]
        if groups.size >= layer.columnsPerGroup {
            first = ["axis": .int(Int64(layer.channelAxis))]
            initializers[w + "_group_scale"] = Tensor(groups.scales, shape: [groups.scales.count])
        } else {
            let inputAxis = layer.channelAxis == 0 ? 1 : 0, n = layer.outputChannels, perRow = groups.scales.count / n
            var shape = layer.weightShape.map { _ in 1 }
            shape[layer.channelAxis] = n
            shape[inputAxis] = perRow
            // The quantizer holds g as [channel][group]; a [K][N] weight wants [group][channel].
            let g = layer.channelAxis == 0 ? groups.scales
                : (0..<groups.scales.count).map { i in groups.scales[(i % n) * perRow + i / n] }
            initializers[w + "_group_scale"] = Tensor(g, shape: shape)
            first = ["axis": .int(Int64(inputAxis)), "block_size": .int(Int64(groups.size))]
        }
        initializers[w + "_one"] = Tensor([Float(1)], shape: [])
        initializers[w + "_fp8_zero"] = Tensor(dtype: .float8e4m3fn, shape: [], bytes: [0])
        return [
            Node(name: w + "_DequantizeLinear_group", opType: "DequantizeLinear",
                 inputs: [w + "_quantized", w + "_group_scale"], outputs: [w + "_grouped"], attributes: first),
            Node(name: w + "_QuantizeLinear_fp8", opType: "QuantizeLinear",
                 inputs: [w + "_grouped", w + "_one", w + "_fp8_zero"], outputs: [w + "_fp8"]),
            Node(name: w + "_DequantizeLinear", opType: "DequantizeLinear",
                 inputs: [w + "_fp8", w + "_scale"], outputs: [w + "_dequantized"],
                 attributes: ["axis": .int(Int64(layer.channelAxis))]),
        ]
    }

    func build() throws -> Graph {
        var g = graph
        let outputs = Set(graph.outputs.map(\.name))
        let quantizedLayers = Dictionary(uniqueKeysWithValues: layers.compactMap { l in weights[l.name].map { (l.nodeIndex, (l, $0)) } })
        // The scale of a tensor: its own Q/DQ pair, or that of the tensor it was moved from.
        var sourceOf: [String: String] = [:]
        for node in graph.nodes where Self.movement.contains(node.opType) {
            if let x = node.inputs.first { sourceOf[node.outputs[0]] = x }
        }
        func source(_ name: String) -> String? {
            var n = name
            while activations[n] == nil, let s = sourceOf[n] { n = s }
            return activations[n] == nil ? nil : n
        }
        func activation(_ name: String) -> ActivationQuantization? { source(name).flatMap { activations[$0] } }
        func dequantizedName(_ t: String) -> String { outputs.contains(t) ? t : t + "_dequantized" }
        func producedName(_ t: String) -> String { outputs.contains(t) && activations[t] != nil ? t + "_float" : t }

        // The arithmetic of every tensor: FP8 or integer (see `fp8Activations`).
        var isFP8: [String: Bool] = [:]
        var required: [Int: Bool] = [:]
        var consumers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() { for x in node.inputs where !x.isEmpty { consumers[x, default: []].append(i) } }
        let fp8Products = Set(quantizedLayers.filter { $0.value.1.fp8Groups != nil }.keys)
        for input in graph.inputs {
            let users = consumers[input.name] ?? []
            isFP8[input.name] = !users.isEmpty && users.allSatisfy(fp8Products.contains)
        }
        for (i, node) in graph.nodes.enumerated() {
            let fp8: Bool
            if quantizedLayers[i] != nil {
                fp8 = fp8Products.contains(i)
            } else if Self.movement.contains(node.opType) {
                fp8 = node.inputs.first.flatMap { isFP8[$0] } ?? false
            } else if ["Relu", "Clip"].contains(node.opType), let x = node.inputs.first, activations[x] == nil {
                fp8 = isFP8[x] ?? false  // the fused activation of a product: the product's arithmetic
            } else {
                // Add and GlobalAveragePool have FP8 layers; anything else reads integers
                // (MaxPool of FP8 values would otherwise run on the float path).
                fp8 = Self.fp8Ops.contains(node.opType) && node.inputs.contains { isFP8[$0] == true }
            }
            if !Self.movement.contains(node.opType) { required[i] = fp8 }
            for out in node.outputs { isFP8[out] = fp8 }
        }

        var nodes: [Node] = []
        var initializers = graph.initializers
        var usesInt4 = false
        func addQDQ(_ t: String, _ q: ActivationQuantization, fp8: Bool, input: String, output: String) {
            initializers[t + "_scale"] = Tensor([q.scale], shape: [])
            switch fp8 ? .float8e4m3fn : activationType {
            case .uint8: initializers[t + "_zero_point"] = Tensor([UInt8(q.zeroPoint)], shape: [])
            case .int8: initializers[t + "_zero_point"] = Tensor([Int8(q.zeroPoint)], shape: [])
            default: initializers[t + "_zero_point"] = Tensor(dtype: .float8e4m3fn, shape: [], bytes: [0])
            }
            nodes.append(Node(name: t + "_QuantizeLinear", opType: "QuantizeLinear",
                              inputs: [input, t + "_scale", t + "_zero_point"], outputs: [t + "_quantized"]))
            nodes.append(Node(name: t + "_DequantizeLinear", opType: "DequantizeLinear",
                              inputs: [t + "_quantized", t + "_scale", t + "_zero_point"], outputs: [output]))
        }
        func params(_ t: String, fp8: Bool) throws -> ActivationQuantization {
            guard let q = fp8 ? fp8Activations[t] : activations[t] else {
                throw QuantizerError("no \(fp8 ? "FP8" : "integer") quantization for '\(t)'")
            }
            return q
        }
        func addPoint(_ t: String) throws {
            let fp8 = isFP8[t] ?? false
            addQDQ(t, try params(t, fp8: fp8), fp8: fp8, input: producedName(t), output: dequantizedName(t))
        }
        // A value read in the other arithmetic: a second pair, made once per value and kind.
        var converted: Set<String> = []
        func convert(_ x: String, to fp8: Bool) throws -> String {
            guard let src = source(x) else { return x }
            let name = x + (fp8 ? "_as_fp8" : "_as_int")
            if converted.insert(name).inserted {
                addQDQ(name, try params(src, fp8: fp8), fp8: fp8, input: activations[x] != nil ? dequantizedName(x) : x, output: name)
            }
            return name
        }
        for input in graph.inputs where activations[input.name] != nil { try addPoint(input.name) }
        for (i, original) in graph.nodes.enumerated() {
            var node = original
            node.inputs = try node.inputs.map { x in
                guard !x.isEmpty, source(x) != nil else { return x }
                let plain = activations[x] == nil ? x : dequantizedName(x)
                guard let want = required[i], let have = isFP8[x], want != have else { return plain }
                return try convert(x, to: want)
            }
            node.outputs = node.outputs.map(producedName)
            if let (layer, w) = quantizedLayers[i] {
                guard let x = activation(layer.input) else {
                    throw QuantizerError("\(original.label): its input '\(layer.input)' has no activation quantization")
                }
                let scales = w.scales.map { $0 > 0 ? $0 : 1 }  // an all-zero channel: any scale
                let wName = layer.weightName
                let dtype: DType = w.bits == 8 ? .int8 : .int4
                usesInt4 = usesInt4 || w.bits < 8
                initializers[wName + "_quantized"] = Tensor(dtype: dtype, shape: layer.weightShape,
                                                            bytes: w.codes.map { UInt8(bitPattern: $0) })
                initializers[wName + "_scale"] = Tensor(scales, shape: [scales.count])
                if let groups = w.fp8Groups {
                    nodes += fp8WeightChain(layer, groups: groups, initializers: &initializers)
                } else {
                    initializers[wName + "_zero_point"] = Tensor(dtype: dtype, shape: [scales.count], bytes: .init(repeating: 0, count: scales.count))
                    nodes.append(Node(name: wName + "_DequantizeLinear", opType: "DequantizeLinear",
                                      inputs: [wName + "_quantized", wName + "_scale", wName + "_zero_point"],
                                      outputs: [wName + "_dequantized"], attributes: ["axis": .int(Int64(layer.channelAxis))]))
                }
                node.inputs[1] = wName + "_dequantized"
                // The bias, corrected; a layer without one gets one (MatMul has no bias input).
                var biasName = layer.biasName
                var biasValues = biasName.flatMap { graph.initializers[$0]?.floats }
                if let correction = w.biasCorrection, layer.kind != .matmul {
                    let base = biasValues ?? [Float](repeating: 0, count: correction.count)
                    biasValues = zip(base, correction).map { $0 + $1 }
                    if biasName == nil {
                        biasName = wName + "_bias"
                        while node.inputs.count < 3 { node.inputs.append("") }
                    }
                }
                if w.fp8Groups != nil, w.biasCorrection != nil, let b = biasName, let values = biasValues {
                    // FP8 layers add a float32 bias in their epilogue.
                    initializers[b + "_corrected"] = Tensor(values, shape: [values.count])
                    node.inputs[2] = b + "_corrected"
                }
                // Integer layers take it as int32 at s_x·s_w.
                if w.fp8Groups == nil, let b = biasName, let bias = biasValues {
                    let bScales = scales.map { $0 * x.scale }
                    guard bias.allSatisfy(\.isFinite), bScales.allSatisfy({ $0.isFinite }) else {
                        throw QuantizerError("\(original.label): its bias or bias scales (input scale \(x.scale)) are not finite")
                    }
                    let codes = zip(bias, bScales).map { Int32(max(min(($0 / $1).rounded(.toNearestOrEven), 2.1e9), -2.1e9)) }
                    initializers[b + "_quantized"] = Tensor(codes, shape: [codes.count])
                    initializers[b + "_scale"] = Tensor(bScales, shape: [bScales.count])
                    initializers[b + "_zero_point"] = Tensor([Int32](repeating: 0, count: codes.count), shape: [codes.count])
                    nodes.append(Node(name: b + "_DequantizeLinear", opType: "DequantizeLinear",
                                      inputs: [b + "_quantized", b + "_scale", b + "_zero_point"],
                                      outputs: [b + "_dequantized"], attributes: ["axis": .int(0)]))
                    node.inputs[2] = b + "_dequantized"
                }
            }
            nodes.append(node)
            for out in original.outputs where activations[out] != nil { try addPoint(out) }
        }
        // Float weights and biases nobody reads any more.
        let read = Set(nodes.flatMap(\.inputs))
        for l in layers where weights[l.name] != nil {
            for name in [l.weightName, l.biasName].compactMap({ $0 }) where !read.contains(name) { initializers[name] = nil }
        }
        g.nodes = nodes
        g.initializers = initializers
        if usesInt4 { g.opset = max(g.opset, 21) }
        return g
    }
}
