import Foundation

/// Options of a session.
public struct SessionOptions: Sendable {
    public var numerics: NumericsProfile
    public var threads: Int
    /// Keep every ONNX value a value of its own in the plan: float activations are not
    /// fused into the layer that produces their input (for observing intermediate values,
    /// as calibration does).
    public var observable: Bool
    /// Bytes a plan may ask for: any one value, and one context's arena with its
    /// workspace. A model whose sizes exceed it is refused with an error naming the
    /// value or layer, before anything that large is allocated.
    public var memoryLimit: Int
    public init(numerics: NumericsProfile = .dyadic, threads: Int = 1, observable: Bool = false,
                memoryLimit: Int = SessionOptions.defaultMemoryLimit) {
        self.numerics = numerics
        self.threads = threads
        self.observable = observable
        self.memoryLimit = memoryLimit
    }

    /// This machine's physical memory, or the process's address-space limit
    /// (`ulimit -v`) when that is lower: no plan can use more.
    public static let defaultMemoryLimit: Int = {
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_AS.rawValue)
        #else
        let resource = RLIMIT_AS
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return physical }
        return min(physical, Int(clamping: limit.rlim_cur))
    }()
}

/// A loaded model ready to run: the graph, and a plan for the current input shapes.
///
/// Graph inputs that feed a parameter position of a node (a Reshape's shape, a
/// QuantizeLinear's scale, a Conv's weights) are folded into the plan as constants,
/// so such a plan is specialised to their values and rebuilt when they change.
/// Models whose inputs are all data get their plan at init, so every import and
/// lowering error surfaces before the first run.
///
/// `run` may be called from several threads at once: the plan (packed weights,
/// tables) is shared, and each concurrent run takes an execution context of its
/// own from a pool, so memory grows with the number of simultaneous runs only.
public final class Session: @unchecked Sendable {
    public let graph: Graph
    public let options: SessionOptions
    /// Graph inputs whose values decide shapes (a Reshape's shape, a Slice's bounds, an
    /// If's condition), directly or through the nodes computing those inputs.
    public let parameterInputs: Set<String>

    /// Guards everything below.
    private let lock = NSLock()
    private var currentPlan: Plan?
    private var planKey: [String: Tensor] = [:]
    private var planShapes: [String: [Int]] = [:]
    /// Idle contexts of the current plan.
    private var pool: [ExecutionContext] = []

    public init(graph: Graph, options: SessionOptions = SessionOptions()) throws {
        try GraphValidation.validate(graph)
        self.graph = graph
        self.options = options
        parameterInputs = Self.parameterInputs(of: graph)
        if parameterInputs.isEmpty {
            var shapes: [String: [Int]] = [:]
            for input in graph.inputs { shapes[input.name] = input.shape.map { $0 ?? 1 } }
            do {
                currentPlan = try makePlan(shapes: shapes, parameters: [:])
                planShapes = shapes
            } catch where graph.inputs.contains(where: { $0.shape.contains(nil) }) {
                // Symbolic sizes set to 1 may not fit the model (a pooling window larger
                // than a 1-pixel image): the plan waits for real inputs, whose errors
                // then surface on the first run.
                currentPlan = nil
            }
        }
    }

    /// Walks back from every parameter position (shapes, quantization parameters, an If's
    /// condition; see `ReferenceOps.parameterPositions`) to the graph inputs it reads.
    /// Shape and Size read only their input's shape, which the plan knows, so the walk
    /// stops there; everything else passes the need on to all of its inputs.
    static func parameterInputs(of graph: Graph) -> Set<String> {
        var needed = Set<String>()
        for node in graph.nodes {
            for i in ReferenceOps.parameterPositions(node, opset: graph.opset) where i < node.inputs.count && !node.inputs[i].isEmpty {
                needed.insert(node.inputs[i])
            }
        }
        for node in graph.nodes.reversed() where node.outputs.contains(where: needed.contains) {
            guard !(node.domain.isEmpty && (node.opType == "Shape" || node.opType == "Size")) else { continue }
            for input in node.inputs where !input.isEmpty { needed.insert(input) }
        }
        // Large float inputs (images, audio) are data: a plan per value would fold the whole
        // model. What they decide at run time (an If's condition) is computed in the plan.
        let small = graph.inputs.filter { input in
            input.dtype != .float32 || (input.shape.map { $0 ?? -1 }.checkedProduct.map { $0 <= 16 } ?? false)
        }
        return Set(small.map(\.name)).intersection(needed)
    }

    /// The model's inputs: name, element type and declared shape (nil for a symbolic
    /// dimension, fixed by the tensor a run supplies).
    public var inputs: [ValueInfo] { graph.inputs }
    /// The model's outputs, in the order the model declares them; `run` returns them by name.
    public var outputs: [ValueInfo] { graph.outputs }

