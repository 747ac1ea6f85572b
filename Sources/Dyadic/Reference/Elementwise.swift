import Foundation

/// Element-wise reference operators (ONNX semantics, broadcasting).
enum Elementwise {
    static func binary(_ node: Node, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.dtype == b.dtype else {
            throw node.invalid("inputs have different element types (\(a.dtype) and \(b.dtype))")
        }
        let shape = try Broadcast.shape(a.shape, b.shape, context: node.label)
        let ia = Broadcast.indices(of: a.shape, in: shape)
        let ib = Broadcast.indices(of: b.shape, in: shape)
        func apply<T>(_ type: T.Type, _ f: (T, T) -> T) -> Tensor {
            let x = a.elements(as: T.self), y = b.elements(as: T.self)
            var out = [T]()
            out.reserveCapacity(ia.count)
            for i in 0..<ia.count { out.append(f(x[ia[i]], y[ib[i]])) }
            return Tensor(dtype: a.dtype, shape: shape, bytes: out.withUnsafeBytes { Array($0) })
        }
        switch (node.opType, a.dtype) {
        case ("Add", .float32): return apply(Float.self, +)
        case ("Sub", .float32): return apply(Float.self, -)
        case ("Mul", .float32): return apply(Float.self, *)
        case ("Div", .float32): return apply(Float.self, /)
        case ("Add", .int64): return apply(Int64.self, &+)
        case ("Sub", .int64): return apply(Int64.self, &-)
        case ("Mul", .int64): return apply(Int64.self, &*)
        case ("Div", .int64): return apply(Int64.self) { $1 == 0 ? 0 : $0 / $1 }
        case ("Add", .uint8): return apply(UInt8.self, &+)
        case ("Sub", .uint8): return apply(UInt8.self, &-)
        case ("Mul", .uint8): return apply(UInt8.self, &*)
        case ("Div", .uint8): return apply(UInt8.self) { $1 == 0 ? 0 : $0 / $1 }
        case ("Add", .int8): return apply(Int8.self, &+)
        case ("Sub", .int8): return apply(Int8.self, &-)
        case ("Mul", .int8): return apply(Int8.self, &*)
        case ("Div", .int8): return apply(Int8.self) { $1 == 0 ? 0 : $0 / $1 }
        case ("Add", .int32): return apply(Int32.self, &+)
        case ("Sub", .int32): return apply(Int32.self, &-)
        case ("Mul", .int32): return apply(Int32.self, &*)
        case ("Div", .int32): return apply(Int32.self) { $1 == 0 ? 0 : $0 / $1 }
        default: throw node.unsupported("element type \(a.dtype)")
        }
    }

    static func unary(_ node: Node, _ x: Tensor, _ f: (Float) -> Float) throws -> Tensor {
        guard x.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        return Tensor(x.floats.map(f), shape: x.shape)
    }

    static func activation(_ node: Node, _ x: Tensor) throws -> Tensor {
        let known: [String: Set<String>] = ["LeakyRelu": ["alpha"], "HardSigmoid": ["alpha", "beta"]]
        guard ["Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish"].contains(node.opType),
              let f = try MathOps.scalarFunction(node) else { throw node.unsupported("op") }
        try node.checkAttributes(known: known[node.opType] ?? [])
        return try unary(node, x, f)
    }

    @Sendable static func sigmoid(_ v: Float) -> Float {
        v >= 0 ? 1 / (1 + Foundation.exp(-v)) : Foundation.exp(v) / (1 + Foundation.exp(v))
    }

    /// Clip with bounds from attributes (opset < 11) or optional inputs.
    static func clip(_ node: Node, _ x: Tensor, _ lo: Tensor?, _ hi: Tensor?) throws -> Tensor {
        try node.checkAttributes(known: ["min", "max"])
        if x.dtype != .float32 {
            // Integer Clip: bounds default to the type's range.
            guard x.dtype.isQuantized8Bit || x.dtype == .int32 || x.dtype == .int64 else { throw node.unsupported("element type \(x.dtype)") }
            let lowBound = lo?.int64Values.first ?? Int64.min, highBound = hi?.int64Values.first ?? Int64.max
            let clipped = x.int64Values.map { min(max($0, lowBound), highBound) }
            switch x.dtype {
            case .uint8: return Tensor(clipped.map { UInt8(truncatingIfNeeded: $0) }, shape: x.shape)
            case .int8: return Tensor(clipped.map { Int8(truncatingIfNeeded: $0) }, shape: x.shape)
            case .int32: return Tensor(clipped.map { Int32(truncatingIfNeeded: $0) }, shape: x.shape)
            default: return Tensor(clipped, shape: x.shape)
            }
        }
        let attributeLow = try node.float("min", default: -.infinity), attributeHigh = try node.float("max", default: .infinity)
        let low = lo?.floats.first ?? attributeLow
        let high = hi?.floats.first ?? attributeHigh
        return Tensor(x.floats.map { min(max($0, low), high) }, shape: x.shape)
    }

    static func softmax(_ node: Node, _ x: Tensor, opset: Int, log: Bool = false) throws -> Tensor {
        try node.checkAttributes(known: ["axis"])
        guard x.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        let rank = x.shape.count
        var axis = try node.int("axis", default: opset >= 13 ? -1 : 1)
        if axis < 0 { axis += rank }
        guard axis >= 0 && axis < max(rank, 1) else { throw node.invalid("axis out of range") }
        let v = x.floats
        var out = v
        if opset >= 13 {
            let n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
            let outer = x.shape[..<axis].reduce(1, *)
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    var m = -Float.infinity
                    for k in 0..<n { m = max(m, v[base + k * inner]) }
                    var sum: Float = 0
                    for k in 0..<n { let e = Foundation.exp(v[base + k * inner] - m); out[base + k * inner] = e; sum += e }
                    for k in 0..<n {
                        out[base + k * inner] = log ? v[base + k * inner] - m - Foundation.log(sum) : out[base + k * inner] / sum
                    }
                }
            }
        } else {
            // Before opset 13 the input is coerced to 2-D [outer, inner] at `axis`.
            let n = x.shape[axis...].reduce(1, *), outer = x.shape[..<axis].reduce(1, *)
            for o in 0..<outer {
                let row = v[(o * n)..<((o + 1) * n)]
                let m = row.max() ?? 0
                var sum: Float = 0
                for k in 0..<n { let e = Foundation.exp(v[o * n + k] - m); out[o * n + k] = e; sum += e }
                for k in 0..<n { out[o * n + k] = log ? v[o * n + k] - m - Foundation.log(sum) : out[o * n + k] / sum }
            }
        }
        return Tensor(out, shape: x.shape)
    }
}
