import Dyadic
import DyadicONNX
@testable import DyadicQuantizer
import Foundation
import Testing

/// The quantizer on a real float model (the Fashion-MNIST CNN): calibration, GPTQ and
/// round-to-nearest weights, the QDQ export, mixed precision under a size budget, and the
/// `quantize` tool's errors.
@Suite struct ModelQuantizerTests {
    static let model = Repo.path("models/fashion-mnist/model.onnx")
    static let calibration = Repo.path("models/fashion-mnist/calibration")

    static func graph() throws -> Graph { try ONNXImporter.load(path: model) }

    static func samples(_ n: Int) throws -> [Tensor] {
        let g = try graph()
        return Array(try CalibrationSet.load(directory: calibration, input: g.inputs[0]).prefix(n))
    }

    /// `n` test images (never used for calibration), preprocessed as the model expects.
    static func testImages(_ n: Int) throws -> [Tensor] {
        let raw = try NumpyFile.read(path: Repo.path("models/fashion-mnist/test_images_u8.npy"))
        return (0..<n).map { i in
            let pixels = raw.bytes[(i * 784)..<((i + 1) * 784)]
            return Tensor(pixels.map { (Float($0) / 255 - 0.2860) / 0.3530 }, shape: [1, 1, 28, 28])
        }
    }

    /// Logits of `graph` on `images`, concatenated.
    static func logits(_ graph: Graph, _ images: [Tensor]) throws -> [Float] {
        let session = try Session(graph: graph)
        return try images.flatMap { try session.run(["image": $0])["logits"]!.floats }
    }

    static func sqnr(_ reference: [Float], _ got: [Float]) -> Double { Sensitivity.sqnr(reference: reference, approximation: got) }

