import DyadicKernels

/// Quantized Add/Mul, pooling, Concat and table-driven non-linearities.
extension Lowering {
    func lowerQDQBinary(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard symbols.count == 2, let a = quantizedActivation(symbols[0]), let b = quantizedActivation(symbols[1]),
              let out = try outputQuantization(of: node.outputs[0]) else { return false }
        return try emitBinary(node, mul: node.opType == "Mul", a: a, b: b, out: out)
    }

    /// The operands of an element-wise kernel: two values of one shape in one layout,
    /// or one of them a broadcast scalar; nil for other broadcasts. `shaped` is the
    /// operand whose shape and layout the result takes.
    func elementwiseOperands(_ node: Node, _ a: Int, _ b: Int) throws -> (a: Int, b: Int, aScalar: Bool, bScalar: Bool, shaped: Int)? {
        var av = a, bv = b
        let aScalar = values[av].count == 1, bScalar = values[bv].count == 1
        if !aScalar && !bScalar {
            guard values[av].shape == values[bv].shape else { return nil }
            if values[av].layout != values[bv].layout {
                av = try nhwc(av, key: node.inputs[0])
                bv = try nhwc(bv, key: node.inputs[1])
            }
        }
        return (av, bv, aScalar, bScalar, aScalar ? bv : av)
    }

    /// [N,C,H,W] with [N,C,1,1] (or [1,C,1,1] when N = 1): the big operand in NHWC, the
    /// small one's bytes are the same in either layout.
    func channelBroadcastOperands(_ node: Node, _ a: Int, _ b: Int) throws -> (a: Int, b: Int, shaped: Int, BinaryLayer.ChannelBroadcast)? {
        let sa = values[a].shape, sb = values[b].shape
        func small(_ s: [Int], of big: [Int]) -> Bool {
            s.count == 4 && big.count == 4 && s[1] == big[1] && s[2] == 1 && s[3] == 1 && (s[0] == big[0] || s[0] == 1 && big[0] == 1)
                && big[2] * big[3] > 1
        }
        if small(sb, of: sa) {
            let big = try nhwc(a, key: node.inputs[0])
            return (big, b, big, .init(channels: sa[1], pixelsPerImage: sa[2] * sa[3], aIsSmall: false))
        }
        if small(sa, of: sb) {
            let big = try nhwc(b, key: node.inputs[1])
            return (a, big, big, .init(channels: sb[1], pixelsPerImage: sb[2] * sb[3], aIsSmall: true))
        }
        return nil
    }

    /// Any other broadcast: both operands in NCHW, the one smaller than the result
    /// repeated to its shape by an index-map copy (bytes, so still integer).
    func expandedOperands(_ node: Node, _ a: Int, _ b: Int) throws -> (Int, Int)? {
        let av = try nchw(a, key: node.inputs[0]), bv = try nchw(b, key: node.inputs[1])
        let shape = try Broadcast.shape(values[av].shape, values[bv].shape, context: node.label)
        func expand(_ v: Int) throws -> Int {
            guard values[v].shape != shape else { return v }
            let out = try addValue(values[v].name + "_expanded", values[v].dtype, shape, quant: values[v].quant)
            guard values[out].count <= memoryLimit / MemoryLayout<Int>.size else {
                throw node.overMemoryLimit("the index map expanding to \(shape.shapeString) needs more than the memory limit of \(memoryLimit) bytes")
            }
            layers.append(IndexedCopyLayer(op: "Expand", source: [node.name], input: v, output: out,
                                           sourceIndex: Broadcast.indices(of: values[v].shape, in: shape),
                                           elementSize: values[v].dtype.byteSize, isIntegerOnly: true))
            return out
        }
        return (try expand(av), try expand(bv))
    }

