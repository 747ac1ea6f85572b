import Foundation

/// Options of a session.
public struct SessionOptions: Sendable {
    public var numerics: Numerics
    public var threads: Int
    public init(numerics: Numerics = .dyadic, threads: Int = 1) {
        self.numerics = numerics
        self.threads = threads
    }
}

/// A loaded model ready to run: the graph, and a plan per set of input shapes.
///
/// The plan for the declared input shapes (symbolic dimensions taken as 1) is built
/// at init, so every import and lowering error surfaces before the first run.
public final class Session: @unchecked Sendable {
    public let graph: Graph
    public let options: SessionOptions
    public private(set) var plan: Plan
    private var context: ExecutionContext
    private var planShapes: [String: [Int]]

    public init(graph: Graph, options: SessionOptions = SessionOptions()) throws {
        self.graph = graph
        self.options = options
        var shapes: [String: [Int]] = [:]
        for input in graph.inputs { shapes[input.name] = input.shape.map { $0 ?? 1 } }
        planShapes = shapes
        plan = try Lowering.plan(graph: graph, inputShapes: shapes, numerics: options.numerics)
        context = plan.makeContext(threads: options.threads)
    }

    /// Checks names, element types and shapes, then runs. Inputs are NCHW as in ONNX.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        for name in inputs.keys where !graph.inputs.contains(where: { $0.name == name }) {
            throw DyadicError("input '\(name)' is not an input of the model (inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))")
        }
        var shapes: [String: [Int]] = [:]
        for input in graph.inputs {
            guard let t = inputs[input.name] else { throw DyadicError("missing input '\(input.name)' (\(input.dtype)\(input.shapeString))") }
            guard t.dtype == input.dtype else {
                throw DyadicError("input '\(input.name)' has element type \(t.dtype), the model expects \(input.dtype)")
            }
            let fits = t.shape.count == input.shape.count && zip(t.shape, input.shape).allSatisfy { $1 == nil || $0 == $1 }
            guard fits else {
                throw DyadicError("input '\(input.name)' has shape \(t.shape.shapeString), the model expects \(input.shapeString)")
            }
            shapes[input.name] = t.shape
        }
        if shapes != planShapes {
            plan = try Lowering.plan(graph: graph, inputShapes: shapes, numerics: options.numerics)
            context = plan.makeContext(threads: options.threads)
            planShapes = shapes
        }
        for (name, value) in plan.inputs { context.store(inputs[name]!, into: value) }
        plan.run(context)
        var outputs: [String: Tensor] = [:]
        for (name, value) in plan.outputs { outputs[name] = context.tensor(value) }
        return outputs
    }

    /// Runs with the inputs already stored by a previous `run` (for timing loops).
    public func rerun() { plan.run(context) }
}
