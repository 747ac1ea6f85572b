import DyadicKernels

/// The FP8 E4M3FN path (W4A8, as DPQ computes it): activations are E4M3 codes with a
/// per-tensor scale; a product's weights are E4M3 values times a per-channel scale,
/// stored as 4-bit indices into a 16-entry table per group; accumulation is FP32.
/// Between an integer layer and an FP8 layer sits an explicit conversion (a 256-entry
/// table from one 8-bit code to the other).
extension Lowering {
    /// An FP8 activation seen through DequantizeLinear (per tensor, zero point 0).
    func fp8Activation(_ s: Symbol?) -> (value: Int, scale: Float)? {
        guard case .dequantized(.value(let v), let q)? = s, q.isPerTensor, values[v].dtype == .float8e4m3fn else { return nil }
        return (v, q.scale[0])
    }

    /// Where an FP8 pattern's result goes: through Relu/Clip into a QuantizeLinear to
    /// FP8 (E4M3 codes), or, when no such quantization follows, float32 as computed.
    struct Fp8Output {
        var name: String
        /// nil: the output stays float32.
        var scale: Float?
        var saturate: Bool
        var low: Float, high: Float
        var nodes: [Int]
    }

    func fp8Output(of name: String) throws -> Fp8Output {
        let plain = Fp8Output(name: name, scale: nil, saturate: true, low: -.infinity, high: .infinity, nodes: [])
        guard let chain = try activationChain(from: name) else { return plain }
        let node = nodes[chain.end]
        guard node.opType == "QuantizeLinear",
              try Quantization.outputType(node, zeroPoint: try constantInput(node, 2)) == .float8e4m3fn,
              try node.int("block_size", default: 0) == 0 else { return plain }
        let (q, _) = try params(node, scale: 1)
        guard q.isPerTensor, q.zeroPoint[0] == 0 else { return plain }
        return Fp8Output(name: node.outputs[0], scale: q.scale[0], saturate: try node.int("saturate", default: 1) != 0,
                         low: chain.low, high: chain.high, nodes: chain.nodes + [chain.end])
    }

    /// The output value of an FP8 pattern, registered under its ONNX name.
    func finishFp8(_ out: Fp8Output, shape: [Int], layout: Layout) throws -> Int {
        absorbed.formUnion(out.nodes)
        let quant = out.scale.map { QuantParams(scale: [$0], zeroPoint: [0], axis: nil) }
        let y = try addValue(out.name, out.scale == nil ? .float32 : .float8e4m3fn, shape, layout: layout, quant: quant)
        env[out.name] = .value(y)
        return y
    }

    // MARK: - Products

    /// FP8 weights as the kernels store them: per group of `groupSize` consecutive
    /// input channels (0: the whole output channel), at most 16 distinct E4M3 codes,
    /// each weight an index in [-8, 7] into its group's table.
    struct Fp8Weights {
        var indices: [Int8]
        var tables: [UInt8]
        var groupSize: Int
    }

    /// Finds the coarsest grouping whose groups use at most 16 distinct codes. A DPQ
    /// weight (an INT4 code through its group's table) always has one; other FP8
    /// weights may not (then nil, and the product runs on the float path).
    /// `codes` are in kernel order [out][kh][kw][in/groups].
    static func fp8TableWeights(_ codes: [UInt8], outChannels: Int, taps: Int, channelsPerGroup: Int) -> Fp8Weights? {
        let perChannel = taps * channelsPerGroup
        var candidates = [0]
        var g = 256
        while g >= 8 { if g < channelsPerGroup { candidates.append(g) }; g /= 2 }
        for size in candidates {
            let run = size == 0 ? perChannel : size
            // Group boundaries: a group never spans two taps.
            let groupsPerTap = size == 0 ? 1 : (channelsPerGroup + size - 1) / size
            let groupCount = outChannels * (size == 0 ? 1 : taps * groupsPerTap)
            var tables = [UInt8](repeating: 0, count: groupCount * 16)
            var indices = [Int8](repeating: 0, count: codes.count)
            var ok = true
            var start = 0, group = 0
            outer: while start < codes.count {
                let end: Int
                if size == 0 {
                    end = start + perChannel
                } else {
                    let within = start % channelsPerGroup
                    end = start + min(run, channelsPerGroup - within)
                }
                var distinct: [UInt8] = []
                for i in start..<end where !distinct.contains(codes[i]) {
                    distinct.append(codes[i])
                    if distinct.count > 16 { ok = false; break outer }
                }
                distinct.sort()
                for (j, c) in distinct.enumerated() { tables[group * 16 + j] = c }
                for i in start..<end { indices[i] = Int8(distinct.firstIndex(of: codes[i])!) - 8 }
                start = end
                group += 1
            }
            if ok { return Fp8Weights(indices: indices, tables: tables, groupSize: size) }
        }
        return nil
    }

