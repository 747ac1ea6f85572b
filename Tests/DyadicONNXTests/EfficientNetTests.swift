import Dyadic
import DyadicONNX
import Foundation
import Testing

/// EfficientNet-Lite0 quantized by ONNX Runtime (QDQ and QOperator, u8s8 per channel)
/// on the five sample photos, against ONNX Runtime's logits and the float model's top-1.
@Suite(.serialized) struct EfficientNetTests {
    static let entries = (try? ManifestEntry.load("models/efficientnet-lite0-int8/manifest.json")) ?? []

    func floatTop1(_ entry: ManifestEntry) throws -> Int {
        let sample = entry.case.split(separator: ".").last.map(String.init) ?? ""
        return argmax(try NumpyFile.read(path: EfficientNetFixture.samplePath("\(sample).logits.npy")).floats)
    }

    @Test(arguments: entries)
    func onnxruntimeProfile(_ entry: ManifestEntry) throws {
        let output = entry.outputs[0]
        let got = try #require(try entry.run(.onnxruntime)[output.name])
        let want = try NumpyFile.read(path: Repo.path(output.file))
        let stats = LSBStats(got.floats, want.floats, scale: try #require(output.scale))
        print("\(entry.label) [onnxruntime]: \(stats.description)")
        #expect(got.bytes == want.bytes, "\(entry.label): \(stats.description)")
    }

    @Test(arguments: entries)
    func dyadicProfile(_ entry: ManifestEntry) throws {
        let output = entry.outputs[0]
        let got = try #require(try entry.run(.dyadic)[output.name])
        let want = try NumpyFile.read(path: Repo.path(output.file))
        let stats = LSBStats(got.floats, want.floats, scale: try #require(output.scale))
        print("\(entry.label) [dyadic]: \(stats.description)")
        #expect(stats.maximum <= 2, "\(entry.label): \(stats.description)")
        #expect(argmax(got.floats) == (try floatTop1(entry)), "\(entry.label): top-1 differs from the float model")
    }

    @Test(arguments: ["qdq", "qop"])
    func isIntegerOnly(_ variant: String) throws {
        let session = try Session(onnxPath: EfficientNetFixture.model(variant))
        let plan = try #require(session.plan)
        #expect(plan.isIntegerOnly, "\(plan.floatLayers.map(\.op))")
        #expect(plan.describe().contains("integer-only: yes"))
        #expect(plan.layers.filter { $0.op == "QConv" }.count == 49)
    }
}
