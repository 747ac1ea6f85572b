import DyadicKernels

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
        guard group >= 1, [cpg, group].checkedProduct == c, m % group == 0 else {
            throw node.invalid("input channels \(c), weight shape \(wShape.shapeString) and group \(group) do not agree")
        }
        if let bias, bias.count != m { throw node.invalid("bias has \(bias.count) values for \(m) output channels") }
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
        guard x.shape.count == 4, w.shape.count == 4 else { throw node.unsupported("a convolution of rank \(x.shape.count) (only 2-D)") }
        // Zero points of the operands' own 8-bit type keep every difference within int32.
        guard x.dtype.isQuantized8Bit, w.dtype.isQuantized8Bit else { throw node.unsupported("operands of type \(x.dtype) and \(w.dtype)") }
        if let xzp, xzp.dtype != x.dtype || xzp.count > 1 { throw node.invalid("x_zero_point must be one \(x.dtype) value") }
        if let wzp, wzp.dtype != w.dtype || (wzp.count > 1 && wzp.count != w.shape[0]) {
            throw node.invalid("w_zero_point must be one \(w.dtype) value or one per output channel")
        }
        let xz = Int32(xzp?.int64Values.first ?? 0)
        let xv = x.int32Values.map { $0 - xz }
        var wv = w.int32Values
        if let wzp, !wzp.int64Values.isEmpty {
            let z = wzp.int32Values, per = w.count / max(w.shape.first ?? 1, 1)
            for i in 0..<wv.count { wv[i] -= z.count == 1 ? z[0] : z[i / per] }
        }
        let group = try node.int("group", default: 1)
        let (n, c, h, wi) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let m = w.shape[0], cpg = w.shape[1]
        guard group >= 1, [cpg, group].checkedProduct == c, m % group == 0 else {
            throw node.invalid("input channels \(c), weight shape \(w.shape.shapeString) and group \(group) do not agree")
        }
        let g = try WindowGeometry(node: node, inputH: h, inputW: wi, kernelShape: [w.shape[2], w.shape[3]])
        let (oh, ow) = g.output, pixels = oh * ow, taps = g.kernel.h * g.kernel.w, mpg = m / group
        // im2col rows of (x − x_zp) (padding is the zero point, so 0), then one int32
        // product per image and group.
        var out = [Int32](repeating: 0, count: n * m * pixels)
        var cols = [Int32](repeating: 0, count: cpg * taps * pixels)
        for b in 0..<n {
            for grp in 0..<group {
                for ic in 0..<cpg {
                    let plane = ((b * c) + grp * cpg + ic) * h * wi
                    for ky in 0..<g.kernel.h {
                        for kx in 0..<g.kernel.w {
                            let row = ((ic * g.kernel.h + ky) * g.kernel.w + kx) * pixels
                            for oy in 0..<oh {
                                let iy = oy * g.stride.h - g.pads.t + ky * g.dilation.h
                                for ox in 0..<ow {
                                    let ix = ox * g.stride.w - g.pads.l + kx * g.dilation.w
                                    cols[row + oy * ow + ox] = (iy < 0 || iy >= h || ix < 0 || ix >= wi) ? 0 : xv[plane + iy * wi + ix]
                                }
                            }
                        }
                    }
                }
                let weights = Array(wv[(grp * mpg * cpg * taps)..<((grp + 1) * mpg * cpg * taps)])
                let (y, _) = try matmul(node: node, weights, [mpg, cpg * taps], cols, [cpg * taps, pixels])
                let base = (b * m + grp * mpg) * pixels
                for i in 0..<y.count { out[base + i] = y[i] }
            }
        }
        return Tensor(out, shape: [n, m, oh, ow])
    }

    /// Batched matrix product with NumPy broadcasting over the leading axes. Rows are
    /// accumulated as row × matrix (i, p, j order), which walks B contiguously; float32
    /// products go to the engine's GEMM kernel.
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
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op in
                    for bi in 0..<ia.count {
                        let ao = ia[bi] * m * k, bo = ib[bi] * k * n, oo = bi * m * n
                        if T.self == Float.self, m * n * k > 0 {
                            let af = UnsafeRawPointer(ap.baseAddress! + ao).assumingMemoryBound(to: Float.self)
                            let bf = UnsafeRawPointer(bp.baseAddress! + bo).assumingMemoryBound(to: Float.self)
                            let cf = UnsafeMutableRawPointer(op.baseAddress! + oo).assumingMemoryBound(to: Float.self)
                            dyd_f32_gemm(m, n, k, af, k, bf, n, 0, cf, n)
                            continue
                        }
                        if T.self == Int32.self {
                            // Wrapping int32 arithmetic (as integer GEMMs accumulate) lets the loop vectorise.
                            let ai = UnsafeRawPointer(ap.baseAddress! + ao).assumingMemoryBound(to: Int32.self)
                            let bi32 = UnsafeRawPointer(bp.baseAddress! + bo).assumingMemoryBound(to: Int32.self)
                            let ci = UnsafeMutableRawPointer(op.baseAddress! + oo).assumingMemoryBound(to: Int32.self)
                            for i in 0..<m {
                                let row = ci + i * n
                                for p in 0..<k {
                                    let x = ai[i * k + p]
                                    if x == 0 { continue }
                                    let brow = bi32 + p * n
                                    for j in 0..<n { row[j] &+= x &* brow[j] }
                                }
                            }
                            continue
                        }
                        for i in 0..<m {
                            let row = op.baseAddress! + oo + i * n
                            for p in 0..<k {
                                let x = ap[ao + i * k + p]
                                if x == 0 { continue }
                                let brow = bp.baseAddress! + bo + p * n
                                for j in 0..<n { row[j] += x * brow[j] }
                            }
                        }
                    }
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
