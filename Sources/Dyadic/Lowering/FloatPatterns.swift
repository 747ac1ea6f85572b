import DyadicKernels

/// Float Conv, Gemm and MatMul with constant weights on the float32 kernels. Anything
/// these do not cover (3-D convolutions, a transposed A, a bias that is not one
/// value per output column, variable weights) stays on the reference path.
extension Lowering {
    func lowerFloatMatrixProduct(_ node: Node) throws -> Bool {
        guard node.inputs.count >= 2, let w = try constantInput(node, 1), w.dtype == .float32 else { return false }
        let bias = try constantInput(node, 2)
        if node.opType == "Gemm", node.inputs.count > 2, !node.inputs[2].isEmpty, bias == nil {
            return try lowerFloatGemmWithRuntimeC(node)
        }
        if node.inputs.count > 2, !node.inputs[2].isEmpty, bias?.dtype != .float32 { return false }
        guard let xs = env[node.inputs[0]] else { return false }
        if case .constant = xs { return false }
        let x = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        guard values[x].dtype == .float32 else { return false }
        let shape = values[x].shape
        switch node.opType {
        case "Conv": return try lowerFloatConv(node, x: x, shape: shape, w: w, bias: bias)
        case "Gemm": return try lowerFloatGemm(node, x: x, shape: shape, w: w, bias: bias)
        default: return try lowerFloatMatMul(node, x: x, shape: shape, w: w)
        }
    }

