// Bit allocation: choose one precision per layer to minimise the summed sensitivity ΣΩ under
// budgets (weight bytes, BOPS, latency, …), as HAWQ-V3 does with an integer linear program.
//
// The search itself is in BitAllocationSearch.swift.

import Foundation

// MARK: - Problem and result

/// One candidate precision of a layer.
public struct PrecisionOption: Sendable, Equatable {
    /// The precision's name (e.g. "w4a8"); tie groups and pins refer to options by label.
    public var label: String
    /// The sensitivity Ω of the layer at this precision (what the allocation minimises).
    public var omega: Double
    /// The layer's cost at this precision, one entry per dimension of the problem.
    public var cost: [Double]

    public init(label: String, omega: Double, cost: [Double]) {
        self.label = label
        self.omega = omega
        self.cost = cost
    }
}

/// A layer and its candidate precisions.
public struct AllocationLayer: Sendable, Equatable {
    public var name: String
    public var options: [PrecisionOption]

    public init(name: String, options: [PrecisionOption]) {
        self.name = name
        self.options = options
    }
}

/// Minimise Σ Ω over one option per layer, subject to Σ cost[d] ≤ budget[d] for every
/// dimension that has a budget, with tied layers sharing a label and pinned layers fixed.
public struct BitAllocationProblem: Sendable, Equatable {
    /// Names of the cost dimensions, e.g. ["bytes", "bops", "latency_us"].
    public var dimensions: [String]
    /// One entry per dimension; nil leaves the dimension unconstrained (it is still totalled).
    public var budgets: [Double?]
    public var layers: [AllocationLayer]
    /// Groups of layer indices that must choose the same label (groups may overlap).
    public var ties: [[Int]]
    /// Layer index → the label it must use (e.g. the first and last layers at 8 bits).
    public var pins: [Int: String]

    public init(dimensions: [String], budgets: [Double?], layers: [AllocationLayer],
                ties: [[Int]] = [], pins: [Int: String] = [:]) {
        self.dimensions = dimensions
        self.budgets = budgets
        self.layers = layers
        self.ties = ties
        self.pins = pins
    }
}

/// The chosen precision of every layer.
public struct BitAllocation: Sendable, Equatable {
    /// Index into each layer's `options`.
    public var choices: [Int]
    public var labels: [String]
    /// Σ Ω of the chosen options.
    public var objective: Double
    /// Σ cost per dimension of the chosen options.
    public var totals: [Double]
    /// Branch-and-bound nodes visited (0 for the brute-force oracle).
    public var nodesExplored: Int
}

/// A budget, the least total its dimension can reach, and whether that meets the budget.
public struct BudgetStatus: Sendable, Equatable {
    public var dimension: String
    public var budget: Double
    public var minimum: Double
}

public enum BitAllocationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problem is malformed (sizes, indices, labels, non-finite numbers).
    case invalidProblem(String)
    /// Ties and pins leave these layers no label they could all use.
    case noCommonPrecision(layers: [String])
    /// Even the cheapest choice for every layer exceeds this budget.
    case budgetUnreachable(BudgetStatus)
    /// Each budget can be met alone but not all of them together.
    case budgetsConflict([BudgetStatus])

    public var description: String {
        switch self {
        case .invalidProblem(let why):
            return "bit allocation: \(why)"
        case .noCommonPrecision(let layers):
            return "bit allocation: tied/pinned layers \(layers.joined(separator: ", ")) have no precision in common"
        case .budgetUnreachable(let s):
            return "bit allocation: the \(s.dimension) budget \(s.budget) cannot be met; the minimum achievable is \(s.minimum)"
        case .budgetsConflict(let all):
            let each = all.map { "\($0.dimension) ≤ \($0.budget) (alone ≥ \($0.minimum))" }
            return "bit allocation: the budgets cannot be met together: " + each.joined(separator: ", ")
        }
    }
}

// MARK: - Solver

public enum BitAllocator {
    /// The optimal allocation, or an error naming the budget that cannot be met.
    public static func solve(_ problem: BitAllocationProblem) throws(BitAllocationError) -> BitAllocation {
        try validate(problem)
        let classes = try mergeTiesAndPins(problem)
        let constrained = problem.budgets.indices.filter { problem.budgets[$0] != nil }
        let budgets = constrained.map { problem.budgets[$0]! }

        // Budgets that fail even with the cheapest option everywhere are reported first, with
        // the minimum, so the user knows how far to move the budget.
        var statuses: [BudgetStatus] = []
        for (j, d) in constrained.enumerated() {
            let minimum = classes.reduce(0.0) { acc, cls in acc + cls.items.map { $0.cost[d] }.min()! }
            let status = BudgetStatus(dimension: problem.dimensions[d], budget: budgets[j], minimum: minimum)
            if !fits(minimum, budgets[j]) { throw .budgetUnreachable(status) }
            statuses.append(status)
        }

        let search = BranchAndBound(classes: classes.map { $0.withoutDominated(constrained) },
                                    constrained: constrained, budgets: budgets)
        guard let picked = search.run() else { throw .budgetsConflict(statuses) }

        var choices = [Int](repeating: 0, count: problem.layers.count)
        for (c, item) in picked.enumerated() {
            let cls = search.classes[c]
            for (m, layer) in cls.members.enumerated() { choices[layer] = cls.items[item].memberChoice[m] }
        }
        return assemble(problem, choices: choices, nodes: search.nodes)
    }

