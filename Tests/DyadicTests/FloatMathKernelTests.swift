import DyadicKernels
import Foundation
import Testing

/// The float layers' exp, sigmoid, tanh, erf and HardSwish (dyd_f32_map) against double
/// precision over a dense sweep, within the bounds their header states; CI runs this
/// suite under every ISA cap too.
@Suite struct FloatMathKernelTests {
    static let xs: [Float] = stride(from: -30.0, through: 30.0, by: 0.00731).map { Float($0) } + [0, -0, 1e-30, -1e-30, 0.5, -0.5]

    static func map(_ f: dyd_f32_function, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: .nan, count: x.count)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { dyd_f32_map(f, xp.baseAddress, $0.baseAddress, x.count) } }
        return y
    }

    @Test func expIsWithinItsRelativeBound() {
        let x = Self.xs + stride(from: -87.0, through: 88.0, by: 0.0913).map { Float($0) }
        let y = Self.map(DYD_F32_EXP, x)
        for (v, got) in zip(x, y) {
            let want = Foundation.exp(Double(v))
            #expect(abs(Double(got) - want) <= 5e-7 * want, "exp(\(v)) = \(got), want \(want)")
        }
    }

    @Test func erfSigmoidTanhAndHardSwish() {
        let x = Self.xs
        for (v, got) in zip(x, Self.map(DYD_F32_ERF, x)) {
            let want = Foundation.erf(Double(v))
            let bound = abs(v) < 0.5 ? 1.5e-6 * abs(want) + 1e-45 : 3e-7
            #expect(abs(Double(got) - want) <= bound, "erf(\(v)) = \(got), want \(want)")
        }
        for (v, got) in zip(x, Self.map(DYD_F32_SIGMOID, x)) {
            let want = 1 / (1 + Foundation.exp(-Double(v)))
            #expect(abs(Double(got) - want) <= 1e-6 * want, "sigmoid(\(v)) = \(got), want \(want)")
        }
        for (v, got) in zip(x, Self.map(DYD_F32_TANH, x)) {
            let want = Foundation.tanh(Double(v))
            #expect(abs(Double(got) - want) <= 1e-6, "tanh(\(v)) = \(got), want \(want)")
        }
        for (v, got) in zip(x, Self.map(DYD_F32_HARDSWISH, x)) {
            #expect(got == v * min(max(v / 6 + 0.5, 0), 1), "hardswish(\(v)) = \(got)")
        }
    }
}
