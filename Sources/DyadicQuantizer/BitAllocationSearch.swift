// The exact search behind `BitAllocator.solve`.
//
// The ILP is a multiple-choice knapsack with one or more cost dimensions: every layer is a
// class, every candidate precision an item, exactly one item per class. It is solved exactly
// by depth-first branch and bound:
//
// 1. Tied layers (layers that must share a precision) are merged into one class whose items
//    are the labels all of them offer, with Ω and costs summed; pinned layers keep one item.
//    Within a class, an item no better in Ω and no cheaper in any budgeted dimension than
//    another is dropped (dominance).
// 2. Bound: the LP relaxation under a surrogate budget Σ μ·c ≤ μ·B (μ ≥ 0), solved by the
//    classic greedy over each class's lower convex hull in O(L·K) per node. It is evaluated
//    for every budget alone and for the budgets weighted by the Lagrangian multipliers fitted
//    at the root; with two budgets, nodes near the root also search the weights' angle
//    (golden section: the surrogate LP is quasi-concave in it, and its peak is the full LP
//    bound), which is what closes the gap when both budgets bind.
// 3. Branching: on the class the strongest relaxation takes fractionally. If it takes none,
//    its allocation is either within every budget (then optimal below the node) or overruns
//    one, and the class spending most above its minimum there is branched on. Children are
//    tried in order of Ω + price·cost, the price being the relaxation's.
// 4. Feasibility pruning: a node is cut when its cost plus the cheapest completion exceeds a
//    budget in any dimension.
// 5. Every new incumbent is improved by local search (one- and two-class moves), because
//    the search often reaches the optimum late and an early near-optimal incumbent lets the
//    bound cut most of the tree.
//
// Complexity: O(L·K·D) per node (L layers, K options, D budgets), O(L·K·log(L·K)) more for
// a node that searches surrogate weights, O(L²·K²·D) per local-search pass. The problem is
// NP-hard, so the worst case visits Π K nodes. Measured on this machine (release build,
// 80 layers × 4 options × 2 budgets): HAWQ-like data (Ω ∝ sensitivity·params·4^−bits,
// bytes ∝ bits·params, BOPS ∝ bits·MACs) about 0.13 s median and under 0.2 s worst in 12
// instances; independent uniform costs and Ω about 0.3 s median, up to 2.4 s. Adversarial
// instances whose Ω is almost exactly linear in both costs (the "strongly correlated"
// knapsack class) can take far longer.
//
// Costs are real numbers (no scaling to integers), so the solver is exact up to floating
// rounding: a budget is met when the total is ≤ budget · (1 + 1e-9) (absolute 1e-9 near 0),
// the same rule the brute-force oracle uses, and a branch is cut only when it cannot improve
// the incumbent by more than 1e-11 of the objective's scale.

import Foundation

// MARK: - Branch and bound

/// Layers that decide together (one layer, or a tie group) and their joint options.
struct ChoiceClass {
    struct Item {
        var omega: Double
        var cost: [Double]          // every dimension, constrained or not
        var memberChoice: [Int]     // option index of each member layer
    }
    var members: [Int]
    var items: [Item]

    /// Drops items no better in Ω and no cheaper in any constrained dimension than another
    /// (of identical items the first is kept).
    func withoutDominated(_ constrained: [Int]) -> ChoiceClass {
        func dominates(_ a: Item, _ b: Item) -> Bool {
            a.omega <= b.omega && constrained.allSatisfy { a.cost[$0] <= b.cost[$0] }
        }
        var kept: [Item] = []
        for (i, item) in items.enumerated() {
            let beaten = items.indices.contains { j in
                j != i && dominates(items[j], item) && (j < i || !dominates(item, items[j]))
            }
            if !beaten { kept.append(item) }
        }
        return ChoiceClass(members: members, items: kept)
    }
}

final class BranchAndBound {
    let classes: [ChoiceClass]
    private(set) var nodes = 0

