import Foundation

/// Reference math beyond the four basic binaries: unary functions, Pow, PRelu,
/// comparisons and logic, and the variadic Min/Max/Sum/Mean (all with broadcasting).
enum MathOps {
    static let unaryFloatOps: Set<String> = ["Abs", "Neg", "Floor", "Ceil", "Round", "Sqrt", "Reciprocal", "Exp", "Log",
                                             "Erf", "Sign", "Sin", "Cos", "Softplus", "Softsign", "Elu", "Selu", "Celu",
                                             "Mish", "Gelu", "ThresholdedRelu"]
    static let comparisonOps: Set<String> = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]
    static let logicOps: Set<String> = ["And", "Or", "Xor"]
    static let variadicOps: Set<String> = ["Min", "Max", "Sum", "Mean"]

    static func unary(_ node: Node, _ x: Tensor) throws -> Tensor {
        let known: [String: Set<String>] = ["Elu": ["alpha"], "Selu": ["alpha", "gamma"], "Celu": ["alpha"],
                                            "Gelu": ["approximate"], "ThresholdedRelu": ["alpha"]]
        try node.checkAttributes(known: known[node.opType] ?? [])
        if x.dtype != .float32 {
            // Integer Abs/Neg/Sign keep their type (shape arithmetic, index maths).
            guard ["Abs", "Neg", "Sign"].contains(node.opType), [.int64, .int32, .int8].contains(x.dtype) else {
                throw node.unsupported("element type \(x.dtype)")
            }
            let v = x.int64Values.map { a -> Int64 in
                switch node.opType {
                case "Abs": a < 0 ? 0 &- a : a
                case "Neg": 0 &- a
                default: a > 0 ? 1 : (a < 0 ? -1 : 0)
                }
            }
            return try Indexing.convert(node, Tensor(v, shape: x.shape), to: x.dtype)
        }
        guard let f = try scalarFunction(node) else { throw node.unsupported("op") }
        return Tensor(x.floats.map(f), shape: x.shape)
    }

    /// The float32 function of an element-wise unary node (the activations and the unary
    /// math ops), or nil for other ops. The reference ops and the float layers both take
    /// their arithmetic from here, so the two paths agree bit for bit. Attributes are
    /// read, not checked: callers check them.
    static func scalarFunction(_ node: Node) throws -> (@Sendable (Float) -> Float)? {
        switch node.opType {
        case "Relu": return { max($0, 0) }
        case "Sigmoid": return Elementwise.sigmoid
        case "Tanh": return { Foundation.tanh($0) }
        case "LeakyRelu":
            let alpha = try node.float("alpha", default: 0.01)
            return { $0 >= 0 ? $0 : $0 * alpha }
        case "HardSigmoid":
            let alpha = try node.float("alpha", default: 0.2), beta = try node.float("beta", default: 0.5)
            return { max(0, min(1, alpha * $0 + beta)) }
        case "HardSwish": return { $0 * max(0, min(1, $0 / 6 + 0.5)) }
        case "Abs": return { abs($0) }
        case "Neg": return { -$0 }
        case "Floor": return { $0.rounded(.down) }
        case "Ceil": return { $0.rounded(.up) }
        case "Round": return { $0.rounded(.toNearestOrEven) }
        case "Sqrt": return { $0.squareRoot() }
        case "Reciprocal": return { 1 / $0 }
        case "Exp": return { Foundation.exp($0) }
        case "Log": return { Foundation.log($0) }
        case "Erf": return { Foundation.erf($0) }
        case "Sign": return { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        case "Sin": return { Foundation.sin($0) }
        case "Cos": return { Foundation.cos($0) }
        case "Softplus": return { v in v > 20 ? v : Foundation.log1p(Foundation.exp(v)) }
        case "Softsign": return { $0 / (1 + abs($0)) }
        case "Elu":
            let alpha = try node.float("alpha", default: 1)
            return { $0 >= 0 ? $0 : alpha * (Foundation.exp($0) - 1) }
        case "Celu":
            let alpha = try node.float("alpha", default: 1)
            return { max(0, $0) + min(0, alpha * (Foundation.exp($0 / alpha) - 1)) }
        case "Selu":
            let alpha = try node.float("alpha", default: 1.67326319217681884765625)
            let gamma = try node.float("gamma", default: 1.05070102214813232421875)
            return { $0 > 0 ? gamma * $0 : gamma * (alpha * Foundation.exp($0) - alpha) }
        case "ThresholdedRelu":
            let alpha = try node.float("alpha", default: 1)
            return { $0 > alpha ? $0 : 0 }
        case "Mish": return { v in v * Foundation.tanh(v > 20 ? v : Foundation.log1p(Foundation.exp(v))) }
        case "Gelu":
            switch try node.string("approximate", default: "none") {
            case "none": return { 0.5 * $0 * (1 + Foundation.erf($0 / Float(2).squareRoot())) }
            case "tanh": return { v in 0.5 * v * (1 + Foundation.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) }
            case let other: throw node.invalid("approximate '\(other)' is neither none nor tanh")
            }
        default: return nil
        }
    }

    /// Applies `f` over the broadcast of `a` and `b` as doubles (exact for float32 and
    /// for integers below 2^53, which covers shape and index arithmetic).
    static func broadcast(_ node: Node, _ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) throws -> ([Double], [Int]) {
        let shape = try Broadcast.shape(a.shape, b.shape, context: node.label)
        let ia = Broadcast.indices(of: a.shape, in: shape), ib = Broadcast.indices(of: b.shape, in: shape)
        let x = a.doubleValues, y = b.doubleValues
        return ((0..<ia.count).map { f(x[ia[$0]], y[ib[$0]]) }, shape)
    }

    static func pow(_ node: Node, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        let shape = try Broadcast.shape(a.shape, b.shape, context: node.label)
        if a.dtype == .int64 || a.dtype == .int32 {
            // Integer bases keep their type; the power is computed in double and truncated.
            let (v, _) = try broadcast(node, a, b) { Foundation.pow($0, $1) }
            let wide = v.map { $0.isFinite && abs($0) < 9.2e18 ? Int64($0) : 0 }
            return try Indexing.convert(node, Tensor(wide, shape: shape), to: a.dtype)
        }
        guard a.dtype == .float32 else { throw node.unsupported("a base of type \(a.dtype)") }
        let ia = Broadcast.indices(of: a.shape, in: shape), ib = Broadcast.indices(of: b.shape, in: shape)
        let x = a.floats, y = b.dtype == .float32 ? b.floats : b.int64Values.map { Float($0) }
        // Squares are one multiplication, as the common LayerNorm decomposition writes them.
        return Tensor((0..<ia.count).map { i in
            let e = y[ib[i]]
            return e == 2 ? x[ia[i]] * x[ia[i]] : Foundation.pow(x[ia[i]], e)
        }, shape: shape)
    }

    static func prelu(_ node: Node, _ x: Tensor, _ slope: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        guard x.dtype == .float32, slope.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        let shape = try Broadcast.shape(x.shape, slope.shape, context: node.label)
        guard shape == x.shape else { throw node.invalid("slope \(slope.shape.shapeString) does not broadcast to X \(x.shape.shapeString)") }
        let islope = Broadcast.indices(of: slope.shape, in: shape)
        let v = x.floats, s = slope.floats
        return Tensor((0..<v.count).map { v[$0] >= 0 ? v[$0] : v[$0] * s[islope[$0]] }, shape: shape)
    }

    static func compare(_ node: Node, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        guard a.dtype == b.dtype else { throw node.invalid("inputs have different element types (\(a.dtype) and \(b.dtype))") }
        let test: (Double, Double) -> Bool
        switch node.opType {
        case "Equal": test = (==)
        case "Less": test = (<)
        case "Greater": test = (>)
        case "LessOrEqual": test = (<=)
        default: test = (>=)
        }
        let (v, shape) = try broadcast(node, a, b) { test($0, $1) ? 1 : 0 }
        return Tensor(dtype: .bool, shape: shape, bytes: v.map { $0 != 0 ? 1 : 0 })
    }

    static func logic(_ node: Node, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        guard a.dtype == .bool, b.dtype == .bool else { throw node.invalid("inputs must be bool") }
        let (v, shape) = try broadcast(node, a, b) { x, y in
            switch node.opType {
            case "And": (x != 0 && y != 0) ? 1 : 0
            case "Or": (x != 0 || y != 0) ? 1 : 0
            default: ((x != 0) != (y != 0)) ? 1 : 0
            }
        }
        return Tensor(dtype: .bool, shape: shape, bytes: v.map { $0 != 0 ? 1 : 0 })
    }

    static func not(_ node: Node, _ x: Tensor) throws -> Tensor {
        try node.checkAttributes(known: [])
        guard x.dtype == .bool else { throw node.invalid("input must be bool, not \(x.dtype)") }
        return Tensor(dtype: .bool, shape: x.shape, bytes: x.bytes.map { $0 == 0 ? 1 : 0 })
    }

    static func variadic(_ node: Node, _ xs: [Tensor]) throws -> Tensor {
        try node.checkAttributes(known: [])
        guard var acc = xs.first else { throw node.invalid("needs at least one input") }
        guard xs.allSatisfy({ $0.dtype == acc.dtype }) else { throw node.invalid("inputs have different element types") }
        for x in xs.dropFirst() {
            switch (node.opType, acc.dtype) {
            case ("Min", .float32):
                let (v, shape) = try broadcast(node, acc, x) { ($0.isNaN || $1.isNaN) ? .nan : Swift.min($0, $1) }
                acc = Tensor(v.map { Float($0) }, shape: shape)
            case ("Max", .float32):
                let (v, shape) = try broadcast(node, acc, x) { ($0.isNaN || $1.isNaN) ? .nan : Swift.max($0, $1) }
                acc = Tensor(v.map { Float($0) }, shape: shape)
            case ("Sum", .float32), ("Mean", .float32):
                // float32 additions in input order, as a loop over the inputs computes them
                let (v, shape) = try broadcast(node, acc, x) { Double(Float($0) + Float($1)) }
                acc = Tensor(v.map { Float($0) }, shape: shape)
            case ("Min", _), ("Max", _), ("Sum", _):
                guard [.int64, .int32, .int8, .uint8].contains(acc.dtype) else { throw node.unsupported("element type \(acc.dtype)") }
                let shape = try Broadcast.shape(acc.shape, x.shape, context: node.label)
                let ia = Broadcast.indices(of: acc.shape, in: shape), ib = Broadcast.indices(of: x.shape, in: shape)
                let p = acc.int64Values, q = x.int64Values
                let v = (0..<ia.count).map { i -> Int64 in
                    switch node.opType {
                    case "Min": Swift.min(p[ia[i]], q[ib[i]])
                    case "Max": Swift.max(p[ia[i]], q[ib[i]])
                    default: p[ia[i]] &+ q[ib[i]]
                    }
                }
                acc = try Indexing.convert(node, Tensor(v, shape: shape), to: acc.dtype)
            default: throw node.unsupported("element type \(acc.dtype)")
            }
        }
        if node.opType == "Mean" {
            guard acc.dtype == .float32 else { throw node.unsupported("element type \(acc.dtype)") }
            let n = Float(xs.count)
            acc = Tensor(acc.floats.map { $0 / n }, shape: acc.shape)
        }
        return acc
    }
}
