@testable import Dyadic
import Foundation
import Testing

/// Integer forms of the transformer ops between Q/DQ pairs, against their float
/// definitions: the integer square root, LayerNorm, GELU as one table, and the MatMul
/// of two 8-bit activations.
@Suite struct TransformerPatternTests {
    @Test func integerSquareRootIsTheFloorOfTheRoot() {
        var values: [UInt64] = Array(0..<70_000)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values.append(state >> UInt64(state % 40))
        }
        values += [UInt64(1) << 62, (UInt64(1) << 62) - 1, UInt64(UInt32.max) * UInt64(UInt32.max)]
        for n in values {
            let r = IntegerLayerNormLayer.isqrt(n)
            #expect(r.multipliedReportingOverflow(by: r).partialValue <= n, "isqrt(\(n)) = \(r) is too large")
            let next = (r + 1).multipliedReportingOverflow(by: r + 1)
            #expect(next.overflow || next.partialValue > n, "isqrt(\(n)) = \(r) is too small")
        }
    }

    /// The reciprocal division the LayerNorm and Softmax rows use equals `/` over its
    /// whole stated domain: numerators below 2^52 in magnitude, divisors below 2^52,
    /// exact multiples and their neighbours included.
    @Test func reciprocalDivisionIsExact() {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bits: UInt64) -> Int64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int64(state >> (64 - bits))
        }
        for _ in 0..<20_000 {
            let divisor = max(next(1 + UInt64(next(6)) % 52), 1)
            let divisors = [divisor, 1, 2, 3, (Int64(1) << 51) - 1]
            for d in divisors {
                let r = ReciprocalDivisor(d)
                let q = next(1 + UInt64(next(6)) % 52) / max(d, 1)
                for numerator in [next(1 + UInt64(next(6)) % 52), q * d, q * d - 1, q * d + 1, (Int64(1) << 52) - 1] {
                    for signed in [numerator, -numerator] where signed.magnitude < 1 << 52 {
                        #expect(r.quotient(signed) == signed / d, "\(signed) / \(d)")
                    }
                }
            }
        }
    }

    /// x → Q → DQ → body → Q → DQ → y over rows of 64 codes (every uint8 code in each
    /// group of four rows), with the given output quantization.
    static func graph(_ body: [Node], output: String, initializers: [String: Tensor], shape: [Int], outScale: Float, outZeroPoint: UInt8,
                      extraInputs: [ValueInfo] = []) -> Graph {
        var all = initializers
        all["s"] = Tensor([Float(0.05)], shape: []); all["zp"] = Tensor([UInt8(128)], shape: [])
        all["so"] = Tensor([outScale], shape: []); all["zpo"] = Tensor([outZeroPoint], shape: [])
        let nodes = [Node(name: "qx", opType: "QuantizeLinear", inputs: ["x", "s", "zp"], outputs: ["xq"]),
                     Node(name: "dqx", opType: "DequantizeLinear", inputs: ["xq", "s", "zp"], outputs: ["xd"])]
            + body + [Node(name: "qy", opType: "QuantizeLinear", inputs: [output, "so", "zpo"], outputs: ["yq"]),
                      Node(name: "dqy", opType: "DequantizeLinear", inputs: ["yq", "so", "zpo"], outputs: ["y"])]
        return Graph(name: "t", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: shape)] + extraInputs,
                     outputs: [ValueInfo(name: "y", dtype: .float32, shape: shape)], initializers: all, opset: 17)
    }

    static func codes(rows: Int, width: Int, seed: Int) -> Tensor {
        var values: [Float] = []
        for i in 0..<(rows * width) {
            let code = (i * 61 + seed * 17 + (i / width) * 7) % 256 - 128
            values.append(Float(code) * 0.05)
        }
        return Tensor(values, shape: [1, rows, width])
    }

    static func ramp(_ count: Int, step: Int, scale: Float) -> [Float] {
        var values: [Float] = []
        for i in 0..<count {
            let code = (i * step) % 256 - 128
            values.append(Float(code) * scale)
        }
        return values
    }

    static func definition(_ graph: Graph, _ inputs: [String: Tensor]) throws -> Tensor {
        var env = graph.initializers.merging(inputs) { $1 }
        for node in graph.nodes {
            let out = try ReferenceOps.evaluate(node, node.inputs.map { $0.isEmpty ? nil : env[$0] }, opset: graph.opset)
            for (name, t) in zip(node.outputs, out) { env[name] = t }
        }
        return env["y"]!
    }

    static func steps(_ a: Tensor, _ b: Tensor, scale: Float) -> [Int] {
        zip(a.floats, b.floats).map { Int((abs($0 - $1) / scale).rounded()) }
    }

    /// The integer LayerNorm's stated bound: within one output step of the float
    /// definition (the square root and division truncate below 2^-8 relative; γ/s_y
    /// keeps 31 bits), on rows of every spread, including constant rows (variance 0).
    @Test(arguments: [Float(1e-5), 1e-12])
    func integerLayerNormIsWithinOneStep(_ epsilon: Float) throws {
        let width = 64, rows = 12
        let gamma = (0..<width).map { Float(sin(Double($0))) * 1.5 }, beta = (0..<width).map { Float(cos(Double($0) * 0.7)) * 0.3 }
        let g = Self.graph([Node(name: "ln", opType: "LayerNormalization", inputs: ["xd", "gamma", "beta"], outputs: ["n"],
                                 attributes: ["epsilon": .float(epsilon)])],
                           output: "n", initializers: ["gamma": Tensor(gamma, shape: [width]), "beta": Tensor(beta, shape: [width])],
                           shape: [1, rows, width], outScale: 0.03, outZeroPoint: 120)
        let session = try Session(graph: g)
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly && plan.layers.contains { $0.op == "QLayerNorm" }, "\(plan.describe())")
        var x = Self.codes(rows: rows, width: width, seed: 1).floats
        for i in 0..<width { x[i] = 0.35 }                      // a constant row
        for i in width..<(2 * width) { x[i] = i % 2 == 0 ? 0.05 : 0 }   // two neighbouring codes
        let input = Tensor(x, shape: [1, rows, width])
        let got = try #require(try session.run(["x": input])["y"])
        let worst = Self.steps(got, try Self.definition(g, ["x": input]), scale: 0.03).max() ?? 0
        #expect(worst <= 1, "max difference \(worst) steps")
    }

    /// Erf-GELU written out, as exporters write it, is one table: exact to the definition.
    @Test func geluChainIsOneTable() throws {
        let g = Self.graph([
            Node(name: "div", opType: "Div", inputs: ["xd", "sqrt2"], outputs: ["a"]),
            Node(name: "erf", opType: "Erf", inputs: ["a"], outputs: ["b"]),
            Node(name: "add", opType: "Add", inputs: ["b", "one"], outputs: ["c"]),
            Node(name: "mul", opType: "Mul", inputs: ["xd", "c"], outputs: ["d"]),
            Node(name: "half", opType: "Mul", inputs: ["d", "half_c"], outputs: ["e"]),
        ], output: "e", initializers: ["sqrt2": Tensor([Float(2).squareRoot()], shape: []), "one": Tensor([Float(1)], shape: []),
                                       "half_c": Tensor([Float(0.5)], shape: [])],
           shape: [1, 4, 64], outScale: 0.04, outZeroPoint: 10)
        let session = try Session(graph: g)
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly && plan.layers.count(where: { $0.op.hasPrefix("QTable") }) == 1, "\(plan.describe())")
        let x = Self.codes(rows: 4, width: 64, seed: 2)
        let got = try #require(try session.run(["x": x])["y"])
        #expect(got.floats == (try Self.definition(g, ["x": x])).floats)
    }

    /// GELU written out as ONNX Runtime's QDQ quantizer leaves it, a Q/DQ pair after every
    /// op (Div → Erf, Add 1, Mul by x, Mul ½, each a QTable/QAdd/QMul of its own): the
    /// plan composes them into one table by running the layers' kernels on the 256 codes,
    /// so its outputs equal the uncomposed layers' (an observed session keeps them) in
    /// either numerics.
    @Test(arguments: [NumericsProfile.onnxruntime, .dyadic])
    func quantizedChainComposesIntoOneTable(_ numerics: NumericsProfile) throws {
        var body: [Node] = []
        var initializers: [String: Tensor] = ["sqrt2": Tensor([Float(2).squareRoot()], shape: []),
                                              "one": Tensor([UInt8(255)], shape: []), "one_s": Tensor([Float(1) / 255], shape: []),
                                              "half": Tensor([UInt8(127)], shape: []), "half_s": Tensor([Float(0.5) / 127], shape: []),
                                              "zero": Tensor([UInt8(0)], shape: [])]
        /// op → Q → DQ with the given output scale and zero point.
        func step(_ node: Node, scale: Float, zeroPoint: UInt8) {
            let y = node.outputs[0]
            initializers[y + "_s"] = Tensor([scale], shape: [])
            initializers[y + "_z"] = Tensor([zeroPoint], shape: [])
            body += [node, Node(name: y + "_q", opType: "QuantizeLinear", inputs: [y, y + "_s", y + "_z"], outputs: [y + "_qv"]),
                     Node(name: y + "_dq", opType: "DequantizeLinear", inputs: [y + "_qv", y + "_s", y + "_z"], outputs: [y + "_d"])]
        }
        body += [Node(name: "one_dq", opType: "DequantizeLinear", inputs: ["one", "one_s", "zero"], outputs: ["one_d"]),
                 Node(name: "half_dq", opType: "DequantizeLinear", inputs: ["half", "half_s", "zero"], outputs: ["half_d"])]
        body.append(Node(name: "div", opType: "Div", inputs: ["xd", "sqrt2"], outputs: ["a"]))
        step(Node(name: "erf", opType: "Erf", inputs: ["a"], outputs: ["b"]), scale: 2.0 / 255, zeroPoint: 128)
        step(Node(name: "add", opType: "Add", inputs: ["b_d", "one_d"], outputs: ["c"]), scale: 2.0 / 255, zeroPoint: 0)
        step(Node(name: "mul", opType: "Mul", inputs: ["xd", "c_d"], outputs: ["d"]), scale: 0.06, zeroPoint: 20)
        body.append(Node(name: "half_mul", opType: "Mul", inputs: ["d_d", "half_d"], outputs: ["e"]))
        let g = Self.graph(body, output: "e", initializers: initializers, shape: [1, 4, 64], outScale: 0.03, outZeroPoint: 21)
        let composed = try Session(graph: g, options: SessionOptions(numerics: numerics))
        let plan = try #require(composed.plan)
        #expect(!plan.layers.contains { $0 is BinaryLayer } && plan.layers.count(where: { $0 is TableLayer }) == 1, "\(plan.describe())")
        let separate = try Session(graph: g, options: SessionOptions(numerics: numerics, observable: true))
        #expect(try #require(separate.plan).layers.contains { $0 is BinaryLayer })
        for seed in 0..<3 {
            let x = Self.codes(rows: 4, width: 64, seed: seed)
            let got = try #require(try composed.run(["x": x])["y"]), want = try #require(try separate.run(["x": x])["y"])
            #expect(got.bytes == want.bytes)
        }
    }

    /// Q·Kᵀ-shaped MatMul of two activations, batch broadcast: the int32 sums are exact,
    /// so with ONNX Runtime's numerics only the definition's float rounding can differ.
    @Test(arguments: [NumericsProfile.onnxruntime, .dyadic])
    func matMulOfTwoActivations(_ numerics: NumericsProfile) throws {
        var g = Self.graph([
            Node(name: "qk", opType: "QuantizeLinear", inputs: ["k", "sk", "zk"], outputs: ["kq"]),
            Node(name: "dqk", opType: "DequantizeLinear", inputs: ["kq", "sk", "zk"], outputs: ["kd"]),
            Node(name: "mm", opType: "MatMul", inputs: ["xd", "kd"], outputs: ["p"]),
        ], output: "p", initializers: ["sk": Tensor([Float(0.02)], shape: []), "zk": Tensor([Int8(3)], shape: [])],
           shape: [2, 3, 8, 16], outScale: 0.25, outZeroPoint: 128, extraInputs: [ValueInfo(name: "k", dtype: .float32, shape: [3, 16, 5])])
        g.outputs = [ValueInfo(name: "y", dtype: .float32, shape: [2, 3, 8, 5])]
        let session = try Session(graph: g, options: SessionOptions(numerics: numerics))
        let plan = try #require(session.plan)
        #expect(plan.layers.contains { $0.op == "QMatMul" } && plan.isIntegerOnly == (numerics == .dyadic), "\(plan.describe())")
        let x = Tensor(Self.ramp(2 * 3 * 8 * 16, step: 37, scale: 0.05), shape: [2, 3, 8, 16])
        let k = Tensor(Self.ramp(3 * 16 * 5, step: 53, scale: 0.02), shape: [3, 16, 5])
        let got = try #require(try session.run(["x": x, "k": k])["y"])
        let steps = Self.steps(got, try Self.definition(g, ["x": x, "k": k]), scale: 0.25)
        let exact = Double(steps.filter { $0 == 0 }.count) / Double(steps.count)
        #expect((steps.max() ?? 0) <= 1 && exact >= 0.98, "max \(steps.max() ?? 0) steps, \(exact) exact")
    }
}