    func lowerFp8MatrixProduct(_ node: Node, x: (value: Int, scale: Float), _ symbols: [Symbol?]) throws -> Bool {
        guard case .dequantized(.constant(let raw), let rawParams)? = symbols[1], raw.dtype == .float8e4m3fn,
              rawParams.zeroPoint.allSatisfy({ $0 == 0 }),
              let (w, wq) = try orientedWeights(node, raw, rawParams) else { return false }
        let channels = w.shape[0]
        guard wq.isPerTensor || (wq.scale.count == channels && wq.axis == 0) else { return false }
        if node.opType == "Conv" { try node.checkAttributes(known: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"]) }
        var bias: [Float]? = nil
        if symbols.count > 2, symbols[2] != nil {
            guard let b = try constantInput(node, 2), b.dtype == .float32, b.count == channels else { return false }
            bias = b.floats
        }
        guard let shape = try productShape(node, x: x.value, weightShape: w.shape) else { return false }
        let g = shape.geometry
        let codes = shape.kernelOrder(w.bytes)
        guard let tw = Lowering.fp8TableWeights(codes, outChannels: channels, taps: Int(g.kernel_h * g.kernel_w),
                                                channelsPerGroup: Int(g.in_c / g.groups)) else { return false }
        let out = try fp8Output(of: node.outputs[0])
        let y = try finishFp8(out, shape: shape.outShape, layout: shape.layout)
        var desc = dyd_fp8conv_desc()
        desc.geometry = g
        desc.input_scale = x.scale
        desc.group_size = UInt32(tw.groupSize)
        desc.out_min = out.low
        desc.out_max = out.high
        desc.output_fp8 = out.scale == nil ? 0 : 1
        desc.output_scale = out.scale ?? 1
        let scales = wq.isPerTensor ? Array(repeating: wq.scale[0], count: channels) : wq.scale
        layers.append(try Fp8ConvLayer(op: node.opType == "Conv" ? "FP8Conv" : "FP8MatMul", source: [node.name] + out.nodes.map { nodes[$0].name },
                                       input: shape.input, output: y, desc: desc, weights: tw.indices, tables: tw.tables,
                                       channelScale: scales, bias: bias, context: node.label))
        return true
    }

    // MARK: - Add and global average pooling

    func lowerFp8Add(_ node: Node, _ symbols: [Symbol?]) throws -> Bool {
        guard node.opType == "Add", symbols.count == 2, let a = fp8Activation(symbols[0]), let b = fp8Activation(symbols[1]) else { return false }
        let out = try fp8Output(of: node.outputs[0])
        guard out.scale != nil, let (av, bv, aScalar, bScalar, shaped) = try elementwiseOperands(node, a.value, b.value) else { return false }
        let info = values[shaped]
        let y = try finishFp8(out, shape: info.shape, layout: info.layout)
        layers.append(Fp8AddLayer(source: [node.name] + out.nodes.map { nodes[$0].name }, a: av, b: bv, output: y,
                                  aScale: a.scale, bScale: b.scale, yScale: out.scale!, low: out.low, high: out.high,
                                  count: info.count, aIsScalar: aScalar, bIsScalar: bScalar))
        return true
    }

    func lowerFp8GlobalAveragePool(_ node: Node, _ symbols: [Symbol?]) throws -> Bool {
        guard node.opType == "GlobalAveragePool", let x = fp8Activation(symbols.first ?? nil), values[x.value].shape.count == 4 else { return false }
        try node.checkAttributes(known: [])
        let out = try fp8Output(of: node.outputs[0])
        // The pooling kernel has no clamp: a Relu/Clip after it stays a separate op.
        guard let yScale = out.scale, out.low == -.infinity, out.high == .infinity else { return false }
        let input = try nhwc(x.value, key: node.inputs[0])
        let s = values[input].shape
        let y = try finishFp8(out, shape: [s[0], s[1], 1, 1], layout: .nhwc)
        layers.append(Fp8GlobalAvgPoolLayer(source: [node.name] + out.nodes.map { nodes[$0].name }, input: input, output: y,
                                            batch: s[0], channels: s[1], pixels: s[2] * s[3], xScale: x.scale, yScale: yScale))
        return true
    }

    // MARK: - Conversions

    /// QuantizeLinear to FP8 of a dequantized 8-bit value (integer or FP8): one table
    /// of E4M3 codes, computed as ONNX does (x = dq(code) in float32, then x / scale,
    /// rounded half to even and saturated).
    func fp8ConversionTable(from input: QuantParams, inputType: DType, scale: Float, saturate: Bool) -> [UInt8] {
        (0..<256).map { code in
            let x = Lowering.dequantizedCode(UInt8(code), type: inputType, params: input)
            return dyd_fp8_e4m3_from_f32(x / scale, saturate ? 1 : 0)
        }
    }

    /// The real value of one 8-bit code (integer or E4M3) under per-tensor parameters.
    static func dequantizedCode(_ code: UInt8, type: DType, params: QuantParams) -> Float {
        switch type {
        case .float8e4m3fn: dyd_fp8_e4m3_to_f32(code) * params.scale[0]
        case .int8: Float(Int32(Int8(bitPattern: code)) - params.zeroPoint[0]) * params.scale[0]
        default: Float(Int32(code) - params.zeroPoint[0]) * params.scale[0]
        }
    }
}