    func emitBinary(_ node: Node, mul: Bool, a: (value: Int, params: QuantParams), b: (value: Int, params: QuantParams),
                    out: OutputQuantization) throws -> Bool {
        var broadcast: BinaryLayer.ChannelBroadcast?
        let operands: (Int, Int, Bool, Bool, Int)
        if let plain = try elementwiseOperands(node, a.value, b.value) {
            operands = plain
        } else if let (av, bv, shaped, cb) = try channelBroadcastOperands(node, a.value, b.value) {
            operands = (av, bv, false, false, shaped)
            broadcast = cb
        } else if let (av, bv) = try expandedOperands(node, a.value, b.value) {
            operands = (av, bv, false, false, av)
        } else {
            return false
        }
        let (av, bv, aScalar, bScalar, shaped) = operands
        let (sa, sb, sy) = (a.params.scale[0], b.params.scale[0], out.params.scale[0])
        var p = dyd_binary_params()
        p.kind = numerics == .dyadic ? DYD_REQUANT_DYADIC : DYD_REQUANT_FP32
        p.a_signed = values[av].dtype == .int8 ? 1 : 0
        p.b_signed = values[bv].dtype == .int8 ? 1 : 0
        p.y_signed = out.dtype == .int8 ? 1 : 0
        p.a_zero_point = a.params.zeroPoint[0]
        p.b_zero_point = b.params.zeroPoint[0]
        p.y_zero_point = out.params.zeroPoint[0]
        p.qmin = out.qmin
        p.qmax = out.qmax
        if mul {
            let m = DyadicMultiplier(Double(sa) * Double(sb) / Double(sy))
            p.a_mul = m.multiplier
            p.shift = m.shift
            p.a_scale = sa * sb / sy
        } else {
            // Both ratios share the shift of the larger one: one rounding at the end.
            let ra = Double(sa) / Double(sy), rb = Double(sb) / Double(sy)
            let larger = DyadicMultiplier(max(ra, rb))
            let scale = Double(sign: .plus, exponent: Int(larger.shift), significand: 1)
            // Scales of 0, ±inf, NaN or extreme ratios have no integer multiplier.
            guard let am = Int64(exactly: (ra * scale).rounded()), let bm = Int64(exactly: (rb * scale).rounded()) else {
                throw node.invalid("scales \(sa), \(sb) and \(sy) give no finite requantization")
            }
            p.shift = larger.shift
            p.a_mul = Int32(clamping: am)
            p.b_mul = Int32(clamping: bm)
            p.a_scale = sa
            p.b_scale = sb
            p.y_scale = sy
        }
        let info = values[shaped]
        if broadcast == nil, !aScalar, !bScalar, let fused = tableOfBinary(p, mul: mul, av, bv) {
            // x ⊙ table(x) (SiLU as Sigmoid then Mul, each quantized) is itself a function of
            // x's byte: the kernel's own result for every code, as one table.
            let y = try addValue(out.name, out.dtype, info.shape, layout: values[fused.input].layout, quant: out.params)
            layers.append(TableLayer(op: "QTable(\(node.opType))", source: fused.sources + sourceNames(node, out), input: fused.input,
                                     output: y, table: fused.table, count: info.count, what: "256-entry table of x \(mul ? "×" : "+") f(x)"))
            finish(out, value: y)
            return true
        }
        let y = try addValue(out.name, out.dtype, info.shape, layout: info.layout, quant: out.params)
        layers.append(BinaryLayer(mul: mul, source: sourceNames(node, out), a: av, b: bv, output: y, params: p,
                                  count: info.count, aIsScalar: aScalar, bIsScalar: bScalar, channelBroadcast: broadcast))
        finish(out, value: y)
        return true
    }