    /// The plan of the latest run (or of the declared input shapes).
    public var plan: Plan? {
        lock.lock()
        defer { lock.unlock() }
        return currentPlan
    }

    private func makePlan(shapes: [String: [Int]], parameters: [String: Tensor]) throws -> Plan {
        var g = graph
        if !parameters.isEmpty {
            g.inputs.removeAll { parameters[$0.name] != nil }
            for (name, t) in parameters { g.initializers[name] = t }
        }
        return try Lowering.plan(graph: g, inputShapes: shapes.filter { parameters[$0.key] == nil }, numerics: options.numerics,
                                 observable: options.observable, memoryLimit: options.memoryLimit)
    }

    /// A new execution context for the plan made at init (models without parameter
    /// inputs), for callers that manage contexts themselves.
    public func makeContext(threads: Int? = nil) throws -> ExecutionContext {
        guard let plan else {
            throw DyadicError("the model has parameter inputs (\(parameterInputs.sorted().joined(separator: ", "))); use run(_:)")
        }
        return try plan.makeContext(threads: threads ?? options.threads)
    }

    /// Checks names, element types and shapes, then runs. Inputs are NCHW as in ONNX.
    /// Safe to call from many threads at once: each call runs in a context of its own.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let prepared = try prepare(inputs)
        try prepared.run()
        return prepared.outputs()
    }

    /// Checks the inputs as `run` does and stores them in a context that the returned
    /// object holds alone until it is released: each of its `run()` calls computes the
    /// outputs again from the same inputs (timing loops).
    public func prepare(_ inputs: [String: Tensor]) throws -> PreparedRun {
        for name in inputs.keys where !graph.inputs.contains(where: { $0.name == name }) {
            throw DyadicError("input '\(name)' is not an input of the model (inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))",
                              kind: .invalidInput(name: name))
        }
        var shapes: [String: [Int]] = [:]
        for input in graph.inputs {
            guard let t = inputs[input.name] else {
                throw DyadicError("missing input '\(input.name)' (\(input.dtype)\(input.shapeString))", kind: .invalidInput(name: input.name))
            }
            guard t.dtype == input.dtype else {
                throw DyadicError("input '\(input.name)' has element type \(t.dtype), the model expects \(input.dtype)",
                                  kind: .invalidInput(name: input.name))
            }
            let fits = t.shape.count == input.shape.count && zip(t.shape, input.shape).allSatisfy { $1 == nil || $0 == $1 }
            guard fits else {
                throw DyadicError("input '\(input.name)' has shape \(t.shape.shapeString), the model expects \(input.shapeString)",
                                  kind: .invalidInput(name: input.name))
            }
            shapes[input.name] = t.shape
        }
        let parameters = inputs.filter { parameterInputs.contains($0.key) }
        let context = try checkOut(shapes: shapes, parameters: parameters)
        for (name, value) in context.plan.inputs { context.store(inputs[name]!, into: value) }
        return PreparedRun(session: self, context: context)
    }

    /// A context for a plan matching these shapes and parameters, re-planning if needed.
    private func checkOut(shapes: [String: [Int]], parameters: [String: Tensor]) throws -> ExecutionContext {
        lock.lock()
        defer { lock.unlock() }
        if currentPlan == nil || shapes != planShapes || !sameParameters(parameters) {
            // Lowering under the lock keeps concurrent callers from planning twice.
            currentPlan = try makePlan(shapes: shapes, parameters: parameters)
            planShapes = shapes
            planKey = parameters
            pool.removeAll()
        }
        return try pool.popLast() ?? currentPlan!.makeContext(threads: options.threads)
    }

    fileprivate func checkIn(_ context: ExecutionContext) {
        lock.lock()
        defer { lock.unlock() }
        if context.plan === currentPlan { pool.append(context) }
    }

    private func sameParameters(_ parameters: [String: Tensor]) -> Bool {
        guard parameters.count == planKey.count else { return false }
        for (name, t) in parameters {
            guard let p = planKey[name], p.shape == t.shape, p.bytes == t.bytes else { return false }
        }
        return true
    }
}

/// One set of inputs stored in an execution context of its own (`Session.prepare`).
/// Not for use from two threads at once; any number of them may run concurrently.
public final class PreparedRun {
    private let session: Session
    private let context: ExecutionContext

    fileprivate init(session: Session, context: ExecutionContext) {
        self.session = session
        self.context = context
    }

    deinit { session.checkIn(context) }

    /// Computes the outputs from the stored inputs.
    public func run() throws {
        context.run()
        if let failure = context.failure { throw failure }
    }

    /// The graph outputs of the last `run()`.
    public func outputs() -> [String: Tensor] {
        var outputs: [String: Tensor] = [:]
        for (name, value) in context.plan.outputs { outputs[name] = context.tensor(value) }
        return outputs
    }
}
