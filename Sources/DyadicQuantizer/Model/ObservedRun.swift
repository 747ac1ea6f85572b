import Dyadic

/// Runs a model's plan sample by sample and shows every value as the layer that writes it
/// finishes (and the inputs before the first layer): what calibration and the accuracy report
/// read. One execution context serves all samples of a shape; the session plans a new shape
/// once.
struct ObservedRun {
    let session: Session
    let inputName: String
    private var context: ExecutionContext?

    init(graph: Graph, inputName: String) throws {
        session = try Session(graph: graph, options: SessionOptions(observable: true))
        self.inputName = inputName
    }

    /// One run of `sample`; `visit(value, context)` for each value, possibly more than once.
    /// Returns the graph outputs.
    mutating func run(_ sample: Tensor, visit: (Int, ExecutionContext) throws -> Void) throws -> [String: Tensor] {
        if context.map({ $0.plan.values[$0.plan.inputs[0].value].shape != sample.shape }) ?? true {
            _ = try session.run([inputName: sample])
            guard let plan = session.plan else { throw QuantizerError("the model has no plan for input shape \(sample.shape)") }
            context = try plan.makeContext(threads: 1)
        }
        let context = context!, plan = context.plan
        for (name, value) in plan.inputs where name == inputName { context.store(sample, into: value) }
        for (_, value) in plan.inputs { try visit(value, context) }
        try context.run { i in for value in plan.layers[i].outputs { try visit(value, context) } }
        if let error = context.failure { throw error }
        var outputs: [String: Tensor] = [:]
        for (name, value) in plan.outputs { outputs[name] = context.tensor(value) }
        return outputs
    }
}
