import DyadicKernels

/// Float32 LayerNormalization over the trailing axes: each row of `width` values
/// becomes (x − mean)/sqrt(var + ε)·γ + β, the statistics accumulated in double as the
/// reference does. A tile is a block of rows.
final class FloatLayerNormLayer: TiledLayer {
    let op = "LayerNormalization"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = "f32_layernorm_rows"
    let rows: Int, width: Int
    let gamma: [Float], beta: [Float]?
    let epsilon: Double
    static let rowsPerTile = 16
    var tiles: Int { (rows + Self.rowsPerTile - 1) / Self.rowsPerTile }
    var inPlaceInputs: [Int]? { [0] }

    init(source: [String], input: Int, output: Int, rows: Int, width: Int, gamma: [Float], beta: [Float]?, epsilon: Double) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        (self.rows, self.width, self.gamma, self.beta, self.epsilon) = (rows, width, gamma, beta, epsilon)
    }

    var details: String { "\(rows) rows of \(width), ε \(epsilon)" }

    func runTiles(_ start: Int, _ n: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        let first = start * Self.rowsPerTile, last = min(rows, (start + n) * Self.rowsPerTile)
        gamma.withUnsafeBufferPointer { g in
            for r in first..<last {
                let row = x + r * width, out = y + r * width
                var sum = 0.0
                for i in 0..<width { sum += Double(row[i]) }
                let mean = sum / Double(width)
                var squares = 0.0
                for i in 0..<width { let d = Double(row[i]) - mean; squares += d * d }
                let inv = 1 / (squares / Double(width) + epsilon).squareRoot()
                let (m, s) = (Float(mean), Float(inv))
                if let beta {
                    for i in 0..<width { out[i] = (row[i] - m) * s * g[i] + beta[i] }
                } else {
                    for i in 0..<width { out[i] = (row[i] - m) * s * g[i] }
                }
            }
        }
    }
}

/// Float32 ReduceSum/Mean/Max/Min over one contiguous block of axes: the tensor seen as
/// [outer, reduced, inner], each output the reduction of `reduced` values `inner` apart
/// (sums in double).
final class FloatReduceLayer: Layer {
    enum Kind: Sendable { case sum, mean, max, min }
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = "f32_reduce_block"
    let kind: Kind
    let outer: Int, reduced: Int, inner: Int

    init(op: String, kind: Kind, source: [String], input: Int, output: Int, outer: Int, reduced: Int, inner: Int) {
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        (self.kind, self.outer, self.reduced, self.inner) = (kind, outer, reduced, inner)
    }

    var details: String { "[\(outer), \(reduced), \(inner)] → [\(outer), \(inner)]" }

    func run(_ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        for o in 0..<outer {
            let out = y + o * inner, base = x + o * reduced * inner
            switch kind {
            case .sum where inner == 1, .mean where inner == 1:
                // A contiguous row (a global pooling): four partial sums, so that the additions
                // do not wait on each other.
                var s = SIMD4<Double>(repeating: 0), r = 0
                while r + 4 <= reduced {
                    s += SIMD4(Double(base[r]), Double(base[r + 1]), Double(base[r + 2]), Double(base[r + 3]))
                    r += 4
                }
                var total = (s[0] + s[1]) + (s[2] + s[3])
                while r < reduced { total += Double(base[r]); r += 1 }
                out[0] = Float(kind == .mean ? total / Double(reduced) : total)
            case .sum, .mean:
                // Accumulated in double, as the reference does: long rows keep full precision.
                for i in 0..<inner {
                    var total = 0.0
                    for r in 0..<reduced { total += Double(base[r * inner + i]) }
                    out[i] = Float(kind == .mean ? total / Double(reduced) : total)
                }
            case .max, .min:
                out.update(from: base, count: inner)
                for r in 1..<max(reduced, 1) {
                    let row = base + r * inner
                    if kind == .max { for i in 0..<inner { out[i] = Swift.max(out[i], row[i]) } }
                    else { for i in 0..<inner { out[i] = Swift.min(out[i], row[i]) } }
                }
            }
        }
    }
}

/// Float32 Softmax: the reference op's steps per row — the maximum, exp(x − max) on
/// the vectorised C kernel, the sum, one division per element. Rows are contiguous
/// (`inner` 1: the last axis, or the 2-D coercion before opset 13) or strided by
/// `inner` (an earlier axis from opset 13, such as a detector's box-distribution
/// bins); strided rows are processed a block [n][inner] at a time, vectorised along
/// `inner`. A tile is a row, or a block.
final class FloatSoftmaxLayer: TiledLayer {
    let op = "Softmax"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = String(cString: dyd_f32_map_kernel_name())
    let rows: Int, n: Int, inner: Int
    var tiles: Int { inner == 1 ? rows : rows / inner }
    var details: String { inner == 1 ? "\(rows) rows of \(n)" : "\(rows) rows of \(n), stride \(inner)" }
    var inPlaceInputs: [Int]? { [0] }
    var workspaceSize: Int { inner == 1 ? 0 : 2 * inner * MemoryLayout<Float>.size }

    init(source: [String], input: Int, output: Int, rows: Int, n: Int, inner: Int = 1) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        (self.rows, self.n, self.inner) = (rows, n, inner)
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        if inner > 1 {
            let scratch = context.workspace(worker).assumingMemoryBound(to: Float.self)
            for block in start..<(start + count) { runBlock(x + block * n * inner, y + block * n * inner, scratch) }
            return
        }
        for r in start..<(start + count) {
            let xr = x + r * n, yr = y + r * n
            var m = -Float.infinity, k = 0
            var m8 = SIMD8<Float>(repeating: -.infinity)
            while k + 8 <= n {
                m8 = pointwiseMax(m8, UnsafeRawPointer(xr + k).loadUnaligned(as: SIMD8<Float>.self))
                k += 8
            }
            m = m8.max()
            while k < n { m = max(m, xr[k]); k += 1 }
            for k in 0..<n { yr[k] = xr[k] - m }
            dyd_f32_map(DYD_F32_EXP, yr, yr, n)
            var s8 = SIMD8<Float>(repeating: 0)
            k = 0
            while k + 8 <= n {
                s8 += UnsafeRawPointer(yr + k).loadUnaligned(as: SIMD8<Float>.self)
                k += 8
            }
            var sum = s8.sum()
            while k < n { sum += yr[k]; k += 1 }
            for k in 0..<n { yr[k] /= sum }
        }
    }

    /// The rows i of a block [n][inner] (element k of row i at k·inner + i), all at once.
    private func runBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>) {
        let m = scratch, sum = scratch + inner
        for i in 0..<inner { m[i] = -.infinity }
        for k in 0..<n {
            let row = x + k * inner
            for i in 0..<inner { m[i] = max(m[i], row[i]) }
        }
        for k in 0..<n {
            let (xr, yr) = (x + k * inner, y + k * inner)
            for i in 0..<inner { yr[i] = xr[i] - m[i] }
        }
        dyd_f32_map(DYD_F32_EXP, y, y, n * inner)
        for i in 0..<inner { sum[i] = 0 }
        for k in 0..<n {
            let row = y + k * inner
            for i in 0..<inner { sum[i] += row[i] }
        }
        for k in 0..<n {
            let row = y + k * inner
            for i in 0..<inner { row[i] /= sum[i] }
        }
    }
}
