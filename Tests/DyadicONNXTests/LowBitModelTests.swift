import Dyadic
import DyadicONNX
import Foundation
import Testing

/// Models with INT2/3-bit/INT4/UINT4 weights (per channel and blocked), 4-bit
/// activations, FP8 E4M3FN activations and W4A8-FP8 (DPQ) layers mixed with int8 ones
/// (tools/make_lowbit_models.py), against ONNX Runtime, which runs all of them on its
/// float path (dequantize, float op, quantize).
struct LowBitModelTests {
    static let entries = (try? ManifestEntry.load("models/lowbit/manifest.json")) ?? []

    @Test func manifestIsPresent() { #expect(Self.entries.count == 11) }

    @Test(arguments: entries)
    func matchesOnnxRuntime(_ entry: ManifestEntry) throws {
        let output = entry.outputs[0]
        let want = try NumpyFile.read(path: Repo.path(output.file)).floats
        for numerics in [NumericsProfile.dyadic, .onnxruntime] {
            let got = try #require(try entry.run(numerics)[output.name]).floats
            #expect(got.count == want.count)
            if let fp8Scale = output.fp8_scale {
                // E4M3 outputs: ONNX Runtime's float32 sums and Dyadic's (another order)
                // round to the same code unless the sum lies within float error of a tie
                // between two codes; then they may differ by one code.
                let steps = zip(got, want).map { abs(fp8Ordinal($0, scale: fp8Scale) - fp8Ordinal($1, scale: fp8Scale)) }
                let exact = steps.filter { $0 == 0 }.count
                print("\(entry.label) [\(numerics)]: \(exact)/\(steps.count) FP8 codes equal, max \(steps.max() ?? 0) code(s) apart")
                #expect((steps.max() ?? 0) <= 1 && Double(exact) >= 0.99 * Double(steps.count), "\(entry.label) \(numerics)")
            } else if let scale = output.scale {
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

    @Test func narrowWeightsRunOnIntegerKernelsAtTheirWidth() throws {
        for (name, precision) in [("conv_int2w", "w2a8"), ("conv_int3w", "w3a8")] {
            let plan = try #require(try Session(onnxPath: Repo.path("models/lowbit/\(name).onnx")).plan)
            #expect(plan.isIntegerOnly, "\(name): \(plan.floatLayers.map(\.op))")
            let products = plan.layers.filter { $0.macs > 0 }
            #expect(products.map(\.precision) == [precision], "\(name): \(products.map(\.precision))")
        }
    }

    @Test func dpqLayersRunInFp8WithExplicitConversions() throws {
        let plan = try #require(try Session(onnxPath: Repo.path("models/lowbit/dpq_mixed.onnx")).plan)
        let ops = plan.layers.map(\.op)
        #expect(plan.floatLayers.isEmpty, "\(plan.floatLayers.map(\.op))")
        #expect(ops.filter { $0 == "FP8Conv" }.count == 2 && ops.contains("FP8MatMul") && ops.contains("FP8Add")
                && ops.contains("FP8GlobalAvgPool") && ops.contains("ToFP8") && ops.contains("QConv"), "\(ops)")
        let fp8Products = plan.layers.filter { $0.precision == "w4a8-fp8" }
        #expect(fp8Products.count == 3)
        let toInteger = try #require(try Session(onnxPath: Repo.path("models/lowbit/fp8_to_u8.onnx")).plan)
        #expect(toInteger.layers.map(\.op).contains("FromFP8"))
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