    private func lowerFloatConv(_ node: Node, x: Int, shape: [Int], w: Tensor, bias: Tensor?) throws -> Bool {
        try node.checkAttributes(known: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        // A 1-D conv is the 2-D one over [N, C, 1, L]: the same bytes.
        let oneD = shape.count == 3 && w.shape.count == 3
        guard oneD || (shape.count == 4 && w.shape.count == 4) else { return false }
        var (geometry, outShape) = oneD
            ? try convGeometry(OneDimensional.node(node), inputShape: OneDimensional.shape(shape), weightShape: OneDimensional.shape(w.shape))
            : try convGeometry(node, inputShape: shape, weightShape: w.shape)
        if oneD { outShape.remove(at: 2) }
        if let bias, bias.count != w.shape[0] { throw node.invalid("bias has \(bias.count) values for \(w.shape[0]) output channels") }
        let (activation, fused, name) = try fusedActivation(after: node.outputs[0], rank: outShape.count)
        if try lowerFewPixelConv(node, x: x, geometry: geometry, outShape: outShape, w: w, bias: bias,
                                 activation: activation, fused: fused, name: name) {
            return true
        }
        let out = try addValue(name, .float32, outShape)
        layers.append(try FloatConvLayer(source: [node.name] + fused.map { nodes[$0].name }, input: x, output: out, geometry: geometry,
                                         weights: w.floats, bias: bias?.floats, context: node.label, activation: activation))
        absorbed.formUnion(fused)
        env[name] = .value(out)
        return true
    }

    /// A conv with many output channels, a long window and few output pixels (an STFT
    /// written as a strided 1-D conv: 257 channels, a window of 512, 8 frames): the conv
    /// kernels put pixels along the vector, so 8 pixels would fill a quarter of it. Here
    /// the windows are gathered into rows (im2col, without padding), multiplied by the
    /// transposed weights on the packed-B GEMM (channels along the vector), and the
    /// [pixels, channels] product is transposed into NCHW.
    private func lowerFewPixelConv(_ node: Node, x: Int, geometry g: dyd_conv_geometry, outShape: [Int], w: Tensor,
                                   bias: Tensor?, activation: FloatConvLayer.Activation, fused: [Int], name: String) throws -> Bool {
        let (oc, k) = (Int(g.out_c), Int(g.in_c) * Int(g.kernel_h) * Int(g.kernel_w))
        let plane = Int(g.out_h) * Int(g.out_w), rows = Int(g.batch) * plane
        guard g.groups == 1, g.pad_top == 0, g.pad_left == 0, rows <= 16, oc >= 32, k >= 64,
              rows * k <= 1 << 22, Int(g.in_h) * Int(g.in_w) * Int(g.in_c) * Int(g.batch) < Int(Int32.max) else { return false }
        let (ih, iw, ic) = (Int(g.in_h), Int(g.in_w), Int(g.in_c))
        var source = [Int](repeating: 0, count: rows * k)
        for r in 0..<rows {
            let (n, p) = r.quotientAndRemainder(dividingBy: plane)
            let (oy, ox) = p.quotientAndRemainder(dividingBy: Int(g.out_w))
            for c in 0..<ic {
                for ky in 0..<Int(g.kernel_h) {
                    let iy = oy * Int(g.stride_h) + ky * Int(g.dilation_h)
                    for kx in 0..<Int(g.kernel_w) {
                        let ix = ox * Int(g.stride_w) + kx * Int(g.dilation_w)
                        guard iy < ih, ix < iw else { return false } // a window reaching into padding
                        source[r * k + (c * Int(g.kernel_h) + ky) * Int(g.kernel_w) + kx] = ((n * ic + c) * ih + iy) * iw + ix
                    }
                }
            }
        }
        let windows = try addValue(node.outputs[0] + "#windows", .float32, [rows, k])
        layers.append(IndexedCopyLayer(op: "Conv", source: [node.name], input: x, output: windows, sourceIndex: source,
                                       elementSize: 4, isIntegerOnly: false))
        let product = try addValue(node.outputs[0] + "#product", .float32, [rows, oc])
        layers.append(try FloatGemmLayer(op: "Conv", source: [node.name] + fused.map { nodes[$0].name }, input: windows, output: product,
                                         rows: rows, k: k, n: oc, b: Self.transposed(w.floats, rows: oc, columns: k),
                                         bias: bias?.floats, activation: activation, context: node.label))
        let out = try addValue(name, .float32, outShape)
        var back = [Int](repeating: 0, count: rows * oc)
        for n in 0..<Int(g.batch) { for c in 0..<oc { for p in 0..<plane { back[(n * oc + c) * plane + p] = (n * plane + p) * oc + c } } }
        layers.append(IndexedCopyLayer(op: "Conv", source: [node.name], input: product, output: out, sourceIndex: back,
                                       elementSize: 4, isIntegerOnly: false))
        absorbed.formUnion(fused)
        env[name] = .value(out)
        return true
    }

    /// The activation a float conv can apply itself: a Relu/Clip chain with constant
    /// bounds (after a LeakyRelu, and Max/Min by scalar constants), or SiLU and HardSwish
    /// written as y·Sigmoid(y) and y·HardSigmoid(y). Returns it, the nodes it absorbs and
    /// the value the conv then defines.
    /// `rank` is the product's output rank: a Max/Min constant may not widen it.
    func fusedActivation(after y: String, rank: Int) throws -> (FloatConvLayer.Activation, [Int], String) {
        guard !observable, !graphOutputs.contains(y), let users = consumers[y] else { return (.none, [], y) }
        if users.count == 2 {
            let a = nodes[users[0]], b = nodes[users[1]]
            let gates = ["Sigmoid", "HardSigmoid"]
            let (gate, mul) = gates.contains(a.opType) ? (users[0], users[1]) : (users[1], users[0])
            let s = nodes[gate], m = nodes[mul]
            if gates.contains(s.opType), s.domain.isEmpty, m.opType == "Mul", m.domain.isEmpty, a.domain.isEmpty, b.domain.isEmpty,
               !graphOutputs.contains(s.outputs[0]), consumers[s.outputs[0]] == [mul],
               Set(m.inputs) == Set([y, s.outputs[0]]), m.inputs.count == 2 {
                if s.opType == "Sigmoid" { return (.silu, [gate, mul], m.outputs[0]) }
                try s.checkAttributes(known: ["alpha", "beta"])
                return (.hardSwish(alpha: try s.float("alpha", default: 0.2), beta: try s.float("beta", default: 0.5)), [gate, mul], m.outputs[0])
            }
            return (.none, [], y)
        }
        // A HardSwish node (opset 14): y·HardSigmoid(y) with alpha 1/6, beta 1/2.
        if users.count == 1, case let h = nodes[users[0]], h.opType == "HardSwish", h.domain.isEmpty, h.inputs == [y],
           h.outputs.count == 1 {
            return (.hardSwish(alpha: 1.0 / 6, beta: 0.5), [users[0]], h.outputs[0])
        }
        // Relu/Clip/Max/Min nodes, each the only reader of the value before it (the last may
        // be a graph output), optionally after a LeakyRelu.
        var current = y, chain: [Int] = [], low = -Float.infinity, high = Float.infinity
        var leaky: Float?
        func scalarOperand(_ node: Node) throws -> Float? {
            guard node.inputs.count == 2, let other = node.inputs.first(where: { $0 != current }),
                  case .constant(let t)? = env[other], t.dtype == .float32, t.count == 1, t.shape.count <= rank else { return nil }
            return t.floats[0]
        }
        while !graphOutputs.contains(current) || chain.isEmpty, let next = consumers[current], next.count == 1 {
            let node = nodes[next[0]]
            guard node.domain.isEmpty, node.inputs.contains(current), node.outputs.count == 1 else { break }
            if node.opType == "LeakyRelu", chain.isEmpty, node.inputs.count == 1 {
                let alpha = try node.float("alpha", default: 0.01)
                guard alpha >= 0 && alpha <= 1 else { break }
                leaky = alpha
            } else if (node.opType == "Max" || node.opType == "Min"), let c = try scalarOperand(node), !c.isNaN {
                if node.opType == "Max" { low = max(low, c) } else { high = min(high, c) }
            } else if node.inputs.first != current {
                break
            } else if node.opType == "Relu" {
                low = max(low, 0)
            } else if node.opType == "Clip", graph.opset >= 11 {
                // Bounds must be float constants (absent means unbounded).
                var bounds: [Float] = [-.infinity, .infinity], constant = true
                for i in 1..<3 where i < node.inputs.count && !node.inputs[i].isEmpty {
                    if let t = try constantInput(node, i), t.dtype == .float32, t.count == 1 { bounds[i - 1] = t.floats[0] } else { constant = false }
                }
                guard constant else { break }
                low = max(low, bounds[0])
                high = min(high, bounds[1])
            } else {
                break
            }
            chain.append(next[0])
            current = node.outputs[0]
            if graphOutputs.contains(current) { break }
        }
        guard !chain.isEmpty, low <= high else { return (.none, [], y) }
        if let leaky { return (.leakyClamp(alpha: leaky, low, high), chain, current) }
        return (.clamp(low, high), chain, current)
    }

    /// Gemm whose C is a run-time value (an LSTM's recurrent term): the product on the
    /// float GEMM, then C added by the broadcasting float Add, as beta = 1 defines it.
    private func lowerFloatGemmWithRuntimeC(_ node: Node) throws -> Bool {
        guard try node.float("beta", default: 1) == 1 else { return false }
        let product = node.outputs[0] + "#product"
        var gemm = node
        gemm.inputs = Array(node.inputs.prefix(2))
        gemm.outputs = [product]
        let add = Node(name: node.name + "/C", opType: "Add", inputs: [product, node.inputs[2]], outputs: node.outputs)
        // `product` has no readers in the graph, so no activation is fused into the GEMM.
        guard try lowerFloatMatrixProduct(gemm) else { return false }
        if try !lowerFloatBinary(add) { try lowerReference(add) }
        return true
    }

    private func lowerFloatGemm(_ node: Node, x: Int, shape: [Int], w: Tensor, bias: Tensor?) throws -> Bool {
        try node.checkAttributes(known: ["alpha", "beta", "transA", "transB"])
        guard shape.count == 2, w.shape.count == 2, try node.int("transA", default: 0) == 0 else { return false }
        let transposed = try node.int("transB", default: 0) != 0
        let k = shape[1], n = transposed ? w.shape[0] : w.shape[1]
        guard (transposed ? w.shape[1] : w.shape[0]) == k else {
            throw node.invalid("shapes \(shape.shapeString) and \(w.shape.shapeString) cannot be multiplied")
        }
        if let bias, bias.count != n { return false }
        let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
        let weights = alpha == 1 ? w.floats : w.floats.map { $0 * alpha }
        let b = bias.map { beta == 1 ? $0.floats : $0.floats.map { $0 * beta } }
        let (activation, fused, name) = try fusedActivation(after: node.outputs[0], rank: 2)
        let out = try addValue(name, .float32, [shape[0], n])
        layers.append(try FloatGemmLayer(op: node.opType, source: [node.name] + fused.map { nodes[$0].name }, input: x, output: out,
                                         rows: shape[0], k: k, n: n, b: transposed ? Self.transposed(weights, rows: n, columns: k) : weights,
                                         bias: b, activation: activation, context: node.label))
        absorbed.formUnion(fused)
        env[name] = .value(out)
        return true
    }

    static func transposed(_ v: [Float], rows: Int, columns: Int) -> [Float] {
        var t = [Float](repeating: 0, count: v.count)
        for r in 0..<rows { for c in 0..<columns { t[c * rows + r] = v[r * columns + c] } }
        return t
    }

    private func lowerFloatMatMul(_ node: Node, x: Int, shape: [Int], w: Tensor) throws -> Bool {
        try node.checkAttributes(known: [])
        guard shape.count >= 2, w.shape.count == 2, shape[shape.count - 1] == w.shape[0] else { return false }
        let k = w.shape[0], n = w.shape[1], rows = shape.dropLast().reduce(1, *)
        let (activation, fused, name) = try fusedActivation(after: node.outputs[0], rank: shape.count)
        let out = try addValue(name, .float32, Array(shape.dropLast()) + [n])
        layers.append(try FloatGemmLayer(op: node.opType, source: [node.name] + fused.map { nodes[$0].name }, input: x, output: out,
                                         rows: rows, k: k, n: n, b: w.floats, bias: nil, activation: activation, context: node.label))
        absorbed.formUnion(fused)
        env[name] = .value(out)
        return true
    }

    /// Relu, and Clip with constant (or absent) bounds, on a float value in memory.
    func lowerFloatClamp(_ node: Node) throws -> Bool {
        guard node.opType == "Relu" || node.opType == "Clip", let name = node.inputs.first, let xs = env[name] else { return false }
        if case .constant = xs { return false }
        try node.checkAttributes(known: node.opType == "Clip" && graph.opset < 11 ? ["min", "max"] : [])
        var lower = -Float.infinity, upper = Float.infinity
        if node.opType == "Relu" {
            lower = 0
        } else if graph.opset < 11 {
            lower = try node.float("min", default: -.infinity)
            upper = try node.float("max", default: .infinity)
        } else {
            for (i, slot) in [(1, 0), (2, 1)] where i < node.inputs.count && !node.inputs[i].isEmpty {
                guard let t = try constantInput(node, i), t.dtype == .float32, t.count == 1 else { return false }
                if slot == 0 { lower = t.floats[0] } else { upper = t.floats[0] }
            }
        }
        let x = try nchw(try materialize(name, as: nil, context: node.label), key: name)
        guard values[x].dtype == .float32 else { return false }
        let out = try addValue(node.outputs[0], .float32, values[x].shape)
        layers.append(FloatClampLayer(op: node.opType, source: [node.name], input: x, output: out,
                                      count: values[x].count, lower: lower, upper: upper))
        env[node.outputs[0]] = .value(out)
        return true
    }

    /// Float32 binary element-wise nodes on the planned broadcast loops.
    func lowerFloatBinary(_ node: Node) throws -> Bool {
        guard let operation = FloatBinaryLayer.Operation(rawValue: node.opType), node.inputs.count == 2,
              node.outputs.count == 1, node.inputs.allSatisfy({ !$0.isEmpty }) else { return false }
        try node.checkAttributes(known: [])
        let a = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        let b = try nchw(try materialize(node.inputs[1], as: nil, context: node.label), key: node.inputs[1])
        guard values[a].dtype == .float32, values[b].dtype == .float32 else { return false }
        let shape = try Broadcast.shape(values[a].shape, values[b].shape, context: node.label)
        if operation == .prelu, shape != values[a].shape {
            throw node.invalid("slope \(values[b].shape.shapeString) does not broadcast to X \(values[a].shape.shapeString)")
        }
        let out = try addValue(node.outputs[0], .float32, shape)
        layers.append(FloatBinaryLayer(operation: operation, source: [node.name], a: a, aShape: values[a].shape,
                                       b: b, bShape: values[b].shape, output: out, outShape: shape))
        env[node.outputs[0]] = .value(out)
        return true
    }

    /// Float32 Softmax over any axis (rows strided by the later axes from opset 13;
    /// before, the input coerced to 2-D there).
    func lowerFloatSoftmax(_ node: Node) throws -> Bool {
        guard node.inputs.count == 1, node.outputs.count == 1, let xs = env[node.inputs[0]] else { return false }
        if case .constant = xs { return false }
        try node.checkAttributes(known: ["axis"])
        let x = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        let shape = values[x].shape
        guard values[x].dtype == .float32, !shape.isEmpty else { return false }
        var axis = try node.int("axis", default: graph.opset >= 13 ? -1 : 1)
        if axis < 0 { axis += shape.count }
        guard axis >= 0 && axis < shape.count else { throw node.invalid("axis out of range") }
        // From opset 13 the rows run along `axis` alone (strided by the axes after it);
        // before, the input is coerced to 2-D there, so rows are contiguous.
        let strided = graph.opset >= 13 && axis != shape.count - 1
        let n = strided ? shape[axis] : shape[axis...].reduce(1, *)
        let inner = strided ? shape[(axis + 1)...].reduce(1, *) : 1
        guard n > 0, inner > 0 else { return false }
        let out = try addValue(node.outputs[0], .float32, shape)
        layers.append(FloatSoftmaxLayer(source: [node.name], input: x, output: out, rows: values[x].count / n, n: n, inner: inner))
        env[node.outputs[0]] = .value(out)
        return true
    }

    /// Float32 activations and unary math, one function per element.
    func lowerFloatUnary(_ node: Node) throws -> Bool {
        guard node.inputs.count == 1, node.outputs.count == 1, let function = try FloatUnaryLayer.function(for: node) else { return false }
        let known: [String: Set<String>] = ["LeakyRelu": ["alpha"], "HardSigmoid": ["alpha", "beta"]]
        try node.checkAttributes(known: known[node.opType] ?? [])
        let x = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        guard values[x].dtype == .float32 else { return false }
        let out = try addValue(node.outputs[0], .float32, values[x].shape)
        layers.append(try FloatUnaryLayer(op: node.opType, source: [node.name], input: x, output: out, count: values[x].count, function: function,
                                      node: node))
        env[node.outputs[0]] = .value(out)
        return true
    }

    /// Float32 ConvTranspose with constant weights on the GEMM + col2im layer.
    func lowerFloatConvTranspose(_ node: Node) throws -> Bool {
        guard node.inputs.count >= 2, let w = try constantInput(node, 1), w.dtype == .float32, w.shape.count == 4 else { return false }
        let bias = try constantInput(node, 2)
        if node.inputs.count > 2, !node.inputs[2].isEmpty, bias?.dtype != .float32 { return false }
        guard let xs = env[node.inputs[0]] else { return false }
        if case .constant = xs { return false }
        let x = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        guard values[x].dtype == .float32, values[x].shape.count == 4 else { return false }
        let shape = values[x].shape
        let outShape = try TransposedConvolution.outputShape(node, x: shape, w: w.shape)
        let geometry = try TransposedConvolution.geometry(node, input: (shape[2], shape[3]), kernel: (w.shape[2], w.shape[3]))
        if let bias, bias.count != outShape[1] { throw node.invalid("B has \(bias.count) values for \(outShape[1]) output channels") }
        let out = try addValue(node.outputs[0], .float32, outShape)
        layers.append(FloatConvTransposeLayer(source: [node.name], input: x, output: out, inputShape: shape, weights: w,
                                              bias: bias?.floats, geometry: geometry, groups: try node.int("group", default: 1)))
        env[node.outputs[0]] = .value(out)
        return true
    }

    /// Scales, roi and output shape of a linear or cubic Resize whose parameters are
    /// constants; nil otherwise.
    func interpolationParameters(_ node: Node, shape: [Int]) throws -> (scales: [Float], roi: [Float]?, outShape: [Int], mode: String)? {
        let mode = try node.string("mode", default: "nearest")
        guard mode == "linear" || mode == "cubic" else { return nil }
        var parameters: [Tensor?] = [Tensor(zeros: .uint8, shape: shape)]
        for i in 1..<max(node.inputs.count, 1) {
            if node.inputs[i].isEmpty { parameters.append(nil); continue }
            guard let c = try constantInput(node, i) else { return nil }
            parameters.append(c)
        }
        let types = [ReferenceOps.TypeInfo(.float32, shape)] + parameters.dropFirst().map { $0.map { ReferenceOps.TypeInfo($0.dtype, $0.shape) } }
        let outShape = try ReferenceOps.inferTypes(node, types, constants: [nil] + parameters.dropFirst(), opset: graph.opset)[0].shape
        let scales = try ReferenceOps.resizeScales(node, inputs: parameters, rank: shape.count)
        return (scales, parameters.count > 1 ? parameters[1]?.floats : nil, outShape, mode)
    }

    /// Linear or cubic Resize of a float tensor with constant scales or sizes.
    func lowerFloatResize(_ node: Node) throws -> Bool {
        guard let first = node.inputs.first, let xs = env[first] else { return false }
        if case .constant = xs { return false }
        if case .value(let v) = xs, values[v].dtype != .float32 { return false }
        guard let shape = knownShape(xs), let p = try interpolationParameters(node, shape: shape) else { return false }
        let x = try nchw(try materialize(first, as: nil, context: node.label), key: first)
        guard values[x].dtype == .float32 else { return false }
        let interpolation = try ResizeInterpolation(node, inShape: shape, outShape: p.outShape, scales: p.scales, roi: p.roi)
        let y = try addValue(node.outputs[0], .float32, p.outShape)
        layers.append(FloatResizeLayer(source: [node.name], input: x, output: y, interpolation: interpolation, mode: p.mode))
        env[node.outputs[0]] = .value(y)
        return true
    }

    /// Linear or cubic Resize of an 8-bit tensor: a QOperator graph's uint8 value, or
    /// DQ → Resize → Q (requantized by a table when the Q's scale differs).
    func lowerIntegerResize(_ node: Node, _ symbols: [Symbol?]) throws -> Bool {
        var source: Int
        var quantization: (QuantParams, OutputQuantization)? = nil
        switch symbols.first ?? nil {
        case .dequantized(.value(let v), let q)? where q.isPerTensor && values[v].dtype.isQuantized8Bit:
            guard let out = try outputQuantization(of: node.outputs[0]) else { return false }
            source = v
            quantization = (q, out)
        case .value(let v)? where values[v].dtype.isQuantized8Bit:
            source = v
        default:
            return false
        }
        let shape = values[source].shape
        guard let p = try interpolationParameters(node, shape: shape) else { return false }
        // Interpolate the physical layout: NHWC is [N, H, W, C] with its scales permuted.
        let nhwc = values[source].layout == .nhwc && shape.count == 4
        let order = nhwc ? [0, 2, 3, 1] : Array(0..<shape.count)
        let roi = p.roi.flatMap { r in r.count == 2 * shape.count ? order.map { r[$0] } + order.map { r[$0 + shape.count] } : r }
        let interpolation = try ResizeInterpolation(node, inShape: order.map { shape[$0] }, outShape: order.map { p.outShape[$0] },
                                                    scales: order.map { p.scales[$0] }, roi: roi)
        guard interpolation.fitsIntegers else { return false }
        let dtype = values[source].dtype
        var y = try addValue(node.outputs[0] + (quantization == nil ? "" : "_resized"), dtype, p.outShape, layout: values[source].layout,
                         quant: quantization?.0 ?? values[source].quant)
        layers.append(IntegerResizeLayer(source: [node.name], input: source, output: y, interpolation: interpolation,
                                         signed: dtype == .int8, mode: p.mode))
        guard let (q, out) = quantization else {
            env[node.outputs[0]] = .value(y)
            return true
        }
        if !(out.params == q && out.dtype == dtype && out.qmin == dtype.integerRange.lowerBound && out.qmax == dtype.integerRange.upperBound) {
            let resized = y
            y = try addValue(out.name, out.dtype, p.outShape, layout: values[resized].layout, quant: out.params)
            layers.append(TableLayer(op: "QRequantize", source: sourceNames(node, out), input: resized, output: y,
                                     table: requantTable(input: q, inputType: dtype, output: out), count: values[resized].count,
                                     what: "\(q) → \(out.params)"))
        }
        finish(out, value: y)
        return true
    }

    /// Gather with run-time indices: rows copied from the data's memory. A quantized
    /// table (DQ → Gather) is gathered as codes and stays dequantized-on-demand.
    func lowerGather(_ node: Node, _ symbols: [Symbol?]) throws -> Bool {
        guard node.inputs.count == 2, node.outputs.count == 1, let data = symbols[0] ?? nil, symbols[1] != nil else { return false }
        try node.checkAttributes(known: ["axis"])
        var quant: QuantParams? = nil
        var dataName = node.inputs[0]
        if case .dequantized(let base, let q) = data {
            guard q.isPerTensor else { return false }
            quant = q
            dataName = node.inputs[0] + "_codes"
            env[dataName] = base
        }
        let d = try nchw(try materialize(dataName, as: nil, context: node.label), key: dataName)
        let idx = try nchw(try materialize(node.inputs[1], as: nil, context: node.label), key: node.inputs[1])
        guard values[idx].dtype == .int64 || values[idx].dtype == .int32 else { return false }
        let shape = values[d].shape
        let axis = try Indexing.axis(node, try node.int("axis", default: 0), rank: shape.count)
        let outShape = Array(shape[..<axis]) + values[idx].shape + Array(shape[(axis + 1)...])
        let y = try addValue(node.outputs[0], values[d].dtype, outShape, quant: quant)
        layers.append(GatherLayer(source: [node.name], data: d, indices: idx, output: y, outer: shape[..<axis].reduce(1, *),
                                  axisSize: shape[axis], innerBytes: shape[(axis + 1)...].reduce(1, *) * values[d].dtype.byteSize,
                                  indexCount: values[idx].count, indexIs64: values[idx].dtype == .int64,
                                  isIntegerOnly: values[d].dtype != .float32, label: node.label))
        env[node.outputs[0]] = quant.map { .dequantized(.value(y), $0) } ?? .value(y)
        return true
    }

    /// LayerNormalization of a float tensor with constant scale and bias of the
    /// normalized width, and no Mean/InvStdDev outputs.
    func lowerFloatLayerNorm(_ node: Node) throws -> Bool {
        guard node.outputs.count == 1 || node.outputs.dropFirst().allSatisfy(\.isEmpty), node.inputs.count >= 2,
              let xs = env[node.inputs[0]], let gamma = try constantInput(node, 1), gamma.dtype == .float32 else { return false }
        if case .constant = xs { return false }
        let beta = try constantInput(node, 2)
        if node.inputs.count > 2, !node.inputs[2].isEmpty, beta?.dtype != .float32 { return false }
        try node.checkAttributes(known: ["axis", "epsilon", "stash_type"])
        let x = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        guard values[x].dtype == .float32 else { return false }
        let shape = values[x].shape
        let axis = try Indexing.axis(node, try node.int("axis", default: -1), rank: shape.count)
        let width = shape[axis...].reduce(1, *)
        guard width > 0, gamma.count == width, beta.map({ $0.count == width }) ?? true else { return false }
        let y = try addValue(node.outputs[0], .float32, shape)
        layers.append(FloatLayerNormLayer(source: [node.name], input: x, output: y, rows: values[x].count / width, width: width,
                                          gamma: gamma.floats, beta: beta?.floats, epsilon: Double(try node.float("epsilon", default: 1e-5))))
        env[node.outputs[0]] = .value(y)
        return true
    }

    /// ReduceSum/Mean/Max/Min of a float tensor over axes that form one contiguous block.
    func lowerFloatReduce(_ node: Node) throws -> Bool {
        let kinds: [String: FloatReduceLayer.Kind] = ["ReduceSum": .sum, "ReduceMean": .mean, "ReduceMax": .max, "ReduceMin": .min]
        guard let kind = kinds[node.opType], let xs = env[node.inputs[0]] else { return false }
        if case .constant = xs { return false }
        let x = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        guard values[x].dtype == .float32 else { return false }
        let shape = values[x].shape
        let axesInput = ReferenceOps.shapeInputs(node, opset: graph.opset).isEmpty || node.inputs.count < 2 || node.inputs[1].isEmpty
            ? nil : try constantInput(node, 1)
        if axesInput == nil, node.inputs.count > 1, !node.inputs[1].isEmpty { return false }
        guard let axes = try Reductions.axes(node, rank: shape.count, axesInput: axesInput, opset: graph.opset)?.sorted(),
              let first = axes.first, let last = axes.last, last - first + 1 == axes.count, values[x].count > 0 else { return false }
        let outShape = try Reductions.outputShape(node, shape, axes: axes)
        let y = try addValue(node.outputs[0], .float32, outShape)
        layers.append(FloatReduceLayer(op: node.opType, kind: kind, source: [node.name], input: x, output: y,
                                       outer: shape[..<first].reduce(1, *), reduced: shape[first...last].reduce(1, *),
                                       inner: shape[(last + 1)...].reduce(1, *)))
        env[node.outputs[0]] = .value(y)
        return true
    }

    /// Float32 GlobalAveragePool: the mean of each image plane, on the reduction layer
    /// over [N·C, H·W, 1].
    func lowerFloatGlobalPool(_ node: Node) throws -> Bool {
        guard node.opType == "GlobalAveragePool", let first = node.inputs.first,
              let xs = env[first] else { return false }
        if case .constant = xs { return false }
        let x = try nchw(try materialize(first, as: nil, context: node.label), key: first)
        let shape = values[x].shape
        guard values[x].dtype == .float32, shape.count >= 3, values[x].count > 0 else { return false }
        let outShape = Array(shape[0..<2]) + Array(repeating: 1, count: shape.count - 2)
        let y = try addValue(node.outputs[0], .float32, outShape)
        layers.append(FloatReduceLayer(op: node.opType, kind: .mean, source: [node.name],
                                       input: x, output: y, outer: shape[0] * shape[1], reduced: shape[2...].reduce(1, *), inner: 1))
        env[node.outputs[0]] = .value(y)
        return true
    }

    /// The matrices of a MatMul of two run-time tensors of rank ≥ 2: sizes, the broadcast
    /// batch shape, and each output matrix's element offsets in A and B.
    struct MatMulBatches {
        var m: Int, k: Int, n: Int
        var batch: [Int]
        var aOffsets: [Int], bOffsets: [Int]
    }

    func matmulBatches(_ node: Node, _ shapeA: [Int], _ shapeB: [Int]) throws -> MatMulBatches? {
        guard shapeA.count >= 2, shapeB.count >= 2 else { return nil }
        let (m, k, n) = (shapeA[shapeA.count - 2], shapeA[shapeA.count - 1], shapeB[shapeB.count - 1])
        guard shapeB[shapeB.count - 2] == k else { throw node.invalid("shapes \(shapeA.shapeString) and \(shapeB.shapeString) cannot be multiplied") }
        let batchA = Array(shapeA.dropLast(2)), batchB = Array(shapeB.dropLast(2))
        let batch = try Broadcast.shape(batchA, batchB, context: node.label)
        let total = batch.reduce(1, *)
        guard total > 0, m > 0, n > 0, k > 0 else { return nil }
        // Each output matrix's source matrices: the batch index broadcast into A's and B's.
        func offsets(_ own: [Int], matrix: Int) -> [Int] {
            let padded = Array(repeating: 1, count: batch.count - own.count) + own
            var strides = [Int](repeating: 0, count: batch.count), s = 1
            for d in stride(from: batch.count - 1, through: 0, by: -1) { strides[d] = padded[d] == 1 ? 0 : s; s *= padded[d] }
            return (0..<total).map { t in
                var rest = t, offset = 0
                for d in stride(from: batch.count - 1, through: 0, by: -1) { offset += (rest % batch[d]) * strides[d]; rest /= batch[d] }
                return offset * matrix
            }
        }
        return MatMulBatches(m: m, k: k, n: n, batch: batch, aOffsets: offsets(batchA, matrix: m * k), bOffsets: offsets(batchB, matrix: k * n))
    }

    /// MatMul of two float run-time tensors of rank ≥ 2, batch dimensions broadcast.
    func lowerFloatBatchedMatMul(_ node: Node) throws -> Bool {
        guard node.opType == "MatMul", node.inputs.count == 2, let sa = env[node.inputs[0]], let sb = env[node.inputs[1]],
              let shapeA = knownShape(sa), let shapeB = knownShape(sb), let p = try matmulBatches(node, shapeA, shapeB) else { return false }
        let a = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        let b = try nchw(try materialize(node.inputs[1], as: nil, context: node.label), key: node.inputs[1])
        guard values[a].dtype == .float32, values[b].dtype == .float32 else { return false }
        let y = try addValue(node.outputs[0], .float32, p.batch + [p.m, p.n])
        layers.append(FloatBatchedMatMulLayer(source: [node.name], a: a, b: b, output: y, m: p.m, n: p.n, k: p.k,
                                              aOffsets: p.aOffsets, bOffsets: p.bOffsets))
        env[node.outputs[0]] = .value(y)
        return true
    }

    /// MatMul of two 8-bit run-time activations with per-tensor quantization (QDQ, or
    /// QLinearMatMul whose B is not a constant): int32 sums, requantized.
    func emitIntegerBatchedMatMul(_ node: Node, a: (value: Int, params: QuantParams), b: (value: Int, params: QuantParams),
                                  out: OutputQuantization) throws -> Bool {
        guard a.params.isPerTensor, b.params.isPerTensor else { return false }
        let av = try nchw(a.value, key: node.inputs[0]), bv = try nchw(b.value, key: node.inputs[1])
        guard values[av].dtype.isQuantized8Bit, values[bv].dtype.isQuantized8Bit,
              let p = try matmulBatches(node, values[av].shape, values[bv].shape), p.k < (1 << 15) else { return false }
        for (v, q) in [(av, a.params), (bv, b.params)] where !values[v].dtype.integerRange.contains(q.zeroPoint[0]) {
            throw node.invalid("zero point \(q.zeroPoint[0]) is outside the range of its \(values[v].dtype) operand")
        }
        let requant = Requantization(numerics: numerics, inputScale: a.params.scale[0], weightScales: [b.params.scale[0]],
                                     outputScale: out.params.scale[0], zeroPoint: out.params.zeroPoint[0], qmin: out.qmin, qmax: out.qmax)
        let y = try addValue(out.name, out.dtype, p.batch + [p.m, p.n], quant: out.params)
        layers.append(IntegerBatchedMatMulLayer(source: sourceNames(node, out), a: av, b: bv, output: y, m: p.m, n: p.n, k: p.k,
                                                aOffsets: p.aOffsets, bOffsets: p.bOffsets, aZeroPoint: a.params.zeroPoint[0],
                                                bZeroPoint: b.params.zeroPoint[0], aSigned: values[av].dtype == .int8,
                                                bSigned: values[bv].dtype == .int8, outputSigned: out.dtype == .int8, requant: requant))
        finish(out, value: y)
        return true
    }

    func lowerQDQBatchedMatMul(_ node: Node, _ symbols: [Symbol?]) throws -> Bool {
        guard node.opType == "MatMul", symbols.count == 2, let a = quantizedActivation(symbols[0]), let b = quantizedActivation(symbols[1]),
              let out = try outputQuantization(of: node.outputs[0]) else { return false }
        return try emitIntegerBatchedMatMul(node, a: a, b: b, out: out)
    }

    static let indexedCopyOps: Set<String> = ["Transpose", "Slice", "Split", "Gather", "Tile", "Expand", "Resize",
                                              "SpaceToDepth", "DepthToSpace"]

    /// Data movement whose parameters are constants, as copies through source maps
    /// computed at plan time by running the reference op on element indices.
    func lowerIndexedCopy(_ node: Node) throws -> Bool {
        guard node.domain.isEmpty, Self.indexedCopyOps.contains(node.opType), let first = node.inputs.first, !first.isEmpty else { return false }
        if node.opType == "Resize", try node.string("mode", default: "nearest") != "nearest" { return false }
        guard let xs = env[first] else { return false }
        if case .constant = xs { return false }
        var parameters: [Tensor?] = [nil]
        for i in 1..<max(node.inputs.count, 1) {
            if node.inputs[i].isEmpty { parameters.append(nil); continue }
            guard let c = try constantInput(node, i) else { return false }
            parameters.append(c)
        }
        // An NHWC value is moved where it lies: the index tensor holds each logical
        // element's physical offset, and 4-D results are written NHWC too (no layout
        // conversions around a Split or Slice between convolutions).
        var x = try materialize(first, as: nil, context: node.label)
        let keepNHWC = values[x].layout == .nhwc && values[x].shape.count == 4
        if !keepNHWC { x = try nchw(x, key: first) }
        let info = values[x]
        guard info.count < Int(Int32.max) else { return false }
        if keepNHWC {
            let (n, c, h, w) = (info.shape[0], info.shape[1], info.shape[2], info.shape[3])
            var offsets = [Int64](repeating: 0, count: info.count)
            var i = 0
            for ni in 0..<n { for ci in 0..<c { for hi in 0..<h { for wi in 0..<w {
                offsets[i] = Int64(((ni * h + hi) * w + wi) * c + ci)
                i += 1
            } } } }
            parameters[0] = Tensor(offsets, shape: info.shape)
        } else {
            parameters[0] = Tensor((0..<Int64(info.count)).map { $0 }, shape: info.shape)
        }
        // Each output element costs its int64 map entry, its source index and its reordered index.
        try checkOutputSizes(node, parameters, bytesPerElement: 24)
        let maps = try ReferenceOps.evaluate(node, parameters, opset: graph.opset)
        guard maps.count == node.outputs.count else { return false }
        for (name, map) in zip(node.outputs, maps) where !name.isEmpty {
            var sources = map.int64Values.map { Int($0) }
            var layout = Layout.nchw
            if keepNHWC && map.shape.count == 4 {
                // Destination order NHWC: output (n, h, w, c) takes the logical (n, c, h, w) entry.
                let (n, c, h, w) = (map.shape[0], map.shape[1], map.shape[2], map.shape[3])
                var reordered = [Int](repeating: 0, count: sources.count)
                var i = 0
                for ni in 0..<n { for hi in 0..<h { for wi in 0..<w { for ci in 0..<c {
                    reordered[i] = sources[((ni * c + ci) * h + hi) * w + wi]
                    i += 1
                } } } }
                sources = reordered
                layout = .nhwc
            }
            let out = try addValue(name, info.dtype, map.shape, layout: layout)
            layers.append(IndexedCopyLayer(op: node.opType, source: [node.name], input: x, output: out,
                                           sourceIndex: sources, elementSize: info.dtype.byteSize,
                                           isIntegerOnly: info.dtype != .float32))
            env[name] = .value(out)
        }
        return true
    }

    /// Float32 2-D MaxPool (no Indices output) on the separable layer.
    func lowerFloatMaxPool(_ node: Node) throws -> Bool {
        guard node.opType == "MaxPool", node.outputs.count == 1 || node.outputs[1].isEmpty, let first = node.inputs.first,
              let xs = env[first] else { return false }
        if case .constant = xs { return false }
        try node.checkAttributes(known: ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"])
        if try node.int("storage_order", default: 0) != 0 { return false }
        let x = try nchw(try materialize(first, as: nil, context: node.label), key: first)
        let shape = values[x].shape
        guard values[x].dtype == .float32, shape.count == 4 else { return false }
        guard let k = try node.ints("kernel_shape") else { throw node.invalid("kernel_shape is required") }
        let g = try WindowGeometry(node: node, inputH: shape[2], inputW: shape[3], kernelShape: k,
                                   ceilMode: try node.int("ceil_mode", default: 0) != 0)
        let out = try addValue(node.outputs[0], .float32, [shape[0], shape[1], g.output.h, g.output.w])
        guard let layer = FloatMaxPoolLayer(source: [node.name], input: x, output: out, planes: shape[0] * shape[1], geometry: g) else {
            throw node.unsupported("a window of \(g.kernel) over \(g.input) (sizes beyond 32 bits)")
        }
        layers.append(layer)
        env[node.outputs[0]] = .value(out)
        return true
    }
}