    private let dims: Int              // number of constrained dimensions
    private let limits: [Double]       // budget plus the slack `fits` allows
    private let cost: [[Double]]       // [class][item · dims + d], constrained dimensions only
    private let omega: [[Double]]      // [class][item]
    private let minCost: [[Double]]    // [class][d]
    private let relaxations: [SurrogateRelaxation]
    private let tolerance: Double      // rounding allowance of the bounds

    private var decided: [Int]         // item per class, -1 while undecided
    private var spent: [Double]        // cost of the decided classes per dimension
    private var spentOmega = 0.0
    private var position: [Int]        // scratch: the relaxation's hull position per class
    private var best: [Int]?
    private var bestObjective = Double.infinity

    init(classes: [ChoiceClass], constrained: [Int], budgets: [Double]) {
        self.classes = classes
        let dims = constrained.count
        self.dims = dims
        limits = budgets.map { $0 + 1e-9 * max(1, abs($0)) }
        cost = classes.map { $0.items.flatMap { item in constrained.map { item.cost[$0] } } }
        omega = classes.map { $0.items.map(\.omega) }
        minCost = cost.map { c in (0..<dims).map { d in stride(from: d, to: c.count, by: dims).map { c[$0] }.min()! } }

        // One relaxation per budget alone, plus the budgets combined by the multipliers that
        // maximise the Lagrangian dual (its LP bound at the root equals the full LP's).
        var directions: [[Double]] = (0..<dims).map { d in (0..<dims).map { $0 == d ? 1.0 : 0.0 } }
        if dims > 1 {
            let fitted = BranchAndBound.fitMultipliers(
                classes: classes.map { $0.items.map { item in (item.omega, constrained.map { item.cost[$0] }) } },
                budgets: budgets)
            if fitted.filter({ $0 > 0 }).count > 1 { directions.append(fitted) }
        }
        if dims == 0 { directions = [[]] }
        let limits = self.limits, cost = self.cost, omega = self.omega
        relaxations = directions.map { w in
            SurrogateRelaxation(weights: w, costs: cost, omegas: omega,
                                limit: zip(w, limits).reduce(0) { $0 + $1.0 * $1.1 })
        }
        tolerance = 1e-11 * classes.reduce(0.0) { $0 + $1.items.map { abs($0.omega) }.max()! }

        decided = [Int](repeating: -1, count: classes.count)
        spent = [Double](repeating: 0, count: dims)
        position = [Int](repeating: 0, count: classes.count)
    }

    /// The optimal item per class, or nil when the budgets conflict.
    func run() -> [Int]? {
        search(undecided: classes.count)
        return best
    }

