import Dyadic
import Foundation
import Testing

/// Float ops that quantized graphs leave between DequantizeLinear and QuantizeLinear,
/// run as integer layers: per-channel tables (BatchNormalization, PRelu) and Softmax.
/// Each graph is checked against its own definition evaluated node by node.
@Suite struct QuantizedPatternTests {
    static let channels = 3
    static let scale = Tensor([Float(0.05)], shape: []), zeroPoint = Tensor([UInt8(128)], shape: [])
    static let outScale = Tensor([Float(0.04)], shape: []), outZeroPoint = Tensor([UInt8(100)], shape: [])

    /// [1, C, 16, 16] holding every uint8 code in every channel, as reals of the input scale.
    static func everyCode() -> Tensor {
        var values: [Float] = []
        for c in 0..<channels {
            for i in 0..<256 {
                let code = (i * 37 + c * 11) % 256 - 128
                values.append(Float(code) * 0.05)
            }
        }
        return Tensor(values, shape: [1, channels, 16, 16])
    }

    /// x → Q → DQ → `body` → Q → DQ → y, the form ONNX Runtime's QDQ quantizer writes.
    static func qdqGraph(_ body: [Node], bodyInput: String = "xd", bodyOutput: String, initializers: [String: Tensor],
                         outShape: [Int], inShape: [Int] = [1, channels, 16, 16]) -> Graph {
        let nodes = [
            Node(name: "qx", opType: "QuantizeLinear", inputs: ["x", "s", "zp"], outputs: ["xq"]),
            Node(name: "dqx", opType: "DequantizeLinear", inputs: ["xq", "s", "zp"], outputs: ["xd"]),
        ] + body + [
            Node(name: "qy", opType: "QuantizeLinear", inputs: [bodyOutput, "so", "zpo"], outputs: ["yq"]),
            Node(name: "dqy", opType: "DequantizeLinear", inputs: ["yq", "so", "zpo"], outputs: ["y"]),
        ]
        var all = initializers
        all["s"] = scale; all["zp"] = zeroPoint; all["so"] = outScale; all["zpo"] = outZeroPoint
        return Graph(name: "qdq", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: inShape)],
                     outputs: [ValueInfo(name: "y", dtype: .float32, shape: outShape)], initializers: all, opset: 13)
    }

    /// The graph's definition: every node by the reference ops, in order.
    static func definition(_ graph: Graph, _ x: Tensor) throws -> Tensor {
        var env = graph.initializers
        env["x"] = x
        for node in graph.nodes {
            let outputs = try ReferenceOps.evaluate(node, node.inputs.map { $0.isEmpty ? nil : env[$0] }, opset: graph.opset)
            for (name, t) in zip(node.outputs, outputs) { env[name] = t }
        }
        return env["y"]!
    }

    static func quantizedCodes(_ t: Tensor) -> [Int] {
        t.floats.map { Int(($0 / 0.04).rounded()) + 100 }
    }

    @Test func batchNormalizationAndReluBecomeOneTablePerChannel() throws {
        let c = Self.channels
        let graph = Self.qdqGraph([
            Node(name: "bn", opType: "BatchNormalization", inputs: ["xd", "gamma", "beta", "mean", "var"], outputs: ["b"],
                 attributes: ["epsilon": .float(1e-5)]),
            Node(name: "relu", opType: "Relu", inputs: ["b"], outputs: ["r"]),
        ], bodyOutput: "r", initializers: [
            "gamma": Tensor([Float(0.7), -1.3, 2.1], shape: [c]), "beta": Tensor([Float(0.2), 0.5, -0.4], shape: [c]),
            "mean": Tensor([Float(0.1), -0.3, 0.6], shape: [c]), "var": Tensor([Float(0.9), 1.7, 0.4], shape: [c]),
        ], outShape: [1, c, 16, 16])
        let session = try Session(graph: graph)
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly, "\(plan.describe())")
        #expect(plan.layers.contains { $0.op == "QChannelTable(BatchNormalization)" })
        let x = Self.everyCode()
        let got = try #require(try session.run(["x": x])["y"])
        #expect(got.floats == (try Self.definition(graph, x)).floats)
    }

    /// PRelu's slopes [C,1,1] broadcast along channels; the MaxPool after it runs on the
    /// table's quantized codes (quantization is monotone, so max and Q commute), whatever
    /// the slopes' signs.
    @Test(arguments: [[Float(0.25), 0.0, 1.5], [0.25, -0.5, 1.5]])
    func preluThenMaxPool(_ slopes: [Float]) throws {
        let c = Self.channels
        let graph = Self.qdqGraph([
            Node(name: "prelu", opType: "PRelu", inputs: ["xd", "slope"], outputs: ["p"]),
            Node(name: "pool", opType: "MaxPool", inputs: ["p"], outputs: ["m"],
                 attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])]),
        ], bodyOutput: "m", initializers: ["slope": Tensor(slopes, shape: [c, 1, 1])], outShape: [1, c, 8, 8])
        let session = try Session(graph: graph)
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly, "\(plan.describe())")
        let x = Self.everyCode()
        let got = try #require(try session.run(["x": x])["y"])
        #expect(got.floats == (try Self.definition(graph, x)).floats)
    }

    /// Softmax of 8-bit codes: integer (exp table, Q30 probabilities, dyadic output) in
    /// the default numerics, within one output step of the float definition; the float
    /// definition itself with ONNX Runtime's numerics.
    @Test(arguments: [NumericsProfile.dyadic, .onnxruntime])
    func softmaxOfEightBitCodes(_ numerics: NumericsProfile) throws {
        let c = Self.channels
        let graph = Self.qdqGraph([Node(name: "softmax", opType: "Softmax", inputs: ["xd"], outputs: ["p"], attributes: ["axis": .int(-1)])],
                                  bodyOutput: "p", initializers: [:], outShape: [1, c, 16, 16])
        let session = try Session(graph: graph, options: SessionOptions(numerics: numerics))
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly == (numerics == .dyadic), "\(plan.describe())")
        // Rows with wide and narrow spreads: every code, and codes near each other.
        var x = Self.everyCode().floats
        for i in 0..<64 { x[i] = Float(i % 5) * 0.05 }
        let input = Tensor(x, shape: [1, c, 16, 16])
        let got = Self.quantizedCodes(try #require(try session.run(["x": input])["y"]))
        let want = Self.quantizedCodes(try Self.definition(graph, input))
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        #expect(numerics == .dyadic ? worst <= 1 : worst == 0, "max difference \(worst) steps")
    }

    /// DQ → ConvTranspose → Q: the input spread `stride` apart and a stride-1 integer
    /// convolution with the flipped kernel. The int32 sums are the transposed
    /// convolution's own, so only the float rounding of the definition can differ.
    @Test(arguments: [
        ["strides": [2, 2], "pads": [1, 1, 1, 1], "kernel": [4, 4]],
        ["strides": [2, 2], "pads": [0, 0, 0, 0], "kernel": [2, 2], "group": [3]],
        ["strides": [2, 2], "pads": [1, 1, 1, 1], "kernel": [3, 3], "output_padding": [1, 1]],
        ["strides": [1, 1], "pads": [1, 0, 1, 2], "kernel": [3, 3], "dilations": [2, 1]],
        ["strides": [3, 2], "pads": [0, 1, 2, 0], "kernel": [3, 2]],
    ])
    func transposedConvolutionOnTheIntegerKernels(_ settings: [String: [Int]]) throws {
        let c = Self.channels, group = settings["group"]?[0] ?? 1, m = 6
        let (kh, kw) = (settings["kernel"]![0], settings["kernel"]![1])
        let mpg = m / group
        let weights = (0..<(c * mpg * kh * kw)).map { Int8(truncatingIfNeeded: ($0 * 29) % 255 - 127) }
        let weightScales = (0..<mpg).map { Float(0.01) + Float($0) * 0.003 }
        var attributes: [String: Attribute] = ["group": .int(Int64(group))]
        for key in ["strides", "pads", "output_padding", "dilations"] {
            if let v = settings[key] { attributes[key] = .ints(v.map { Int64($0) }) }
        }
        let node = Node(name: "deconv", opType: "ConvTranspose", inputs: ["xd", "wd", "bd"], outputs: ["t"], attributes: attributes)
        let (s, d, p) = (settings["strides"]!, settings["dilations"] ?? [1, 1], settings["pads"]!)
        let extra = settings["output_padding"] ?? [0, 0]
        let outShape = [1, m, s[0] * 15 + extra[0] + d[0] * (kh - 1) + 1 - p[0] - p[2], s[1] * 15 + extra[1] + d[1] * (kw - 1) + 1 - p[1] - p[3]]
        let biasScales = weightScales.map { $0 * 0.05 }
        let graph = Self.qdqGraph([
            Node(name: "dqw", opType: "DequantizeLinear", inputs: ["w", "ws", "wzp"], outputs: ["wd"], attributes: ["axis": .int(1)]),
            Node(name: "dqb", opType: "DequantizeLinear", inputs: ["b", "bs", "bzp"], outputs: ["bd"], attributes: ["axis": .int(0)]),
            node,
        ], bodyOutput: "t", initializers: [
            "w": Tensor(weights, shape: [c, mpg, kh, kw]), "ws": Tensor(weightScales, shape: [mpg]),
            "wzp": Tensor([Int8](repeating: 0, count: mpg), shape: [mpg]),
            "b": Tensor((0..<m).map { Int32($0 * 37 - 100) }, shape: [m]),
            "bs": Tensor((0..<m).map { biasScales[$0 % mpg] }, shape: [m]), "bzp": Tensor([Int32](repeating: 0, count: m), shape: [m]),
        ], outShape: outShape)
        let session = try Session(graph: graph, options: SessionOptions(numerics: .onnxruntime))
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly, "\(plan.describe())")
        #expect(plan.layers.contains { $0.op == "QZeroInsert" } == (settings["strides"] != [1, 1]))
        let x = Self.everyCode()
        let got = Self.quantizedCodes(try #require(try session.run(["x": x])["y"]))
        let want = Self.quantizedCodes(try Self.definition(graph, x))
        #expect(got.count == want.count)
        let steps = zip(got, want).map { abs($0 - $1) }
        let exact = Double(steps.filter { $0 == 0 }.count) / Double(max(steps.count, 1))
        #expect((steps.max() ?? 0) <= 1 && exact >= 0.99, "max \(steps.max() ?? 0) steps, \(exact) exact")
    }

    /// DQ → Resize (linear or cubic) → Q with one scale: the codes interpolated with
    /// Q11 weights in integers, within one step of the float definition.
    @Test(arguments: [("linear", "half_pixel", [Float(1), 1, 2, 2]), ("linear", "align_corners", [1, 1, 1.5, 0.75]),
                      ("cubic", "pytorch_half_pixel", [1, 1, 2, 1.25])])
    func interpolatingResizeOfCodes(_ mode: String, _ transform: String, _ scales: [Float]) throws {
        let c = Self.channels
        let outShape = [1, c, Int(16 * scales[2]), Int(16 * scales[3])]
        var graph = Self.qdqGraph([
            Node(name: "resize", opType: "Resize", inputs: ["xd", "", "scales"], outputs: ["r"],
                 attributes: ["mode": .string(mode), "coordinate_transformation_mode": .string(transform)]),
        ], bodyOutput: "r", initializers: ["scales": Tensor(scales, shape: [4])], outShape: outShape)
        // One scale throughout, as ONNX Runtime's quantizer writes Resize.
        graph.initializers["so"] = Self.scale
        graph.initializers["zpo"] = Self.zeroPoint
        let session = try Session(graph: graph)
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly, "\(plan.describe())")
        #expect(plan.layers.contains { $0.op == "QResize" })
        let x = Self.everyCode()
        let codes = { (t: Tensor) in t.floats.map { Int(($0 / 0.05).rounded()) } }
        let got = codes(try #require(try session.run(["x": x])["y"]))
        let want = codes(try Self.definition(graph, x))
        #expect(got.count == want.count && got.count == outShape.reduce(1, *))
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1, "max difference \(worst) steps")
    }

    /// SiLU as ONNX Runtime's QDQ quantizer writes it (Sigmoid and Mul each between Q/DQ):
    /// x · table(x) is a function of x's byte, one table holding the Mul kernel's own result.
    @Test(arguments: [NumericsProfile.dyadic, .onnxruntime])
    func quantizedSiLUIsOneTable(_ numerics: NumericsProfile) throws {
        let c = Self.channels
        var graph = Self.qdqGraph([
            Node(name: "sig", opType: "Sigmoid", inputs: ["xd"], outputs: ["sg"]),
            Node(name: "qs", opType: "QuantizeLinear", inputs: ["sg", "ss", "zs"], outputs: ["sq"]),
            Node(name: "dqs", opType: "DequantizeLinear", inputs: ["sq", "ss", "zs"], outputs: ["sd"]),
            Node(name: "mul", opType: "Mul", inputs: ["xd", "sd"], outputs: ["m"]),
        ], bodyOutput: "m", initializers: ["ss": Tensor([Float(1.0 / 255)], shape: []), "zs": Tensor([UInt8(0)], shape: [])],
           outShape: [1, c, 16, 16])
        graph.initializers["so"] = Tensor([Float(0.03)], shape: [])
        let session = try Session(graph: graph, options: SessionOptions(numerics: numerics))
        let plan = try #require(session.plan)
        // A lookup in either numerics (the table holds the kernel's result for each byte).
        #expect(plan.isIntegerOnly, "\(plan.describe())")
        #expect(plan.layers.contains { $0.op == "QTable(Mul)" } && !plan.layers.contains { $0.op == "QMul" }, "\(plan.describe())")
        let x = Self.everyCode()
        let codes = { (t: Tensor) in t.floats.map { Int(($0 / 0.03).rounded()) } }
        let got = codes(try #require(try session.run(["x": x])["y"])), want = codes(try Self.definition(graph, x))
        let steps = zip(got, want).map { abs($0 - $1) }
        #expect((steps.max() ?? 0) <= 1, "max \(steps.max() ?? 0) steps")
    }

    /// Float work on the graph input before its quantization (here a layout change) is
    /// the boundary of the integer part, not inside it.
    @Test func floatWorkBeforeTheInputQuantizationIsTheBoundary() throws {
        let c = Self.channels
        var graph = Self.qdqGraph([Node(name: "relu", opType: "Relu", inputs: ["xd"], outputs: ["r"])],
                                  bodyOutput: "r", initializers: [:], outShape: [1, c, 16, 16])
        graph.nodes.insert(Node(name: "t", opType: "Transpose", inputs: ["nhwc"], outputs: ["x"], attributes: ["perm": .ints([0, 3, 1, 2])]), at: 0)
        graph.inputs = [ValueInfo(name: "nhwc", dtype: .float32, shape: [1, 16, 16, c])]
        let plan = try #require(try Session(graph: graph).plan)
        #expect(plan.isIntegerOnly, "\(plan.describe())")
        #expect(plan.boundaryFloatLayers.contains { $0.sourceNodes == ["t"] })
    }
}
