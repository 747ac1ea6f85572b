/// Reference pooling (NCHW, float32).
enum Pooling {
    static func pool(_ node: Node, _ x: Tensor) throws -> Tensor {
        let isMax = node.opType == "MaxPool"
        try node.checkAttributes(known: isMax
            ? ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"]
            : ["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"])
        guard x.dtype == .float32 || (isMax && x.dtype.isQuantized8Bit) else { throw node.unsupported("element type \(x.dtype)") }
        guard x.shape.count == 4 else { throw node.unsupported("a \(x.shape.count - 2)-D pooling (only 2-D)") }
        guard let k = try node.ints("kernel_shape") else { throw node.invalid("kernel_shape is required") }
        if try node.int("storage_order", default: 0) != 0 { throw node.unsupported("storage_order 1") }
        let g = try WindowGeometry(node: node, inputH: x.shape[2], inputW: x.shape[3], kernelShape: k,
                                   ceilMode: try node.int("ceil_mode", default: 0) != 0)
        let includePad = try node.int("count_include_pad", default: 0) != 0
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = g.output
        let v: [Float] = x.dtype == .float32 ? x.floats : x.int32Values.map(Float.init)
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        for plane in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc: Float = isMax ? -.infinity : 0
                    // Only the taps inside the input are visited (a window may be far larger than
                    // the input); the taps in the explicit padding are counted, not visited, for
                    // count_include_pad. Taps past the padding (ceil_mode) never count.
                    let (y0, x0) = (oy * g.stride.h - g.pads.t, ox * g.stride.w - g.pads.l)
                    let rows = taps(y0, g.dilation.h, g.kernel.h, 0, h), cols = taps(x0, g.dilation.w, g.kernel.w, 0, w)
                    let paddedRows = taps(y0, g.dilation.h, g.kernel.h, -g.pads.t, h + g.pads.b)
                    let paddedCols = taps(x0, g.dilation.w, g.kernel.w, -g.pads.l, w + g.pads.r)
                    let count = rows.count * cols.count
                    let padded = paddedRows.count * paddedCols.count - count
                    for ky in rows {
                        let iy = y0 + ky * g.dilation.h
                        for kx in cols {
                            let value = v[(plane * h + iy) * w + x0 + kx * g.dilation.w]
                            if isMax { acc = max(acc, value) } else { acc += value }
                        }
                    }
                    if !isMax { acc /= Float(includePad ? count + padded : max(count, 1)) }
                    out[(plane * oh + oy) * ow + ox] = acc
                }
            }
        }
        if x.dtype != .float32 {
            let ints = out.map { Int32($0) }
            return x.dtype == .uint8 ? Tensor(ints.map { UInt8($0) }, shape: [n, c, oh, ow]) : Tensor(ints.map { Int8($0) }, shape: [n, c, oh, ow])
        }
        return Tensor(out, shape: [n, c, oh, ow])
    }

    /// The taps k in 0..<kernel whose position start + k·dilation lies in lo..<hi.
    private static func taps(_ start: Int, _ dilation: Int, _ kernel: Int, _ lo: Int, _ hi: Int) -> Range<Int> {
        func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
        let first = max(0, ceilDiv(lo - start, dilation)), end = min(kernel, ceilDiv(hi - start, dilation))
        return first < end ? first..<end : 0..<0
    }

    static func global(_ node: Node, _ x: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        guard x.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        guard x.shape.count >= 3 else { throw node.invalid("input must have rank 3 or more") }
        let spatial = x.shape[2...].reduce(1, *), planes = x.shape[0] * x.shape[1]
        let v = x.floats
        var out = [Float](repeating: 0, count: planes)
        for p in 0..<planes {
            let slice = v[(p * spatial)..<((p + 1) * spatial)]
            out[p] = node.opType == "GlobalMaxPool" ? (slice.max() ?? 0) : slice.reduce(0, +) / Float(spatial)
        }
        return Tensor(out, shape: Array(x.shape[0..<2]) + Array(repeating: 1, count: x.shape.count - 2))
    }
}