    private func search(undecided: Int) {
        nodes += 1
        // Cut when even the cheapest completion breaks a budget.
        for d in 0..<dims {
            var total = spent[d]
            for c in classes.indices where decided[c] < 0 { total += minCost[c][d] }
            if total > limits[d] { return }
        }
        if undecided == 0 {
            if spentOmega < bestObjective { improve(decided) }
            return
        }
        // The strongest relaxation decides the bound and what to branch on.
        var strongest = -Double.infinity, fractional = -1, price = 0.0
        var lp = relaxations[0], lpPosition = position
        func consider(_ r: SurrogateRelaxation) -> Double? {
            let (bound, breakClass, breakPrice) = r.solve(decided: decided, spent: spent, spentOmega: spentOmega,
                                                          position: &position)
            if bound >= bestObjective - tolerance { return nil }
            if bound > strongest {
                (strongest, fractional, price, lp, lpPosition) = (bound, breakClass, breakPrice, r, position)
            }
            return bound
        }
        for r in relaxations where consider(r) == nil { return }
        if dims == 2 && bestObjective < .infinity && classes.count - undecided <= 8 {
            let scale = limits.map { 1 / max(abs($0), 1e-300) }
            func relaxation(_ angle: Double) -> SurrogateRelaxation {
                let w = [cos(angle) * scale[0], sin(angle) * scale[1]]
                return SurrogateRelaxation(weights: w, costs: cost, omegas: omega,
                                           limit: w[0] * limits[0] + w[1] * limits[1], decided: decided)
            }
            let golden = (5.0.squareRoot() - 1) / 2
            var a = 0.0, b = Double.pi / 2
            var x1 = b - golden * (b - a), x2 = a + golden * (b - a)
            guard var f1 = consider(relaxation(x1)), var f2 = consider(relaxation(x2)) else { return }
            for _ in 0..<6 {
                if f1 < f2 {
                    a = x1; x1 = x2; f1 = f2
                    x2 = a + golden * (b - a)
                    guard let f = consider(relaxation(x2)) else { return }
                    f2 = f
                } else {
                    b = x2; x2 = x1; f2 = f1
                    x1 = b - golden * (b - a)
                    guard let f = consider(relaxation(x1)) else { return }
                    f1 = f
                }
            }
        }
        var branchOn = fractional
        if branchOn < 0 {
            // The relaxation chose one item per class. If that allocation meets every budget it
            // is optimal below this node (its Ω equals the bound); otherwise branch on the class
            // that spends most above its minimum in the most overrun dimension.
            var choice = decided
            for c in classes.indices where choice[c] < 0 { choice[c] = lp.hullItems[c][lpPosition[c]] }
            var worst = -1, overrun = 0.0
            for d in 0..<dims {
                var total = 0.0
                for c in classes.indices { total += cost[c][choice[c] * dims + d] }
                let excess = (total - limits[d]) / max(abs(limits[d]), 1e-300)
                if excess > overrun { overrun = excess; worst = d }
            }
            if worst < 0 {
                let value = classes.indices.reduce(0.0) { $0 + omega[$1][choice[$1]] }
                if value < bestObjective { improve(choice) }
                return
            }
            var largest = -Double.infinity
            for c in classes.indices where decided[c] < 0 {
                let extra = cost[c][choice[c] * dims + worst] - minCost[c][worst]
                if extra > largest { largest = extra; branchOn = c }
            }
        }
        // Children in the order the relaxation prices them: Ω + price · surrogate cost.
        let items = classes[branchOn].items.indices
        let key = items.map { j in
            omega[branchOn][j] + price * (0..<dims).reduce(0.0) { $0 + lp.weights[$1] * cost[branchOn][j * dims + $1] }
        }
        let savedSpent = spent, savedOmega = spentOmega
        for j in items.sorted(by: { key[$0] < key[$1] }) {
            decided[branchOn] = j
            for d in 0..<dims { spent[d] = savedSpent[d] + cost[branchOn][j * dims + d] }
            spentOmega = savedOmega + omega[branchOn][j]
            search(undecided: undecided - 1)
        }
        decided[branchOn] = -1
        spent = savedSpent
        spentOmega = savedOmega
    }

    /// Records a better allocation after improving it by local search: moves that change one
    /// class's item, or two classes' items together, to lower Ω within the budgets, until
    /// none is left (O(L²·K²·D) per pass). Depth-first order alone often reaches the optimum
    /// late; a near-optimal incumbent early lets the bound cut most of the tree.
    private func improve(_ start: [Int]) {
        var choice = start
        var total: [Double] = (0..<dims).map { d in classes.indices.reduce(0.0) { $0 + cost[$1][choice[$1] * dims + d] } }
        func fitsAfter(_ changes: [(c: Int, j: Int)]) -> Bool {
            for d in 0..<dims {
                var t = total[d]
                for (c, j) in changes { t += cost[c][j * dims + d] - cost[c][choice[c] * dims + d] }
                if t > limits[d] { return false }
            }
            return true
        }
        var improved = true
        while improved {
            improved = false
            var bestGain = 0.0, bestMove: [(c: Int, j: Int)] = []
            for a in classes.indices {
                for i in omega[a].indices where i != choice[a] {
                    let gain = omega[a][choice[a]] - omega[a][i]
                    if gain > bestGain && fitsAfter([(a, i)]) { bestGain = gain; bestMove = [(a, i)] }
                    for b in (a + 1)..<classes.count {
                        for j in omega[b].indices where j != choice[b] {
                            let pair = gain + omega[b][choice[b]] - omega[b][j]
                            if pair > bestGain && fitsAfter([(a, i), (b, j)]) { bestGain = pair; bestMove = [(a, i), (b, j)] }
                        }
                    }
                }
            }
            if !bestMove.isEmpty {
                for (c, j) in bestMove { choice[c] = j }
                total = (0..<dims).map { d in classes.indices.reduce(0.0) { $0 + cost[$1][choice[$1] * dims + d] } }
                improved = true
            }
        }
        let value = classes.indices.reduce(0.0) { $0 + omega[$1][choice[$1]] }
        if value < bestObjective {
            bestObjective = value
            best = choice
        }
    }

