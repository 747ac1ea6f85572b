/// Reference data-movement operators; they work on every element type.
enum DataMovement {
    static func transpose(_ x: Tensor, perm: [Int]) -> Tensor {
        let rank = x.shape.count
        let outShape = perm.map { x.shape[$0] }
        let inStrides = rowMajorStrides(x.shape)
        let size = x.dtype.byteSize
        var out = [UInt8](repeating: 0, count: x.bytes.count)
        let total = x.count
        if total == 0 { return Tensor(dtype: x.dtype, shape: outShape, bytes: out) }
        var index = [Int](repeating: 0, count: rank)
        var src = 0
        let permStrides = perm.map { inStrides[$0] }
        x.bytes.withUnsafeBytes { inBytes in
            out.withUnsafeMutableBytes { outBytes in
                for dst in 0..<total {
                    for b in 0..<size { outBytes[dst * size + b] = inBytes[src * size + b] }
                    var d = rank - 1
                    while d >= 0 {
                        index[d] += 1
                        src += permStrides[d]
                        if index[d] < outShape[d] { break }
                        src -= permStrides[d] * outShape[d]
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return Tensor(dtype: x.dtype, shape: outShape, bytes: out)
    }

    static func transpose2D(_ x: Tensor) -> Tensor { transpose(x, perm: [1, 0]) }

    static func transposeNode(_ node: Node, _ x: Tensor) throws -> Tensor {
        try node.checkAttributes(known: ["perm"])
        let perm = try node.ints("perm") ?? Array((0..<x.shape.count).reversed())
        guard perm.sorted() == Array(0..<x.shape.count) else { throw node.invalid("perm \(perm) is not a permutation of the input's axes") }
        return transpose(x, perm: perm)
    }

    /// Target shape of Reshape (0 copies a dimension unless allowzero, -1 is inferred).
    static func reshapeTarget(_ node: Node, input: [Int], requested: [Int64]) throws -> [Int] {
        let allowZero = try node.int("allowzero", default: 0) != 0
        var shape = [Int]()
        var inferred: Int?
        for (i, d) in requested.enumerated() {
            if d == -1 {
                guard inferred == nil else { throw node.invalid("more than one -1 in the target shape") }
                inferred = i
                shape.append(1)
            } else if d == 0 && !allowZero {
                guard i < input.count else { throw node.invalid("0 in the target shape has no input dimension to copy") }
                shape.append(input[i])
            } else if d < 0 {
                throw node.invalid("invalid target dimension \(d)")
            } else {
                shape.append(Int(d))
            }
        }
        guard let total = input.checkedProduct, let known = shape.checkedProduct else {
            throw node.invalid("cannot reshape \(input.shapeString) to \(requested): too large")
        }
        if let i = inferred {
            guard known > 0, total % known == 0 else { throw node.invalid("cannot reshape \(input.shapeString) to \(requested)") }
            shape[i] = total / known
        }
        guard shape.checkedProduct == total else { throw node.invalid("cannot reshape \(input.shapeString) to \(requested)") }
        return shape
    }

    static func flattenShape(_ node: Node, _ shape: [Int]) throws -> [Int] {
        try node.checkAttributes(known: ["axis"])
        var axis = try node.int("axis", default: 1)
        if axis < 0 { axis += shape.count }
        guard axis >= 0 && axis <= shape.count else { throw node.invalid("axis out of range") }
        return [shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)]
    }

    static func normalizedAxes(_ node: Node, _ axes: [Int], rank: Int) throws -> [Int] {
        try axes.map { a in
            let v = a < 0 ? a + rank : a
            guard v >= 0 && v < rank else { throw node.invalid("axis \(a) out of range for rank \(rank)") }
            return v
        }
    }

    static func squeezeShape(_ node: Node, _ shape: [Int], axes: [Int]?) throws -> [Int] {
        guard let axes else { return shape.filter { $0 != 1 } }
        let a = Set(try normalizedAxes(node, axes, rank: shape.count))
        for i in a where shape[i] != 1 { throw node.invalid("cannot squeeze axis \(i) of size \(shape[i])") }
        return shape.enumerated().filter { !a.contains($0.offset) }.map(\.element)
    }

    static func unsqueezeShape(_ node: Node, _ shape: [Int], axes: [Int]) throws -> [Int] {
        let rank = shape.count + axes.count
        let a = Set(try normalizedAxes(node, axes, rank: rank))
        guard a.count == axes.count else { throw node.invalid("repeated axes") }
        var out = [Int]()
        var it = shape.makeIterator()
        for i in 0..<rank { out.append(a.contains(i) ? 1 : it.next()!) }
        return out
    }

    static func concat(_ node: Node, _ xs: [Tensor]) throws -> Tensor {
        try node.checkAttributes(known: ["axis"])
        guard let first = xs.first else { throw node.invalid("needs at least one input") }
        let rank = first.shape.count
        var axis = try node.int("axis", default: 1)
        if axis < 0 { axis += rank }
        guard axis >= 0 && axis < rank else { throw node.invalid("axis out of range") }
        for x in xs {
            guard x.dtype == first.dtype, x.shape.count == rank,
                  (0..<rank).allSatisfy({ $0 == axis || x.shape[$0] == first.shape[$0] }) else {
                throw node.invalid("inputs \(xs.map { $0.shape.shapeString }) cannot be concatenated on axis \(axis)")
            }
        }
        var shape = first.shape
        shape[axis] = xs.map { $0.shape[axis] }.reduce(0, +)
        let outer = first.shape[..<axis].reduce(1, *)
        let size = first.dtype.byteSize
        var out = [UInt8]()
        out.reserveCapacity(shape.reduce(1, *) * size)
        for o in 0..<outer {
            for x in xs {
                let chunk = x.shape[axis...].reduce(1, *) * size
                out.append(contentsOf: x.bytes[(o * chunk)..<((o + 1) * chunk)])
            }
        }
        return Tensor(dtype: first.dtype, shape: shape, bytes: out)
    }

    /// Constant-mode (and edge/reflect) padding of any rank; `pads` is [begin..., end...].
    static func pad(_ node: Node, _ x: Tensor, pads: [Int], value: Tensor?, mode: String) throws -> Tensor {
        let rank = x.shape.count
        guard pads.count == 2 * rank else { throw node.invalid("pads has \(pads.count) values for rank \(rank)") }
        guard pads.allSatisfy({ $0 >= 0 }) else { throw node.unsupported("negative pads") }
        guard ["constant", "edge", "reflect"].contains(mode) else { throw node.unsupported("mode '\(mode)'") }
        let outShape = (0..<rank).map { x.shape[$0] + pads[$0] + pads[$0 + rank] }
        if mode == "reflect" {
            for d in 0..<rank where pads[d] >= x.shape[d] || pads[d + rank] >= x.shape[d] {
                throw node.invalid("reflect padding wider than the input")
            }
        }
        let size = x.dtype.byteSize
        let fill: [UInt8] = value.map { Array($0.bytes.prefix(size)) } ?? [UInt8](repeating: 0, count: size)
        guard fill.count == size else { throw node.invalid("constant_value has the wrong type") }
        let total = outShape.reduce(1, *)
        var out = [UInt8](repeating: 0, count: total * size)
        let inStrides = rowMajorStrides(x.shape)
        var index = [Int](repeating: 0, count: rank)
        for dst in 0..<total {
            var src = 0
            var inside = true
            for d in 0..<rank {
                var i = index[d] - pads[d]
                if i < 0 || i >= x.shape[d] {
                    switch mode {
                    case "edge": i = min(max(i, 0), x.shape[d] - 1)
                    case "reflect": i = i < 0 ? -i : 2 * (x.shape[d] - 1) - i
                    default: inside = false
                    }
                }
                src += i * inStrides[d]
            }
            for b in 0..<size { out[dst * size + b] = inside ? x.bytes[src * size + b] : fill[b] }
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < outShape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return Tensor(dtype: x.dtype, shape: outShape, bytes: out)
    }

    /// Nearest-neighbour resize with ONNX's coordinate transformation and rounding modes.
    static func resizeNearest(_ node: Node, _ x: Tensor, outShape: [Int], scales: [Float]) throws -> Tensor {
        let ct = try node.string("coordinate_transformation_mode", default: "half_pixel")
        let nm = try node.string("nearest_mode", default: "round_prefer_floor")
        let rank = x.shape.count
        var maps: [[Int]] = []
        for d in 0..<rank {
            let inSize = x.shape[d], outSize = outShape[d], scale = scales[d]
            var m = [Int]()
            for o in 0..<outSize {
                let of = Float(o)
                var src: Float
                switch ct {
                case "half_pixel": src = (of + 0.5) / scale - 0.5
                case "asymmetric": src = of / scale
                case "align_corners": src = outSize == 1 ? 0 : of * Float(inSize - 1) / Float(outSize - 1)
                case "pytorch_half_pixel": src = outSize > 1 ? (of + 0.5) / scale - 0.5 : 0
                case "tf_half_pixel_for_nn": src = (of + 0.5) / scale
                default: throw node.unsupported("coordinate_transformation_mode '\(ct)'")
                }
                var i: Int
                switch nm {
                case "round_prefer_floor": i = src == src.rounded(.down) + 0.5 ? Int(src.rounded(.down)) : Int(src.rounded())
                case "round_prefer_ceil": i = src == src.rounded(.down) + 0.5 ? Int(src.rounded(.up)) : Int(src.rounded())
                case "floor": i = Int(src.rounded(.down))
                case "ceil": i = Int(src.rounded(.up))
                default: throw node.unsupported("nearest_mode '\(nm)'")
                }
                m.append(min(max(i, 0), inSize - 1))
            }
            maps.append(m)
        }
        let size = x.dtype.byteSize
        let total = outShape.reduce(1, *)
        var out = [UInt8](repeating: 0, count: total * size)
        let inStrides = rowMajorStrides(x.shape)
        var index = [Int](repeating: 0, count: rank)
        for dst in 0..<total {
            var src = 0
            for d in 0..<rank { src += maps[d][index[d]] * inStrides[d] }
            for b in 0..<size { out[dst * size + b] = x.bytes[src * size + b] }
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < outShape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return Tensor(dtype: x.dtype, shape: outShape, bytes: out)
    }
}
