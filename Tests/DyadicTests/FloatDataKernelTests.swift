import Dyadic
import Foundation
import Testing

/// Float MaxPool and Concat run on C kernels; each must give the reference op's
/// result bit for bit: MaxPool over padded, strided, dilated and ceil-mode windows
/// with NaN inputs (passed over, as the reference does), Concat on every axis.
/// Softmax over an axis that is not the last (rows strided by the later axes) agrees
/// with the reference to float rounding (its exp is the vectorised kernel's).
@Suite struct FloatDataKernelTests {
    static func values(_ n: Int, seed: Int) -> [Float] {
        (0..<n).map { i in
            if (i + seed) % 29 == 0 { return .nan }
            return Float(sin(Double(i * 7 + seed * 13))) * 10
        }
    }

    static func bits(_ t: Tensor) -> [UInt32] { t.floats.map(\.bitPattern) }

    @Test(arguments: [
        // kernel, strides, pads (t, l, b, r), dilations, ceil_mode, input H×W
        ([3, 3], [2, 2], [0, 0, 0, 0], [1, 1], 1, [46, 46]),   // MTCNN's pools
        ([3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 0, [9, 11]),
        ([2, 2], [2, 2], [0, 0, 0, 0], [1, 1], 0, [8, 8]),
        ([5, 3], [3, 2], [2, 1, 2, 1], [1, 2], 1, [13, 17]),
        ([1, 4], [1, 4], [0, 0, 0, 3], [1, 1], 0, [6, 21]),
        ([3, 3], [2, 3], [1, 2, 0, 2], [2, 1], 1, [15, 10]),
    ])
    func maxPoolEqualsTheReference(_ k: [Int], _ s: [Int], _ pads: [Int], _ d: [Int], _ ceil: Int, _ hw: [Int]) throws {
        let shape = [2, 3] + hw
        let node = Node(name: "pool", opType: "MaxPool", inputs: ["x"], outputs: ["y"],
                        attributes: ["kernel_shape": .ints(k.map(Int64.init)), "strides": .ints(s.map(Int64.init)),
                                     "pads": .ints(pads.map(Int64.init)), "dilations": .ints(d.map(Int64.init)),
                                     "ceil_mode": .int(Int64(ceil))])
        let x = Tensor(Self.values(shape.reduce(1, *), seed: k[0] + s[1]), shape: shape)
        let want = try ReferenceOps.evaluate(node, [x], opset: 13)[0]
        let graph = Graph(name: "pool", nodes: [node], inputs: [ValueInfo(name: "x", dtype: .float32, shape: shape)],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: want.shape)], initializers: [:], opset: 13)
        let session = try Session(graph: graph)
        #expect(try #require(session.plan).describe().contains("dyd_f32_maxpool_2d"))
        let got = try #require(try session.run(["x": x])["y"])
        #expect(got.shape == want.shape)
        #expect(Self.bits(got) == Self.bits(want))
    }

    @Test(arguments: [0, 1, 2, 3, -1])
    func concatEqualsTheReference(_ axis: Int) throws {
        let a = [2, 3, 4, 5]
        var b = a
        b[(axis + 4) % 4] = 2
        let node = Node(name: "cat", opType: "Concat", inputs: ["a", "b", "c"], outputs: ["y"], attributes: ["axis": .int(Int64(axis))])
        let ta = Tensor(Self.values(a.reduce(1, *), seed: 1), shape: a)
        let tb = Tensor(Self.values(b.reduce(1, *), seed: 2), shape: b)
        let tc = Tensor(Self.values(a.reduce(1, *), seed: 3), shape: a)
        let want = try ReferenceOps.evaluate(node, [ta, tb, tc], opset: 13)[0]
        let graph = Graph(name: "cat", nodes: [node],
                          inputs: [ValueInfo(name: "a", dtype: .float32, shape: a), ValueInfo(name: "b", dtype: .float32, shape: b)],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: want.shape)], initializers: ["c": tc], opset: 13)
        let session = try Session(graph: graph)
        #expect(try #require(session.plan).describe().contains("dyd_concat_x8"))
        let got = try #require(try session.run(["a": ta, "b": tb])["y"])
        #expect(got.shape == want.shape)
        #expect(Self.bits(got) == Self.bits(want))
    }

    @Test(arguments: [0, 1, 2])
    func softmaxOverAnEarlierAxisEqualsTheReference(_ axis: Int) throws {
        let shape = [2, 5, 3, 7]
        let node = Node(name: "softmax", opType: "Softmax", inputs: ["x"], outputs: ["y"], attributes: ["axis": .int(Int64(axis))])
        let x = Tensor((0..<shape.reduce(1, *)).map { Float(sin(Double($0) * 0.37)) * 6 }, shape: shape)
        let want = try ReferenceOps.evaluate(node, [x], opset: 13)[0]
        let graph = Graph(name: "softmax", nodes: [node], inputs: [ValueInfo(name: "x", dtype: .float32, shape: shape)],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: shape)], initializers: [:], opset: 13)
        let session = try Session(graph: graph)
        #expect(try #require(session.plan).describe().contains("stride \(shape[(axis + 1)...].reduce(1, *))"))
        let got = try #require(try session.run(["x": x])["y"])
        let worst = zip(got.floats, want.floats).map { abs($0 - $1) / max(abs($1), 1e-30) }.max() ?? 0
        #expect(worst < 1e-6, "largest relative difference \(worst)")
    }
}