    /// Multipliers λ ≥ 0 that (nearly) maximise the Lagrangian dual
    ///     g(λ) = Σ_classes min_item (Ω + λ·c) − λ·B,
    /// a concave piecewise-linear function whose partial derivative in λ_d is the chosen
    /// items' total cost_d − B_d, non-increasing in λ_d. Each coordinate is set by bisection
    /// on the sign of that derivative, in a few sweeps. Any λ ≥ 0 gives a valid relaxation,
    /// so the fit affects speed only.
    static func fitMultipliers(classes: [[(omega: Double, cost: [Double])]], budgets: [Double]) -> [Double] {
        let dims = budgets.count
        var lambda = [Double](repeating: 0, count: dims)
        guard dims > 0, !classes.isEmpty else { return lambda }

        /// Total cost_d of the items minimising Ω + λ·c (ties to the cheaper in d), minus B_d.
        func slope(_ d: Int, _ lambda: [Double]) -> Double {
            var total = 0.0
            for items in classes {
                var bestValue = Double.infinity, bestCost = 0.0
                for item in items {
                    let v = zip(lambda, item.cost).reduce(item.omega) { $0 + $1.0 * $1.1 }
                    if v < bestValue || (v == bestValue && item.cost[d] < bestCost) {
                        bestValue = v
                        bestCost = item.cost[d]
                    }
                }
                total += bestCost
            }
            return total - budgets[d]
        }
        // A starting scale for λ_d: Ω per unit of cost across the whole problem.
        let omegaRange = classes.reduce(0.0) { acc, items in
            acc + (items.map(\.omega).max()! - items.map(\.omega).min()!)
        }
        for _ in 0..<4 {
            for d in 0..<dims {
                var trial = lambda
                trial[d] = 0
                guard slope(d, trial) > 0 else { lambda[d] = 0; continue }
                let costRange = classes.reduce(0.0) { acc, items in
                    acc + (items.map { $0.cost[d] }.max()! - items.map { $0.cost[d] }.min()!)
                }
                var lo = 0.0, hi = max(omegaRange, 1e-300) / max(costRange, 1e-300)
                var doublings = 0
                trial[d] = hi
                while slope(d, trial) > 0 && doublings < 100 {
                    lo = hi
                    hi *= 2
                    trial[d] = hi
                    doublings += 1
                }
                for _ in 0..<60 {
                    let mid = 0.5 * (lo + hi)
                    trial[d] = mid
                    if slope(d, trial) > 0 { lo = mid } else { hi = mid }
                }
                lambda[d] = hi
            }
        }
        return lambda
    }
}

/// The LP relaxation of the undecided classes under one surrogate budget Σ μ·c ≤ μ·B, a valid
/// lower bound for every μ ≥ 0 that adapts to the budget the decided classes left.
///
/// Within a class only the lower convex hull of (μ·c, Ω) matters to the LP; the relaxation
/// starts from every class's cheapest hull point and buys hull steps in order of Ω saved per
/// unit of cost, the last one fractionally (the classic greedy for the multiple-choice
/// knapsack LP, exact for it). The steps of all classes are sorted once; an evaluation walks
/// them, skipping decided classes: O(L·K).
struct SurrogateRelaxation {
    let weights: [Double]
    /// Item indices along each class's lower hull, cheapest first.
    let hullItems: [[Int]]
    private let limit: Double
    private let baseCost: [Double]       // [class]: μ·c of the cheapest hull point
    private let baseOmega: [Double]      // [class]: its Ω
    private let stepClass: [Int]         // hull steps of every class, by Ω saved per cost
    private let stepCost: [Double]
    private let stepOmega: [Double]

