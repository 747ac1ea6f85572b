@testable import Dyadic
import Foundation
import Testing

/// `Session.prepare` gives each caller a context of its own: prepared runs with different
/// inputs, interleaved or concurrent, each compute from their own inputs.
@Suite struct PreparedRunTests {
    static let graph = Graph(name: "t", nodes: [Node(name: "relu", opType: "Relu", inputs: ["x"], outputs: ["r"]),
                                                Node(name: "add", opType: "Add", inputs: ["r", "x"], outputs: ["y"])],
                             inputs: [ValueInfo(name: "x", dtype: .float32, shape: [64])],
                             outputs: [ValueInfo(name: "y", dtype: .float32, shape: [64])], initializers: [:], opset: 17)

    static func input(_ k: Int) -> Tensor { Tensor((0..<64).map { Float(($0 * 7 + k * 13) % 41) - 20 }, shape: [64]) }
    static func expected(_ k: Int) -> [Float] { input(k).floats.map { max($0, 0) + $0 } }

    @Test func interleavedPreparedRunsKeepTheirInputs() throws {
        let session = try Session(graph: Self.graph)
        let a = try session.prepare(["x": Self.input(1)])
        let b = try session.prepare(["x": Self.input(2)])
        _ = try session.run(["x": Self.input(3)])
        for _ in 0..<3 {
            try a.run()
            try b.run()
            #expect(a.outputs()["y"]?.floats == Self.expected(1))
            #expect(b.outputs()["y"]?.floats == Self.expected(2))
        }
    }

    @Test func concurrentPreparedRuns() async throws {
        let session = try Session(graph: Self.graph)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for k in 0..<8 {
                group.addTask {
                    let prepared = try session.prepare(["x": Self.input(k)])
                    for _ in 0..<50 {
                        try prepared.run()
                        if prepared.outputs()["y"]?.floats != Self.expected(k) { return false }
                    }
                    return true
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}
