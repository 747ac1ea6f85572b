import Foundation

/// BatchNormalization (inference form), LayerNormalization and InstanceNormalization.
enum Normalization {
    /// Per-channel scale and shift of an inference BatchNormalization:
    /// y = x·a + b with a = γ/√(σ²+ε), b = β − μ·a, computed in double then rounded once.
    static func batchNormAffine(_ node: Node, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, channels: Int) throws
        -> (a: [Float], b: [Float]) {
        try node.checkAttributes(known: ["epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"])
        if try node.int("spatial", default: 1) != 1 { throw node.unsupported("spatial = 0") }
        if try node.int("training_mode", default: 0) == 0, node.outputs.count > 1, node.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            throw node.unsupported("the running mean and variance outputs without training_mode")
        }
        let eps = Double(try node.float("epsilon", default: 1e-5))
        for (t, what) in [(scale, "scale"), (bias, "B"), (mean, "mean"), (variance, "var")] {
            guard t.dtype == .float32, t.count == channels else { throw node.invalid("\(what) must be \(channels) float values") }
        }
        let g = scale.floats, be = bias.floats, mu = mean.floats, v = variance.floats
        var a = [Float](repeating: 0, count: channels), b = a
        for c in 0..<channels {
            let s = Double(g[c]) / (Double(v[c]) + eps).squareRoot()
            a[c] = Float(s)
            b[c] = Float(Double(be[c]) - Double(mu[c]) * s)
        }
        return (a, b)
    }

    static func batchNorm(_ node: Node, _ x: Tensor, _ scale: Tensor, _ bias: Tensor, _ mean: Tensor, _ variance: Tensor) throws -> Tensor {
        guard x.dtype == .float32, x.shape.count >= 2 else { throw node.unsupported("input \(x.dtype)\(x.shape.shapeString)") }
        let c = x.shape[1], inner = x.shape[2...].reduce(1, *)
        let (a, b) = try batchNormAffine(node, scale: scale, bias: bias, mean: mean, variance: variance, channels: c)
        var v = x.floats
        for i in 0..<v.count {
            let ch = (i / inner) % c
            v[i] = v[i] * a[ch] + b[ch]
        }
        return Tensor(v, shape: x.shape)
    }

    /// BatchNormalization with training_mode = 1 (opset 14+): normalises with the batch's
    /// own mean and biased variance; also returns the updated running mean and variance.
    static func batchNormTraining(_ node: Node, _ x: Tensor, _ scale: Tensor, _ bias: Tensor, _ mean: Tensor, _ variance: Tensor) throws
        -> [Tensor] {
        guard x.dtype == .float32, x.shape.count >= 2 else { throw node.unsupported("input \(x.dtype)\(x.shape.shapeString)") }
        let c = x.shape[1], inner = x.shape[2...].reduce(1, *), n = x.count / max(c, 1)
        let momentum = Double(try node.float("momentum", default: 0.9))
        let v = x.floats
        var batchMean = [Double](repeating: 0, count: c), batchVar = batchMean
        for i in 0..<v.count { batchMean[(i / inner) % c] += Double(v[i]) }
        for ch in 0..<c { batchMean[ch] /= Double(max(n, 1)) }
        for i in 0..<v.count { let ch = (i / inner) % c, d = Double(v[i]) - batchMean[ch]; batchVar[ch] += d * d }
        for ch in 0..<c { batchVar[ch] /= Double(max(n, 1)) }
        let y = try batchNorm(node, x, scale, bias, Tensor(batchMean.map { Float($0) }, shape: [c]), Tensor(batchVar.map { Float($0) }, shape: [c]))
        let m = mean.floats, s = variance.floats
        let runningMean = (0..<c).map { Float(Double(m[$0]) * momentum + batchMean[$0] * (1 - momentum)) }
        let runningVar = (0..<c).map { Float(Double(s[$0]) * momentum + batchVar[$0] * (1 - momentum)) }
        return Array([y, Tensor(runningMean, shape: [c]), Tensor(runningVar, shape: [c])].prefix(max(node.outputs.count, 1)))
    }

    /// LayerNormalization (opset 17): normalise over the axes from `axis` on, in double.
    /// Returns Y, Mean and InvStdDev (the last two with the reduced axes kept as 1).
    static func layerNorm(_ node: Node, _ x: Tensor, _ scale: Tensor, _ bias: Tensor?) throws -> [Tensor] {
        try node.checkAttributes(known: ["axis", "epsilon", "stash_type"])
        guard x.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        let a = try Indexing.axis(node, try node.int("axis", default: -1), rank: x.shape.count)
        let n = x.shape[a...].reduce(1, *), rows = x.shape[..<a].reduce(1, *)
        let eps = Double(try node.float("epsilon", default: 1e-5))
        let ig = Broadcast.indices(of: scale.shape, in: Array(x.shape[a...]))
        let ib = bias.map { Broadcast.indices(of: $0.shape, in: Array(x.shape[a...])) }
        let v = x.floats, g = scale.floats, bv = bias?.floats
        var out = v
        var means = [Float](repeating: 0, count: rows), invs = means
        for r in 0..<rows {
            let row = v[(r * n)..<((r + 1) * n)]
            let mean = row.reduce(0.0) { $0 + Double($1) } / Double(n)
            let variance = row.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n)
            let inv = 1 / (variance + eps).squareRoot()
            means[r] = Float(mean)
            invs[r] = Float(inv)
            for k in 0..<n {
                var y = (Double(v[r * n + k]) - mean) * inv * Double(g[ig[k]])
                if let bv, let ib { y += Double(bv[ib[k]]) }
                out[r * n + k] = Float(y)
            }
        }
        let statShape = Array(x.shape[..<a]) + Array(repeating: 1, count: x.shape.count - a)
        return [Tensor(out, shape: x.shape), Tensor(means, shape: statShape), Tensor(invs, shape: statShape)]
    }

    static func instanceNorm(_ node: Node, _ x: Tensor, _ scale: Tensor, _ bias: Tensor) throws -> Tensor {
        try node.checkAttributes(known: ["epsilon"])
        guard x.dtype == .float32, x.shape.count >= 3 else { throw node.unsupported("input \(x.dtype)\(x.shape.shapeString)") }
        let c = x.shape[1], inner = x.shape[2...].reduce(1, *)
        guard scale.count == c, bias.count == c else { throw node.invalid("scale and B must have \(c) values") }
        let eps = Double(try node.float("epsilon", default: 1e-5))
        let v = x.floats, g = scale.floats, b = bias.floats
        var out = v
        for plane in 0..<(v.count / max(inner, 1)) {
            let ch = plane % c, base = plane * inner
            let row = v[base..<(base + inner)]
            let mean = row.reduce(0.0) { $0 + Double($1) } / Double(inner)
            let variance = row.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(inner)
            let inv = 1 / (variance + eps).squareRoot()
            for k in 0..<inner { out[base + k] = Float((Double(v[base + k]) - mean) * inv * Double(g[ch]) + Double(b[ch])) }
        }
        return Tensor(out, shape: x.shape)
    }
}
