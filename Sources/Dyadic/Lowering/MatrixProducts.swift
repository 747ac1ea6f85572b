import DyadicKernels

/// Conv, Gemm and MatMul with quantized operands → one integer ConvLayer.
extension Lowering {
    /// Weights as the kernels take them: symmetric int8, [out][kh][kw][in/groups].
    struct KernelWeights {
        var values: [Int8]
        var scales: [Float]
        /// The narrowest width in 2...8 that holds every (w − zp): the layer's bit width.
        /// Kernels store 2- and 4-bit weights packed, the other widths in int8 containers.
        /// Found from the values, since ONNX has no 3-, 5-, 6- or 7-bit types (a model
        /// with such widths holds them in int8); the arithmetic is the same either way.
        var bits: UInt32 = 8
    }

    /// Converts a quantized weight tensor to symmetric int8; nil if its zero points
    /// make (w − zp) leave the int8 range (then the pattern is not lowered).
    func symmetricWeights(_ t: Tensor, _ q: QuantParams, outputAxis: Int) -> KernelWeights? {
        guard t.dtype.isQuantized8Bit || t.dtype.isSubByteInteger else { return nil }
        let raw = t.int32Values
        let channels = t.shape.isEmpty ? 1 : t.shape[outputAxis]
        guard q.isPerTensor || (q.scale.count == channels && (q.axis ?? -99) == outputAxis) else { return nil }
        let inner = t.shape[(outputAxis + 1)...].reduce(1, *)
        var out = [Int8](repeating: 0, count: raw.count)
        for i in 0..<raw.count {
            let c = q.isPerTensor ? 0 : (i / inner) % channels
            let v = Int64(raw[i]) - Int64(q.zeroPoint[c])
            guard v >= -128 && v <= 127 else { return nil }
            out[i] = Int8(v)
        }
        let scales = q.isPerTensor ? [q.scale[0]] : q.scale
        let low = Int(out.min() ?? 0), high = Int(out.max() ?? 0)
        let bits = (2...8).first { (b: Int) -> Bool in
            let half = 1 << (b - 1)
            return low >= -half && high < half
        } ?? 8
        return KernelWeights(values: out, scales: scales, bits: UInt32(bits))
    }

    /// Bias in int32 at scale s_x·s_w[c]: given quantized (QDQ) at that scale with zero
    /// point 0, as int32 (QOperator), or otherwise — a QDQ bias of another scale or zero
    /// point, or float — its real value rounded to that scale here.
    func int32Bias(_ s: Symbol?, channels: Int, inputScale: Float, weightScales: [Float]) -> [Int32]?? {
        guard let s else { return .some(nil) }
        func accumulatorScale(_ i: Int) -> Float { inputScale * weightScales[weightScales.count == 1 ? 0 : i] }
        let real: [Double]
        switch s {
        case .dequantized(.constant(let c), let q) where c.dtype == .int32:
            guard c.count == channels, q.scale.count == 1 || q.scale.count == channels,
                  q.zeroPoint.count == 1 || q.zeroPoint.count == channels else { return nil }
            let ints = c.int32Values
            func scale(_ i: Int) -> Float { q.scale[q.scale.count == 1 ? 0 : i] }
            func zeroPoint(_ i: Int) -> Int32 { q.zeroPoint[q.zeroPoint.count == 1 ? 0 : i] }
            // What ONNX Runtime's quantizer writes: the ints are already accumulator units.
            if (0..<channels).allSatisfy({ zeroPoint($0) == 0 && scale($0) == accumulatorScale($0) }) { return .some(ints) }
            real = (0..<channels).map { Double(scale($0)) * (Double(ints[$0]) - Double(zeroPoint($0))) }
        case .constant(let c) where c.dtype == .int32:
            guard c.count == channels else { return nil }
            return .some(c.int32Values)
        case .constant(let c) where c.dtype == .float32:
            guard c.count == channels else { return nil }
            real = c.floats.map(Double.init)
        default: return nil
        }
        return .some((0..<channels).map { i in
            let scale = Double(inputScale) * Double(weightScales[weightScales.count == 1 ? 0 : i])
            let v = scale == 0 ? 0 : (real[i] / scale).rounded(.toNearestOrEven)
            return v.isNaN ? 0 : Int32(min(max(v, Double(Int32.min)), Double(Int32.max)))
        })
    }

