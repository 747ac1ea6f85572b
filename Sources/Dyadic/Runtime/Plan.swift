/// An executable form of a graph for fixed input shapes: values, layers in
/// execution order, and where each value lives in a context's arena.
public final class Plan: @unchecked Sendable {
    public let values: [PlanValue]
    public let layers: [Layer]
    /// Graph inputs and outputs: ONNX name → value index.
    public let inputs: [(name: String, value: Int)]
    public let outputs: [(name: String, value: Int)]
    public let numerics: NumericsProfile
    let offsets: [Int]
    /// Bytes of each value (precomputed: runs must not compute shapes' products).
    let byteCounts: [Int]
    /// Bytes of one context's arena (values share it by liveness).
    public let arenaSize: Int
    /// What the values would take with one slot each.
    public let unsharedSize: Int
    let maxWorkspace: Int
    /// SessionOptions.memoryLimit: contexts are checked against it before they allocate.
    let memoryLimit: Int

    /// Throws when a value's size overflows or exceeds `memoryLimit`, or the arena does.
    init(values: [PlanValue], layers: [Layer], inputs: [(String, Int)], outputs: [(String, Int)], numerics: NumericsProfile,
         memoryLimit: Int = SessionOptions.defaultMemoryLimit) throws {
        func producer(_ v: Int) -> String {
            layers.first { $0.outputs.contains(v) }.map { " (\($0.op) of \($0.sourceNodes.joined(separator: ", ")))" } ?? ""
        }
        for (v, value) in values.enumerated() { try value.checkSize(memoryLimit: memoryLimit, producer: producer(v)) }
        self.values = values
        self.layers = layers
        self.inputs = inputs.map { (name: $0.0, value: $0.1) }
        self.outputs = outputs.map { (name: $0.0, value: $0.1) }
        self.numerics = numerics
        self.memoryLimit = memoryLimit
        let memory = MemoryPlan(values: values, layers: layers, inputs: inputs.map(\.1), outputs: outputs.map(\.1))
        offsets = memory.offsets
        byteCounts = values.map(\.byteCount)
        arenaSize = memory.arenaSize
        unsharedSize = memory.unsharedSize
        maxWorkspace = layers.map(\.workspaceSize).max() ?? 0
        guard arenaSize <= memoryLimit else {
            throw DyadicError("the plan's values need \(arenaSize) bytes at once, above the memory limit of \(memoryLimit)", kind: .resourceLimit)
        }
    }

    /// Layers that run float arithmetic between the input quantization and the output
    /// dequantization: float layers that read values computed from 8-bit activations and
    /// whose results flow back into 8-bit values. Float work on graph inputs before they
    /// are quantized (a layout change, a crop) and on outputs after their last
    /// dequantization (decoding boxes) is the graph's boundary, not part of it.
    public var floatLayers: [Layer] { floatLayerPartition().interior }

    /// Float layers outside the integer part: before the first quantization or after the
    /// last dequantization on their paths.
    public var boundaryFloatLayers: [Layer] { floatLayerPartition().boundary }

    func floatLayerPartition() -> (interior: [Layer], boundary: [Layer]) {
        let isActivation8Bit = { (v: Int) in self.values[v].constant == nil && self.values[v].dtype.isQuantized8Bit }
        var fromIntegers = Set<Int>()
        for layer in layers where layer.inputs.contains(where: { fromIntegers.contains($0) || isActivation8Bit($0) }) {
            fromIntegers.formUnion(layer.outputs)
        }
        var toIntegers = Set(outputs.map(\.value).filter(isActivation8Bit))
        for layer in layers.reversed() where layer.outputs.contains(where: { toIntegers.contains($0) || isActivation8Bit($0) }) {
            toIntegers.formUnion(layer.inputs)
        }
        var interior: [Layer] = [], boundary: [Layer] = []
        for layer in layers where !layer.isIntegerOnly && !layer.precision.hasSuffix("fp8") {
            let inside = layer.inputs.contains(where: fromIntegers.contains)
                && layer.outputs.contains(where: { toIntegers.contains($0) || isActivation8Bit($0) })
            if inside { interior.append(layer) } else { boundary.append(layer) }
        }
        return (interior, boundary)
    }

    /// True for a quantized graph whose every interior layer is integer arithmetic.
    /// Layers that compute in FP8 (W4A8 products, FP8 add/pool, conversions to and from FP8).
    public var fp8Layers: [Layer] { layers.filter { $0.precision.hasSuffix("fp8") } }

    public var isIntegerOnly: Bool {
        floatLayers.isEmpty && fp8Layers.isEmpty && layers.contains { $0.isIntegerOnly && $0.op.hasPrefix("Q") }
    }

    /// Throws when the arena and `threads` workspaces together exceed the memory limit.
    public func makeContext(threads: Int) throws -> ExecutionContext {
        let (perThread, overflow) = ((maxWorkspace + 63) & ~63).multipliedReportingOverflow(by: max(threads, 1))
        if overflow || arenaSize > memoryLimit - min(perThread, memoryLimit) || perThread > memoryLimit {
            let layer = layers.max { $0.workspaceSize < $1.workspaceSize }
            let name = layer.map { "\($0.op) of \($0.sourceNodes.joined(separator: ", "))" } ?? "none"
            throw DyadicError("\(name): \(maxWorkspace) bytes of scratch memory per thread (× \(threads)) and \(arenaSize) of values exceed the memory limit of \(memoryLimit)",
                              kind: .resourceLimit)
        }
        return try ExecutionContext(plan: self, threads: threads)
    }
}
