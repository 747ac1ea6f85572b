import Dyadic
import Foundation
import Testing

/// What the lowering does to whole graphs before and while it plans them: folding
/// BatchNormalization, inlining If branches, folding shape arithmetic, and keeping
/// graph inputs as run-time data wherever no shape depends on them.
@Suite struct GraphLoweringTests {
    static func floats(_ n: Int, seed: Int) -> [Float] {
        (0..<n).map { Float(sin(Double($0 * 7 + seed * 13))) }
    }

    static func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.floats, b.floats).map { abs($0 - $1) }.max() ?? 0
    }

    @Test(arguments: ["Conv", "ConvTranspose"])
    func batchNormalizationFoldsIntoTheProductBeforeIt(_ op: String) throws {
        let channels = 4, group = 2
        // ConvTranspose weights are [C_in][M/group][kh][kw], Conv weights [M][C_in/group][kh][kw].
        let wShape = op == "Conv" ? [channels, channels / group, 3, 3] : [channels, channels / group, 3, 3]
        let w = Tensor(Self.floats(wShape.reduce(1, *), seed: 1), shape: wShape)
        let bias = Tensor(Self.floats(channels, seed: 2), shape: [channels])
        let gamma = Tensor(Self.floats(channels, seed: 3).map { $0 + 1.5 }, shape: [channels])
        let beta = Tensor(Self.floats(channels, seed: 4), shape: [channels])
        let mean = Tensor(Self.floats(channels, seed: 5), shape: [channels])
        let variance = Tensor(Self.floats(channels, seed: 6).map { abs($0) + 0.1 }, shape: [channels])
        let nodes = [
            Node(name: "product", opType: op, inputs: ["x", "w", "b"], outputs: ["y"],
                 attributes: ["group": .int(Int64(group)), "pads": .ints([1, 1, 1, 1]), "strides": .ints([2, 2])]),
            Node(name: "bn", opType: "BatchNormalization", inputs: ["y", "gamma", "beta", "mean", "var"], outputs: ["z"],
                 attributes: ["epsilon": .float(1e-3)]),
        ]
        let outShape = op == "Conv" ? [1, channels, 3, 3] : [1, channels, 9, 9]
        let graph = Graph(name: "bn", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [1, channels, 5, 5])],
                          outputs: [ValueInfo(name: "z", dtype: .float32, shape: outShape)],
                          initializers: ["w": w, "b": bias, "gamma": gamma, "beta": beta, "mean": mean, "var": variance], opset: 13)
        let session = try Session(graph: graph)
        let plan = try #require(session.plan)
        #expect(!plan.describe().contains("BatchNormalization"), "\(plan.describe())")
        let x = Tensor(Self.floats(channels * 25, seed: 7), shape: [1, channels, 5, 5])
        let got = try #require(try session.run(["x": x])["z"])
        // The unfolded definition, node by node.
        let y = try ReferenceOps.evaluate(nodes[0], [x, w, bias], opset: 13)[0]
        let want = try ReferenceOps.evaluate(nodes[1], [y, gamma, beta, mean, variance], opset: 13)[0]
        #expect(got.shape == outShape)
        #expect(Self.maxDifference(got, want) < 1e-5, "max difference \(Self.maxDifference(got, want))")
    }

    /// sr picks a branch, as in silero-vad: the plan inlines the chosen one and is
    /// rebuilt when sr changes; the data input stays an input.
    @Test func ifWithAKnownConditionRunsTheChosenBranch() throws {
        let two = Tensor([Float(2)], shape: [1]), ten = Tensor([Float(10)], shape: [1])
        let thenBranch = Graph(name: "then", nodes: [Node(name: "m", opType: "Mul", inputs: ["x", "two"], outputs: ["t"])],
                               inputs: [], outputs: [ValueInfo(name: "t", dtype: .float32, shape: [])],
                               initializers: ["two": two], opset: 13)
        let elseBranch = Graph(name: "else", nodes: [Node(name: "a", opType: "Add", inputs: ["x", "ten"], outputs: ["e"])],
                               inputs: [], outputs: [ValueInfo(name: "e", dtype: .float32, shape: [])],
                               initializers: ["ten": ten], opset: 13)
        let nodes = [
            Node(name: "eq", opType: "Equal", inputs: ["sr", "rate"], outputs: ["c"]),
            Node(name: "if", opType: "If", inputs: ["c"], outputs: ["y"],
                 attributes: ["then_branch": .graph(thenBranch), "else_branch": .graph(elseBranch)]),
        ]
        let graph = Graph(name: "if", nodes: nodes,
                          inputs: [ValueInfo(name: "x", dtype: .float32, shape: [3]), ValueInfo(name: "sr", dtype: .int64, shape: [])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: [3])],
                          initializers: ["rate": Tensor([Int64(16000)], shape: [])], opset: 13)
        let session = try Session(graph: graph)
        #expect(session.parameterInputs == ["sr"])
        let x = Tensor([Float(1), 2, 3], shape: [3])
        #expect(try session.run(["x": x, "sr": Tensor([Int64(16000)], shape: [])])["y"]?.floats == [2, 4, 6])
        #expect(try session.run(["x": x, "sr": Tensor([Int64(8000)], shape: [])])["y"]?.floats == [11, 12, 13])
        #expect(try session.run(["x": Tensor([Float(0), 0, 1], shape: [3]), "sr": Tensor([Int64(8000)], shape: [])])["y"]?.floats == [10, 10, 11])
    }

    /// A condition computed from the data (not known at load): both branches are
    /// planned, and each run executes the one its condition picks.
    @Test func ifWithARunTimeConditionRunsTheChosenBranch() throws {
        // Larger than a plan parameter may be, so the condition is computed in the plan.
        let n = 20
        let two = Tensor([Float(2)], shape: [1]), ten = Tensor([Float(10)], shape: [1])
        let up = (1...n).map { Float($0) }, down = (1...n).map { -Float($0) }
        let thenBranch = Graph(name: "then", nodes: [Node(name: "m", opType: "Mul", inputs: ["x", "two"], outputs: ["t"])],
                               inputs: [], outputs: [ValueInfo(name: "t", dtype: .float32, shape: [n])],
                               initializers: ["two": two], opset: 13)
        let elseBranch = Graph(name: "else", nodes: [Node(name: "a", opType: "Add", inputs: ["x", "ten"], outputs: ["e"])],
                               inputs: [], outputs: [ValueInfo(name: "e", dtype: .float32, shape: [n])],
                               initializers: ["ten": ten], opset: 13)
        let nodes = [
            Node(name: "sum", opType: "ReduceSum", inputs: ["x"], outputs: ["s"], attributes: ["keepdims": .int(0)]),
            Node(name: "gt", opType: "Greater", inputs: ["s", "zero"], outputs: ["c"]),
            Node(name: "if", opType: "If", inputs: ["c"], outputs: ["y"],
                 attributes: ["then_branch": .graph(thenBranch), "else_branch": .graph(elseBranch)]),
        ]
        let graph = Graph(name: "if", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [n])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: [n])],
                          initializers: ["zero": Tensor([Float(0)], shape: [])], opset: 13)
        let session = try Session(graph: graph)
        #expect(session.parameterInputs.isEmpty)
        #expect(try #require(session.plan).layers.contains { $0.op == "If" })
        #expect(try session.run(["x": Tensor(up, shape: [n])])["y"]?.floats == up.map { $0 * 2 })
        #expect(try session.run(["x": Tensor(down, shape: [n])])["y"]?.floats == down.map { $0 + 10 })

        // An error inside a branch names the If and the branch.
        var broken = graph
        broken.nodes[2].attributes["else_branch"] = .graph(Graph(name: "else", nodes: [Node(name: "odd", opType: "NoSuchOp", inputs: ["x"], outputs: ["e"])],
                                                           inputs: [], outputs: [ValueInfo(name: "e", dtype: .float32, shape: [n])],
                                                           initializers: [:], opset: 13))
        do {
            _ = try Session(graph: broken).run(["x": Tensor(up, shape: [n])])
            Issue.record("a branch with an unknown op was accepted")
        } catch let error as DyadicError {
            #expect(error.message.contains("'if'") && error.message.contains("else_branch") && error.message.contains("NoSuchOp"), "\(error.message)")
        }
    }

    /// Conv → Sigmoid·Mul (SiLU, as YOLOv8 exports it) and Conv → Relu run as one float
    /// conv with the activation fused, within float rounding of the node-by-node definition.
    @Test(arguments: ["silu", "relu", "leaky", "hardswish"])
    func activationsFuseIntoTheFloatConv(_ kind: String) throws {
        let c = 8
        let w = Tensor(Self.floats(c * c * 9, seed: 11).map { $0 * 0.3 }, shape: [c, c, 3, 3])
        let b = Tensor(Self.floats(c, seed: 12), shape: [c])
        var nodes = [Node(name: "conv", opType: "Conv", inputs: ["x", "w", "b"], outputs: ["y"], attributes: ["pads": .ints([1, 1, 1, 1])])]
        switch kind {
        case "silu":
            nodes += [Node(name: "sig", opType: "Sigmoid", inputs: ["y"], outputs: ["s"]),
                      Node(name: "mul", opType: "Mul", inputs: ["y", "s"], outputs: ["z"])]
        case "hardswish": // y · HardSigmoid(y), as MobileNetV3 exports write HardSwish
            nodes += [Node(name: "hs", opType: "HardSigmoid", inputs: ["y"], outputs: ["s"], attributes: ["alpha": .float(1.0 / 6)]),
                      Node(name: "mul", opType: "Mul", inputs: ["s", "y"], outputs: ["z"])]
        case "leaky": // LeakyRelu then Max and Min by constants (TensorFlow exports)
            nodes += [Node(name: "leaky", opType: "LeakyRelu", inputs: ["y"], outputs: ["l"], attributes: ["alpha": .float(0.2)]),
                      Node(name: "max", opType: "Max", inputs: ["l", "floor"], outputs: ["m"]),
                      Node(name: "min", opType: "Min", inputs: ["ceiling", "m"], outputs: ["z"])]
        default:
            nodes += [Node(name: "relu", opType: "Relu", inputs: ["y"], outputs: ["z"])]
        }
        let constants: [String: Tensor] = ["w": w, "b": b, "floor": Tensor([Float(-0.4)], shape: [1, 1, 1, 1]),
                                           "ceiling": Tensor([Float(2.5)], shape: [])]
        let graph = Graph(name: "act", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [1, c, 6, 6])],
                          outputs: [ValueInfo(name: "z", dtype: .float32, shape: [1, c, 6, 6])], initializers: constants, opset: 13)
        let session = try Session(graph: graph)
        let plan = try #require(session.plan)
        let mark = ["silu": "SiLU", "relu": "clamp", "leaky": "LeakyRelu 0.2, clamp [-0.4, 2.5]", "hardswish": "HardSigmoid"][kind]!
        #expect(plan.layers.count == 1 && plan.layers[0].details.contains(mark), "\(plan.describe())")
        let x = Tensor(Self.floats(c * 36, seed: 13).map { $0 * 3 }, shape: [1, c, 6, 6])
        var env: [String: Tensor] = constants.merging(["x": x]) { $1 }
        for node in nodes { env[node.outputs[0]] = try ReferenceOps.evaluate(node, node.inputs.map { env[$0] }, opset: 13)[0] }
        let got = try #require(try session.run(["x": x])["z"])
        #expect(Self.maxDifference(got, env["z"]!) < 1e-5, "max difference \(Self.maxDifference(got, env["z"]!))")
    }

    /// A graph input read as a second operand is data: each run sees its own value.
    @Test func aSecondOperandInputIsNotFoldedIntoThePlan() throws {
        let graph = Graph(name: "residual", nodes: [Node(name: "add", opType: "Add", inputs: ["x", "skip"], outputs: ["y"])],
                          inputs: [ValueInfo(name: "x", dtype: .float32, shape: [2]), ValueInfo(name: "skip", dtype: .float32, shape: [2])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: [2])], initializers: [:], opset: 13)
        let session = try Session(graph: graph)
        #expect(session.parameterInputs.isEmpty)
        #expect(session.plan != nil)
        let x = Tensor([Float(1), 2], shape: [2])
        #expect(try session.run(["x": x, "skip": Tensor([Float(10), 20], shape: [2])])["y"]?.floats == [11, 22])
        #expect(try session.run(["x": x, "skip": Tensor([Float(-1), -2], shape: [2])])["y"]?.floats == [0, 0])
    }

    /// Shape → Gather → Unsqueeze → Concat → Reshape, as exporters write a flatten:
    /// all of it folds at plan time, leaving one copy.
    @Test func shapeArithmeticFoldsAtPlanTime() throws {
        let nodes = [
            Node(name: "shape", opType: "Shape", inputs: ["x"], outputs: ["s"]),
            Node(name: "gather", opType: "Gather", inputs: ["s", "zero"], outputs: ["n"], attributes: ["axis": .int(0)]),
            Node(name: "unsqueeze", opType: "Unsqueeze", inputs: ["n", "axes"], outputs: ["n1"]),
            Node(name: "concat", opType: "Concat", inputs: ["n1", "minus1"], outputs: ["target"], attributes: ["axis": .int(0)]),
            Node(name: "reshape", opType: "Reshape", inputs: ["x", "target"], outputs: ["y"]),
        ]
        let graph = Graph(name: "flatten", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [2, 3, nil])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: [2, nil])],
                          initializers: ["zero": Tensor([Int64(0)], shape: []), "axes": Tensor([Int64(0)], shape: [1]),
                                         "minus1": Tensor([Int64(-1)], shape: [1])], opset: 13)
        let session = try Session(graph: graph)
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        let y = try #require(try session.run(["x": x])["y"])
        #expect(y.shape == [2, 12] && y.floats == x.floats)
        let plan = try #require(session.plan)
        #expect(plan.layers.count == 1 && plan.layers[0].op == "Reshape", "\(plan.describe())")
    }

    /// Symbolic sizes planned as 1 would not fit a 3x3 window: the plan waits for the
    /// real input instead of failing at load.
    @Test func symbolicSizesThatDoNotPlanAsOneWaitForTheInput() throws {
        let graph = Graph(name: "pool", nodes: [Node(name: "pool", opType: "AveragePool", inputs: ["x"], outputs: ["y"],
                                                     attributes: ["kernel_shape": .ints([3, 3])])],
                          inputs: [ValueInfo(name: "x", dtype: .float32, shape: [1, 1, nil, nil])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: [1, 1, nil, nil])], initializers: [:], opset: 13)
        let session = try Session(graph: graph)
        #expect(session.plan == nil)
        let y = try #require(try session.run(["x": Tensor([Float](repeating: 2, count: 25), shape: [1, 1, 5, 5])])["y"])
        #expect(y.shape == [1, 1, 3, 3] && y.floats.allSatisfy { $0 == 2 })
        #expect(throws: DyadicError.self) { try session.run(["x": Tensor([Float(1)], shape: [1, 1, 1, 1])]) }
    }

    /// The GEMM + col2im ConvTranspose layer (constant weights) against the reference
    /// definition, over strides, pads, output padding, dilations and groups.
    @Test(arguments: [
        ["strides": [2, 2], "pads": [1, 1, 1, 1]],
        ["strides": [2, 3], "pads": [0, 1, 2, 0], "output_padding": [1, 2]],
        ["strides": [1, 1], "dilations": [2, 2], "group": [2]],
        ["strides": [3, 2], "output_shape": [12, 11], "group": [4]],
    ] as [[String: [Int]]])
    func convTransposeLayerMatchesTheReference(_ settings: [String: [Int]]) throws {
        let group = settings["group"]?[0] ?? 1, cin = 4, mpg = 3
        var attributes: [String: Attribute] = [:]
        for (k, v) in settings { attributes[k] = k == "group" ? .int(Int64(v[0])) : .ints(v.map(Int64.init)) }
        let node = Node(name: "deconv", opType: "ConvTranspose", inputs: ["x", "w", "b"], outputs: ["y"], attributes: attributes)
        let w = Tensor(Self.floats(cin * mpg * 9, seed: 11), shape: [cin, mpg, 3, 3])
        let b = Tensor(Self.floats(mpg * group, seed: 12), shape: [mpg * group])
        let x = Tensor(Self.floats(2 * cin * 20, seed: 13), shape: [2, cin, 4, 5])
        let want = try ReferenceOps.evaluate(node, [x, w, b], opset: 13)[0]
        let graph = Graph(name: "deconv", nodes: [node], inputs: [ValueInfo(name: "x", dtype: .float32, shape: [2, cin, 4, 5])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: want.shape.map { $0 })],
                          initializers: ["w": w, "b": b], opset: 13)
        let session = try Session(graph: graph)
        #expect(try #require(session.plan).layers.map(\.op) == ["ConvTranspose"])
        #expect(try #require(session.plan).layers[0].kernel.hasSuffix("+col2im"))
        let got = try #require(try session.run(["x": x])["y"])
        #expect(got.shape == want.shape)
        #expect(Self.maxDifference(got, want) < 1e-5, "\(settings): max difference \(Self.maxDifference(got, want))")
    }

    /// A conv with few output pixels and many channels (an STFT as a strided 1-D conv,
    /// and a 2-D one over two images with a HardSwish node after it) runs as windows
    /// gathered into rows, a GEMM and a transpose, within float rounding of the definition.
    @Test(arguments: [
        (x: [1, 1, 300], w: [40, 1, 64], strides: [30], hardSwish: false),
        (x: [2, 3, 9, 8], w: [48, 3, 5, 5], strides: [3, 2], hardSwish: true),
    ] as [(x: [Int], w: [Int], strides: [Int], hardSwish: Bool)])
    func fewPixelConvMatchesTheReference(_ c: (x: [Int], w: [Int], strides: [Int], hardSwish: Bool)) throws {
        var nodes = [Node(name: "conv", opType: "Conv", inputs: ["x", "w", "b"], outputs: ["y"],
                          attributes: ["strides": .ints(c.strides.map(Int64.init))])]
        if c.hardSwish { nodes.append(Node(name: "hs", opType: "HardSwish", inputs: ["y"], outputs: ["z"])) }
        let w = Tensor(Self.floats(c.w.reduce(1, *), seed: 21).map { $0 * 0.2 }, shape: c.w)
        let b = Tensor(Self.floats(c.w[0], seed: 22), shape: [c.w[0]])
        let x = Tensor(Self.floats(c.x.reduce(1, *), seed: 23).map { $0 * 2 }, shape: c.x)
        var env: [String: Tensor] = ["x": x, "w": w, "b": b]
        for node in nodes { env[node.outputs[0]] = try ReferenceOps.evaluate(node, node.inputs.map { env[$0] }, opset: 14)[0] }
        let out = nodes.last!.outputs[0], want = env[out]!
        let graph = Graph(name: "stft", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: c.x.map { $0 })],
                          outputs: [ValueInfo(name: out, dtype: .float32, shape: want.shape.map { $0 })],
                          initializers: ["w": w, "b": b], opset: 14)
        let session = try Session(graph: graph)
        let plan = try #require(session.plan)
        #expect(plan.layers.map(\.kernel).contains { $0.hasPrefix("dyd_f32_gemm_ukernel") }, "\(plan.describe())")
        #expect(plan.layers.count == 3, "\(plan.describe())") // gather, GEMM (HardSwish fused), transpose
        let got = try #require(try session.run(["x": x])[out])
        #expect(got.shape == want.shape)
        #expect(Self.maxDifference(got, want) < 1e-5, "max difference \(Self.maxDifference(got, want))")
    }

    /// The planned broadcast loops give the reference op's bits for every shape pairing.
    @Test(arguments: [
        ("Add", [2, 3, 4, 5], [1, 3, 1, 1]), ("Sub", [2, 3, 4, 5], [5]), ("Mul", [1], [2, 3]), ("Div", [2, 1, 4], [1, 3, 1]),
        ("Max", [3, 1], [1, 4]), ("Min", [2, 3, 4], [2, 3, 4]), ("PRelu", [2, 3, 4, 5], [3, 1, 1]), ("Pow", [2, 3], [3]),
        ("Add", [1, 3, 1, 5], [2, 1, 4, 1]),
    ])
    func floatBinaryLayerMatchesTheReference(_ op: String, _ aShape: [Int], _ bShape: [Int]) throws {
        let node = Node(name: "op", opType: op, inputs: ["a", "b"], outputs: ["y"])
        let a = Tensor(Self.floats(aShape.reduce(1, *), seed: 21), shape: aShape)
        let b = Tensor(Self.floats(bShape.reduce(1, *), seed: 22).map { op == "Pow" ? ($0 < 0 ? 2 : 0.5) : $0 + 0.25 }, shape: bShape)
        let aPositive = op == "Pow" ? Tensor(a.floats.map { abs($0) }, shape: aShape) : a
        let want = try ReferenceOps.evaluate(node, [aPositive, b], opset: 13)[0]
        let graph = Graph(name: op, nodes: [node],
                          inputs: [ValueInfo(name: "a", dtype: .float32, shape: aShape), ValueInfo(name: "b", dtype: .float32, shape: bShape)],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: want.shape.map { $0 })], initializers: [:], opset: 13)
        let session = try Session(graph: graph)
        #expect(try #require(session.plan).layers.map(\.kernel).allSatisfy { $0.hasPrefix("f32_v") })
        let got = try #require(try session.run(["a": aPositive, "b": b])["y"])
        #expect(got.shape == want.shape && got.bytes == want.bytes, "\(op) \(aShape) \(bShape)")
    }

    /// x·Clip(x + 3, 0, 6)/6 becomes one HardSwish layer with the decomposition's values.
    @Test func decomposedHardSwishIsOneLayer() throws {
        let nodes = [
            Node(name: "add", opType: "Add", inputs: ["x", "three"], outputs: ["a"]),
            Node(name: "clip", opType: "Clip", inputs: ["a", "zero", "six"], outputs: ["c"]),
            Node(name: "mul", opType: "Mul", inputs: ["x", "c"], outputs: ["m"]),
            Node(name: "div", opType: "Div", inputs: ["m", "six"], outputs: ["y"]),
        ]
        let constants = ["three": Tensor([Float(3)], shape: []), "zero": Tensor([Float(0)], shape: []), "six": Tensor([Float(6)], shape: [])]
        let graph = Graph(name: "hardswish", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [1, 4, 5, 7])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: [1, 4, 5, 7])], initializers: constants, opset: 13)
        let session = try Session(graph: graph)
        #expect(try #require(session.plan).layers.map(\.op) == ["HardSwish"])
        let x = Tensor((0..<140).map { Float($0) / 10 - 7 }, shape: [1, 4, 5, 7])
        var want = x
        for node in nodes {
            let inputs = node.inputs.map { $0 == "x" ? x : ($0 == "a" || $0 == "c" || $0 == "m" ? want : constants[$0]!) }
            want = try ReferenceOps.evaluate(node, inputs, opset: 13)[0]
        }
        let got = try #require(try session.run(["x": x])["y"])
        #expect(Self.maxDifference(got, want) <= 1e-6, "max difference \(Self.maxDifference(got, want))")
    }
}

