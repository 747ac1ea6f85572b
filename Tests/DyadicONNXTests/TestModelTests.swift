import Dyadic
import DyadicONNX
import Testing

/// Every committed test model (float, QDQ and QOperator; uint8 and int8 activations)
/// against ONNX Runtime's outputs, in both numerics profiles.
@Suite struct TestModelTests {
    static let entries = (try? ManifestEntry.load("models/tests/manifest.json")) ?? []

    /// Quantized Softmax (com.microsoft.QLinearSoftmax in QOperator form, Softmax between
    /// Q/DQ pairs in QDQ form) runs as dequantize, float Softmax, quantize, whose exp
    /// differs from ONNX Runtime's approximation by up to one output step.
    static func isQuantizedSoftmax(_ e: ManifestEntry) -> Bool { e.case == "softmax" && e.variant != "float" }

    @Test func manifestIsPresent() {
        #expect(Self.entries.count > 150)
    }

    @Test(arguments: entries.filter { !isQuantizedSoftmax($0) })
    func matchesOnnxRuntime(_ entry: ManifestEntry) throws {
        let profiles: [NumericsProfile] = entry.variant == "float" ? [.dyadic] : [.onnxruntime, .dyadic]
        for numerics in profiles {
            let outputs = try entry.run(numerics)
            for output in entry.outputs {
                let want = try NumpyFile.read(path: Repo.path(output.file))
                let got = try #require(outputs[output.name], "\(entry.label): output \(output.name) missing")
                #expect(got.dtype == want.dtype && got.shape == want.shape, "\(entry.label) \(output.name)")
                if entry.variant == "float" {
                    let g = got.floats, w = want.floats
                    let bound = 1e-4 * (1 + (w.map { abs($0) }.max() ?? 0))
                    let err = zip(g, w).map { abs($0 - $1) }.max() ?? 0
                    #expect(err <= bound, "\(entry.label) \(output.name): float error \(err)")
                } else if let scale = output.scale {
                    let stats = LSBStats(got.floats, want.floats, scale: scale)
                    if numerics == .onnxruntime && !(entry.case == "avgpool_pad_exclude" && entry.variant.hasPrefix("qdq")) {
                        #expect(got.bytes == want.bytes, "\(entry.label) \(output.name) [onnxruntime]: \(stats.description)")
                    } else {
                        // dyadic: the bound. (QDQ AveragePool with excluded padding: ONNX Runtime
                        // pools dequantized floats, so the onnxruntime profile is held to the same bound.)
                        #expect(stats.maximum <= 2 && stats.withinOneFraction >= 0.999,
                                "\(entry.label) \(output.name) [\(numerics)]: \(stats.description)")
                    }
                } else {
                    #expect(got.bytes == want.bytes, "\(entry.label) \(output.name) [\(numerics)]")
                }
            }
        }
    }

    @Test(arguments: entries.filter(isQuantizedSoftmax))
    func quantizedSoftmaxIsWithinOneStep(_ entry: ManifestEntry) throws {
        for numerics in [NumericsProfile.onnxruntime, .dyadic] {
            let outputs = try entry.run(numerics)
            for output in entry.outputs {
                let want = try NumpyFile.read(path: Repo.path(output.file))
                let got = try #require(outputs[output.name], "\(entry.label): output \(output.name) missing")
                let scale = try #require(output.scale, "\(entry.label): no output scale in the manifest")
                let stats = LSBStats(got.floats, want.floats, scale: scale)
                #expect(got.shape == want.shape && stats.maximum <= 1, "\(entry.label) [\(numerics)]: \(stats.description)")
            }
        }
    }
}

extension ManifestEntry: CustomTestStringConvertible {
    var testDescription: String { label }
}