    @Test func exportRoundTrips() throws {
        let g = try Self.graph()
        let back = try ONNXImporter.load(data: try ONNXExporter.data(g))
        #expect(back.nodes.map(\.opType) == g.nodes.map(\.opType))
        #expect(back.nodes.map(\.inputs) == g.nodes.map(\.inputs))
        #expect(back.opset == g.opset)
        #expect(Set(back.initializers.keys) == Set(g.initializers.keys))
        for (name, t) in g.initializers { #expect(back.initializers[name]?.bytes == t.bytes, "\(name)") }
        // INT4 and INT2: an odd count, every value of the range.
        var h = g
        h.opset = 25
        let int4 = Tensor(dtype: .int4, shape: [17], bytes: (0..<17).map { UInt8(bitPattern: Int8($0 % 16 - 8)) })
        let int2 = Tensor(dtype: .int2, shape: [7], bytes: (0..<7).map { UInt8(bitPattern: Int8($0 % 4 - 2)) })
        h.initializers["four"] = int4
        h.initializers["two"] = int2
        let packed = try ONNXImporter.load(data: try ONNXExporter.data(h))
        #expect(packed.initializers["four"]?.bytes == int4.bytes)
        #expect(packed.initializers["two"]?.bytes == int2.bytes)
    }

    /// The Hessian's quadratic form is the squared output change: for a convolution whose
    /// every output pixel went into H, N/2 · Σ ΔwHΔwᵀ = ‖conv(X, ΔW)‖². This pins the
    /// im2col row order of the calibration pass to the weight layout.
    @Test func hessianQuadraticFormIsTheOutputError() throws {
        let g = try Self.graph()
        let layers = try QuantizableLayer.find(in: g)
        let samples = try Self.samples(3)
        for layer in layers.prefix(2) {  // conv1 (1 input channel) and conv2 (32)
            let pass = CalibrationPass(graph: g, layers: [layer], activations: [], rowsPerSample: 100_000)
            let stats = try pass.run(samples: samples, inputName: "image") { _ in }
            let acc = stats.hessians[layer.name]![0]
            let w = g.initializers[layer.weightName]!
            let m = layer.matrices(w)[0]
            let q = try RoundToNearest.quantize(m, bits: 4)
            let e = Sensitivity.quadraticError(hessian: acc.hessian, original: m, quantized: q.reconstructed)
            // ‖ΔY‖² from the float engine: the model's pre-activation output with W and with Q(W).
            let convOut = g.nodes[layer.nodeIndex].outputs[0]
            var quantized = g
            quantized.initializers[layer.weightName] = Tensor(layer.tensorOrder([q.reconstructed]), shape: layer.weightShape)
            var change = 0.0
            var floatRun = try ObservedRun(graph: g, inputName: "image")
            var quantizedRun = try ObservedRun(graph: quantized, inputName: "image")
            func convOutput(_ run: inout ObservedRun, _ sample: Tensor) throws -> [Float] {
                var out: [Float] = []
                _ = try run.run(sample) { value, context in
                    if context.plan.values[value].name == convOut { out = context.tensor(value).floats }
                }
                return out
            }
            for s in samples {
                let a = try convOutput(&floatRun, s), b = try convOutput(&quantizedRun, s)
                #expect(a.count == b.count && !a.isEmpty)
                for (x, y) in zip(a, b) { change += Double(x - y) * Double(x - y) }
            }
            let predicted = Double(acc.rows) / 2 * e
            #expect(abs(predicted - change) <= 1e-3 * change, "\(layer.name): N/2·E \(predicted) vs ‖ΔY‖² \(change)")
        }
    }

    @Test(arguments: [QuantizerOptions.Method.rtn, .gptq])
    func int8ModelIsIntegerOnlyAndClose(method: QuantizerOptions.Method) throws {
        let g = try Self.graph()
        var options = QuantizerOptions()
        options.method = method
        let result = try ModelQuantizer.quantize(g, samples: try Self.samples(64), options: options)
        #expect(result.graph.opset == g.opset)
        let plan = try #require(try Session(graph: result.graph).plan)
        #expect(plan.isIntegerOnly, "float layers: \(plan.floatLayers.map(\.op))")
        let weighted = plan.layers.compactMap { $0 as? WeightedLayer }
        #expect(weighted.count == 4 && weighted.allSatisfy { $0.precision == "int8" })
        // Through the file format and back: the model Dyadic imports is the one built.
        let reloaded = try ONNXImporter.load(data: try ONNXExporter.data(result.graph))
        let images = try Self.testImages(64)
        let want = try Self.logits(g, images), got = try Self.logits(reloaded, images)
        #expect(Sensitivity.cosineSimilarity(want, got) >= 0.999)
        #expect(Self.sqnr(want, got) >= 30, "INT8 \(method) logits SQNR \(Self.sqnr(want, got)) dB")
    }

    /// Quantizes the test graph's weights as `weights` with each of `methods` and returns the
    /// logits SQNR of each on held-out images; `check` sees every result.
    private static func sqnrByMethod(_ weights: QuantizerOptions.Weights, _ methods: [QuantizerOptions.Method],
                                     check: (QuantizerOptions.Method, QuantizationResult) throws -> Void)
        throws -> [QuantizerOptions.Method: Double] {
        let g = try Self.graph()
        let samples = try Self.samples(64), images = try Self.testImages(64)
        let want = try Self.logits(g, images)
        var sqnr: [QuantizerOptions.Method: Double] = [:]
        for method in methods {
            var options = QuantizerOptions()
            options.weights = weights
            options.method = method
            let result = try ModelQuantizer.quantize(g, samples: samples, options: options)
            try check(method, result)
            sqnr[method] = Self.sqnr(want, try Self.logits(result.graph, images))
        }
        return sqnr
    }

    /// At 4 bits GPTQ's error feedback must beat round-to-nearest on held-out images.
    @Test func gptqBeatsRoundToNearestAtFourBits() throws {
        let sqnr = try Self.sqnrByMethod(.int4, [.rtn, .gptq]) { method, result in
            #expect(result.graph.opset == 21)
            let plan = try #require(try Session(graph: result.graph).plan)
            #expect(plan.layers.compactMap { $0 as? WeightedLayer }.allSatisfy { $0.precision == "w4a8" })
            let chosen = result.layers.map { l in result.candidates[l.name]![0] }
            if method == .gptq { #expect(chosen.allSatisfy { $0.quadratic < $0.quadraticRTN }) }
        }
        #expect(sqnr[.gptq]! > sqnr[.rtn]! + 3, "GPTQ \(sqnr[.gptq]!) dB, RTN \(sqnr[.rtn]!) dB")
    }

    /// W4A8-FP8: every product runs on the FP8 kernels, and DPQ's error feedback (through both
    /// roundings) beats round-to-nearest through the same tables.
    @Test func dpqBeatsRoundToNearestInFP8() throws {
        let sqnr = try Self.sqnrByMethod(.fp8, [.rtn, .dpq]) { _, result in
            let plan = try #require(try Session(graph: result.graph).plan)
            #expect(plan.fp8Layers.filter { $0.precision == "w4a8-fp8" }.count == 4)
        }
        #expect(sqnr[.dpq]! > sqnr[.rtn]! + 2, "DPQ \(sqnr[.dpq]!) dB, RTN \(sqnr[.rtn]!) dB")
    }

    /// INT8 and FP8 layers in one model: each tensor is quantized in its producer's arithmetic
    /// and converted where a consumer of the other kind reads it; nothing runs in float.
    @Test func integerAndFP8LayersMix() throws {
        let g = try Self.graph()
        var options = QuantizerOptions()
        options.weights = .mixed
        options.mixedCandidates = ["int8", "int4", "fp8"]
        options.pinFirstLast = false
        options.pins = ["conv2": "fp8", "fc2": "fp8", "conv1": "int8", "fc1": "int4"]
        options.sensitivitySamples = 1
        let result = try ModelQuantizer.quantize(g, samples: try Self.samples(32), options: options)
        #expect(result.chosen == ["conv1": "int8", "conv2": "fp8", "fc1": "int4", "fc2": "fp8"])
        let plan = try #require(try Session(graph: result.graph).plan)
        #expect(plan.floatLayers.isEmpty, "float layers: \(plan.floatLayers.map(\.op))")
        #expect(plan.layers.filter { $0.precision == "w4a8-fp8" }.count == 2)
        #expect(plan.layers.contains { $0.op == "ToFP8" } && plan.layers.contains { $0.op == "FromFP8" })
        let images = try Self.testImages(32)
        #expect(Sensitivity.cosineSimilarity(try Self.logits(g, images), try Self.logits(result.graph, images)) >= 0.995)
    }

    @Test func mixedPrecisionMeetsTheSizeBudget() throws {
        let g = try Self.graph()
        var options = QuantizerOptions()
        options.weights = .mixed
        options.sizeBudget = 0.9
        options.sensitivitySamples = 2
        let result = try ModelQuantizer.quantize(g, samples: try Self.samples(32), options: options)
        let a = try #require(result.allocation)
        #expect(a.totals[0] <= 0.9 * result.int8Totals[0])
        #expect(result.chosen[result.layers.first!.name] == "int8" && result.chosen[result.layers.last!.name] == "int8")
        #expect(result.chosen.values.contains("int4"))
        // The bytes the allocation counted are the bytes the model's weights hold.
        let bits = result.layers.reduce(0) { s, l in s + l.weightCount * (result.chosen[l.name] == "int8" ? 8 : 4) }
        #expect(Double(bits) / 8 == a.totals[0])
        for l in result.layers { #expect(result.candidates[l.name]!.allSatisfy { $0.outputSQNR != nil }) }
        options.sizeBudget = 0.3
        #expect(throws: QuantizerError.self) { try ModelQuantizer.quantize(g, samples: try Self.samples(8), options: options) }
    }

    @Test func residualTiesJoinTheLayersMeetingAtAnAdd() throws {
        let w = Tensor([Float](repeating: 0.5, count: 4), shape: [2, 2, 1, 1])
        let nodes = [
            Node(name: "a", opType: "Conv", inputs: ["x", "w"], outputs: ["ya"]),
            Node(name: "b", opType: "Conv", inputs: ["ya", "w"], outputs: ["yb"]),
            Node(name: "add1", opType: "Add", inputs: ["ya", "yb"], outputs: ["s1"]),
            Node(name: "c", opType: "Conv", inputs: ["s1", "w"], outputs: ["yc"]),
            Node(name: "add2", opType: "Add", inputs: ["s1", "yc"], outputs: ["s2"]),
        ]
        let g = Graph(name: "residual", nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, shape: [1, 2, 2, 2])],
                      outputs: [ValueInfo(name: "s2", dtype: .float32, shape: [1, 2, 2, 2])], initializers: ["w": w], opset: 13)
        let layers = try QuantizableLayer.find(in: g)
        #expect(layers.map(\.name) == ["a", "b", "c"])
        #expect(ModelQuantizer.residualTies(graph: g, layers: layers) == [[0, 1], [0, 1, 2]])
    }

    @Test func quantizeFailsCleanly() throws {
        let quantize = Tool(name: "quantize")
        try #require(quantize.isBuilt, "quantize not built at \(quantize.path)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dyadic-quantize-\(UUID().uuidString)")
        let empty = dir.appendingPathComponent("empty"), wrong = dir.appendingPathComponent("wrong")
        for d in [empty, wrong] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(at: dir) }
        try NumpyFile.write(Tensor(zeros: .float32, shape: [1, 3, 28, 28]), path: wrong.appendingPathComponent("x.npy").path)
        let corrupt = dir.appendingPathComponent("corrupt.onnx").path
        try Data((try Data(contentsOf: URL(fileURLWithPath: Self.model))).prefix(100)).write(to: URL(fileURLWithPath: corrupt))
        let out = dir.appendingPathComponent("out.onnx").path
        // A NaN calibration sample; a NaN weight; two nodes of one name.
        let nan = dir.appendingPathComponent("nan")
        try FileManager.default.createDirectory(at: nan, withIntermediateDirectories: true)
        var sample = [Float](repeating: 0, count: 784)
        sample[5] = .nan
        try NumpyFile.write(Tensor(sample, shape: [1, 1, 28, 28]), path: nan.appendingPathComponent("x.npy").path)
        // Finite, but the first convolution overflows float32.
        let huge = dir.appendingPathComponent("huge")
        try FileManager.default.createDirectory(at: huge, withIntermediateDirectories: true)
        try NumpyFile.write(Tensor([Float](repeating: 3e38, count: 784), shape: [1, 1, 28, 28]), path: huge.appendingPathComponent("x.npy").path)
        var g = try Self.graph()
        let layers = try QuantizableLayer.find(in: g)
        var w = g.initializers[layers[0].weightName]!.floats
        w[0] = .infinity
        g.initializers[layers[0].weightName] = Tensor(w, shape: g.initializers[layers[0].weightName]!.shape)
        let badWeight = dir.appendingPathComponent("inf-weight.onnx").path
        try ONNXExporter.data(g).write(to: URL(fileURLWithPath: badWeight))
        g = try Self.graph()
        g.nodes[1].name = g.nodes[0].name
        let sameNames = dir.appendingPathComponent("same-names.onnx").path
        try ONNXExporter.data(g).write(to: URL(fileURLWithPath: sameNames))
        let cases: [([String], String)] = [
            ([Self.model, "--calibration", nan.path, "-o", out], "must be finite"),
            ([Self.model, "--calibration", huge.path, "-o", out], "infinite or NaN"),
            ([badWeight, "--calibration", Self.calibration, "-o", out], "not finite"),
            ([sameNames, "--calibration", Self.calibration, "-o", out], "unique node names"),
            ([Self.model, "--calibration", empty.path, "-o", out], "no .npy files"),
            ([Self.model, "--calibration", wrong.path, "-o", out], "does not fit"),
            ([corrupt, "--calibration", Self.calibration, "-o", out], "not a valid ONNX model"),
            ([Self.model, "--calibration", Self.calibration, "-o", out, "--weights", "int3"], "--weights must be"),
            ([Self.model, "--calibration", Self.calibration, "-o", out, "--weights", "fp8", "--method", "gptq"], "dpq or rtn"),
            ([Self.model, "--calibration", Self.calibration, "-o", out, "--size-budget", "0.6"], "needs --weights mixed"),
            ([Self.model, "--calibration", Self.calibration, "-o", out, "--weights", "mixed", "--latency-budget", "0.9"],
             "needs --latency-table"),
            ([Self.model, "--calibration", Self.calibration, "-o", out, "--weights", "mixed", "--size-budget", "0.2",
              "--max-samples", "4", "--sensitivity-samples", "0", "--objective", "quadratic"], "cannot be met"),
            ([Self.model, "--calibration", Self.calibration, "-o", dir.appendingPathComponent("no/such/out.onnx").path],
             "directory does not exist"),
        ]
        for (arguments, fragment) in cases {
            let result = try quantize.run(arguments)
            // Standard error holds the one error line and nothing else.
            let lines = result.stderr.split(separator: "\n")
            #expect(result.exitedNormally && result.status == 1, "\(arguments): \(result.stderr)")
            #expect(lines.count == 1 && lines[0].hasPrefix("error:") && lines[0].contains(fragment), "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(arguments) wrote an output")
        }
    }
}