    func lowerQDQMatrixProduct(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard symbols.count >= 2, let x = quantizedActivation(symbols[0]), let w = quantizedConstant(symbols[1]),
              let out = try outputQuantization(of: node.outputs[0]) else { return false }
        let bias = symbols.count > 2 ? symbols[2] : nil
        return try emitMatrixProduct(node, x: x, w: w, bias: bias, out: out)
    }

    /// Shared by QDQ patterns and QOperator nodes. Returns false when the operands do
    /// not fit the integer kernels (the caller then falls back).
    func emitMatrixProduct(_ node: Node, x: (value: Int, params: QuantParams), w: (tensor: Tensor, params: QuantParams),
                           bias: Symbol?, out: OutputQuantization) throws -> Bool {
        let isConv = node.opType == "Conv" || node.opType == "QLinearConv"
        let xInfo = values[x.value]
        guard let (weightTensor, weightParams) = try orientedWeights(node, w.tensor, w.params) else { return false }
        let outputAxis = 0
        guard let kw = symmetricWeights(weightTensor, weightParams, outputAxis: outputAxis) else { return false }
        let channels = weightTensor.shape[0]
        guard case .some(let biasValues) = int32Bias(bias, channels: channels, inputScale: x.params.scale[0], weightScales: kw.scales) else { return false }
        if isConv { try node.checkAttributes(known: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"]) }

        guard let shape = try productShape(node, x: x.value, weightShape: weightTensor.shape) else { return false }
        let weights = shape.kernelOrder(kw.values)
        let requant = Requantization(numerics: numerics, inputScale: x.params.scale[0], weightScales: kw.scales,
                                     outputScale: out.params.scale[0], zeroPoint: out.params.zeroPoint[0],
                                     qmin: out.qmin, qmax: out.qmax)
        var y = try addValue(shape.oneD ? out.name + "_nhwc" : out.name, out.dtype, shape.outShape, layout: shape.layout, quant: out.params)
        let desc = dyd_conv_desc(geometry: shape.geometry, input_signed: xInfo.dtype == .int8 ? 1 : 0,
                                 output_signed: out.dtype == .int8 ? 1 : 0, input_zero_point: x.params.zeroPoint[0],
                                 weights: nil, bias: nil, requant: dyd_requant(), weight_bits: kw.bits)
        let sources = sourceNames(node, out)
        layers.append(try ConvLayer(op: isConv ? "QConv" : "QMatMul", source: sources, input: shape.input, output: y, desc: desc,
                                    weights: weights, bias: biasValues, requant: requant, context: node.label))
        if shape.oneD {
            let s = shape.outShape
            let flat = try addValue(out.name, out.dtype, [s[0], s[1], s[3]], quant: out.params)
            layers.append(LayoutLayer(source: sources, input: y, output: flat, toNHWC: false, shape: s, elementSize: out.dtype.byteSize))
            y = flat
        }
        finish(out, value: y)
        return true
    }

    /// Weights with the output channel first: Conv's OIHW as is, Gemm/MatMul's B as
    /// [N, K] (transposed unless transB); nil for products the kernels do not run.
    func orientedWeights(_ node: Node, _ t: Tensor, _ q: QuantParams) throws -> (Tensor, QuantParams)? {
        var tensor = t, params = q
        if node.opType == "Conv" || node.opType == "QLinearConv" {
            if let axis = params.axis, axis < 0 { params.axis = axis + tensor.shape.count }
            return (tensor, params)
        }
        // Gemm/QGemm/MatMul/QLinearMatMul: B is [K, N] (or [N, K] with transB).
        guard tensor.shape.count == 2, try node.int("transA", default: 0) == 0,
              try node.float("alpha", default: 1) == 1, try node.float("beta", default: 1) == 1 else { return nil }
        if try node.int("transB", default: 0) == 0 {
            tensor = DataMovement.transpose2D(tensor)
            if !params.isPerTensor {
                guard params.axis == 1 || params.axis == -1 else { return nil }
                params.axis = 0
            }
        }
        return (tensor, params)
    }

    /// The shape side of a product the conv kernels run: Conv on NHWC activations, or
    /// Gemm/MatMul on row-major rows (a [K] vector per row, weights [N, K]).
    struct ProductShape {
        var geometry: dyd_conv_geometry
        /// The activation value, in the layout the kernel reads.
        var input: Int
        var outShape: [Int]
        var layout: Layout
        /// Conv weights OIHW (ONNX) as [out][kh][kw][in/groups] (`nil` for matrices).
        var convWeightShape: (m: Int, cpg: Int, kh: Int, kw: Int)?
        /// A 1-D conv run as 2-D: the output goes back to [N, C, L].
        var oneD = false

        /// ONNX's weight order → the order NHWC convolution walks (O·H·W·I).
        func kernelOrder<T>(_ weights: [T]) -> [T] {
            guard let (m, cpg, kh, kw) = convWeightShape, kh * kw > 1 && cpg > 1 else { return weights }
            var reordered = weights
            for o in 0..<m { for i in 0..<cpg { for y in 0..<kh { for x in 0..<kw {
                reordered[((o * kh + y) * kw + x) * cpg + i] = weights[((o * cpg + i) * kh + y) * kw + x]
            } } } }
            return reordered
        }
    }

    /// The kernels' geometry of a 2-D Conv on an NCHW input of `inputShape` with OIHW weights
    /// (dense pixels), and its NCHW output shape; shared by the integer and float convolutions.
    func convGeometry(_ node: Node, inputShape: [Int], weightShape: [Int]) throws -> (dyd_conv_geometry, [Int]) {
        let group = try node.int("group", default: 1)
        let (n, c, h, wi) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (m, cpg, kh, kwid) = (weightShape[0], weightShape[1], weightShape[2], weightShape[3])
        guard group >= 1, [cpg, group].checkedProduct == c, m % group == 0 else {
            throw node.invalid("input channels \(c), weight shape \(weightShape.shapeString) and group \(group) do not agree")
        }
        let g = try WindowGeometry(node: node, inputH: h, inputW: wi, kernelShape: [kh, kwid])
        try node.checkKernelSizes([n, h, wi, c, g.output.h, g.output.w, m, kh, kwid, g.stride.h, g.stride.w,
                                   g.dilation.h, g.dilation.w, g.pads.t, g.pads.l, group], "convolution sizes")
        guard [n, g.output.h, g.output.w, m, kh, kwid, cpg].checkedProduct != nil else {
            throw node.unsupported("a convolution of more than 2^63 multiply-adds")
        }
        let geometry = dyd_conv_geometry(
            batch: UInt32(n), in_h: UInt32(h), in_w: UInt32(wi), in_c: UInt32(c),
            out_h: UInt32(g.output.h), out_w: UInt32(g.output.w), out_c: UInt32(m),
            kernel_h: UInt32(kh), kernel_w: UInt32(kwid), stride_h: UInt32(g.stride.h), stride_w: UInt32(g.stride.w),
            dilation_h: UInt32(g.dilation.h), dilation_w: UInt32(g.dilation.w),
            pad_top: UInt32(g.pads.t), pad_left: UInt32(g.pads.l), groups: UInt32(group),
            in_pixel_stride: UInt32(c), out_pixel_stride: UInt32(m))
        return (geometry, [n, m, g.output.h, g.output.w])
    }

    /// Geometry of a Conv (weights OIHW) or matrix product (weights [N, K]) on `x`;
    /// nil when the kernels do not cover it.
    func productShape(_ node: Node, x: Int, weightShape: [Int]) throws -> ProductShape? {
        let xInfo = values[x]
        let isConv = node.opType == "Conv" || node.opType == "QLinearConv"
        if isConv {
            if xInfo.shape.count == 3, weightShape.count == 3 {
                // A 1-D conv is the 2-D one over [N, C, 1, L]: its NHWC form is [N, L, C].
                let shape4 = OneDimensional.shape(xInfo.shape), weight4 = OneDimensional.shape(weightShape)
                let (geometry, outShape) = try convGeometry(OneDimensional.node(node), inputShape: shape4, weightShape: weight4)
                let input = try addValue(xInfo.name + "_nhwc", xInfo.dtype, shape4, layout: .nhwc, quant: xInfo.quant)
                layers.append(LayoutLayer(source: [xInfo.name], input: x, output: input, toNHWC: true, shape: shape4,
                                          elementSize: xInfo.dtype.byteSize))
                return ProductShape(geometry: geometry, input: input, outShape: outShape, layout: .nhwc,
                                    convWeightShape: (weight4[0], weight4[1], weight4[2], weight4[3]), oneD: true)
            }
            guard xInfo.shape.count == 4, weightShape.count == 4 else { return nil }
            let (geometry, outShape) = try convGeometry(node, inputShape: xInfo.shape, weightShape: weightShape)
            return ProductShape(geometry: geometry, input: try nhwc(x, key: node.inputs[0]), outShape: outShape, layout: .nhwc,
                                convWeightShape: (weightShape[0], weightShape[1], weightShape[2], weightShape[3]))
        }
        guard weightShape.count == 2 else { return nil }
        let k = weightShape[1], nOut = weightShape[0]
        guard let last = xInfo.shape.last, last == k else {
            throw node.invalid("input \(xInfo.shape.shapeString) does not match weights [\(k), \(nOut)]")
        }
        guard let rows = Array(xInfo.shape.dropLast()).checkedProduct else { throw node.invalid("input \(xInfo.shape.shapeString) is too large") }
        try node.checkKernelSizes([rows, k, nOut], "matrix product sizes")
        guard [rows, k, nOut].checkedProduct != nil else { throw node.unsupported("a matrix product of more than 2^63 multiply-adds") }
        let geometry = dyd_conv_geometry(
            batch: UInt32(rows), in_h: 1, in_w: 1, in_c: UInt32(k), out_h: 1, out_w: 1, out_c: UInt32(nOut),
            kernel_h: 1, kernel_w: 1, stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1,
            pad_top: 0, pad_left: 0, groups: 1, in_pixel_stride: UInt32(k), out_pixel_stride: UInt32(nOut))
        return ProductShape(geometry: geometry, input: try nchw(x, key: node.inputs[0]),
                            outShape: Array(xInfo.shape.dropLast()) + [nOut], layout: .nchw, convWeightShape: nil)
    }

    /// QLinearConv / QLinearMatMul (ONNX) and com.microsoft QGemm.
    func lowerQLinearMatrixProduct(_ node: Node) throws {
        let isGemm = node.opType == "QGemm"
        let x = try explicitActivation(node, input: 0, scale: 1)
        let wAxis = node.opType == "QLinearConv" ? 0 : ((try node.int("transB", default: 0)) != 0 ? 0 : 1)
        let (wq, _) = try params(node, scale: 4, axis: wAxis)
        let outScaleIndex = node.opType == "QLinearConv" ? 6 : (isGemm ? 7 : 6)
        guard outScaleIndex < node.inputs.count, !node.inputs[outScaleIndex].isEmpty else {
            throw node.unsupported("a float output (no output scale)")
        }
        let out = try explicitOutput(node, scale: outScaleIndex, defaultType: values[x.value].dtype)
        let biasIndex = node.opType == "QLinearConv" ? 8 : (isGemm ? 6 : -1)
        let bias: Symbol? = biasIndex >= 0 && biasIndex < node.inputs.count && !node.inputs[biasIndex].isEmpty
            ? try symbol(node.inputs[biasIndex], of: node) : nil
        if case .constant(let w)? = try? symbol(node.inputs[3], of: node),
           try emitMatrixProduct(node, x: x, w: (w, wq), bias: bias, out: out) {
            return
        }
        if node.opType == "QLinearMatMul", wq.isPerTensor,
           try emitIntegerBatchedMatMul(node, a: x, b: try explicitActivation(node, input: 3, scale: 4), out: out) {
            return
        }
        try lowerIntegerReferenceProduct(node, x: x, out: out, weightParams: wq, biasIndex: biasIndex)
    }

    /// QLinearConv/QLinearMatMul whose weights are not constant or not symmetric int8:
    /// ConvInteger/MatMulInteger on the reference path, then per-channel requantization.
    func lowerIntegerReferenceProduct(_ node: Node, x: (value: Int, params: QuantParams), out: OutputQuantization,
                                      weightParams: QuantParams, biasIndex: Int) throws {
        guard node.opType != "QGemm" else { throw node.unsupported("QGemm with these weights") }
        let isConv = node.opType == "QLinearConv"
        let w = try nchw(try materialize(node.inputs[3], as: nil, context: node.label), key: node.inputs[3])
        guard values[w].dtype.isQuantized8Bit else { throw node.invalid("weights must be uint8 or int8") }
        var attributes = node.attributes
        if !isConv { attributes = [:] }
        let xzp = try addValue(node.name + "_xzp", values[x.value].dtype, [], constant: Tensor(dtype: values[x.value].dtype, shape: [], bytes: [UInt8(truncatingIfNeeded: x.params.zeroPoint[0])]))
        let wzpValues = weightParams.zeroPoint.map { UInt8(truncatingIfNeeded: $0) }
        let wzp = try addValue(node.name + "_wzp", values[w].dtype, [wzpValues.count], constant: Tensor(dtype: values[w].dtype, shape: [wzpValues.count], bytes: wzpValues))
        let integerNode = Node(name: node.name, opType: isConv ? "ConvInteger" : "MatMulInteger", inputs: ["x", "w", "xzp", "wzp"],
                               outputs: [node.outputs[0] + "_acc"], attributes: attributes)
        let xin = try nchw(x.value, key: node.inputs[0])
        let accType = try ReferenceOps.inferTypes(integerNode, [ReferenceOps.TypeInfo(values[xin].dtype, values[xin].shape),
                                                                ReferenceOps.TypeInfo(values[w].dtype, values[w].shape), nil, nil],
                                                  constants: [nil, nil, nil, nil], opset: graph.opset)[0]
        let acc = try addValue(integerNode.outputs[0], .int32, accType.shape)
        layers.append(ReferenceLayer(node: integerNode, opset: graph.opset, inputSlots: [xin, w, xzp, wzp], outputs: [acc], isIntegerOnly: true))
        var bias: [Int32]? = nil
        if biasIndex >= 0, let b = try constantInput(node, biasIndex) { bias = b.int32Values }
        let channelAxis = isConv ? 1 : accType.shape.count - 1
        let channels = accType.shape.isEmpty ? 1 : accType.shape[max(channelAxis, 0)]
        if let bias, bias.count != channels { throw node.invalid("bias has \(bias.count) values for \(channels) output channels") }
        guard weightParams.scale.count == 1 || weightParams.scale.count == channels else {
            throw node.invalid("\(weightParams.scale.count) weight scales for \(channels) output channels")
        }
        let requant = Requantization(numerics: numerics, inputScale: x.params.scale[0], weightScales: weightParams.scale,
                                     outputScale: out.params.scale[0], zeroPoint: out.params.zeroPoint[0], qmin: out.qmin, qmax: out.qmax)
        let y = try addValue(out.name, out.dtype, accType.shape, quant: out.params)
        layers.append(AccumulatorRequantLayer(source: [node.name], input: acc, output: y, shape: accType.shape,
                                              channelAxis: channelAxis, bias: bias, requant: requant, outputType: out.dtype))
        finish(out, value: y)
    }
}
