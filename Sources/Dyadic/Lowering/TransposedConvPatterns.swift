/// DQ → ConvTranspose → Q as integer layers.
///
/// A transposed convolution with stride s equals a stride-1 convolution, with the
/// kernel flipped and its in/out channels swapped, of the input spread s pixels apart
/// (gaps at the zero point, i.e. real 0) and padded by dilation·(k − 1) − pads. The
/// gaps add only zero products, so the int32 sums are the transposed convolution's own,
/// and the product runs on the integer conv kernels of every ISA.
extension Lowering {
    func lowerQDQConvTranspose(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard symbols.count >= 2, let x = quantizedActivation(symbols[0]), let w = quantizedConstant(symbols[1]),
              w.tensor.dtype.isQuantized8Bit, w.tensor.shape.count == 4, values[x.value].shape.count == 4,
              let out = try outputQuantization(of: node.outputs[0]) else { return false }
        let xShape = values[x.value].shape
        let group = try node.int("group", default: 1)
        let (cin, mpg, kh, kw) = (w.tensor.shape[0], w.tensor.shape[1], w.tensor.shape[2], w.tensor.shape[3])
        guard group >= 1, cin == xShape[1], cin % group == 0 else { return false }
        let g = try TransposedConvolution.geometry(node, input: (xShape[2], xShape[3]), kernel: (kh, kw))
        let padTop = g.dilation.h * (kh - 1) - g.pads.t, padLeft = g.dilation.w * (kw - 1) - g.pads.l
        let spread = ((xShape[2] - 1) * g.stride.h + 1, (xShape[3] - 1) * g.stride.w + 1)
        let padBottom = g.output.h - spread.0 - padTop + g.dilation.h * (kh - 1)
        let padRight = g.output.w - spread.1 - padLeft + g.dilation.w * (kw - 1)
        // Pads that crop the input (pads beyond the kernel's reach) stay on the float path.
        guard padTop >= 0, padLeft >= 0, padBottom >= 0, padRight >= 0 else { return false }

        // Per-channel weight scales run along axis 1 (the M/group outputs of each group).
        let m = mpg * group, cpg = cin / group
        var params = w.params
        if !params.isPerTensor {
            guard params.axis == 1 || params.axis == -3, params.scale.count == mpg else { return false }
            params = QuantParams(scale: (0..<m).map { params.scale[$0 % mpg] }, zeroPoint: (0..<m).map { params.zeroPoint[$0 % mpg] }, axis: 0)
        }
        // Conv weights [M][C/group][kh][kw]: W'[g·Mg + o][i][y][x] = W[g·Cg + i][o][kh−1−y][kw−1−x].
        let source = w.tensor.int32Values
        var flipped = [Int32](repeating: 0, count: source.count)
        for gi in 0..<group { for o in 0..<mpg { for i in 0..<cpg { for y in 0..<kh { for xx in 0..<kw {
            flipped[(((gi * mpg + o) * cpg + i) * kh + y) * kw + xx] =
                source[(((gi * cpg + i) * mpg + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - xx)]
        } } } } }
        let weights = w.tensor.dtype == .int8
            ? Tensor(flipped.map { Int8(truncatingIfNeeded: $0) }, shape: [m, cpg, kh, kw])
            : Tensor(flipped.map { UInt8(truncatingIfNeeded: $0) }, shape: [m, cpg, kh, kw])

        var input = try nhwc(x.value, key: node.inputs[0])
        if g.stride.h > 1 || g.stride.w > 1 {
            let spreadValue = try addValue(node.outputs[0] + "_spread", values[input].dtype, [xShape[0], xShape[1], spread.0, spread.1],
                                       layout: .nhwc, quant: x.params)
            layers.append(ZeroInsertionLayer(source: [node.name], input: input, output: spreadValue, shape: xShape,
                                             stride: g.stride, fill: UInt8(truncatingIfNeeded: x.params.zeroPoint[0])))
            input = spreadValue
        }
        let conv = Node(name: node.name, opType: "Conv", inputs: [node.inputs[0], node.inputs[1]] + node.inputs.dropFirst(2),
                        outputs: node.outputs, attributes: [
                            "group": .int(Int64(group)), "kernel_shape": .ints([Int64(kh), Int64(kw)]),
                            "dilations": .ints([Int64(g.dilation.h), Int64(g.dilation.w)]), "strides": .ints([1, 1]),
                            "pads": .ints([padTop, padLeft, padBottom, padRight].map { Int64($0) }),
                        ])
        return try emitMatrixProduct(conv, x: (input, x.params), w: (weights, params), bias: symbols.count > 2 ? symbols[2] : nil, out: out)
    }
}
