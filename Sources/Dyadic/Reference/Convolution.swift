/// Reference convolution and matrix products (NCHW, ONNX semantics).
enum Convolution {
    /// Direct 2-D convolution over element accessors; `T` is the accumulator type.
    /// Padding taps contribute `x(padValue)`, i.e. nothing once the zero point is removed.
    static func conv2d<T: Numeric>(
        node: Node, x: [T], xShape: [Int], w: [T], wShape: [Int], bias: [T]?, group: Int
    ) throws -> (values: [T], shape: [Int]) {
        guard xShape.count == 4, wShape.count == 4 else { throw node.unsupported("a convolution of rank \(xShape.count) (only 2-D)") }
        let (n, c, h, wi) = (xShape[0], xShape[1], xShape[2], xShape[3])
        let m = wShape[0], cpg = wShape[1]
        guard group >= 1, c == cpg * group, m % group == 0 else {
            throw node.invalid("input channels \(c), weight shape \(wShape.shapeString) and group \(group) do not agree")
        }
        let g = try WindowGeometry(node: node, inputH: h, inputW: wi, kernelShape: [wShape[2], wShape[3]])
        let (oh, ow) = g.output
        var out = [T](repeating: 0, count: n * m * oh * ow)
        let mpg = m / group
        for b in 0..<n {
            for oc in 0..<m {
                let grp = oc / mpg
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var acc: T = bias?[oc] ?? 0
                        for ic in 0..<cpg {
                            let cin = grp * cpg + ic
                            for ky in 0..<g.kernel.h {
                                let iy = oy * g.stride.h - g.pads.t + ky * g.dilation.h
                                if iy < 0 || iy >= h { continue }
                                for kx in 0..<g.kernel.w {
                                    let ix = ox * g.stride.w - g.pads.l + kx * g.dilation.w
                                    if ix < 0 || ix >= wi { continue }
                                    acc += x[((b * c + cin) * h + iy) * wi + ix] * w[((oc * cpg + ic) * g.kernel.h + ky) * g.kernel.w + kx]
                                }
                            }
                        }
                        out[((b * m + oc) * oh + oy) * ow + ox] = acc
                    }
                }
            }
        }
        return (out, [n, m, oh, ow])
    }

    static func conv(_ node: Node, _ x: Tensor, _ w: Tensor, _ b: Tensor?) throws -> Tensor {
        try node.checkAttributes(known: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        guard x.dtype == .float32, w.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        let r = try conv2d(node: node, x: x.floats, xShape: x.shape, w: w.floats, wShape: w.shape,
                           bias: b?.floats, group: try node.int("group", default: 1))
        return Tensor(r.values, shape: r.shape)
    }

    /// ConvInteger: int32 output of (x − x_zp)·(w − w_zp), w_zp per tensor or per output channel.
    static func convInteger(_ node: Node, _ x: Tensor, _ w: Tensor, _ xzp: Tensor?, _ wzp: Tensor?) throws -> Tensor {
        try node.checkAttributes(known: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        let xz = Int32(xzp?.int64Values.first ?? 0)
        let xv = x.int32Values.map { $0 - xz }
        var wv = w.int32Values
        if let wzp, !wzp.int64Values.isEmpty {
            let z = wzp.int32Values, per = w.count / max(w.shape.first ?? 1, 1)
            for i in 0..<wv.count { wv[i] -= z.count == 1 ? z[0] : z[i / per] }
        }
        let r = try conv2d(node: node, x: xv, xShape: x.shape, w: wv, wShape: w.shape, bias: nil,
                           group: try node.int("group", default: 1))
        return Tensor(r.values, shape: r.shape)
    }

    /// Batched matrix product with NumPy broadcasting over leading dimensions.
    static func matmul<T: Numeric>(node: Node, _ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int]) throws -> ([T], [Int]) {
        var sa = aShape, sb = bShape
        if sa.count == 1 { sa = [1] + sa }
        if sb.count == 1 { sb = sb + [1] }
        guard sa.count >= 2, sb.count >= 2, sa[sa.count - 1] == sb[sb.count - 2] else {
            throw node.invalid("shapes \(aShape.shapeString) and \(bShape.shapeString) cannot be multiplied")
        }
        let m = sa[sa.count - 2], k = sa[sa.count - 1], n = sb[sb.count - 1]
        let batch = try Broadcast.shape(Array(sa.dropLast(2)), Array(sb.dropLast(2)), context: node.label)
        let ia = Broadcast.indices(of: Array(sa.dropLast(2)), in: batch)
        let ib = Broadcast.indices(of: Array(sb.dropLast(2)), in: batch)
        var out = [T](repeating: 0, count: ia.count * m * n)
        for bi in 0..<ia.count {
            let ao = ia[bi] * m * k, bo = ib[bi] * k * n, oo = bi * m * n
            for i in 0..<m {
                for j in 0..<n {
                    var acc: T = 0
                    for p in 0..<k { acc += a[ao + i * k + p] * b[bo + p * n + j] }
                    out[oo + i * n + j] = acc
                }
            }
        }
        var shape = batch + [m, n]
        if aShape.count == 1 { shape.remove(at: shape.count - 2) }
        if bShape.count == 1 { shape.removeLast() }
        return (out, shape)
    }

    static func matmulFloat(_ node: Node, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.dtype == .float32, b.dtype == .float32 else { throw node.unsupported("element type \(a.dtype)") }
        let (v, s) = try matmul(node: node, a.floats, a.shape, b.floats, b.shape)
        return Tensor(v, shape: s)
    }

    static func matmulInteger(_ node: Node, _ a: Tensor, _ b: Tensor, _ azp: Tensor?, _ bzp: Tensor?) throws -> Tensor {
        let za = azp?.int32Values ?? [0], zb = bzp?.int32Values ?? [0]
        guard za.count == 1 else { throw node.unsupported("a per-row zero point for A") }
        let av = a.int32Values.map { $0 - za[0] }
        var bv = b.int32Values
        let n = b.shape.last ?? 1
        for i in 0..<bv.count { bv[i] -= zb.count == 1 ? zb[0] : zb[i % n] }
        let (v, s) = try matmul(node: node, av, a.shape, bv, b.shape)
        return Tensor(v, shape: s)
    }

    static func gemm(_ node: Node, _ a: Tensor, _ b: Tensor, _ c: Tensor?) throws -> Tensor {
        try node.checkAttributes(known: ["alpha", "beta", "transA", "transB"])
        guard a.dtype == .float32, b.dtype == .float32, a.shape.count == 2, b.shape.count == 2 else {
            throw node.invalid("Gemm needs two 2-D float32 inputs")
        }
        let ta = try node.int("transA", default: 0) != 0, tb = try node.int("transB", default: 0) != 0
        let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
        let at = ta ? DataMovement.transpose2D(a) : a, bt = tb ? DataMovement.transpose2D(b) : b
        var (v, s) = try matmul(node: node, at.floats, at.shape, bt.floats, bt.shape)
        for i in 0..<v.count { v[i] *= alpha }
        if let c {
            guard try Broadcast.shape(s, c.shape, context: node.label) == s else {
                throw node.invalid("C of shape \(c.shape.shapeString) does not broadcast to \(s.shapeString)")
            }
            let idx = Broadcast.indices(of: c.shape, in: s)
            let cv = c.floats
            for i in 0..<v.count { v[i] += beta * cv[idx[i]] }
        }
        return Tensor(v, shape: s)
    }
}