    /// When one operand of a quantized Add/Mul is a table of the other (b = T[a]), the
    /// result for each byte of a, computed by the binary kernel itself.
    func tableOfBinary(_ p: dyd_binary_params, mul: Bool, _ av: Int, _ bv: Int) -> (input: Int, table: [UInt8], sources: [String])? {
        for (x, t, xIsA) in [(av, bv, true), (bv, av, false)] {
            guard let producer = layers.last(where: { $0.outputs.contains(t) }) as? TableLayer, producer.isIntegerOnly,
                  producer.inputs[0] == x, values[x].layout == values[t].layout, values[x].count == values[t].count else { continue }
            let codes = (0..<256).map { UInt8($0) }
            let mapped = codes.map { producer.table[Int($0)] }
            var y = [UInt8](repeating: 0, count: 256)
            withUnsafePointer(to: p) { pp in
                let (a, b) = xIsA ? (codes, mapped) : (mapped, codes)
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        y.withUnsafeMutableBufferPointer { yp in
                            if mul { dyd_qmul_run(pp, ap.baseAddress, 1, bp.baseAddress, 1, yp.baseAddress, 256) }
                            else { dyd_qadd_run(pp, ap.baseAddress, 1, bp.baseAddress, 1, yp.baseAddress, 256) }
                        }
                    }
                }
            }
            return (x, y, producer.sourceNodes)
        }
        return nil
    }

    func lowerQDQPool(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        if node.opType == "MaxPool", node.outputs.count == 1 || node.outputs[1].isEmpty,
           case .value(let v)? = symbols.first ?? nil, values[v].dtype.isQuantized8Bit, values[v].shape.count == 4 {
            // A QOperator graph pools the 8-bit tensor itself: the same integer layer.
            env[node.outputs[0]] = .value(try emitMaxPool(node, x: v))
            return true
        }
        guard let x = quantizedActivation(symbols.first ?? nil) else { return false }
        if node.opType == "MaxPool" {
            // Max commutes with the (monotonic) dequantization: pool the integers.
            guard node.outputs.count == 1 || node.outputs[1].isEmpty else { return false }
            let y = try emitMaxPool(node, x: x.value)
            env[node.outputs[0]] = .dequantized(.value(y), x.params)
            return true
        }
        guard let out = try outputQuantization(of: node.outputs[0]) else { return false }
        return try emitAvgPool(node, x: x, out: out)
    }

    func poolGeometry(_ node: Node, input: Int, global: Bool) throws -> (dyd_conv_geometry, WindowGeometry)? {
        let info = values[input]
        guard info.shape.count == 4 else { return nil }
        let (n, c, h, w) = (info.shape[0], info.shape[1], info.shape[2], info.shape[3])
        let g: WindowGeometry
        if global {
            try node.checkAttributes(known: ["channels_last"])
            g = try WindowGeometry(node: Node(name: node.name, opType: node.opType, inputs: [], outputs: []),
                                   inputH: h, inputW: w, kernelShape: [h, w])
        } else {
            try node.checkAttributes(known: ["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape",
                                             "pads", "strides", "storage_order", "channels_last"])
            guard let k = try node.ints("kernel_shape") else { throw node.invalid("kernel_shape is required") }
            if try node.ints("dilations").map({ $0 != [1, 1] }) ?? false { return nil }
            if try node.int("storage_order", default: 0) != 0 { return nil }
            g = try WindowGeometry(node: node, inputH: h, inputW: w, kernelShape: k, ceilMode: try node.int("ceil_mode", default: 0) != 0)
        }
        if try node.int("channels_last", default: 0) != 0 { throw node.unsupported("channels_last") }
        try node.checkKernelSizes([n, h, w, c, g.output.h, g.output.w, g.kernel.h, g.kernel.w, g.stride.h, g.stride.w,
                                   g.pads.t, g.pads.l], "pooling sizes")
        let geometry = dyd_conv_geometry(
            batch: UInt32(n), in_h: UInt32(h), in_w: UInt32(w), in_c: UInt32(c),
            out_h: UInt32(g.output.h), out_w: UInt32(g.output.w), out_c: UInt32(c),
            kernel_h: UInt32(g.kernel.h), kernel_w: UInt32(g.kernel.w), stride_h: UInt32(g.stride.h), stride_w: UInt32(g.stride.w),
            dilation_h: 1, dilation_w: 1, pad_top: UInt32(g.pads.t), pad_left: UInt32(g.pads.l), groups: 1,
            in_pixel_stride: UInt32(c), out_pixel_stride: UInt32(c))
        return (geometry, g)
    }

    func emitMaxPool(_ node: Node, x: Int) throws -> Int {
        let input = try nhwc(x, key: node.inputs[0])
        guard let (geometry, _) = try poolGeometry(node, input: input, global: false) else { throw node.unsupported("these pooling settings") }
        let info = values[input]
        let y = try addValue(node.outputs[0], info.dtype, [info.shape[0], info.shape[1], Int(geometry.out_h), Int(geometry.out_w)],
                         layout: .nhwc, quant: info.quant)
        layers.append(try MaxPoolLayer(source: [node.name], input: input, output: y,
                                       desc: dyd_maxpool_desc(geometry: geometry, is_signed: info.dtype == .int8 ? 1 : 0),
                                       context: node.label))
        return y
    }

    func emitAvgPool(_ node: Node, x: (value: Int, params: QuantParams), out: OutputQuantization) throws -> Bool {
        let global = node.opType.contains("Global")
        let input = try nhwc(x.value, key: node.inputs[0])
        guard let (geometry, window) = try poolGeometry(node, input: input, global: global) else { return false }
        let includePad = try node.int("count_include_pad", default: 0) != 0
        let taps = window.kernel.h * window.kernel.w
        guard taps >= 1 else { throw node.invalid("a pooling window of \(window.kernel.h)x\(window.kernel.w)") }
        let (sx, sy) = (x.params.scale[0], out.params.scale[0])
        // One requantization per possible divisor: M = s_x / (s_y · N).
        let requants = (1...taps).map { count in
            Requantization(numerics: numerics, real: Double(sx) / (Double(sy) * Double(count)),
                           floatScale: sx / (sy * Float(count)), zeroPoint: out.params.zeroPoint[0], qmin: out.qmin, qmax: out.qmax)
        }
        let info = values[input]
        let desc = dyd_avgpool_desc(geometry: geometry, input_signed: info.dtype == .int8 ? 1 : 0,
                                    output_signed: out.dtype == .int8 ? 1 : 0, input_zero_point: x.params.zeroPoint[0],
                                    count_include_pad: includePad ? 1 : 0, requant_by_count: nil)
        let y = try addValue(out.name, out.dtype, [info.shape[0], info.shape[1], Int(geometry.out_h), Int(geometry.out_w)],
                         layout: .nhwc, quant: out.params)
        layers.append(try AvgPoolLayer(global: global, source: sourceNames(node, out),
                                       input: input, output: y, desc: desc, requants: requants, context: node.label))
        finish(out, value: y)
        return true
    }

    func lowerQDQConcat(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        var inputs: [(value: Int, params: QuantParams)] = []
        for s in symbols {
            guard let q = quantizedActivation(s) else { return false }
            inputs.append(q)
        }
        guard let out = try outputQuantization(of: node.outputs[0]) else { return false }
        return try emitConcat(node, inputs: inputs, out: out)
    }

    func emitConcat(_ node: Node, inputs: [(value: Int, params: QuantParams)], out: OutputQuantization) throws -> Bool {
        let g = try concatGeometry(node, inputs.map(\.value))
        let tables: [[UInt8]?] = zip(inputs, g.values).map { input, v in
            input.params == out.params && values[v].dtype == out.dtype && out.qmin == out.dtype.integerRange.lowerBound
                && out.qmax == out.dtype.integerRange.upperBound
                ? nil : requantTable(input: input.params, inputType: values[v].dtype, output: out)
        }
        let y = try addValue(out.name, out.dtype, g.shape, layout: g.layout, quant: out.params)
        layers.append(ConcatLayer(op: "QConcat", source: sourceNames(node, out), inputs: g.values, output: y,
                                  chunks: g.chunks, tables: tables, outer: g.outer, isIntegerOnly: true))
        finish(out, value: y)
        return true
    }

    /// Concat of values as they are stored (float32, or integers that are not
    /// quantized activations): byte runs copied into place.
    func lowerPlainConcat(_ node: Node) throws -> Bool {
        guard !node.inputs.isEmpty, node.outputs.count == 1, node.inputs.allSatisfy({ !$0.isEmpty }) else { return false }
        let vs = try node.inputs.map { try materialize($0, as: nil, context: node.label) }
        let dtype = values[vs[0]].dtype
        guard vs.allSatisfy({ values[$0].dtype == dtype && values[$0].quant == nil }) else { return false }
        let g = try concatGeometry(node, vs)
        let y = try addValue(node.outputs[0], dtype, g.shape, layout: g.layout)
        layers.append(ConcatLayer(op: "Concat", source: [node.name], inputs: g.values, output: y,
                                  chunks: g.chunks.map { $0 * dtype.byteSize }, tables: g.values.map { _ in nil }, outer: g.outer,
                                  isIntegerOnly: dtype != .float32))
        env[node.outputs[0]] = .value(y)
        return true
    }

    /// The physical view of a Concat: inputs in one layout, the output's logical shape,
    /// and `outer` runs of each input's `chunks` elements.
    func concatGeometry(_ node: Node, _ inputs: [Int]) throws -> (values: [Int], shape: [Int], layout: Layout, outer: Int, chunks: [Int]) {
        try node.checkAttributes(known: ["axis"])
        guard let first = inputs.first else { throw node.invalid("needs at least one input") }
        let rank = values[first].shape.count
        var axis = try node.int("axis", default: 1)
        if axis < 0 { axis += rank }
        guard axis >= 0 && axis < rank else { throw node.invalid("axis out of range") }
        // Concatenating channels of NHWC tensors stays NHWC; other axes work on NCHW.
        let layout: Layout = rank == 4 && axis == 1 && values[first].layout == .nhwc ? .nhwc : .nchw
        var vs: [Int] = []
        for (i, input) in inputs.enumerated() {
            let v = try relayout(input, to: layout, key: node.inputs[i])
            guard values[v].shape.count == rank,
                  (0..<rank).allSatisfy({ $0 == axis || values[v].shape[$0] == values[first].shape[$0] }) else {
                throw node.invalid("inputs cannot be concatenated on axis \(axis)")
            }
            vs.append(v)
        }
        var shape = values[first].shape
        shape[axis] = vs.map { values[$0].shape[axis] }.reduce(0, +)
        let physicalAxis = layout == .nhwc ? 3 : axis
        let physical = values[vs[0]].physicalShape
        return (vs, shape, layout, physical[..<physicalAxis].reduce(1, *), vs.map { values[$0].physicalShape[physicalAxis...].reduce(1, *) })
    }

    /// An element-wise function of one 8-bit input, quantized: a 256-entry table.
    func lowerQDQTable(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard let x = quantizedActivation(symbols.first ?? nil), let out = try outputQuantization(of: node.outputs[0]) else { return false }
        let constants = try (0..<node.inputs.count).map { try constantInput(node, $0) }
        if node.opType == "Clip", constants.dropFirst().contains(where: { $0 == nil }) && node.inputs.dropFirst().contains(where: { !$0.isEmpty }) {
            return false
        }
        return try emitTable(node, x: x, out: out) { real in
            var inputs = constants
            inputs[0] = Tensor(real, shape: [real.count])
            return try ReferenceOps.evaluate(node, inputs, opset: graph.opset)[0].floats
        }
    }

    /// An element-wise op of one 8-bit activation and scalar constants (a division by 6
    /// in a decomposed HardSwish, a Pow, an Erf), between Q/DQ pairs: any function of
    /// one byte is a 256-entry table, so it runs as a lookup (integer-only).
    func lowerQDQScalarTable(_ node: Node, index: Int, _ symbols: [Symbol?]) throws -> Bool {
        guard node.outputs.count == 1, node.inputs.count >= 1 else { return false }
        for i in 1..<max(node.inputs.count, 1) where !node.inputs[i].isEmpty {
            guard let c = try constantInput(node, i), c.count == 1 else { return false }
        }
        return try lowerQDQTable(node, index: index, symbols)
    }

    func emitTable(_ node: Node, x: (value: Int, params: QuantParams), out: OutputQuantization,
                   _ f: ([Float]) throws -> [Float]) throws -> Bool {
        let info = values[x.value]
        let t = try table(input: x.params, inputType: info.dtype, output: out, f)
        let y = try addValue(out.name, out.dtype, info.shape, layout: info.layout, quant: out.params)
        layers.append(TableLayer(op: "QTable(\(node.opType))", source: sourceNames(node, out),
                                 input: x.value, output: y, table: t, count: info.count, what: "256-entry table of \(node.opType)"))
        finish(out, value: y)
        return true
    }
}
