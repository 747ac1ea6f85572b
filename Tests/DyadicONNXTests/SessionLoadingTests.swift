import Dyadic
import DyadicONNX
import Foundation
import Testing

/// The ways an app opens a model (a file URL, bytes in memory) give the same session,
/// and the session describes its inputs and outputs without reaching into the graph.
struct SessionLoadingTests {
    static let model = Repo.path("models/efficientnet-lite0-int8/qdq.onnx")

    @Test func urlDataAndPathLoadTheSameModel() throws {
        let url = URL(fileURLWithPath: Self.model)
        let byPath = try Session(onnxPath: Self.model)
        let byURL = try Session(contentsOf: url)
        let byData = try Session(data: try Data(contentsOf: url))
        let image = try NumpyFile.read(path: Repo.path("models/efficientnet-lite0-int8/chelsea.npy"))
        let want = try byPath.run(["input": image])["logits"]
        #expect(want != nil)
        for session in [byURL, byData] {
            let got = try session.run(["input": image])["logits"]
            #expect(got?.bytes == want?.bytes)
        }
    }

    @Test func inputsAndOutputsDescribeTheModel() throws {
        let session = try Session(contentsOf: URL(fileURLWithPath: Self.model))
        #expect(session.inputs.map(\.name) == ["input"])
        #expect(session.inputs.first?.dtype == .float32)
        #expect(session.inputs.first?.shape == [1, 3, 224, 224])
        #expect(session.outputs.map(\.name) == ["logits"])
        #expect(session.outputs.first?.shape == [1, 1000])
    }

    @Test func onlyFileURLsAndValidBytesLoad() throws {
        let remote = try #require(URL(string: "https://example.com/model.onnx"))
        #expect(throws: DyadicError.self) { _ = try Session(contentsOf: remote) }
        #expect(throws: DyadicError.self) { _ = try Session(data: Data([0x08, 0xff, 0xff])) }
    }
}
