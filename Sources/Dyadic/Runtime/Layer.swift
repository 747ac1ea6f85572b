/// A step of an execution plan: reads and writes values in a context's memory.
///
/// Layers are immutable after the plan is built (weights packed, tables built),
/// so one plan serves any number of concurrent contexts.
public protocol Layer: AnyObject, Sendable {
    /// Short op name for `--describe` and profiles, e.g. "QConv", "Quantize".
    var op: String { get }
    /// Names of the ONNX nodes this layer implements.
    var sourceNodes: [String] { get }
    var inputs: [Int] { get }
    var outputs: [Int] { get }
    /// True when the layer runs no floating-point arithmetic.
    var isIntegerOnly: Bool { get }
    /// The kernel that runs it.
    var kernel: String { get }
    /// Requantization and other parameters, one line.
    var details: String { get }
    /// Bytes of scratch memory one concurrent run needs.
    var workspaceSize: Int { get }
    /// Input positions whose memory the output may overwrite (element-wise layers
    /// whose output i depends on input i alone), nil if none.
    var inPlaceInputs: [Int]? { get }
    /// Multiply-accumulates of one run (0 for layers without products).
    var macs: Int { get }
    /// Arithmetic of the layer: "int8" for 8-bit integer layers, "float32" for float ones.
    var precision: String { get }
    func run(_ context: ExecutionContext)
}

extension Layer {
    public var workspaceSize: Int { 0 }
    public var details: String { "" }
    public var inPlaceInputs: [Int]? { nil }
    public var macs: Int { 0 }
    public var precision: String { isIntegerOnly ? "int8" : "float32" }
}

/// A layer with packed weights (integer and FP8 products).
public protocol WeightedLayer: Layer {
    /// Bytes the kernel stores for the weights (2- and 4-bit weights packed, FP8
    /// weights as 4-bit indices plus their tables); without bias and padding for alignment.
    var weightBytes: Int { get }
}

/// A layer whose work is a range of independent tiles, split across threads by
/// `ExecutionContext.parallelFor`. Tiles write disjoint memory.
public protocol TiledLayer: Layer {
    /// Tiles of one run (fixed when the plan is built).
    var tiles: Int { get }
    /// Runs tiles `start ..< start + count` with worker `worker`'s scratch memory.
    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext)
}

extension TiledLayer {
    public func run(_ context: ExecutionContext) { context.parallelFor(self) }
}
