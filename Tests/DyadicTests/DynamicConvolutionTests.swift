@testable import Dyadic
import Foundation
import Testing

/// `quantize_dynamic`'s convolutions (DynamicQuantizeLinear → ConvInteger → Cast → Mul →
/// Add, then Relu or Clip) on the qconv kernels: every output equal, bit for bit, to the
/// ops evaluated one by one, over the shapes the kernels take different paths for.
@Suite struct DynamicConvolutionTests {
    struct Case: CustomStringConvertible, Sendable {
        var input: [Int]            // NCHW, or NCL for 1-D
        var outChannels: Int
        var kernel: [Int]
        var strides: [Int]
        var pads: [Int]
        var dilations: [Int]
        var group = 1
        var uint8Weights = false
        var perChannelZeroPoints = false
        var bias = true
        var activation = ""         // "", "Relu" or "Clip"
        var description: String {
            "in \(input) out \(outChannels) k \(kernel) s \(strides) p \(pads) d \(dilations) g \(group)"
                + (uint8Weights ? " u8w" : "") + (perChannelZeroPoints ? " zp/c" : "") + (bias ? " bias" : "") + " \(activation)"
        }
    }

    static let cases: [Case] = [
        // 3x3 with padding, stride 1 and 2 (im2col), pointwise (codes read in place)
        Case(input: [1, 16, 13, 11], outChannels: 24, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1]),
        Case(input: [2, 8, 12, 12], outChannels: 40, kernel: [3, 3], strides: [2, 2], pads: [1, 0, 1, 2], dilations: [1, 1],
             uint8Weights: true, activation: "Relu"),
        Case(input: [1, 37, 9, 10], outChannels: 70, kernel: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1],
             perChannelZeroPoints: true, activation: "Clip"),
        // 1x1 with stride (not in place), dilation, groups
        Case(input: [1, 12, 9, 9], outChannels: 20, kernel: [1, 1], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], bias: false),
        Case(input: [1, 6, 15, 14], outChannels: 9, kernel: [3, 2], strides: [1, 2], pads: [2, 1, 2, 1], dilations: [2, 3]),
        Case(input: [1, 12, 8, 8], outChannels: 18, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 3,
             perChannelZeroPoints: true),
        // depthwise: stride 1 and 2, padding wider than the kernel reach, a depth multiplier
        Case(input: [2, 10, 11, 17], outChannels: 10, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 10,
             activation: "Relu"),
        Case(input: [1, 7, 20, 19], outChannels: 7, kernel: [5, 5], strides: [2, 2], pads: [2, 3, 2, 1], dilations: [1, 1], group: 7,
             uint8Weights: true, perChannelZeroPoints: true),
        Case(input: [1, 4, 6, 6], outChannels: 8, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 4),
        // 1-D: a strided STFT-like frame and a padded k = 3
        Case(input: [1, 1, 700], outChannels: 33, kernel: [64], strides: [16], pads: [0, 0], dilations: [1]),
        Case(input: [2, 20, 31], outChannels: 12, kernel: [3], strides: [1], pads: [1, 1], dilations: [1], activation: "Relu"),
        Case(input: [1, 9, 25], outChannels: 9, kernel: [3], strides: [2], pads: [1, 1], dilations: [1], group: 9),
    ]

    static func graph(_ c: Case) -> Graph {
        let cpg = c.input[1] / c.group
        let weightShape = [c.outChannels, cpg] + c.kernel
        let w = DynamicQuantizationTests.int8s(weightShape.reduce(1, *), seed: UInt64(c.outChannels * 7 + cpg))
        var initializers: [String: Tensor] = [:]
        initializers["w"] = c.uint8Weights ? Tensor(w.map { UInt8(bitPattern: $0) }, shape: weightShape) : Tensor(w, shape: weightShape)
        let zeroPoints = c.perChannelZeroPoints ? c.outChannels : 1
        let z = (0..<zeroPoints).map { Int8(truncatingIfNeeded: $0 * 29 - 70) }
        initializers["wz"] = c.uint8Weights ? Tensor(z.map { UInt8(bitPattern: $0) }, shape: [zeroPoints]) : Tensor(z, shape: [zeroPoints])
        initializers["ws"] = Tensor([Float(0.0071)], shape: [])
        let channelShape = [c.outChannels] + [Int](repeating: 1, count: c.kernel.count)
        initializers["b"] = Tensor(DynamicQuantizationTests.floats(c.outChannels, seed: 11), shape: channelShape)
        initializers["lo"] = Tensor([Float(-0.5)], shape: [])
        initializers["hi"] = Tensor([Float(1.25)], shape: [])
        var attributes: [String: Attribute] = ["kernel_shape": .ints(c.kernel.map(Int64.init)), "strides": .ints(c.strides.map(Int64.init)),
                                               "pads": .ints(c.pads.map(Int64.init)), "dilations": .ints(c.dilations.map(Int64.init))]
        if c.group > 1 { attributes["group"] = .int(Int64(c.group)) }
        var nodes = [
            Node(name: "dql", opType: "DynamicQuantizeLinear", inputs: ["x"], outputs: ["xq", "xs", "xz"]),
            Node(name: "scale", opType: "Mul", inputs: ["xs", "ws"], outputs: ["s"]),
            Node(name: "conv", opType: "ConvInteger", inputs: ["xq", "w", "xz", "wz"], outputs: ["acc"], attributes: attributes),
            Node(name: "cast", opType: "Cast", inputs: ["acc"], outputs: ["accf"], attributes: ["to": .int(1)]),
            Node(name: "mul", opType: "Mul", inputs: ["accf", "s"], outputs: ["m"]),
        ]
        var last = "m"
        if c.bias {
            nodes.append(Node(name: "add", opType: "Add", inputs: ["m", "b"], outputs: ["a"]))
            last = "a"
        }
        if c.activation == "Relu" { nodes.append(Node(name: "act", opType: "Relu", inputs: [last], outputs: ["r"])); last = "r" }
        if c.activation == "Clip" { nodes.append(Node(name: "act", opType: "Clip", inputs: [last, "lo", "hi"], outputs: ["r"])); last = "r" }
        nodes.append(Node(name: "out", opType: "Identity", inputs: [last], outputs: ["y"]))
        let spatial = c.kernel.indices.map { i in
            (c.input[2 + i] + c.pads[i] + c.pads[i + c.kernel.count] - c.dilations[i] * (c.kernel[i] - 1) - 1) / c.strides[i] + 1
        }
        return Graph(name: "dynamic-conv", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: c.input)],
                     outputs: [ValueInfo(name: "y", dtype: .float32, shape: [c.input[0], c.outChannels] + spatial)],
                     initializers: initializers, opset: 17)
    }

    @Test(arguments: cases)
    func dynamicConvEqualsItsDefinition(_ c: Case) throws {
        let g = Self.graph(c)
        for threads in [1, 2] {
            let session = try Session(graph: g, options: SessionOptions(threads: threads))
            let plan = try #require(session.plan)
            let conv = try #require(plan.layers.first { $0 is IntegerConvLayer }, "\(plan.describe())")
            #expect(conv.kernel.hasPrefix("dyd_qu8_qc8w_"), "\(conv.kernel)")
            #expect(!plan.layers.contains { $0.kernel == "reference" || $0.op == "Relu" || $0.op == "Clip" }, "\(plan.describe())")
            for seed in 0..<3 {
                let x = Tensor(DynamicQuantizationTests.floats(c.input.reduce(1, *), seed: UInt64(seed + 3), range: Float(seed) + 0.5),
                               shape: c.input)
                let got = try #require(try session.run(["x": x])["y"])
                let want = try #require(try DynamicQuantizationTests.definition(g, ["x": x])["y"])
                #expect(got.shape == want.shape && got.bytes == want.bytes, "\(c) seed \(seed) threads \(threads)")
            }
        }
    }

    /// The older quantizer's form: the bias quantized per run with the input's scale
    /// (Div → Floor → Cast → Reshape, listed after the conv), added to the int32
    /// accumulators before the Cast, and the scale product listed after the conv too.
    @Test(arguments: [false, true])
    func runTimeInt32BiasBeforeTheCast(_ depthwise: Bool) throws {
        let c = depthwise ? Self.cases[6] : Self.cases[0]
        var g = Self.graph(c)
        g.initializers["bf"] = Tensor(DynamicQuantizationTests.floats(c.outChannels, seed: 21, range: 0.5), shape: [c.outChannels])
        g.initializers["bshape"] = Tensor([Int64(1), Int64(c.outChannels), 1, 1], shape: [4])
        let conv = try #require(g.nodes.first { $0.opType == "ConvInteger" })
        g.nodes = [
            Node(name: "dql", opType: "DynamicQuantizeLinear", inputs: ["x"], outputs: ["xq", "xs", "xz"]),
            conv,
            Node(name: "bias_scale", opType: "Mul", inputs: ["xs", "ws"], outputs: ["bs"]),
            Node(name: "bias_div", opType: "Div", inputs: ["bf", "bs"], outputs: ["bd"]),
            Node(name: "bias_floor", opType: "Floor", inputs: ["bd"], outputs: ["bfl"]),
            Node(name: "bias_cast", opType: "Cast", inputs: ["bfl"], outputs: ["bq"], attributes: ["to": .int(6)]),
            Node(name: "bias_shape", opType: "Reshape", inputs: ["bq", "bshape"], outputs: ["bq4"]),
            Node(name: "bias_add", opType: "Add", inputs: ["acc", "bq4"], outputs: ["accb"]),
            Node(name: "cast", opType: "Cast", inputs: ["accb"], outputs: ["accf"], attributes: ["to": .int(1)]),
            Node(name: "scale", opType: "Mul", inputs: ["xs", "ws"], outputs: ["s"]),
            Node(name: "mul", opType: "Mul", inputs: ["accf", "s"], outputs: ["y"]),
        ]
        let session = try Session(graph: g)
        let plan = try #require(session.plan)
        #expect(plan.layers.contains { $0 is IntegerConvLayer }, "\(plan.describe())")
        #expect(!plan.layers.contains { $0.kernel == "reference" && ($0.op == "Add" || $0.op == "ConvInteger") }, "\(plan.describe())")
        for seed in 0..<3 {
            let x = Tensor(DynamicQuantizationTests.floats(c.input.reduce(1, *), seed: UInt64(seed + 40), range: 2), shape: c.input)
            let got = try #require(try session.run(["x": x])["y"])
            let want = try #require(try DynamicQuantizationTests.definition(g, ["x": x])["y"])
            #expect(got.bytes == want.bytes, "\(c) seed \(seed)")
        }
    }

    /// A ConvInteger whose int32 output is read by something other than Cast stays on
    /// the reference op, with the same result.
    @Test func convIntegerWithoutTheFloatStageKeepsInt32() throws {
        var c = Self.cases[0]
        c.bias = false
        var g = Self.graph(c)
        g.nodes = Array(g.nodes.prefix(3)) + [Node(name: "out", opType: "Identity", inputs: ["acc"], outputs: ["y"])]
        g.outputs[0].dtype = .int32
        let session = try Session(graph: g)
        #expect(!(try #require(session.plan)).layers.contains { $0 is IntegerConvLayer })
        let x = Tensor(DynamicQuantizationTests.floats(c.input.reduce(1, *), seed: 5), shape: c.input)
        let got = try #require(try session.run(["x": x])["y"])
        #expect(got.dtype == .int32)
        #expect(got.bytes == (try #require(try DynamicQuantizationTests.definition(g, ["x": x])["y"])).bytes)
    }
}
