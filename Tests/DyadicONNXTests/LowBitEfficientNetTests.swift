@testable import Dyadic
import DyadicONNX
import Foundation
import Testing

/// EfficientNet-Lite0 with INT4 weights (INT8 activations) and its W4A8-FP8 (DPQ) form
/// (tools/quantize_efficientnet_lowbit.py), against the NumPy simulation of the same
/// quantized models (tools/lowbit_reference.py) on the five sample photos.
@Suite(.serialized) struct LowBitEfficientNetTests {
    static let entries = (try? ManifestEntry.load("models/efficientnet-lite0-int4/manifest.json")) ?? []

    static func plan(_ file: String) throws -> Plan {
        try #require(try Session(onnxPath: Repo.path("models/efficientnet-lite0-int4/\(file)")).plan)
    }

    @Test func manifestIsPresent() { #expect(Self.entries.count == 10) }

    /// INT4: the reference runs Dyadic's integer arithmetic, so every logit is equal.
    @Test(arguments: entries.filter { $0.variant == "int4" })
    func int4EqualsTheIntegerReference(_ entry: ManifestEntry) throws {
        let output = entry.outputs[0]
        let got = try #require(try entry.run(.dyadic)[output.name])
        let want = try NumpyFile.read(path: Repo.path(output.file))
        let stats = LSBStats(got.floats, want.floats, scale: try #require(output.scale))
        print("\(entry.label) [dyadic]: \(stats.description)")
        #expect(got.bytes == want.bytes, "\(entry.label): \(stats.description)")
    }

    /// W4A8-FP8, layer by layer: every FP8 product of a run, recomputed by the float64
    /// oracle (dyd_ref_fp8conv) on the codes the run fed it, gives the same E4M3 codes,
    /// or an adjacent code where the exact value lies at a rounding boundary within
    /// float32 summation error (the kernels' stated tolerance, which the C tests check
    /// exactly). Adjacent codes must be rare.
    @Test(arguments: EfficientNetFixture.photos)
    func w4a8LayersMatchTheOracleOnTheirOwnInputs(_ photo: String) throws {
        let plan = try Self.plan("w4a8.onnx")
        let context = try plan.makeContext(threads: 1)
        try context.setInput("input", try EfficientNetFixture.photo(photo))
        var total = 0, adjacent = 0, far = 0, checked = 0
        // E4M3 codes are sign and magnitude, magnitudes in order: adjacent values differ by 1.
        func ordinal(_ code: UInt8) -> Int { code & 0x80 != 0 ? -Int(code & 0x7F) : Int(code) }
        try context.run { i in
            guard let layer = plan.layers[i] as? Fp8ConvLayer, layer.desc.output_fp8 != 0 else { return }
            let count = plan.values[layer.outputs[0]].count
            var want = [UInt8](repeating: 0, count: count)
            want.withUnsafeMutableBytes { out in
                layer.reference(input: context.pointer(layer.inputs[0]).assumingMemoryBound(to: UInt8.self), output: out.baseAddress!)
            }
            let got = context.pointer(layer.outputs[0]).assumingMemoryBound(to: UInt8.self)
            for j in 0..<count {
                switch abs(ordinal(got[j]) - ordinal(want[j])) {
                case 0: break
                case 1: adjacent += 1
                default: far += 1
                }
            }
            total += count
            checked += 1
            if far > 0 { throw DyadicError("layer \(i) \(layer.sourceNodes): \(far) codes more than one apart") }
        }
        print("\(photo): \(checked) FP8 products, \(total) codes, \(adjacent) adjacent to the oracle's, \(far) further")
        #expect(checked == 49 && far == 0 && Double(adjacent) <= 1e-4 * Double(total))
    }

    /// W4A8-FP8, end to end, against the NumPy float64 simulation of the model. A code
    /// that lands on the other side of a rounding boundary (see the layer test) changes
    /// that activation by one E4M3 step (6-12%), and later layers carry the change on;
    /// this 4-bit round-to-nearest model (cosine 0.2-0.5 to the float model's logits)
    /// amplifies such changes. So end to end the check is a sanity bound: cosine ≥ 0.99.
    @Test(arguments: entries.filter { $0.variant == "w4a8" })
    func w4a8IsCloseToTheFloat64Reference(_ entry: ManifestEntry) throws {
        let output = entry.outputs[0]
        let got = try #require(try entry.run(.dyadic)[output.name]).floats
        let want = try NumpyFile.read(path: Repo.path(output.file)).floats
        let dot = zip(got, want).map { Double($0) * Double($1) }.reduce(0, +)
        let cosine = dot / (sqrt(got.map { Double($0 * $0) }.reduce(0, +)) * sqrt(want.map { Double($0 * $0) }.reduce(0, +)))
        let worst = zip(got, want).map { Double(abs($0 - $1)) }.max() ?? 0
        print("\(entry.label): cosine \(cosine), max |Δ| \(worst), top-1 \(argmax(got)) vs \(argmax(want))")
        #expect(cosine >= 0.99, "\(entry.label)")
    }

    @Test func int4WeightsTakeAtMost55PercentOfInt8() throws {
        let int8 = try #require(try Session(onnxPath: EfficientNetFixture.model("qdq")).plan)
        let int4 = try Self.plan("int4.onnx")
        let bytes8 = int8.layers.compactMap { $0 as? WeightedLayer }.map(\.weightBytes).reduce(0, +)
        let bytes4 = int4.layers.compactMap { $0 as? WeightedLayer }.map(\.weightBytes).reduce(0, +)
        print("weights: INT8 \(bytes8) bytes, INT4 \(bytes4) bytes, ratio \(Double(bytes4) / Double(bytes8))")
        #expect(Double(bytes4) <= 0.55 * Double(bytes8))
        #expect(int4.isIntegerOnly && int4.layers.filter { $0.macs > 0 }.allSatisfy { $0.precision == "w4a8" })
    }

    @Test func w4a8RunsEveryProductInFp8() throws {
        let plan = try Self.plan("w4a8.onnx")
        let products = plan.layers.filter { $0.macs > 0 }
        #expect(products.count == 50 && products.allSatisfy { $0.precision == "w4a8-fp8" }, "\(products.map(\.precision))")
        #expect(plan.floatLayers.isEmpty, "\(plan.floatLayers.map(\.op))")
    }
}
