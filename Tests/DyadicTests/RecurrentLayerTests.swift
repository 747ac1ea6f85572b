@testable import Dyadic
import Foundation
import Testing

/// The float LSTM layer against the reference LSTM (which passes ONNX's node tests):
/// every direction, both layouts, initial states, sequence_lens, peepholes, clip, and
/// any subset of the outputs. The two differ only in float rounding (summation order,
/// the vectorised sigmoid and tanh), so outputs agree to a few ulps of their scale.
@Suite struct RecurrentLayerTests {
    struct Case: CustomStringConvertible, Sendable {
        var seq: Int, batch: Int, input: Int, hidden: Int
        var direction = "forward"
        var layout = 0
        var lengths: [Int32]? = nil
        var peephole = false
        var clip: Float? = nil
        var initialStates = false
        var outputs = ["y", "yh", "yc"]
        var description: String {
            "T \(seq) N \(batch) I \(input) H \(hidden) \(direction) layout \(layout)" + (lengths.map { " lens \($0)" } ?? "")
                + (peephole ? " peephole" : "") + (clip.map { " clip \($0)" } ?? "") + (initialStates ? " h0/c0" : "") + " → \(outputs)"
        }
    }

    static let cases: [Case] = [
        Case(seq: 7, batch: 1, input: 13, hidden: 16),
        Case(seq: 5, batch: 3, input: 20, hidden: 9, direction: "bidirectional", layout: 1, lengths: [5, 2, 0], initialStates: true),
        Case(seq: 6, batch: 2, input: 8, hidden: 32, direction: "reverse", lengths: [4, 6], peephole: true, clip: 0.75),
        Case(seq: 1, batch: 1, input: 257, hidden: 128, initialStates: true, outputs: ["", "yh", "yc"]),
        Case(seq: 9, batch: 2, input: 5, hidden: 3, direction: "bidirectional", peephole: true, initialStates: true, outputs: ["y"]),
    ]

    static func graph(_ c: Case) -> (Graph, [String: Tensor]) {
        let D = c.direction == "bidirectional" ? 2 : 1, H = c.hidden
        func t(_ shape: [Int], _ seed: UInt64, _ range: Float) -> Tensor {
            Tensor(DynamicQuantizationTests.floats(shape.reduce(1, *), seed: seed, range: range), shape: shape)
        }
        var initializers: [String: Tensor] = ["w": t([D, 4 * H, c.input], 1, 0.4), "r": t([D, 4 * H, H], 2, 0.4), "b": t([D, 8 * H], 3, 0.3)]
        var inputs = ["x", "w", "r", "b", "", "", "", ""]
        var feeds: [String: Tensor] = [:]
        var graphInputs = [ValueInfo(name: "x", dtype: .float32, shape: c.layout == 0 ? [c.seq, c.batch, c.input] : [c.batch, c.seq, c.input])]
        feeds["x"] = t(graphInputs[0].shape.map { $0! }, 4, 2)
        if let lengths = c.lengths {
            initializers["lens"] = Tensor(lengths, shape: [c.batch])
            inputs[4] = "lens"
        }
        if c.initialStates {
            let state = c.layout == 0 ? [D, c.batch, H] : [c.batch, D, H]
            for (i, name) in [(5, "h0"), (6, "c0")] {
                inputs[i] = name
                graphInputs.append(ValueInfo(name: name, dtype: .float32, shape: state))
                feeds[name] = t(state, UInt64(i), 1)
            }
        }
        if c.peephole {
            initializers["p"] = t([D, 3 * H], 7, 0.5)
            inputs[7] = "p"
        }
        while inputs.last == "" { inputs.removeLast() }
        var attributes: [String: Attribute] = ["hidden_size": .int(Int64(H)), "direction": .string(c.direction), "layout": .int(Int64(c.layout))]
        if let clip = c.clip { attributes["clip"] = .float(clip) }
        let shapes = [c.layout == 0 ? [c.seq, D, c.batch, H] : [c.batch, c.seq, D, H], c.layout == 0 ? [D, c.batch, H] : [c.batch, D, H]]
        let outputs = c.outputs.enumerated().filter { !$0.element.isEmpty }.map {
            ValueInfo(name: $0.element, dtype: .float32, shape: shapes[min($0.offset, 1)])
        }
        let node = Node(name: "lstm", opType: "LSTM", inputs: inputs, outputs: c.outputs, attributes: attributes)
        return (Graph(name: "lstm", nodes: [node], inputs: graphInputs, outputs: outputs, initializers: initializers, opset: 14), feeds)
    }

    @Test(arguments: cases)
    func lstmLayerMatchesTheReference(_ c: Case) throws {
        let (g, feeds) = Self.graph(c)
        let session = try Session(graph: g)
        let plan = try #require(session.plan)
        #expect(plan.layers.contains { $0 is FloatLSTMLayer }, "\(plan.describe())")
        let got = try session.run(feeds)
        let want = try DynamicQuantizationTests.definition(g, feeds)
        for output in g.outputs {
            let a = try #require(got[output.name]), b = try #require(want[output.name])
            #expect(a.shape == b.shape, "\(c): \(output.name)")
            // tanh and sigmoid outputs are at most 1 in magnitude; c grows by at most 1 per step
            let worst = zip(a.floats, b.floats).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 2e-6 * Float(c.seq + 1), "\(c): \(output.name) differs by \(worst)")
        }
    }
}
