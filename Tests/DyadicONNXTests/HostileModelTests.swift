import Dyadic
import Foundation
import Testing
@testable import DyadicONNX

/// Models that are well-formed protobuf but describe something impossible: sizes that
/// overflow 64 bits or exceed memory, windows wider than any input, values defined twice.
/// Each is one error naming the node; none traps or allocates the impossible size.
extension BadInputTests {
    func ints(_ name: String, _ values: [Int64]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values
        return a
    }

    func tensor(_ name: String, floats: [Float] = [], int64s: [Int64] = [], dims: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        if int64s.isEmpty {
            t.dataType = 1
            t.floatData = floats
        } else {
            t.dataType = 7
            t.int64Data = int64s
        }
        return t
    }

    func load(_ data: Data) throws { _ = try Session(graph: try ONNXImporter.load(data: data)) }

    @Test func convWindowsBeyond32BitsAreErrors() {
        let w = tensor("w", floats: [1, 0, 0, 1], dims: [2, 2, 1, 1])
        let huge: Int64 = 1 << 62, big = Int64(Int32.max)
        let cases: [(Onnx_AttributeProto, String)] = [
            (ints("pads", [huge, 0, huge, 0]), "pads"),
            (ints("strides", [huge, huge]), "strides"),
            (ints("dilations", [1 << 40, 1]), "dilations"),
            (ints("kernel_shape", [huge, 1]), "kernel_shape"),
            // Each size fits the kernels, the output does not fit memory.
            (ints("pads", [1 << 20, 1 << 20, 1 << 20, 1 << 20]), "above the memory limit"),
            (ints("pads", [big, big, big, big]), "2^32 - 1"),
        ]
        for (attribute, fragment) in cases {
            expectError(["Conv 'c'", fragment]) { try load(model([node("Conv", ["x", "w"], name: "c", attributes: [attribute])], initializers: [w])) }
        }
        var group = Onnx_AttributeProto()
        group.name = "group"
        group.type = .int
        group.i = huge
        expectError(["Conv 'c'", "group"]) { try load(model([node("Conv", ["x", "w"], name: "c", attributes: [group])], initializers: [w])) }
    }

    @Test func poolWindowsOfNoTapsOrHugeSizesAreErrors() {
        for kernel: [Int64] in [[-1, -1], [0, 1], [1 << 40, 1]] {
            expectError(["AveragePool 'p'", "kernel"]) {
                try load(model([node("AveragePool", ["x"], name: "p", attributes: [ints("kernel_shape", kernel)])]))
            }
        }
    }

    /// Windows of 2^30 rows over a 4-row input (three of them: rows 0–1, all four, rows
    /// 2–3): only the taps inside the input are visited, so this runs at once (it used to
    /// loop 2^30 times per output).
    @Test func aHugeWindowOverASmallInputRunsAtOnce() throws {
        let k: Int64 = 1 << 30
        let pool = node("AveragePool", ["x"], name: "p", attributes: [
            ints("kernel_shape", [k, 1]), ints("strides", [k / 2, 1]), ints("pads", [k - 2, 0, k - 2, 0]),
        ])
        let session = try Session(graph: try ONNXImporter.load(data: model([pool])))
        let x = Tensor((0..<32).map(Float.init), shape: [1, 2, 4, 4])
        let y = try session.run(["x": x])["y"]!
        #expect(y.shape == [1, 2, 3, 4])
        // Column 0 of channel 0 holds 0, 4, 8, 12.
        #expect([y.floats[0], y.floats[4], y.floats[8]] == [2, 6, 10])
    }

    @Test func tileAndExpandToHugeShapesAreErrors() {
        let repeats = tensor("r", int64s: [1, 1, 1 << 31, 1], dims: [4])
        expectError(["Tile 't'", "memory limit"]) { try load(model([node("Tile", ["x", "r"], name: "t")], initializers: [repeats])) }
        let shape = tensor("s", int64s: [1 << 62, 2, 4, 4], dims: [4])
        expectError(["Expand 'e'", "memory limit"]) { try load(model([node("Expand", ["x", "s"], name: "e")], initializers: [shape])) }
    }

    @Test func valuesDefinedTwiceOrNoOutputsAreErrors() throws {
        // The second Relu's output is also the first's: a cycle through 'y'.
        var first = node("Relu", ["x"], name: "a")
        first.output = ["y"]
        let second = node("Relu", ["y"], name: "b")
        expectError(["Relu 'b'", "output 'y'", "already defined by Relu 'a'"]) { _ = try ONNXImporter.load(data: model([first, second])) }
        let overInput = node("Relu", ["x"], name: "c")
        var m = try Onnx_ModelProto(serializedBytes: model([overInput]))
        m.graph.node[0].output = ["x"]
        expectError(["Relu 'c'", "output 'x'", "graph input"]) { _ = try ONNXImporter.load(data: try m.serializedData()) }
        m = try Onnx_ModelProto(serializedBytes: model([node("Relu", ["x"])]))
        m.graph.output = []
        expectError(["no outputs"]) { _ = try ONNXImporter.load(data: try m.serializedData()) }
    }

    @Test func repeatedAttributesAreErrors() {
        let twice = node("Conv", ["x", "w"], name: "c", attributes: [ints("strides", [1, 1]), ints("strides", [2, 2])])
        let w = tensor("w", floats: [1, 0, 0, 1], dims: [2, 2, 1, 1])
        expectError(["Conv 'c'", "'strides' is given twice"]) { _ = try ONNXImporter.load(data: model([twice], initializers: [w])) }
    }
}
