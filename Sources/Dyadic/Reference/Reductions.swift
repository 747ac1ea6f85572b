import Foundation

/// ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1,
/// ReduceL2, ReduceLogSumExp, and ArgMax/ArgMin, with ONNX's axes (attribute before
/// opset 18, ReduceSum's input from 13), keepdims and noop_with_empty_axes.
enum Reductions {
    static let ops: Set<String> = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
                                   "ReduceL1", "ReduceL2", "ReduceLogSumExp"]

    /// Axes to reduce (sorted, non-negative) and whether the op is the identity.
    static func axes(_ node: Node, rank: Int, axesInput: Tensor?, opset: Int) throws -> [Int]? {
        try node.checkAttributes(known: ["axes", "keepdims", "noop_with_empty_axes"])
        let fromInput = node.opType == "ReduceSum" ? opset >= 13 : opset >= 18
        var list: [Int]
        if fromInput {
            if node.attributes["axes"] != nil { throw node.invalid("axes is an input from this opset, not an attribute") }
            list = axesInput?.int64Values.map { Int($0) } ?? []
        } else {
            list = try node.ints("axes") ?? []
        }
        if list.isEmpty {
            if try node.int("noop_with_empty_axes", default: 0) != 0 { return nil }
            return Array(0..<rank)
        }
        let normalized = try list.map { try Indexing.axis(node, $0, rank: rank) }
        guard Set(normalized).count == normalized.count else { throw node.invalid("axes \(list) repeat an axis") }
        return normalized.sorted()
    }

    static func outputShape(_ node: Node, _ shape: [Int], axes: [Int]) throws -> [Int] {
        let keep = try node.int("keepdims", default: 1) != 0
        var out: [Int] = []
        for (d, n) in shape.enumerated() {
            if axes.contains(d) { if keep { out.append(1) } } else { out.append(n) }
        }
        return out
    }

    static func reduce(_ node: Node, _ x: Tensor, axesInput: Tensor?, opset: Int) throws -> Tensor {
        guard let axes = try axes(node, rank: x.shape.count, axesInput: axesInput, opset: opset) else { return x }
        let outShape = try outputShape(node, x.shape, axes: axes)
        // Output position of every input element: drop (zero) the reduced coordinates.
        let strides = rowMajorStrides(x.shape)
        var outStrides = [Int](repeating: 0, count: x.shape.count)
        var step = 1
        for d in stride(from: x.shape.count - 1, through: 0, by: -1) where !axes.contains(d) {
            outStrides[d] = step
            step *= x.shape[d]
        }
        let outCount = outShape.reduce(1, *)
        let n = axes.reduce(1) { $0 * x.shape[$1] }
        func target(_ i: Int) -> Int {
            var rest = i, o = 0
            for d in 0..<x.shape.count {
                let c = rest / strides[d]
                rest -= c * strides[d]
                o += c * outStrides[d]
            }
            return o
        }
        if x.dtype != .float32 {
            // Integer reductions (shape arithmetic, masks): exact in Int64.
            guard [.int64, .int32, .int8, .uint8].contains(x.dtype),
                  ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"].contains(node.opType) else {
                throw node.unsupported("element type \(x.dtype)")
            }
            let v = x.int64Values
            var acc = [Int64](repeating: node.opType == "ReduceProd" ? 1 : (node.opType == "ReduceMax" ? Int64.min : (node.opType == "ReduceMin" ? Int64.max : 0)), count: outCount)
            for i in 0..<v.count {
                let o = target(i)
                switch node.opType {
                case "ReduceSum": acc[o] &+= v[i]
                case "ReduceProd": acc[o] &*= v[i]
                case "ReduceMax": acc[o] = max(acc[o], v[i])
                default: acc[o] = min(acc[o], v[i])
                }
            }
            return try Indexing.convert(node, Tensor(acc, shape: outShape), to: x.dtype)
        }
        let v = x.floats
        let initial: Double
        switch node.opType {
        case "ReduceMax": initial = -.infinity
        case "ReduceMin": initial = .infinity
        case "ReduceProd": initial = 1
        default: initial = 0
        }
        var acc = [Double](repeating: initial, count: outCount)
        var peak = [Double](repeating: -.infinity, count: node.opType == "ReduceLogSumExp" ? outCount : 0)
        if node.opType == "ReduceLogSumExp" {
            for i in 0..<v.count { let o = target(i); peak[o] = max(peak[o], Double(v[i])) }
        }
        for i in 0..<v.count {
            let o = target(i), e = Double(v[i])
            switch node.opType {
            case "ReduceMax": acc[o] = (e.isNaN || acc[o].isNaN) ? .nan : max(acc[o], e)
            case "ReduceMin": acc[o] = (e.isNaN || acc[o].isNaN) ? .nan : min(acc[o], e)
            case "ReduceProd": acc[o] *= e
            case "ReduceSumSquare", "ReduceL2": acc[o] += e * e
            case "ReduceL1": acc[o] += abs(e)
            case "ReduceLogSumExp": acc[o] += Foundation.exp(e - peak[o])
            default: acc[o] += e
            }
        }
        let out: [Float] = (0..<outCount).map { o in
            switch node.opType {
            case "ReduceMean": Float(acc[o] / Double(max(n, 1)))
            case "ReduceL2": Float(acc[o].squareRoot())
            case "ReduceLogSumExp": Float(Foundation.log(acc[o]) + peak[o])
            default: Float(acc[o])
            }
        }
        return Tensor(out, shape: outShape)
    }

    static func argExtreme(_ node: Node, _ x: Tensor) throws -> Tensor {
        try node.checkAttributes(known: ["axis", "keepdims", "select_last_index"])
        let rank = x.shape.count
        let a = try Indexing.axis(node, try node.int("axis", default: 0), rank: rank)
        let keep = try node.int("keepdims", default: 1) != 0, last = try node.int("select_last_index", default: 0) != 0
        let n = x.shape[a], outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
        let v = x.doubleValues
        var out = [Int64](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0
                for k in 1..<max(n, 1) {
                    let c = v[(o * n + k) * inner + i], b = v[(o * n + best) * inner + i]
                    let better = node.opType == "ArgMax" ? (c > b || (last && c == b)) : (c < b || (last && c == b))
                    if better { best = k }
                }
                out[o * inner + i] = Int64(best)
            }
        }
        var shape = x.shape
        if keep { shape[a] = 1 } else { shape.remove(at: a) }
        return Tensor(out, shape: shape)
    }
}
