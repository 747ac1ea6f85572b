import Dyadic
import DyadicONNX
import Foundation
import Testing

/// An app tells failures apart by `DyadicError.kind`, not by parsing messages.
struct ErrorKindTests {
    static let model = URL(fileURLWithPath: Repo.path("models/efficientnet-lite0-int8/qdq.onnx"))

    func kind(_ body: () throws -> Void) -> DyadicError.Kind? {
        do {
            try body()
        } catch let error as DyadicError {
            return error.kind
        } catch {
            return nil
        }
        return nil
    }

    @Test func corruptBytesAreAnInvalidModel() {
        #expect(kind { _ = try Session(data: Data([0x08, 0xff, 0xff])) } == .invalidModel)
        #expect(kind { _ = try Session(data: Data("not a model".utf8)) } == .invalidModel)
    }

    @Test func anUnknownOperatorNamesItsNodeAndOp() {
        let graph = Graph(name: "g", nodes: [Node(name: "mystery", opType: "NoSuchOp", inputs: ["x"], outputs: ["y"])],
                          inputs: [ValueInfo(name: "x", dtype: .float32, shape: [1, 4])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, shape: [1, 4])], initializers: [:], opset: 17)
        #expect(kind { _ = try Session(graph: graph) } == .unsupported(node: "mystery", op: "NoSuchOp"))
    }

    @Test func badInputsNameTheInput() throws {
        let session = try Session(contentsOf: Self.model)
        let image = Tensor(zeros: .float32, shape: [1, 3, 224, 224])
        #expect(kind { _ = try session.run(["input": Tensor(zeros: .float32, shape: [1, 3, 220, 224])]) } == .invalidInput(name: "input"))
        #expect(kind { _ = try session.run(["input": Tensor(zeros: .uint8, shape: [1, 3, 224, 224])]) } == .invalidInput(name: "input"))
        #expect(kind { _ = try session.run([:]) } == .invalidInput(name: "input"))
        #expect(kind { _ = try session.run(["input": image, "extra": image]) } == .invalidInput(name: "extra"))
        #expect(kind { _ = try session.run(["input": image]) } == nil)
    }

    @Test func aSmallMemoryLimitIsAResourceLimit() {
        #expect(kind { _ = try Session(contentsOf: Self.model, options: SessionOptions(memoryLimit: 100_000)) } == .resourceLimit)
    }
}
