/// An executable form of a graph for fixed input shapes: values, layers in
/// execution order, and where each value lives in a context's arena.
public final class Plan: @unchecked Sendable {
    public let values: [PlanValue]
    public let layers: [Layer]
    /// Graph inputs and outputs: ONNX name → value index.
    public let inputs: [(name: String, value: Int)]
    public let outputs: [(name: String, value: Int)]
    public let numerics: Numerics
    let offsets: [Int]
    /// Bytes of each value (precomputed: runs must not compute shapes' products).
    let byteCounts: [Int]
    /// Bytes of one context's arena (values share it by liveness).
    public let arenaSize: Int
    /// What the values would take with one slot each.
    public let unsharedSize: Int
    let maxWorkspace: Int

    init(values: [PlanValue], layers: [Layer], inputs: [(String, Int)], outputs: [(String, Int)], numerics: Numerics) {
        self.values = values
        self.layers = layers
        self.inputs = inputs.map { (name: $0.0, value: $0.1) }
        self.outputs = outputs.map { (name: $0.0, value: $0.1) }
        self.numerics = numerics
        let memory = MemoryPlan(values: values, layers: layers, inputs: inputs.map(\.1), outputs: outputs.map(\.1))
        offsets = memory.offsets
        byteCounts = values.map(\.byteCount)
        arenaSize = memory.arenaSize
        unsharedSize = memory.unsharedSize
        maxWorkspace = layers.map(\.workspaceSize).max() ?? 0
    }

    /// Layers that run float arithmetic between the input quantization and the output
    /// dequantization. Quantizing a graph input and dequantizing into a graph output
    /// are the graph's boundary, not part of it.
    public var floatLayers: [Layer] {
        let graphInputs = Set(inputs.map(\.value)), graphOutputs = Set(outputs.map(\.value))
        return layers.filter { layer in
            if layer.isIntegerOnly || layer.precision.hasSuffix("fp8") { return false }
            if layer.op == "Quantize" && layer.inputs.allSatisfy(graphInputs.contains) { return false }
            if layer.op == "Dequantize" && layer.outputs.allSatisfy(graphOutputs.contains) { return false }
            return true
        }
    }

    /// True for a quantized graph whose every interior layer is integer arithmetic.
    /// Layers that compute in FP8 (W4A8 products, FP8 add/pool, conversions to and from FP8).
    public var fp8Layers: [Layer] { layers.filter { $0.precision.hasSuffix("fp8") } }

    public var isIntegerOnly: Bool {
        floatLayers.isEmpty && fp8Layers.isEmpty && layers.contains { $0.isIntegerOnly && $0.op.hasPrefix("Q") }
    }

    public func makeContext(threads: Int) -> ExecutionContext { ExecutionContext(plan: self, threads: threads) }
}
