/// An If whose condition is computed at run time: each branch is planned at load as a
/// graph of its own (its inputs are the outer values it reads), and a run executes the
/// chosen branch's plan in a context of its own, copying the outer values in and the
/// branch outputs out. Both branches must give outputs of the same types and shapes.
final class IfLayer: Layer {
    let op = "If"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let kernel = "branch_plans"
    let label: String
    struct Branch: Sendable {
        let name: String
        let plan: Plan
        /// For each branch input: the outer value that feeds it.
        let feeds: [(value: Int, outer: Int)]
    }
    let branches: [Branch]   // then, else

    init(source: String, label: String, condition: Int, outerValues: [Int], outputs: [Int], then: Branch, else elseBranch: Branch) {
        sourceNodes = [source]
        self.label = label
        inputs = [condition] + outerValues
        self.outputs = outputs
        branches = [then, elseBranch]
        isIntegerOnly = branches.allSatisfy { $0.plan.layers.allSatisfy(\.isIntegerOnly) }
    }

    var details: String { branches.map { "\($0.name): \($0.plan.layers.count) layers" }.joined(separator: ", ") }

    func run(_ context: ExecutionContext) {
        guard context.failure == nil else { return }
        let condition = context.pointer(inputs[0]).load(as: UInt8.self) != 0
        let branch = branches[condition ? 0 : 1]
        let sub: ExecutionContext
        do { sub = try branch.plan.makeContext(threads: 1) } catch {
            context.failure = DyadicError("\(label) \(branch.name): \(error)")
            return
        }
        for feed in branch.feeds {
            sub.pointer(feed.value).copyMemory(from: context.pointer(feed.outer), byteCount: branch.plan.byteCounts[feed.value])
        }
        sub.run()
        if let failure = sub.failure {
            context.failure = DyadicError("\(label) \(branch.name): \(failure.message)")
            return
        }
        for ((_, value), out) in zip(branch.plan.outputs, outputs) {
            context.pointer(out).copyMemory(from: sub.pointer(value), byteCount: branch.plan.byteCounts[value])
        }
    }
}
