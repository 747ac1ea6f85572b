@testable import Dyadic
import Foundation
import Testing

/// A QDQ bias is DequantizeLinear(int32, scale, zero point) like any other tensor: when
/// its scale is not s_x·s_w or its zero point not 0, the integer Gemm still adds its real
/// value (rounded to the accumulator's unit), as the float definition does.
@Suite struct QDQBiasTests {
    static func graph(biasScale: Float, biasZeroPoint: Int32) -> Graph {
        let (k, n) = (16, 8)
        let sx: Float = 0.05, sw: Float = 0.02
        let w = (0..<(k * n)).map { Int8(truncatingIfNeeded: ($0 * 37) % 255 - 127) }
        let bias = (0..<n).map { Int32($0 * 150 - 500) }
        let nodes = [
            Node(name: "qx", opType: "QuantizeLinear", inputs: ["x", "sx", "zx"], outputs: ["xq"]),
            Node(name: "dqx", opType: "DequantizeLinear", inputs: ["xq", "sx", "zx"], outputs: ["xd"]),
            Node(name: "dqw", opType: "DequantizeLinear", inputs: ["w", "sw", "zw"], outputs: ["wd"]),
            Node(name: "dqb", opType: "DequantizeLinear", inputs: ["b", "sb", "zb"], outputs: ["bd"]),
            Node(name: "gemm", opType: "Gemm", inputs: ["xd", "wd", "bd"], outputs: ["g"]),
            Node(name: "qy", opType: "QuantizeLinear", inputs: ["g", "sy", "zy"], outputs: ["yq"]),
            Node(name: "dqy", opType: "DequantizeLinear", inputs: ["yq", "sy", "zy"], outputs: ["y"]),
        ]
        let initializers: [String: Tensor] = [
            "sx": Tensor([sx], shape: []), "zx": Tensor([UInt8(128)], shape: []),
            "w": Tensor(w, shape: [k, n]), "sw": Tensor([sw], shape: []), "zw": Tensor([Int8(0)], shape: []),
            "b": Tensor(bias, shape: [n]), "sb": Tensor([biasScale], shape: []), "zb": Tensor([biasZeroPoint], shape: []),
            "sy": Tensor([Float(0.04)], shape: []), "zy": Tensor([UInt8(120)], shape: []),
        ]
        return Graph(name: "bias", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [6, k])],
                     outputs: [ValueInfo(name: "y", dtype: .float32, shape: [6, n])], initializers: initializers, opset: 17)
    }

    static let standard: Float = 0.05 * 0.02
    static let cases: [(scale: Float, zeroPoint: Int32)] = [(standard, 0), (standard * 3, 0), (standard, 40), (0.0137, -25)]

    @Test(arguments: 0..<4)
    func biasOfAnyScaleAndZeroPoint(_ index: Int) throws {
        let c = Self.cases[index]
        let g = Self.graph(biasScale: c.scale, biasZeroPoint: c.zeroPoint)
        let session = try Session(graph: g)
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly, "\(plan.describe())")
        let x = Tensor(TransformerPatternTests.ramp(6 * 16, step: 29, scale: 0.05), shape: [6, 16])
        let got = try #require(try session.run(["x": x])["y"])
        let want = try TransformerPatternTests.definition(g, ["x": x])
        let steps = TransformerPatternTests.steps(got, want, scale: 0.04)
        #expect((steps.max() ?? 0) <= 1 && steps.filter { $0 == 0 }.count >= steps.count * 95 / 100, "\(steps)")
    }
}
