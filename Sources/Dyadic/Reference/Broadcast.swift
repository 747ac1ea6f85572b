/// NumPy-style broadcasting of two shapes, and the index maps that walk it.
enum Broadcast {
    static func shape(_ a: [Int], _ b: [Int], context: @autoclosure () -> String) throws -> [Int] {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        return try zip(pa, pb).map { x, y in
            guard x >= 0, y >= 0 else { throw DyadicError("\(context()): shape \((x < 0 ? a : b).shapeString) has a negative dimension") }
            if x == y || y == 1 { return x }
            if x == 1 { return y }
            throw DyadicError("\(context()): shapes \(a.shapeString) and \(b.shapeString) do not broadcast")
        }
    }

    /// For every element of `out` (row-major), the flat index into a tensor of shape `s`.
    static func indices(of s: [Int], in out: [Int]) -> [Int] {
        let rank = out.count
        let padded = Array(repeating: 1, count: rank - s.count) + s
        var strides = Array(repeating: 0, count: rank)
        var step = 1
        for d in stride(from: rank - 1, through: 0, by: -1) {
            strides[d] = padded[d] == 1 ? 0 : step
            step *= padded[d]
        }
        let total = out.reduce(1, *)
        var result = [Int](repeating: 0, count: total)
        if total == 0 { return result }
        var index = [Int](repeating: 0, count: rank)
        var flat = 0
        for i in 0..<total {
            result[i] = flat
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                flat += strides[d]
                if index[d] < out[d] { break }
                flat -= strides[d] * out[d]
                index[d] = 0
                d -= 1
            }
        }
        return result
    }
}

/// Row-major strides of a shape.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[d] = s
        s *= shape[d]
    }
    return strides
}
