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
