import Dyadic
import DyadicKernels
import Testing

/// The C input quantization against the Swift reference (`Quantization.quantize`,
/// ONNX Runtime's QuantizeLinear): every rounding tie and its neighbours over the
/// whole output range and beyond, NaN, infinities and signed zeros.
struct QuantizeKernelTests {
    static func inputs(scale: Float) -> [Float] {
        var xs: [Float] = [.nan, -.nan, .infinity, -.infinity, 0, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                           .leastNonzeroMagnitude, -.leastNonzeroMagnitude]
        for k in -300...300 {
            for real in [Float(k) * scale, (Float(k) + 0.5) * scale] {
                xs += [real, real.nextUp, real.nextDown]
            }
        }
        return xs
    }

    static let unsignedCases: [(Float, Int32)] = [(0.02, 114), (1 / 255, 0), (0.1, 255), (3.0, 7), (1e-3, 128), (0.0173, 0)]
    static let signedCases: [(Float, Int32)] = [(0.02, 0), (1 / 127, -128), (0.1, 127), (3.0, -7), (1e-3, 5)]

    @Test func unsignedMatchesReference() {
        for (scale, zeroPoint) in Self.unsignedCases { check(scale: scale, zeroPoint: zeroPoint, signed: false) }
    }

    @Test func signedMatchesReference() {
        for (scale, zeroPoint) in Self.signedCases { check(scale: scale, zeroPoint: zeroPoint, signed: true) }
    }

    func check(scale: Float, zeroPoint: Int32, signed: Bool) {
        let xs = Self.inputs(scale: scale)
        let range: ClosedRange<Int32> = signed ? -128...127 : 0...255
        let want = xs.map { UInt8(truncatingIfNeeded: Quantization.quantize($0, scale: scale, zeroPoint: zeroPoint, range: range)) }
        var got = [UInt8](repeating: 0xAA, count: xs.count)
        dyd_quantize_f32(xs, &got, xs.count, scale, zeroPoint, signed ? 1 : 0)
        let bad = xs.indices.filter { got[$0] != want[$0] }
        #expect(bad.isEmpty, "\(bad.count) of \(xs.count) differ, first x = \(bad.first.map { xs[$0] } ?? 0)")

        // NCHW → NHWC: 3 channels (the specialised path) and 70 (more than a block).
        for channels in [3, 70] {
            let plane = xs.count / channels
            var nhwc = [UInt8](repeating: 0xAA, count: channels * plane)
            // In two pixel ranges, the first not a multiple of the 64-pixel block.
            let split = plane / 3
            dyd_quantize_f32_to_nhwc(xs, &nhwc, channels, plane, 0, split, scale, zeroPoint, signed ? 1 : 0)
            dyd_quantize_f32_to_nhwc(xs, &nhwc, channels, plane, split, plane - split, scale, zeroPoint, signed ? 1 : 0)
            var mismatches = 0
            for c in 0..<channels {
                for p in 0..<plane where nhwc[p * channels + c] != want[c * plane + p] { mismatches += 1 }
            }
            #expect(mismatches == 0, "\(channels) channels: \(mismatches) bytes differ")
        }
    }
}
