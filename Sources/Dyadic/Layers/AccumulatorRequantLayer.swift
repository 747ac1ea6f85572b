/// int32 accumulators (+ bias) → 8-bit, per channel: the epilogue of the integer
/// reference products (QLinearConv/QLinearMatMul with non-constant weights).
final class AccumulatorRequantLayer: Layer {
    let op = "QRequantize"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let kernel = "swift.requantize"
    let bias: [Int32]?
    let requant: Requantization
    let count: Int, channels: Int, inner: Int
    let outputType: DType

    init(source: [String], input: Int, output: Int, shape: [Int], channelAxis: Int, bias: [Int32]?,
         requant: Requantization, outputType: DType) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.bias = bias
        self.requant = requant
        count = shape.reduce(1, *)
        channels = shape.isEmpty ? 1 : shape[channelAxis]
        inner = shape.isEmpty ? 1 : shape[(channelAxis + 1)...].reduce(1, *)
        self.outputType = outputType
        isIntegerOnly = requant.numerics == .dyadic
    }

    var details: String { requant.summary }

    func run(_ context: ExecutionContext) {
        let acc = context.pointer(inputs[0]).assumingMemoryBound(to: Int32.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        for i in 0..<count {
            let c = (i / inner) % channels
            let a = Int64(acc[i]) + Int64(bias?[c] ?? 0)
            y[i] = UInt8(truncatingIfNeeded: requant.apply(a, channel: c))
        }
    }
}
