/// ConvTranspose (2-D, NCHW): strides, pads, output_padding, output_shape, dilations,
/// groups, auto_pad, as ONNX defines them.
enum TransposedConvolution {
    struct Geometry {
        var kernel: (h: Int, w: Int), stride: (h: Int, w: Int), dilation: (h: Int, w: Int)
        var pads: (t: Int, l: Int, b: Int, r: Int)
        var output: (h: Int, w: Int)
    }

    static func geometry(_ node: Node, input: (h: Int, w: Int), kernel: (h: Int, w: Int)) throws -> Geometry {
        try node.checkAttributes(known: ["auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"])
        if let k = try node.ints("kernel_shape"), k != [kernel.h, kernel.w] { throw node.invalid("kernel_shape \(k) does not match the weights") }
        let s = try node.ints("strides") ?? [1, 1], d = try node.ints("dilations") ?? [1, 1]
        let op = try node.ints("output_padding") ?? [0, 0]
        guard s.count == 2, d.count == 2, op.count == 2, s.allSatisfy({ $0 >= 1 }), d.allSatisfy({ $0 >= 1 }),
              op.allSatisfy({ $0 >= 0 }) else {
            throw node.invalid("strides, dilations and output_padding must be two values (positive, positive, non-negative)")
        }
        let eff = ((kernel.h - 1) * d[0] + 1, (kernel.w - 1) * d[1] + 1)
        // The size with no padding: stride·(in − 1) + output_padding + effective kernel.
        let full = (s[0] * (input.h - 1) + op[0] + eff.0, s[1] * (input.w - 1) + op[1] + eff.1)
        var pads: (Int, Int, Int, Int)
        var output: (Int, Int)
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        guard ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"].contains(autoPad) else { throw node.invalid("auto_pad '\(autoPad)' is not valid") }
        var requested = try node.ints("output_shape").map { Array($0.suffix(2)) }
        if requested == nil, autoPad.hasPrefix("SAME") { requested = [input.h * s[0], input.w * s[1]] }
        if let o = requested {
            guard o.count == 2 else { throw node.invalid("output_shape needs the two spatial sizes") }
            output = (o[0], o[1])
            // A requested size beyond what the inputs reach gets no padding; the extra
            // rows and columns hold the bias only (as ONNX Runtime computes them).
            let total = (max(full.0 - o[0], 0), max(full.1 - o[1], 0))
            // ONNX: SAME_UPPER puts the smaller half of the padding first, anything else the larger.
            pads = autoPad == "SAME_UPPER"
                ? (total.0 / 2, total.1 / 2, total.0 - total.0 / 2, total.1 - total.1 / 2)
                : (total.0 - total.0 / 2, total.1 - total.1 / 2, total.0 / 2, total.1 / 2)
        } else {
            if autoPad == "VALID" {
                pads = (0, 0, 0, 0)
            } else {
                let p = try node.ints("pads") ?? [0, 0, 0, 0]
                guard p.count == 4, p.allSatisfy({ $0 >= 0 }) else { throw node.invalid("pads must be four non-negative values") }
                pads = (p[0], p[1], p[2], p[3])
            }
            output = (full.0 - pads.0 - pads.2, full.1 - pads.1 - pads.3)
        }
        guard output.0 > 0, output.1 > 0 else { throw node.invalid("the output would be empty") }
        return Geometry(kernel: kernel, stride: (s[0], s[1]), dilation: (d[0], d[1]), pads: pads, output: output)
    }

    static func outputShape(_ node: Node, x: [Int], w: [Int]) throws -> [Int] {
        if x.count == 3, w.count == 3 {
            return try outputShape(OneDimensional.node(node), x: OneDimensional.shape(x), w: OneDimensional.shape(w)).enumerated()
                .filter { $0.offset != 2 }.map(\.element)
        }
        guard x.count == 4, w.count == 4 else { throw node.unsupported("a transposed convolution of rank \(x.count) (only 2-D)") }
        let group = try node.int("group", default: 1)
        guard group >= 1, x[1] == w[0], w[0] % group == 0 else {
            throw node.invalid("input channels \(x[1]), weights \(w.shapeString) and group \(group) do not agree")
        }
        let g = try geometry(node, input: (x[2], x[3]), kernel: (w[2], w[3]))
        return [x[0], w[1] * group, g.output.h, g.output.w]
    }

    static func run(_ node: Node, _ x: Tensor, _ w: Tensor, _ bias: Tensor?) throws -> Tensor {
        if x.shape.count == 3, w.shape.count == 3 {
            let y = try run(try OneDimensional.node(node), x.reshaped(OneDimensional.shape(x.shape)),
                            w.reshaped(OneDimensional.shape(w.shape)), bias)
            return y.reshaped([y.shape[0], y.shape[1], y.shape[3]])
        }
        guard x.dtype == .float32, w.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        let shape = try outputShape(node, x: x.shape, w: w.shape)
        let group = try node.int("group", default: 1)
        let g = try geometry(node, input: (x.shape[2], x.shape[3]), kernel: (w.shape[2], w.shape[3]))
        let (n, c, h, wi) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let m = shape[1], mpg = m / group, cpg = c / group
        let (oh, ow) = g.output
        if let bias, bias.count != m { throw node.invalid("B must have \(m) values") }
        let b = bias?.floats
        var out = [Float](repeating: 0, count: n * m * oh * ow)
        let xv = x.floats, wv = w.floats
        for batch in 0..<n {
            for oc in 0..<m {
                let base = (batch * m + oc) * oh * ow
                if let b { for i in 0..<(oh * ow) { out[base + i] = b[oc] } }
            }
            for ic in 0..<c {
                let grp = ic / cpg
                for iy in 0..<h {
                    for ix in 0..<wi {
                        let v = xv[((batch * c + ic) * h + iy) * wi + ix]
                        for j in 0..<mpg {
                            let oc = grp * mpg + j
                            let wbase = (ic * mpg + j) * g.kernel.h * g.kernel.w
                            let obase = (batch * m + oc) * oh * ow
                            for ky in 0..<g.kernel.h {
                                let oy = iy * g.stride.h - g.pads.t + ky * g.dilation.h
                                if oy < 0 || oy >= oh { continue }
                                for kx in 0..<g.kernel.w {
                                    let ox = ix * g.stride.w - g.pads.l + kx * g.dilation.w
                                    if ox < 0 || ox >= ow { continue }
                                    out[obase + oy * ow + ox] += v * wv[wbase + ky * g.kernel.w + kx]
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(out, shape: shape)
    }
}