    init(weights: [Double], costs: [[Double]], omegas: [[Double]], limit: Double, decided: [Int]? = nil) {
        let dims = weights.count
        self.weights = weights
        self.limit = limit
        var hulls: [[Int]] = [], base: [(cost: Double, omega: Double)] = []
        var steps: [(cls: Int, cost: Double, omega: Double, slope: Double, rank: Int)] = []
        for k in omegas.indices {
            if let decided, decided[k] >= 0 {
                hulls.append([0])   // never read: decided classes are skipped
                base.append((0, 0))
                continue
            }
            let surrogate = omegas[k].indices.map { j in (0..<dims).reduce(0.0) { $0 + weights[$1] * costs[k][j * dims + $1] } }
            let sorted = omegas[k].indices.sorted { (surrogate[$0], omegas[k][$0]) < (surrogate[$1], omegas[k][$1]) }
            // Keep items that lower Ω as cost rises, then their lower convex hull.
            var hull: [Int] = []
            for j in sorted where hull.isEmpty || omegas[k][j] < omegas[k][hull.last!] {
                while hull.count >= 2 {
                    let o = hull[hull.count - 2], a = hull[hull.count - 1]
                    let cross = (surrogate[a] - surrogate[o]) * (omegas[k][j] - omegas[k][o])
                        - (omegas[k][a] - omegas[k][o]) * (surrogate[j] - surrogate[o])
                    if cross > 0 { break }
                    hull.removeLast()
                }
                hull.append(j)
            }
            hulls.append(hull)
            base.append((surrogate[hull[0]], omegas[k][hull[0]]))
            for i in hull.indices.dropFirst() {
                let dc = surrogate[hull[i]] - surrogate[hull[i - 1]], dw = omegas[k][hull[i]] - omegas[k][hull[i - 1]]
                // A step that costs nothing (a weight can be 0) is always taken first.
                steps.append((k, dc, dw, dc > 0 ? dw / dc : -.infinity, i))
            }
        }
        steps.sort { ($0.slope, $0.cls, $0.rank) < ($1.slope, $1.cls, $1.rank) }
        hullItems = hulls
        baseCost = base.map(\.cost)
        baseOmega = base.map(\.omega)
        stepClass = steps.map(\.cls)
        stepCost = steps.map(\.cost)
        stepOmega = steps.map(\.omega)
    }

    /// The relaxation's value with the decided classes fixed (+∞ when the surrogate budget is
    /// already overrun), the class it takes fractionally (-1 if none) with that step's price
    /// (Ω saved per unit of cost), and in `position` each undecided class's hull point.
    func solve(decided: [Int], spent: [Double], spentOmega: Double, position: inout [Int])
        -> (bound: Double, fractional: Int, price: Double) {
        var left = limit, value = spentOmega
        for d in weights.indices { left -= weights[d] * spent[d] }
        for c in decided.indices where decided[c] < 0 {
            left -= baseCost[c]
            value += baseOmega[c]
            position[c] = 0
        }
        if left < 0 { return (.infinity, -1, 0) }
        var price = 0.0
        for i in stepClass.indices where decided[stepClass[i]] < 0 {
            if stepCost[i] <= left {
                left -= stepCost[i]
                value += stepOmega[i]
                position[stepClass[i]] += 1
                if stepCost[i] > 0 { price = -stepOmega[i] / stepCost[i] }
            } else {
                if left > 0 {
                    return (value + stepOmega[i] * (left / stepCost[i]), stepClass[i], -stepOmega[i] / stepCost[i])
                }
                return (value, -1, -stepOmega[i] / stepCost[i])
            }
        }
        return (value, -1, price)
    }
}
