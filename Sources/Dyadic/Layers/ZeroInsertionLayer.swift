/// Spreads the pixels of an NHWC 8-bit tensor `stride` apart and fills the gaps with
/// the zero point (the code of real 0): a transposed convolution is then an ordinary
/// convolution of this tensor with the flipped kernel, on the integer conv kernels.
final class ZeroInsertionLayer: TiledLayer {
    let op = "QZeroInsert"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel = "x8_scatter"
    let batch: Int, height: Int, width: Int, channels: Int
    let stride: (h: Int, w: Int)
    let fill: UInt8

    init(source: [String], input: Int, output: Int, shape: [Int], stride: (h: Int, w: Int), fill: UInt8) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        self.stride = stride
        self.fill = fill
    }

    var outHeight: Int { (height - 1) * stride.h + 1 }
    var outWidth: Int { (width - 1) * stride.w + 1 }
    var details: String { "stride \(stride.h)×\(stride.w), gaps hold \(fill)" }
    /// One tile per output row.
    var tiles: Int { batch * outHeight }

    func runTiles(_ start: Int, _ n: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        let rowBytes = outWidth * channels
        for row in start..<(start + n) {
            let (image, oy) = (row / outHeight, row % outHeight)
            let out = y + row * rowBytes
            out.update(repeating: fill, count: rowBytes)
            guard oy % stride.h == 0 else { continue }
            let source = x + ((image * height + oy / stride.h) * width) * channels
            for ix in 0..<width {
                (out + ix * stride.w * channels).update(from: source + ix * channels, count: channels)
            }
        }
    }
}