/// Nodes whose input or output counts do not fit their operator are rejected at load
/// with one line naming the node, before any code reads them.
@Suite struct GraphValidationTests {
    static func graph(_ node: Node) -> Graph {
        Graph(name: "t", nodes: [node], inputs: [ValueInfo(name: "x", dtype: .float32, shape: [4])],
              outputs: [ValueInfo(name: "y", dtype: .float32, shape: [4])],
              initializers: ["s": Tensor([Float(0.1)], shape: []), "z": Tensor([UInt8(0)], shape: [])], opset: 17)
    }

    @Test(arguments: [
        (Node(name: "dq", opType: "DequantizeLinear", inputs: ["x", "s", "z"], outputs: []), "has 0 outputs"),
        (Node(name: "dq", opType: "DequantizeLinear", inputs: ["x"], outputs: ["y"]), "has 1 input;"),
        (Node(name: "add", opType: "Add", inputs: ["x", "x", "x"], outputs: ["y"]), "has 3 inputs;"),
        (Node(name: "lstm", opType: "LSTM", inputs: ["x", "x", "x"], outputs: ["", ""]), "has no outputs"),
        (Node(name: "m", opType: "MatMulNBits", domain: "com.microsoft", inputs: ["x", "x"], outputs: ["y"]), "has 2 inputs;"),
        (Node(name: "if", opType: "If", inputs: ["x"], outputs: ["y"], attributes: ["then_branch": .graph(graph(
            Node(name: "inner", opType: "Relu", inputs: [], outputs: ["y"]))), "else_branch": .graph(graph(
            Node(name: "inner2", opType: "Relu", inputs: ["x"], outputs: ["y"])))]), "Relu 'inner': has 0 inputs"),
    ])
    func badCountsAreOneLineErrors(_ c: (node: Node, message: String)) {
        do {
            _ = try Session(graph: Self.graph(c.node))
            Issue.record("\(c.node.label) was accepted")
        } catch let error as DyadicError {
            #expect(error.message.contains(c.message) && !error.message.contains("\n"), "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
