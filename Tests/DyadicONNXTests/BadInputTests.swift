import Dyadic
import Foundation
import Testing
@testable import DyadicONNX

/// Bad input gets a one-line error that names what and where; never a trap.
@Suite struct BadInputTests {
    static let tinyModel = Repo.path("models/tests/conv_relu/qdq_u8.onnx")

    func model(_ nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto] = [], inputShape: [Int64] = [1, 2, 4, 4]) -> Data {
        var graph = Onnx_GraphProto()
        graph.name = "g"
        graph.node = nodes
        graph.initializer = initializers
        var input = Onnx_ValueInfoProto()
        input.name = "x"
        input.type.tensorType.elemType = 1
        input.type.tensorType.shape.dim = inputShape.map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
        graph.input = [input]
        var output = Onnx_ValueInfoProto()
        output.name = "y"
        output.type.tensorType.elemType = 1
        graph.output = [output]
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        m.opsetImport = [opset]
        m.graph = graph
        return try! m.serializedData()
    }

    func node(_ op: String, _ inputs: [String], name: String = "n0", attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = ["y"]
        n.attribute = attributes
        return n
    }

    func expectError(_ fragments: [String], _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("no error; expected one mentioning \(fragments)")
        } catch let error as DyadicError {
            for f in fragments { #expect(error.message.contains(f), "'\(error.message)' lacks '\(f)'") }
            #expect(!error.message.contains("\n"))
        } catch {
            Issue.record("not a DyadicError: \(error)")
        }
    }

    @Test func truncatedModel() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.tinyModel))
        expectError(["m.onnx", "not a valid ONNX model"]) { _ = try ONNXImporter.load(data: data.prefix(data.count / 2), source: "m.onnx") }
    }

    @Test func garbageBytes() {
        var rng = SystemRandomNumberGenerator()
        let junk = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) })
        expectError(["junk.onnx"]) { _ = try ONNXImporter.load(data: junk, source: "junk.onnx") }
    }

    @Test func unsupportedOpIsNamed() {
        let data = model([node("Einsum", ["x"], name: "mix")])
        expectError(["Einsum", "mix", "not supported"]) { _ = try Session(graph: try ONNXImporter.load(data: data)) }
    }

    @Test func unsupportedAttributeIsNamed() {
        var a = Onnx_AttributeProto()
        a.name = "gamma"
        a.type = .float
        a.f = 2
        let data = model([node("Relu", ["x"], name: "act", attributes: [a])])
        expectError(["Relu 'act'", "gamma"]) { _ = try Session(graph: try ONNXImporter.load(data: data)) }
    }

    @Test func impossibleTensorSize() {
        var t = Onnx_TensorProto()
        t.name = "w"
        t.dataType = 1
        t.dims = [1 << 40, 1 << 40]
        let data = model([node("Add", ["x", "w"])], initializers: [t])
        expectError(["initializer 'w'", "impossibly large"]) { _ = try ONNXImporter.load(data: data) }
    }

    /// A Pad whose pads make an output of a terabyte: refused at planning with the value
    /// and node named, before anything is allocated; a lower memory limit refuses less.
    @Test func sizesAboveTheMemoryLimitAreRefused() throws {
        var pads = Onnx_TensorProto()
        pads.name = "pads"
        pads.dataType = 7
        pads.dims = [8]
        pads.int64Data = [0, 0, 1, 2, 0, 0, 2, 4_160_749_569]
        let huge = model([node("Pad", ["x", "pads"], name: "widen")], initializers: [pads])
        expectError(["'y'", "Pad 'widen'", "above the memory limit"]) { _ = try Session(graph: try ONNXImporter.load(data: huge)) }
        pads.int64Data = [0, 0, 1, 2, 0, 0, 2, 4096]
        let wide = model([node("Pad", ["x", "pads"], name: "widen")], initializers: [pads])
        _ = try Session(graph: try ONNXImporter.load(data: wide))
        expectError(["above the memory limit of 100000"]) {
            _ = try Session(graph: try ONNXImporter.load(data: wide), options: SessionOptions(memoryLimit: 100_000))
        }
    }

    @Test func tensorDataShorterThanShape() {
        var t = Onnx_TensorProto()
        t.name = "w"
        t.dataType = 1
        t.dims = [4]
        t.rawData = Data(count: 8)
        let data = model([node("Add", ["x", "w"])], initializers: [t])
        expectError(["initializer 'w'", "16 bytes"]) { _ = try ONNXImporter.load(data: data) }
    }

    @Test func missingExtraAndMistypedInputs() throws {
        let session = try Session(onnxPath: Self.tinyModel)
        let name = session.graph.inputs[0].name
        let shape = session.graph.inputs[0].shape.map { $0 ?? 1 }
        let good = Tensor(zeros: .float32, shape: shape)
        expectError(["missing input", name]) { _ = try session.run([:]) }
        expectError(["'bogus'", "not an input"]) { _ = try session.run([name: good, "bogus": good]) }
        expectError(["'\(name)'", "element type u8"]) { _ = try session.run([name: Tensor(zeros: .uint8, shape: shape)]) }
        expectError(["'\(name)'", "shape [1,2]"]) { _ = try session.run([name: Tensor(zeros: .float32, shape: [1, 2])]) }
        #expect(try session.run([name: good]).count == 1)
    }

    /// The command line: exit status 1, one line on stderr, no output file left behind.
    /// A bad option or option value is one `error:` line and exit status 1 in every
    /// tool (not the parser's usage text and status 64); a name holding a line break
    /// is printed escaped, so the message stays one line.
    @Test func optionErrorsAndOddNamesAreOneLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dyadic-opt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let oddName = dir.appendingPathComponent("odd.onnx").path
        try model([node("NoSuchOp", ["x"], name: "line\nbreak")]).write(to: URL(fileURLWithPath: oddName))
        let cases: [(String, [String], String)] = [
            ("runmodel", ["--bogus"], "Unknown option"),
            ("runmodel", [Self.tinyModel, "--threads", "abc"], "--threads"),
            ("latency", [Self.tinyModel, "--runs", "x"], "--runs"),
            ("quantize", [Self.tinyModel], "--calibration"),
            ("runmodel", [oddName], "line\\nbreak"),
        ]
        for (tool, arguments, fragment) in cases {
            let binary = Tool(name: tool)
            try #require(binary.isBuilt, "\(tool) not built at \(binary.path)")
            let result = try binary.run(arguments)
            #expect(result.exitedNormally && result.status == 1, "\(tool) \(arguments): status \(result.status)")
            let lines = result.stderr.trimmingCharacters(in: .newlines).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && lines[0].contains(fragment), "\(tool) \(arguments): \(result.stderr)")
        }
    }

    @Test func runmodelFailsCleanly() throws {
        let runmodel = Tool(name: "runmodel")
        try #require(runmodel.isBuilt, "runmodel not built at \(runmodel.path)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dyadic-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let wrongShape = dir.appendingPathComponent("wrong.npy").path
        try NumpyFile.write(Tensor(zeros: .float32, shape: [1, 1, 2, 2]), path: wrongShape)
        let corruptNpy = dir.appendingPathComponent("corrupt.npy").path
        try Data("\u{93}NUMPY garbage".utf8).write(to: URL(fileURLWithPath: corruptNpy))
        let corruptModel = dir.appendingPathComponent("corrupt.onnx").path
        try Data((try Data(contentsOf: URL(fileURLWithPath: Self.tinyModel))).prefix(100)).write(to: URL(fileURLWithPath: corruptModel))
        let out = dir.appendingPathComponent("out").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let session = try Session(onnxPath: Self.tinyModel)
        let input = session.graph.inputs[0].name
        let cases: [([String], String)] = [
            ([Self.tinyModel, "--input", "\(input)=\(wrongShape)", "--output-dir", out], "shape"),
            ([Self.tinyModel, "--input", "\(input)=\(corruptNpy)", "--output-dir", out], "not a valid .npy"),
            ([corruptModel, "--output-dir", out], "not a valid ONNX model"),
            ([dir.appendingPathComponent("absent.onnx").path], "cannot read"),
            ([Self.tinyModel, "--input", "nonsense"], "NAME=FILE.npy"),
        ]
        for (arguments, fragment) in cases {
            let result = try runmodel.run(arguments)
            let stderr = result.stderr
            #expect(result.exitedNormally && result.status == 1, "\(arguments): \(stderr)")
            #expect(stderr.contains(fragment) && stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1, "\(arguments): \(stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty, "\(arguments) left output behind")
        }
    }
}
