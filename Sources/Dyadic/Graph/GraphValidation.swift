/// Checks on an imported graph before any rewrite or lowering reads it, so that later
/// code may index a node's inputs and outputs: each node's counts fit its operator's
/// schema (`OperatorArity`, every opset version's bounds) and it has an output. (Counts
/// alone cannot tell which positions are optional: an optional input may sit before a
/// required one, e.g. DynamicQuantizeLSTM's sequence_lens, so empty names are left to
/// the code that reads each input.) Subgraphs (If branches) are checked the same way.
/// Operators of other domains, or unknown ones, are left to the lowering's
/// "unsupported" error.
enum GraphValidation {
    static func validate(_ graph: Graph) throws {
        for node in graph.nodes {
            try validate(node)
            for attribute in node.attributes.values {
                if case .graph(let subgraph) = attribute { try validate(subgraph) }
            }
        }
    }

    static func validate(_ node: Node) throws {
        let table = node.domain == "com.microsoft" ? OperatorArity.microsoft
            : (node.domain.isEmpty || node.domain == "ai.onnx" ? OperatorArity.standard : [:])
        guard let range = table[node.opType] else { return }
        func count(_ n: Int, _ what: String) -> String { n == 1 ? "1 \(what)" : "\(n) \(what)s" }
        func bounds(_ lo: Int, _ hi: Int) -> String { hi == Int.max ? "at least \(lo)" : (lo == hi ? "\(lo)" : "\(lo) to \(hi)") }
        guard node.inputs.count >= range.minInputs, node.inputs.count <= range.maxInputs else {
            throw node.invalid("has \(count(node.inputs.count, "input")); the operator takes \(bounds(range.minInputs, range.maxInputs))")
        }
        guard node.outputs.count >= range.minOutputs, node.outputs.count <= range.maxOutputs else {
            throw node.invalid("has \(count(node.outputs.count, "output")); the operator gives \(bounds(range.minOutputs, range.maxOutputs))")
        }
        guard node.outputs.contains(where: { !$0.isEmpty }) else { throw node.invalid("has no outputs") }
    }
}
