/// Reference operators that select, repeat or relabel elements without arithmetic:
/// Gather, Slice, Split, Tile, Expand, Where, ConstantOfShape, Range, Size, Cast.
/// They move bytes, so they serve every element type alike.
enum Indexing {
    /// The elements at flat positions `indices`, as a tensor of `shape`.
    static func pick(_ x: Tensor, _ indices: [Int], shape: [Int]) -> Tensor {
        let size = x.dtype.byteSize
        var out = [UInt8](repeating: 0, count: indices.count * size)
        x.bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for (i, j) in indices.enumerated() {
                    dst.baseAddress!.advanced(by: i * size).copyMemory(from: src.baseAddress!.advanced(by: j * size), byteCount: size)
                }
            }
        }
        return Tensor(dtype: x.dtype, shape: shape, bytes: out)
    }

    static func axis(_ node: Node, _ value: Int, rank: Int) throws -> Int {
        let a = value < 0 ? value + rank : value
        guard a >= 0 && a < max(rank, 1) else { throw node.invalid("axis \(value) is out of range for rank \(rank)") }
        return a
    }

    static func gather(_ node: Node, _ x: Tensor, _ indices: Tensor) throws -> Tensor {
        try node.checkAttributes(known: ["axis"])
        guard indices.dtype == .int64 || indices.dtype == .int32 else { throw node.invalid("indices must be int32 or int64, not \(indices.dtype)") }
        let rank = x.shape.count
        guard rank >= 1 else { throw node.invalid("data must have rank 1 or more") }
        let a = try axis(node, try node.int("axis", default: 0), rank: rank)
        let n = x.shape[a], outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
        let idx = try indices.int64Values.map { v -> Int in
            let i = Int(v) < 0 ? Int(v) + n : Int(v)
            guard i >= 0 && i < n else { throw node.invalid("index \(v) is out of range for axis \(a) of size \(n)") }
            return i
        }
        var positions: [Int] = []
        positions.reserveCapacity(outer * idx.count * inner)
        for o in 0..<outer {
            for i in idx {
                let base = (o * n + i) * inner
                for k in 0..<inner { positions.append(base + k) }
            }
        }
        return pick(x, positions, shape: Array(x.shape[..<a]) + indices.shape + Array(x.shape[(a + 1)...]))
    }

    /// Slice's starts/ends/axes/steps, clamped as ONNX defines them, per axis of the input.
    static func sliceRanges(_ node: Node, shape: [Int], starts: [Int64], ends: [Int64], axes: [Int64]?, steps: [Int64]?) throws
        -> [(start: Int, step: Int, count: Int)] {
        let rank = shape.count
        guard starts.count == ends.count else { throw node.invalid("starts and ends have different lengths") }
        let axisList = try (axes ?? (0..<Int64(starts.count)).map { $0 }).map { try axis(node, Int($0), rank: rank) }
        guard axisList.count == starts.count, Set(axisList).count == axisList.count else { throw node.invalid("axes must be distinct, one per start") }
        let stepList = steps ?? Array(repeating: 1, count: starts.count)
        guard stepList.count == starts.count else { throw node.invalid("steps has the wrong length") }
        var ranges = shape.map { (start: 0, step: 1, count: $0) }
        for (k, a) in axisList.enumerated() {
            let dim = Int64(shape[a]), step = stepList[k]
            guard step != 0 else { throw node.invalid("a step of 0") }
            func clamp(_ v: Int64, _ lo: Int64, _ hi: Int64) -> Int64 { min(max(v, lo), hi) }
            var s = starts[k], e = ends[k]
            if s < 0 { s = s &+ dim }
            if e < 0 { e = e &+ dim }
            let count: Int64
            if step > 0 {
                s = clamp(s, 0, dim); e = clamp(e, 0, dim)
                count = e > s ? (e - s + step - 1) / step : 0
            } else {
                s = clamp(s, 0, dim - 1); e = clamp(e, -1, dim - 1)
                count = s > e ? (s - e + (-step) - 1) / (-step) : 0
            }
            ranges[a] = (Int(s), Int(step), Int(count))
        }
        return ranges
    }

    static func slice(_ node: Node, _ x: Tensor, ranges: [(start: Int, step: Int, count: Int)]) -> Tensor {
        let shape = ranges.map(\.count)
        let strides = rowMajorStrides(x.shape)
        var positions = [0]
        for (d, r) in ranges.enumerated() {
            var next: [Int] = []
            next.reserveCapacity(positions.count * r.count)
            for p in positions { for i in 0..<r.count { next.append(p + (r.start + i * r.step) * strides[d]) } }
            positions = next
        }
        return pick(x, shape.contains(0) ? [] : positions, shape: shape)
    }

    static func sliceParameters(_ node: Node, _ inputs: [Tensor?], opset: Int) throws -> ([Int64], [Int64], [Int64]?, [Int64]?) {
        if opset < 10 {
            try node.checkAttributes(known: ["starts", "ends", "axes"])
            guard let s = try node.ints("starts"), let e = try node.ints("ends") else { throw node.invalid("starts and ends are required") }
            return (s.map(Int64.init), e.map(Int64.init), try node.ints("axes")?.map(Int64.init), nil)
        }
        try node.checkAttributes(known: [])
        func values(_ i: Int) throws -> [Int64]? {
            guard i < inputs.count else { return nil }
            guard let t = inputs[i] else { return nil }
            return t.int64Values
        }
        guard let s = try values(1), let e = try values(2) else { throw node.unsupported("starts and ends that are not constants") }
        return (s, e, try values(3), try values(4))
    }

    /// Split sizes along the axis: from the input (opset 13+), the attribute, or equal parts.
    static func splitSizes(_ node: Node, dim: Int, outputs: Int, sizes: Tensor?, opset: Int) throws -> [Int] {
        try node.checkAttributes(known: ["axis", "split", "num_outputs"])
        if let sizes { return sizes.int64Values.map { Int($0) } }
        if let s = try node.ints("split") { return s }
        let parts = try node.int("num_outputs", default: outputs)
        guard parts > 0 else { throw node.invalid("num_outputs must be positive") }
        let size = (dim + parts - 1) / parts
        return (0..<parts).map { max(0, min(size, dim - $0 * size)) }
    }

    static func split(_ node: Node, _ x: Tensor, sizes: Tensor?, opset: Int) throws -> [Tensor] {
        let a = try axis(node, try node.int("axis", default: 0), rank: x.shape.count)
        let parts = try splitSizes(node, dim: x.shape[a], outputs: node.outputs.count, sizes: sizes, opset: opset)
        guard parts.count == node.outputs.count, parts.allSatisfy({ $0 >= 0 }), parts.reduce(0, +) == x.shape[a] else {
            throw node.invalid("split sizes \(parts) do not divide axis \(a) of size \(x.shape[a]) into \(node.outputs.count) outputs")
        }
        var start = 0
        return parts.map { n in
            var ranges = x.shape.map { (start: 0, step: 1, count: $0) }
            ranges[a] = (start, 1, n)
            start += n
            return slice(node, x, ranges: ranges)
        }
    }

    static func tile(_ node: Node, _ x: Tensor, _ repeats: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        let shape = try tileShape(node, x.shape, repeats)
        let strides = rowMajorStrides(x.shape)
        var positions = [0]
        for d in 0..<shape.count {
            var next: [Int] = []
            for p in positions { for i in 0..<shape[d] { next.append(p + (i % x.shape[d]) * strides[d]) } }
            positions = next
        }
        return pick(x, shape.contains(0) ? [] : positions, shape: shape)
    }

    /// Tile's output shape; its size is checked for overflow.
    static func tileShape(_ node: Node, _ input: [Int], _ repeats: Tensor) throws -> [Int] {
        let r = repeats.int64Values.map { Int($0) }
        guard r.count == input.count, r.allSatisfy({ $0 >= 0 }) else { throw node.invalid("repeats \(r) do not fit rank \(input.count)") }
        let shape = zip(input, r).map { $0.multipliedReportingOverflow(by: $1) }
        guard shape.allSatisfy({ !$0.overflow }), shape.map(\.partialValue).checkedProduct != nil else {
            throw node.invalid("repeats \(r) make a tensor too large to address")
        }
        return shape.map(\.partialValue)
    }

    static func expandShape(_ node: Node, _ input: [Int], _ requested: Tensor) throws -> [Int] {
        try Broadcast.shape(input, requested.int64Values.map { Int($0) }, context: node.label)
    }

    static func expand(_ node: Node, _ x: Tensor, _ shape: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        let out = try expandShape(node, x.shape, shape)
        return pick(x, Broadcast.indices(of: x.shape, in: out), shape: out)
    }

    static func whereSelect(_ node: Node, _ c: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        guard c.dtype == .bool else { throw node.invalid("condition must be bool, not \(c.dtype)") }
        guard a.dtype == b.dtype else { throw node.invalid("X and Y have different element types (\(a.dtype) and \(b.dtype))") }
        let shape = try Broadcast.shape(try Broadcast.shape(c.shape, a.shape, context: node.label), b.shape, context: node.label)
        let ic = Broadcast.indices(of: c.shape, in: shape), ia = Broadcast.indices(of: a.shape, in: shape)
        let ib = Broadcast.indices(of: b.shape, in: shape)
        // Concatenate a and b so one pick serves both.
        let both = Tensor(dtype: a.dtype, shape: [a.count + b.count], bytes: a.bytes + b.bytes)
        let positions = (0..<ic.count).map { c.bytes[ic[$0]] != 0 ? ia[$0] : a.count + ib[$0] }
        return pick(both, positions, shape: shape)
    }

    static func constantOfShapeDims(_ node: Node, _ shape: Tensor) throws -> [Int] {
        let dims = shape.int64Values.map { Int($0) }
        guard dims.checkedProduct != nil else { throw node.invalid("shape \(dims) has a negative dimension or is too large to address") }
        return dims
    }

    static func constantOfShapeFill(_ node: Node) throws -> Tensor {
        try node.checkAttributes(known: ["value"])
        guard let attribute = node.attributes["value"] else { return Tensor([Float(0)], shape: [1]) }
        guard case .tensor(let t) = attribute, t.count == 1 else { throw node.invalid("value must be a one-element tensor") }
        return t
    }

    static func constantOfShape(_ node: Node, _ shape: Tensor) throws -> Tensor {
        let dims = try constantOfShapeDims(node, shape), fill = try constantOfShapeFill(node)
        let n = dims.reduce(1, *)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(n * fill.dtype.byteSize)
        for _ in 0..<n { bytes += fill.bytes }
        return Tensor(dtype: fill.dtype, shape: dims, bytes: bytes)
    }

    static func range(_ node: Node, _ start: Tensor, _ limit: Tensor, _ delta: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        guard start.dtype == limit.dtype, limit.dtype == delta.dtype, start.count == 1, limit.count == 1, delta.count == 1 else {
            throw node.invalid("start, limit and delta must be scalars of one type")
        }
        let s = start.doubleValues[0], l = limit.doubleValues[0], d = delta.doubleValues[0]
        guard d != 0 else { throw node.invalid("delta is 0") }
        let steps = ((l - s) / d).rounded(.up)
        // Beyond 2^40 values no Range fits in memory; NaN/inf limits have no count.
        guard steps.isFinite, steps < 0x1p40 else { throw node.invalid("Range from \(s) to \(l) by \(d) has too many values") }
        let n = max(Int(steps), 0)
        switch start.dtype {
        case .float32:
            let s = start.floats[0], d = delta.floats[0]
            return Tensor((0..<n).map { s + Float($0) * d }, shape: [n])
        case .int64, .int32:
            let s = start.int64Values[0], d = delta.int64Values[0]
            let v = (0..<n).map { s + Int64($0) * d }
            return start.dtype == .int64 ? Tensor(v, shape: [n]) : Tensor(v.map { Int32(truncatingIfNeeded: $0) }, shape: [n])
        default: throw node.unsupported("element type \(start.dtype)")
        }
    }

    /// ONNX's `to` codes of the types the engine holds.
    static func dtype(onnxCode code: Int) -> DType? {
        switch code {
        case 1: .float32
        case 2: .uint8
        case 3: .int8
        case 6: .int32
        case 7: .int64
        case 9: .bool
        default: nil
        }
    }

    static func cast(_ node: Node, _ x: Tensor) throws -> Tensor {
        try node.checkAttributes(known: ["to", "saturate"])
        let code = try node.int("to", default: -1)
        guard let to = dtype(onnxCode: code) else { throw node.unsupported("a cast to ONNX type \(code)") }
        return try convert(node, x, to: to)
    }

    /// Float to integer truncates toward zero (as C casts do, which ONNX Runtime follows);
    /// integers wrap to narrower types; anything non-zero is true.
    static func convert(_ node: Node, _ x: Tensor, to: DType) throws -> Tensor {
        if x.dtype == to { return x }
        switch (x.dtype, to) {
        case (.float32, .float32): return x
        case (_, .float32):
            guard [.int64, .int32, .int8, .uint8, .bool].contains(x.dtype) else { throw node.unsupported("a cast from \(x.dtype)") }
            return Tensor(x.int64Values.map { Float($0) }, shape: x.shape)
        case (.float32, .bool): return Tensor(dtype: .bool, shape: x.shape, bytes: x.floats.map { $0 != 0 ? 1 : 0 })
        case (_, .bool): return Tensor(dtype: .bool, shape: x.shape, bytes: x.int64Values.map { $0 != 0 ? 1 : 0 })
        default: break
        }
        let wide: [Int64]
        switch x.dtype {
        case .float32: wide = x.floats.map { v in v.isNaN ? Int64.min : (abs(v) < 9.2e18 ? Int64(v) : (v < 0 ? Int64.min : Int64.max)) }
        case .int64, .int32, .int8, .uint8, .bool: wide = x.int64Values
        default: throw node.unsupported("a cast from \(x.dtype)")
        }
        switch to {
        case .int64: return Tensor(wide, shape: x.shape)
        case .int32: return Tensor(wide.map { Int32(truncatingIfNeeded: $0) }, shape: x.shape)
        case .int8: return Tensor(wide.map { Int8(truncatingIfNeeded: $0) }, shape: x.shape)
        case .uint8: return Tensor(wide.map { UInt8(truncatingIfNeeded: $0) }, shape: x.shape)
        default: throw node.unsupported("a cast to \(to)")
        }
    }

    /// SpaceToDepth and DepthToSpace (DCR and CRD modes) as the reshape–transpose–reshape
    /// ONNX defines them by.
    static func depthSpace(_ node: Node, _ x: Tensor) throws -> Tensor {
        try node.checkAttributes(known: node.opType == "DepthToSpace" ? ["blocksize", "mode"] : ["blocksize"])
        guard x.shape.count == 4 else { throw node.invalid("input must have rank 4") }
        let b = try node.int("blocksize", default: 0)
        guard b >= 1, b <= Int(Int32.max) else { throw node.invalid("blocksize must be from 1 to 2^31 - 1") }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        if node.opType == "SpaceToDepth" {
            guard h % b == 0, w % b == 0 else { throw node.invalid("height and width must be multiples of blocksize \(b)") }
            let t = DataMovement.transpose(x.reshaped([n, c, h / b, b, w / b, b]), perm: [0, 3, 5, 1, 2, 4])
            return t.reshaped([n, c * b * b, h / b, w / b])
        }
        guard c % (b * b) == 0 else { throw node.invalid("channels must be a multiple of blocksize² \(b * b)") }
        let mode = try node.string("mode", default: "DCR")
        let t: Tensor
        switch mode {
        case "DCR": t = DataMovement.transpose(x.reshaped([n, b, b, c / (b * b), h, w]), perm: [0, 3, 4, 1, 5, 2])
        case "CRD": t = DataMovement.transpose(x.reshaped([n, c / (b * b), b, b, h, w]), perm: [0, 1, 4, 2, 5, 3])
        default: throw node.invalid("mode '\(mode)' is neither DCR nor CRD")
        }
        return t.reshaped([n, c / (b * b), h * b, w * b])
    }
}
