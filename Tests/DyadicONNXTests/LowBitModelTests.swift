import Dyadic
import DyadicONNX
import Foundation
import Testing

/// Models with INT4/UINT4 weights (per channel and blocked), 4-bit activations and FP8
/// E4M3FN activations (tools/make_lowbit_models.py), against ONNX Runtime, which runs
/// all of them on its float path (dequantize, float op, quantize).
struct LowBitModelTests {
    static let entries = (try? ManifestEntry.load("models/lowbit/manifest.json")) ?? []

    @Test func manifestIsPresent() { #expect(Self.entries.count == 6) }

    @Test(arguments: entries)
    func matchesOnnxRuntime(_ entry: ManifestEntry) throws {
        let output = entry.outputs[0]
        let want = try NumpyFile.read(path: Repo.path(output.file)).floats
        for numerics in [Numerics.dyadic, .onnxruntime] {
            let got = try #require(try entry.run(numerics)[output.name]).floats
            #expect(got.count == want.count)
            if let scale = output.scale {
                // 8-bit outputs of integer layers: ONNX Runtime's float convolution and
                // Dyadic's integer one round the same real value; they may differ where it
                // lies within float error of a rounding tie.
                let stats = LSBStats(got, want, scale: scale)
                print("\(entry.label) [\(numerics)]: \(stats.description)")
                #expect(stats.maximum <= 1 && Double(stats.exact) >= 0.99 * Double(stats.count), "\(entry.label) \(numerics): \(stats.description)")
            } else {
                // Float paths: the same operations, summed in a different order.
                let worst = zip(got, want).map { abs($0 - $1) / max(abs($1), 1) }.max() ?? 0
                print("\(entry.label) [\(numerics)]: max relative difference \(worst)")
                #expect(worst <= 1e-5, "\(entry.label) \(numerics): max relative difference \(worst)")
            }
        }
    }

    @Test func int4WeightsRunOnIntegerKernels() throws {
        for name in ["conv_int4w", "conv_uint4w_zp", "gemm_int4w"] {
            let plan = try #require(try Session(onnxPath: Repo.path("models/lowbit/\(name).onnx")).plan)
            #expect(plan.isIntegerOnly, "\(name): \(plan.floatLayers.map(\.op))")
            let products = plan.layers.filter { $0.macs > 0 }
            #expect(!products.isEmpty && products.allSatisfy { $0.precision == "w4a8" }, "\(name): \(products.map(\.precision))")
        }
    }
}