    /// Exhaustive enumeration over every layer's options: the oracle for the tests.
    /// Returns nil when no allocation satisfies the ties, pins and budgets.
    static func solveByEnumeration(_ problem: BitAllocationProblem) throws(BitAllocationError) -> BitAllocation? {
        try validate(problem)
        let n = problem.layers.count
        var choice = [Int](repeating: 0, count: n)
        var best: (objective: Double, choice: [Int])?
        outer: while true {
            if isAllowed(problem, choice) {
                let omega = (0..<n).reduce(0.0) { $0 + problem.layers[$1].options[choice[$1]].omega }
                if omega < best?.objective ?? .infinity { best = (omega, choice) }
            }
            // Odometer increment over all layers' options.
            var i = 0
            while i < n {
                choice[i] += 1
                if choice[i] < problem.layers[i].options.count { continue outer }
                choice[i] = 0
                i += 1
            }
            break
        }
        return best.map { assemble(problem, choices: $0.choice, nodes: 0) }
    }

    /// Whether a total meets a budget. The relative slack absorbs summation-order rounding,
    /// so that the solver and the oracle agree on allocations that sit exactly on a budget.
    static func fits(_ total: Double, _ budget: Double) -> Bool {
        total <= budget + 1e-9 * max(1, abs(budget))
    }

    private static func isAllowed(_ p: BitAllocationProblem, _ choice: [Int]) -> Bool {
        func label(_ i: Int) -> String { p.layers[i].options[choice[i]].label }
        for (layer, pinned) in p.pins where label(layer) != pinned { return false }
        for tie in p.ties where Set(tie.map(label)).count > 1 { return false }
        for (d, budget) in p.budgets.enumerated() {
            guard let budget else { continue }
            let total = p.layers.indices.reduce(0.0) { $0 + p.layers[$1].options[choice[$1]].cost[d] }
            if !fits(total, budget) { return false }
        }
        return true
    }

    /// Totals are summed in layer order by both solvers so that their objectives compare.
    private static func assemble(_ p: BitAllocationProblem, choices: [Int], nodes: Int) -> BitAllocation {
        let chosen = p.layers.indices.map { p.layers[$0].options[choices[$0]] }
        return BitAllocation(
            choices: choices, labels: chosen.map(\.label),
            objective: chosen.reduce(0) { $0 + $1.omega },
            totals: p.dimensions.indices.map { d in chosen.reduce(0) { $0 + $1.cost[d] } },
            nodesExplored: nodes)
    }

    private static func validate(_ p: BitAllocationProblem) throws(BitAllocationError) {
        let dims = p.dimensions.count
        guard p.budgets.count == dims else {
            throw .invalidProblem("\(p.budgets.count) budgets for \(dims) cost dimensions")
        }
        for (d, b) in p.budgets.enumerated() where b.map({ !$0.isFinite }) ?? false {
            throw .invalidProblem("the \(p.dimensions[d]) budget is not finite")
        }
        for layer in p.layers {
            guard !layer.options.isEmpty else { throw .invalidProblem("layer \(layer.name) has no options") }
            guard Set(layer.options.map(\.label)).count == layer.options.count else {
                throw .invalidProblem("layer \(layer.name) has two options with the same label")
            }
            for o in layer.options {
                guard o.cost.count == dims else {
                    throw .invalidProblem("layer \(layer.name) option \(o.label) has \(o.cost.count) costs for \(dims) dimensions")
                }
                guard o.omega.isFinite, o.cost.allSatisfy(\.isFinite) else {
                    throw .invalidProblem("layer \(layer.name) option \(o.label) has a non-finite Ω or cost")
                }
            }
        }
        for tie in p.ties {
            for i in tie where !p.layers.indices.contains(i) {
                throw .invalidProblem("tie refers to layer \(i) of \(p.layers.count)")
            }
        }
        for (i, label) in p.pins {
            guard p.layers.indices.contains(i) else { throw .invalidProblem("pin refers to layer \(i) of \(p.layers.count)") }
            guard p.layers[i].options.contains(where: { $0.label == label }) else {
                throw .invalidProblem("layer \(p.layers[i].name) is pinned to \(label), which it does not offer")
            }
        }
    }

    /// Union-find over the ties; every resulting class offers the labels all its members
    /// offer (restricted to the pinned one, if any), with Ω and costs summed over members.
    private static func mergeTiesAndPins(_ p: BitAllocationProblem) throws(BitAllocationError) -> [ChoiceClass] {
        var parent = Array(p.layers.indices)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        for tie in p.ties {
            for i in tie.dropFirst() { parent[root(i)] = root(tie[0]) }
        }
        var membersOf: [Int: [Int]] = [:]
        for i in p.layers.indices { membersOf[root(i), default: []].append(i) }

        return try membersOf.keys.sorted().map { (r: Int) throws(BitAllocationError) -> ChoiceClass in
            let members = membersOf[r]!
            var labels = p.layers[members[0]].options.map(\.label)
            for m in members {
                let offered = Set(p.layers[m].options.map(\.label))
                labels = labels.filter { offered.contains($0) && (p.pins[m] ?? $0) == $0 }
            }
            guard !labels.isEmpty else { throw .noCommonPrecision(layers: members.map { p.layers[$0].name }) }
            let items = labels.map { label in
                let picks = members.map { m in p.layers[m].options.firstIndex { $0.label == label }! }
                let options = zip(members, picks).map { p.layers[$0].options[$1] }
                return ChoiceClass.Item(
                    omega: options.reduce(0) { $0 + $1.omega },
                    cost: p.dimensions.indices.map { d in options.reduce(0) { $0 + $1.cost[d] } },
                    memberChoice: picks)
            }
            return ChoiceClass(members: members, items: items)
        }
    }
}
