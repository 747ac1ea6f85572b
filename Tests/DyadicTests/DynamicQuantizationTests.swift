@testable import Dyadic
import Foundation
import Testing

/// ONNX Runtime's dynamic quantization on the integer GEMM kernels: every output equal,
/// bit for bit, to the ops' definitions evaluated one by one (the reference ops follow
/// ONNX Runtime's formulas and pass the ONNX node tests).
@Suite struct DynamicQuantizationTests {
    /// Pseudo-random floats in [-range, range) with a few exact ties and zeros.
    static func floats(_ count: Int, seed: UInt64, range: Float = 3) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            if i % 17 == 0 { return 0 }
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * range
        }
    }

    static func int8s(_ count: Int, seed: UInt64) -> [Int8] {
        var state = seed | 1
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int8(truncatingIfNeeded: state >> 56)
        }
    }

    static func definition(_ graph: Graph, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        var env = graph.initializers.merging(inputs) { $1 }
        for node in graph.nodes {
            let out = try ReferenceOps.evaluate(node, node.inputs.map { $0.isEmpty ? nil : env[$0] }, opset: graph.opset)
            for (name, t) in zip(node.outputs, out) { env[name] = t }
        }
        return env
    }

    /// x → DynamicQuantizeLinear → MatMulInteger → Cast → Mul(a_scale·b_scale) → Add(bias),
    /// as `quantize_dynamic` writes it; optionally uint8 weights, per-column weight zero
    /// points and scales, and no bias.
    static func dynamicGraph(k: Int, n: Int, uint8Weights: Bool, weightZeroPoints: Bool, perColumn: Bool, bias: Bool) -> Graph {
        let w = int8s(k * n, seed: UInt64(k * 31 + n))
        var initializers: [String: Tensor] = [:]
        initializers["w"] = uint8Weights ? Tensor(w.map { UInt8(bitPattern: $0) }, shape: [k, n]) : Tensor(w, shape: [k, n])
        let columns = perColumn ? n : 1
        if weightZeroPoints {
            let z = (0..<columns).map { Int8(truncatingIfNeeded: $0 * 37 - 90) }
            initializers["wzp"] = uint8Weights ? Tensor(z.map { UInt8(bitPattern: $0) }, shape: [columns]) : Tensor(z, shape: [columns])
        }
        initializers["ws"] = Tensor((0..<columns).map { 0.003 + Float($0) * 0.0001 }, shape: perColumn ? [columns] : [])
        initializers["b"] = Tensor(floats(n, seed: 5), shape: [n])
        var nodes = [
            Node(name: "dql", opType: "DynamicQuantizeLinear", inputs: ["x"], outputs: ["xq", "xs", "xz"]),
            Node(name: "scales", opType: "Mul", inputs: ["xs", "ws"], outputs: ["s"]),
            Node(name: "mmi", opType: "MatMulInteger", inputs: ["xq", "w", "xz"] + (weightZeroPoints ? ["wzp"] : []), outputs: ["acc"]),
            Node(name: "cast", opType: "Cast", inputs: ["acc"], outputs: ["accf"], attributes: ["to": .int(1)]),
            Node(name: "mul", opType: "Mul", inputs: ["accf", "s"], outputs: bias ? ["m"] : ["y"]),
        ]
        if bias { nodes.append(Node(name: "add", opType: "Add", inputs: ["b", "m"], outputs: ["y"])) }
        return Graph(name: "dynamic", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [2, 7, k])],
                     outputs: [ValueInfo(name: "y", dtype: .float32, shape: [2, 7, n])], initializers: initializers, opset: 17)
    }

    @Test(arguments: [(37, 19, false, false, false, true), (64, 48, false, true, true, true), (300, 70, true, false, false, false),
                      (5, 3, true, true, true, true), (384, 129, false, false, true, true)])
    func dynamicMatMulEqualsItsDefinition(_ c: (k: Int, n: Int, uint8: Bool, zeroPoints: Bool, perColumn: Bool, bias: Bool)) throws {
        let g = Self.dynamicGraph(k: c.k, n: c.n, uint8Weights: c.uint8, weightZeroPoints: c.zeroPoints, perColumn: c.perColumn, bias: c.bias)
        for threads in [1, 2] {
            let session = try Session(graph: g, options: SessionOptions(threads: threads))
            let plan = try #require(session.plan)
            #expect(plan.layers.contains { $0 is IntegerMatMulLayer && $0.kernel.hasPrefix("dyd_") }, "\(plan.describe())")
            #expect(!plan.layers.contains { $0.kernel == "reference" }, "\(plan.describe())")
            for seed in 0..<3 {
                let x = Tensor(Self.floats(2 * 7 * c.k, seed: UInt64(seed + 1), range: Float(seed + 1)), shape: [2, 7, c.k])
                let got = try #require(try session.run(["x": x])["y"])
                let want = try #require(try Self.definition(g, ["x": x])["y"])
                #expect(got.shape == want.shape && got.bytes == want.bytes, "k \(c.k) n \(c.n) seed \(seed) threads \(threads)")
            }
        }
    }

    /// A MatMulInteger read by something other than Cast keeps its int32 output.
    @Test func matMulIntegerAloneGivesInt32() throws {
        let (k, n) = (41, 33)
        let a = Self.int8s(3 * k, seed: 9).map { UInt8(bitPattern: $0) }
        let g = Graph(name: "mmi", nodes: [Node(name: "mmi", opType: "MatMulInteger", inputs: ["a", "w", "az", "wz"], outputs: ["y"])],
                      inputs: [ValueInfo(name: "a", dtype: .uint8, shape: [3, k])],
                      outputs: [ValueInfo(name: "y", dtype: .int32, shape: [3, n])],
                      initializers: ["w": Tensor(Self.int8s(k * n, seed: 3), shape: [k, n]), "az": Tensor([UInt8(131)], shape: []),
                                     "wz": Tensor([Int8(-7)], shape: [])], opset: 17)
        let session = try Session(graph: g)
        #expect(try #require(session.plan).layers.contains { $0 is IntegerMatMulLayer && $0.isIntegerOnly })
        let input = Tensor(a, shape: [3, k])
        let got = try #require(try session.run(["a": input])["y"])
        let want = try #require(try Self.definition(g, ["a": input])["y"])
        #expect(got.dtype == .int32 && got.bytes == want.bytes)
    }

    /// com.microsoft MatMulIntegerToFloat and DynamicQuantizeMatMul, as ONNX Runtime's
    /// optimizer fuses the pattern above.
    @Test(arguments: ["MatMulIntegerToFloat", "DynamicQuantizeMatMul"])
    func fusedContribOpsEqualTheirDefinition(_ op: String) throws {
        let (k, n) = (96, 40)
        var nodes: [Node] = []
        var inputs = ["x", "w", "ws", "wz", "b"]
        if op == "MatMulIntegerToFloat" {
            nodes.append(Node(name: "dql", opType: "DynamicQuantizeLinear", inputs: ["x"], outputs: ["xq", "xs", "xz"]))
            inputs = ["xq", "w", "xs", "ws", "xz", "wz", "b"]
        }
        nodes.append(Node(name: "mm", opType: op, domain: "com.microsoft", inputs: inputs, outputs: ["y"]))
        let g = Graph(name: "fused", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [5, k])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, shape: [5, n])],
                      initializers: ["w": Tensor(Self.int8s(k * n, seed: 4), shape: [k, n]),
                                     "ws": Tensor((0..<n).map { 0.01 + Float($0) * 0.001 }, shape: [n]),
                                     "wz": Tensor((0..<n).map { Int8(truncatingIfNeeded: $0 - 20) }, shape: [n]),
                                     "b": Tensor(Self.floats(n, seed: 8), shape: [n])], opset: 17)
        let session = try Session(graph: g)
        #expect(!(try #require(session.plan)).layers.contains { $0.kernel == "reference" })
        let x = Tensor(Self.floats(5 * k, seed: 12), shape: [5, k])
        let got = try #require(try session.run(["x": x])["y"])
        let want = try #require(try Self.definition(g, ["x": x])["y"])
        #expect(got.bytes == want.bytes)
    }

    /// The quantization layer against the reference op: ranges on one side of 0, all
    /// zeros (scale 1, as ONNX Runtime), a single value, and every length up to 40 (the
    /// 16-lane loop and its tail); a NaN or an infinity is a one-line error.
    @Test func dynamicQuantizeLinearMatchesTheReference() throws {
        var cases: [[Float]] = [[0, 0, 0], [2.5], [-1, -2, -3], [1, 2, 3, 4], Self.floats(1000, seed: 77, range: 100)]
        for length in 1...40 { cases.append(Self.floats(length, seed: UInt64(length), range: Float(length))) }
        for values in cases {
            let g = Graph(name: "dql", nodes: [Node(name: "dql", opType: "DynamicQuantizeLinear", inputs: ["x"], outputs: ["q", "s", "z"])],
                          inputs: [ValueInfo(name: "x", dtype: .float32, shape: [values.count])],
                          outputs: ["q", "s", "z"].map { ValueInfo(name: $0, dtype: $0 == "s" ? .float32 : .uint8, shape: $0 == "q" ? [values.count] : []) },
                          initializers: [:], opset: 17)
            let session = try Session(graph: g)
            #expect(try #require(session.plan).layers.contains { $0 is DynamicQuantizeLayer })
            let x = Tensor(values, shape: [values.count])
            let got = try session.run(["x": x]), want = try Self.definition(g, ["x": x])
            for name in ["q", "s", "z"] { #expect(got[name]?.bytes == want[name]?.bytes, "\(name) for \(values.prefix(4))…") }
        }
        let g = Graph(name: "dql", nodes: [Node(name: "dql", opType: "DynamicQuantizeLinear", inputs: ["x"], outputs: ["q", "s", "z"])],
                      inputs: [ValueInfo(name: "x", dtype: .float32, shape: [20])],
                      outputs: [ValueInfo(name: "q", dtype: .uint8, shape: [20])], initializers: [:], opset: 17)
        let session = try Session(graph: g)
        for bad in [Float.nan, .infinity, -.infinity] {
            var values = Self.floats(20, seed: 3)
            values[bad.isNaN ? 19 : 4] = bad
            #expect(throws: DyadicError.self) { try session.run(["x": Tensor(values, shape: [20])]) }
        }
    }
}
