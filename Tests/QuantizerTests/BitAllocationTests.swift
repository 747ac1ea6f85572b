import Foundation
import Testing
@testable import DyadicQuantizer

@Suite struct BitAllocationTests {
    // MARK: Hand-checked cases

    /// Three layers at 8 or 4 bits under a 300-byte budget; 8 bits everywhere takes 500.
    @Test func smallByteBudgetByHand() throws {
        let p = BitAllocationProblem(dimensions: ["bytes"], budgets: [300], layers: [
            layer("a", ("8", 1, [200]), ("4", 10, [100])),
            layer("b", ("8", 1, [200]), ("4", 2, [100])),
            layer("c", ("8", 1, [100]), ("4", 6, [50])),
        ])
        // 200 bytes must be saved. 4 bits on {a, b} saves 200 (Ω 10 + 2 + 1 = 13); {a, c} and
        // {b, c} save 150 (too little); all three save 250 (Ω 18). So a and b go to 4 bits.
        let r = try BitAllocator.solve(p)
        #expect(r.labels == ["4", "4", "8"])
        #expect(r.objective == 13)
        #expect(r.totals == [300])
    }

    @Test func pinsAndTiesAreHonoured() throws {
        let options: [(String, Double, [Double])] = [("8", 1, [8, 64]), ("4", 3, [4, 32]), ("2", 9, [2, 16])]
        var p = BitAllocationProblem(dimensions: ["bytes", "bops"], budgets: [14, nil],
                                     layers: (0..<4).map { layer("l\($0)", options[0], options[1], options[2]) })
        // Free: byte splits of 14 over four layers are {8,2,2,2} (Ω 28) and {4,4,4,2} (Ω 18).
        #expect(try BitAllocator.solve(p).objective == 18)
        // First and last at 8 bits: 8 + 8 = 16 > 14, infeasible.
        p.pins = [0: "8", 3: "8"]
        #expect(throws: BitAllocationError.budgetUnreachable(BudgetStatus(dimension: "bytes", budget: 14, minimum: 20))) {
            try BitAllocator.solve(p)
        }
        // First at 8 bits, layers 1–3 tied: 8 + 3·2 = 14 is the only fit.
        p.pins = [0: "8"]
        p.ties = [[1, 2], [2, 3]]
        let r = try BitAllocator.solve(p)
        #expect(r.labels == ["8", "2", "2", "2"])
        #expect(r.objective == 28)
        #expect(r.totals == [14, 112])   // the unconstrained dimension is still totalled
    }

    @Test func infeasibleBudgetsAreExplained() throws {
        let p = BitAllocationProblem(dimensions: ["bytes", "bops"], budgets: [10, 10], layers: [
            layer("a", ("8", 0, [8, 2]), ("4", 1, [2, 8])),
            layer("b", ("8", 0, [8, 2]), ("4", 1, [2, 8])),
        ])
        // Each layer costs (8, 2) or (2, 8): one of each gives (10, 10), which fits. With
        // budgets (9, 9) each alone is reachable (minimum 4) but every mix has a sum of 20.
        #expect(try BitAllocator.solve(p).objective == 1)
        var tight = p
        tight.budgets = [9, 9]
        do {
            _ = try BitAllocator.solve(tight)
            Issue.record("conflicting budgets accepted")
        } catch let e {
            #expect(e == .budgetsConflict([
                BudgetStatus(dimension: "bytes", budget: 9, minimum: 4),
                BudgetStatus(dimension: "bops", budget: 9, minimum: 4),
            ]))
            #expect(e.description.contains("bytes ≤ 9.0"))
        }
        tight.budgets = [3, nil]
        do {
            _ = try BitAllocator.solve(tight)
            Issue.record("unreachable budget accepted")
        } catch let e {
            #expect(e == .budgetUnreachable(BudgetStatus(dimension: "bytes", budget: 3, minimum: 4)))
            #expect(e.description.contains("minimum achievable is 4.0"))
        }
    }

    @Test func tiesWithoutCommonLabelAndBadInputAreRejected() {
        let disjoint = BitAllocationProblem(dimensions: [], budgets: [], layers: [
            layer("a", ("8", 0, [])), layer("b", ("4", 0, [])),
        ], ties: [[0, 1]])
        #expect(throws: BitAllocationError.noCommonPrecision(layers: ["a", "b"])) { try BitAllocator.solve(disjoint) }

        let pinsDisagree = BitAllocationProblem(dimensions: [], budgets: [], layers: [
            layer("a", ("8", 0, []), ("4", 0, [])), layer("b", ("8", 0, []), ("4", 0, [])),
        ], ties: [[0, 1]], pins: [0: "8", 1: "4"])
        #expect(throws: BitAllocationError.noCommonPrecision(layers: ["a", "b"])) { try BitAllocator.solve(pinsDisagree) }

        let badCost = BitAllocationProblem(dimensions: ["bytes"], budgets: [1], layers: [layer("a", ("8", 0, [1, 2]))])
        #expect(throws: BitAllocationError.self) { try BitAllocator.solve(badCost) }
        let badPin = BitAllocationProblem(dimensions: [], budgets: [], layers: [layer("a", ("8", 0, []))], pins: [0: "4"])
        #expect(throws: BitAllocationError.self) { try BitAllocator.solve(badPin) }
        let badTie = BitAllocationProblem(dimensions: [], budgets: [], layers: [layer("a", ("8", 0, []))], ties: [[0, 3]])
        #expect(throws: BitAllocationError.self) { try BitAllocator.solve(badTie) }
    }

    @Test func emptyProblemHasZeroObjective() throws {
        let r = try BitAllocator.solve(BitAllocationProblem(dimensions: ["bytes"], budgets: [0], layers: []))
        #expect(r.objective == 0 && r.totals == [0] && r.choices.isEmpty)
    }

    // MARK: Against brute force

    @Test func matchesBruteForceOnRandomSmallInstances() throws {
        var rng = SeededGenerator(seed: 0x5EED_0001)
        var feasible = 0, infeasible = 0, maxNodes = 0
        for instance in 0..<600 {
            let p = randomSmallProblem(&rng)
            let oracle = try BitAllocator.solveByEnumeration(p)
            let solved: BitAllocation?
            do { solved = try BitAllocator.solve(p) } catch let e {
                if case .invalidProblem = e { Issue.record("instance \(instance): \(e)") }
                solved = nil
            }
            switch (oracle, solved) {
            case (nil, nil):
                infeasible += 1
            case (let o?, let s?):
                feasible += 1
                maxNodes = max(maxNodes, s.nodesExplored)
                #expect(abs(o.objective - s.objective) <= 1e-9 * max(1, abs(o.objective)), "instance \(instance)")
                #expect(satisfies(p, s), "instance \(instance): solver's allocation breaks a constraint")
            case (nil, let s?):
                Issue.record("instance \(instance): solver found \(s.labels) where none is feasible")
            case (let o?, nil):
                Issue.record("instance \(instance): solver found nothing, brute force \(o.labels) Ω \(o.objective)")
            }
        }
        print("bit allocation vs brute force: \(feasible) feasible, \(infeasible) infeasible, max nodes \(maxNodes)")
        #expect(feasible > 200 && infeasible > 50)   // both outcomes are exercised
    }

    /// Exact at the target size where an independent exact method exists: integer costs
    /// allow dynamic programming over the budget (one and two dimensions).
    @Test func matchesDynamicProgrammingOnIntegerCosts() throws {
        var rng = SeededGenerator(seed: 0x5EED_0002)
        for (layers, dims, maxCost) in [(80, 1, 60), (30, 2, 8)] {
            for _ in 0..<5 {
                let p = randomIntegerProblem(&rng, layers: layers, dims: dims, maxCost: maxCost)
                let s = try BitAllocator.solve(p)
                let dp = dynamicProgramming(p)
                #expect(abs(s.objective - dp) <= 1e-9 * abs(dp), "\(layers)×4×\(dims): B&B \(s.objective) vs DP \(dp)")
                #expect(satisfies(p, s))
            }
        }
    }

    /// The size the quantizer meets in practice (80 layers, 4 precisions, bytes and BOPS).
    /// Prints times (not asserted: performance is measured by tools, not tests, and this is
    /// a debug build); asserts that the result is feasible and no worse than a greedy one.
    @Test func solvesEightyLayersFourOptionsTwoBudgets() throws {
        var rng = SeededGenerator(seed: 0x5EED_0003)
        var times: [Double] = [], nodes: [Int] = []
        for kind in ["hawq", "random"] {
            for _ in 0..<2 {
                let p = kind == "hawq" ? hawqLikeProblem(&rng) : randomProblem(&rng)
                var r: BitAllocation?
                times.append(try milliseconds { r = try BitAllocator.solve(p) })
                let s = try #require(r)
                nodes.append(s.nodesExplored)
                #expect(satisfies(p, s))
                if let g = greedy(p) { #expect(s.objective <= g + 1e-9 * abs(g)) }
            }
        }
        let sorted = times.sorted()
        print(String(format: "80×4×2 bit allocation (debug build): median %.2f ms, max %.2f ms, nodes median %d max %d",
                     sorted[sorted.count / 2], sorted.last!, nodes.sorted()[nodes.count / 2], nodes.max()!))
    }

    // MARK: Helpers

    private func layer(_ name: String, _ options: (String, Double, [Double])...) -> AllocationLayer {
        AllocationLayer(name: name, options: options.map { PrecisionOption(label: $0.0, omega: $0.1, cost: $0.2) })
    }

    /// Independent check of an allocation against ties, pins and budgets.
    private func satisfies(_ p: BitAllocationProblem, _ a: BitAllocation) -> Bool {
        guard a.choices.count == p.layers.count else { return false }
        let labels = p.layers.indices.map { p.layers[$0].options[a.choices[$0]].label }
        guard labels == a.labels else { return false }
        for (i, l) in p.pins where labels[i] != l { return false }
        for tie in p.ties where Set(tie.map { labels[$0] }).count > 1 { return false }
        for (d, b) in p.budgets.enumerated() {
            let total = p.layers.indices.reduce(0.0) { $0 + p.layers[$1].options[a.choices[$1]].cost[d] }
            if abs(total - a.totals[d]) > 1e-9 * max(1, abs(total)) { return false }
            if let b, total > b + 1e-9 * max(1, abs(b)) { return false }
        }
        let omega = p.layers.indices.reduce(0.0) { $0 + p.layers[$1].options[a.choices[$1]].omega }
        return abs(omega - a.objective) <= 1e-12 * max(1, abs(omega))
    }

    /// 1–8 layers, 1–4 options drawn from four labels, 1–3 dimensions (some unconstrained),
    /// random ties and pins, budgets from hopeless to loose; integer data in some instances
    /// so that exact ties of Ω and allocations sitting exactly on a budget occur.
    private func randomSmallProblem(_ rng: inout SeededGenerator) -> BitAllocationProblem {
        let dims = Int.random(in: 1...3, using: &rng)
        let integral = Bool.random(using: &rng)
        func value(_ range: ClosedRange<Double>) -> Double {
            let v = Double.random(in: range, using: &rng)
            return integral ? v.rounded() : v
        }
        let n = Int.random(in: 1...8, using: &rng)
        let layers = (0..<n).map { i in
            let labels = ["2", "4", "6", "8"].shuffled(using: &rng).prefix(Int.random(in: 1...4, using: &rng))
            return AllocationLayer(name: "l\(i)", options: labels.map { l in
                PrecisionOption(label: l, omega: value(0...10), cost: (0..<dims).map { _ in value(0...10) })
            })
        }
        var budgets: [Double?] = []
        for d in 0..<dims {
            if Double.random(in: 0..<1, using: &rng) < 0.15 { budgets.append(nil); continue }
            let lo = layers.reduce(0.0) { $0 + $1.options.map { $0.cost[d] }.min()! }
            let hi = layers.reduce(0.0) { $0 + $1.options.map { $0.cost[d] }.max()! }
            switch Int.random(in: 0..<5, using: &rng) {
            case 0:  // exactly the cost of some allocation
                budgets.append(layers.reduce(0.0) { $0 + $1.options.randomElement(using: &rng)!.cost[d] })
            case 1:  // below the minimum
                budgets.append(lo - Double.random(in: 0...2, using: &rng))
            default:
                budgets.append(lo + Double.random(in: 0...1, using: &rng) * (hi - lo))
            }
        }
        var ties: [[Int]] = []
        if n > 1 {
            for _ in 0..<Int.random(in: 0...2, using: &rng) where Bool.random(using: &rng) {
                ties.append(Array((0..<n).shuffled(using: &rng).prefix(Int.random(in: 2...min(3, n), using: &rng))))
            }
        }
        var pins: [Int: String] = [:]
        for i in 0..<n where Double.random(in: 0..<1, using: &rng) < 0.15 {
            pins[i] = layers[i].options.randomElement(using: &rng)!.label
        }
        return BitAllocationProblem(dimensions: (0..<dims).map { "d\($0)" }, budgets: budgets,
                                    layers: layers, ties: ties, pins: pins)
    }

    /// Four options per layer with small integer costs, budgets halfway between the
    /// cheapest and the dearest allocation.
    private func randomIntegerProblem(_ rng: inout SeededGenerator, layers n: Int, dims: Int, maxCost: Int) -> BitAllocationProblem {
        let layers = (0..<n).map { i in
            AllocationLayer(name: "l\(i)", options: (0..<4).map { j in
                let cost = (0..<dims).map { _ in Double(Int.random(in: 0...maxCost, using: &rng)) }
                // Ω falls as cost rises, with noise: the usual precision trade-off.
                let omega = max(0, 100 - 8 * cost.reduce(0, +) / Double(dims) + rng.gaussian() * 15)
                return PrecisionOption(label: "o\(j)", omega: omega, cost: cost)
            })
        }
        let budgets: [Double?] = (0..<dims).map { d in
            let lo = layers.reduce(0.0) { $0 + $1.options.map { $0.cost[d] }.min()! }
            let hi = layers.reduce(0.0) { $0 + $1.options.map { $0.cost[d] }.max()! }
            return (0.5 * (lo + hi)).rounded()
        }
        return BitAllocationProblem(dimensions: (0..<dims).map { "d\($0)" }, budgets: budgets, layers: layers)
    }

    /// Exact optimum by dynamic programming over integer budgets (no ties or pins).
    private func dynamicProgramming(_ p: BitAllocationProblem) -> Double {
        let caps = p.budgets.map { Int($0!) + 1 }
        let states = caps.reduce(1, *)
        var best = [Double](repeating: .infinity, count: states)
        best[0] = 0
        for layer in p.layers {
            var next = [Double](repeating: .infinity, count: states)
            for s in 0..<states where best[s].isFinite {
                // Decode the used amount per dimension from the mixed-radix state.
                var rest = s, used: [Int] = []
                for c in caps { used.append(rest % c); rest /= c }
                option: for o in layer.options {
                    var t = 0, radix = 1
                    for (d, c) in caps.enumerated() {
                        let u = used[d] + Int(o.cost[d])
                        if u >= c { continue option }
                        t += u * radix
                        radix *= c
                    }
                    next[t] = min(next[t], best[s] + o.omega)
                }
            }
            best = next
        }
        return best.min()!
    }

    /// HAWQ-style data: parameter and MAC counts spanning three decades, bits {2, 4, 6, 8},
    /// bytes ∝ bits · params, BOPS ∝ bits · 8 · MACs, Ω ∝ sensitivity · params · 4^−bits.
    private func hawqLikeProblem(_ rng: inout SeededGenerator) -> BitAllocationProblem {
        let layers = (0..<80).map { i in
            let params = pow(10, Double.random(in: 3...6, using: &rng))
            let macs = params * pow(10, Double.random(in: 1...3, using: &rng))
            let sensitivity = pow(10, Double.random(in: -2...2, using: &rng))
            return AllocationLayer(name: "l\(i)", options: [2.0, 4, 6, 8].map { b in
                PrecisionOption(label: "w\(Int(b))", omega: sensitivity * params * pow(4, -b),
                                cost: [params * b / 8, macs * b * 8])
            })
        }
        return withBudgets(layers, fractions: [Double.random(in: 0.2...0.7, using: &rng),
                                               Double.random(in: 0.2...0.7, using: &rng)])
    }

    /// Independent uniform costs and Ω.
    private func randomProblem(_ rng: inout SeededGenerator) -> BitAllocationProblem {
        let layers = (0..<80).map { i in
            AllocationLayer(name: "l\(i)", options: (0..<4).map { j in
                let bytes = Double.random(in: 1...100, using: &rng)
                let bops = Double.random(in: 1...100, using: &rng)
                return PrecisionOption(label: "o\(j)", omega: Double.random(in: 0...500, using: &rng),
                                       cost: [bytes, bops])
            })
        }
        return withBudgets(layers, fractions: [0.4, 0.4])
    }

    private func withBudgets(_ layers: [AllocationLayer], fractions: [Double]) -> BitAllocationProblem {
        let budgets: [Double?] = fractions.enumerated().map { d, f in
            let lo = layers.reduce(0.0) { $0 + $1.options.map { $0.cost[d] }.min()! }
            let hi = layers.reduce(0.0) { $0 + $1.options.map { $0.cost[d] }.max()! }
            return lo + f * (hi - lo)
        }
        return BitAllocationProblem(dimensions: ["bytes", "bops"], budgets: budgets, layers: layers)
    }

    /// A feasible allocation by greedy descent from the cheapest one (Ω of the result), or
    /// nil: the solver must never do worse.
    private func greedy(_ p: BitAllocationProblem) -> Double? {
        var choice = p.layers.map { l in
            l.options.indices.min { l.options[$0].cost.reduce(0, +) < l.options[$1].cost.reduce(0, +) }!
        }
        func totals(_ c: [Int]) -> [Double] {
            p.dimensions.indices.map { d in p.layers.indices.reduce(0.0) { $0 + p.layers[$1].options[c[$1]].cost[d] } }
        }
        func ok(_ c: [Int]) -> Bool { zip(totals(c), p.budgets).allSatisfy { $0.0 <= ($0.1 ?? .infinity) } }
        guard ok(choice) else { return nil }
        while true {
            var bestGain = 0.0, bestMove: (Int, Int)?
            for i in p.layers.indices {
                for o in p.layers[i].options.indices {
                    let gain = p.layers[i].options[choice[i]].omega - p.layers[i].options[o].omega
                    guard gain > bestGain else { continue }
                    var trial = choice
                    trial[i] = o
                    if ok(trial) { bestGain = gain; bestMove = (i, o) }
                }
            }
            guard let (i, o) = bestMove else { break }
            choice[i] = o
        }
        return p.layers.indices.reduce(0.0) { $0 + p.layers[$1].options[choice[$1]].omega }
    }
}
