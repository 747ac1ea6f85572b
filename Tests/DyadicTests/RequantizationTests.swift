import DyadicKernels
import Testing
@testable import Dyadic

/// The dyadic requantization at its edges, checked against exact rational arithmetic
/// and against the C oracle every kernel must match.
@Suite struct RequantizationTests {
    /// round(acc·m / 2^s), ties toward +∞, computed without shifts.
    func exact(_ acc: Int64, _ m: DyadicMultiplier) -> Int64 {
        let p = acc * Int64(m.multiplier)
        let d = Int64(1) << m.shift
        let q = p >= 0 ? p / d : -((-p + d - 1) / d)       // floor division
        return (p - q * d) * 2 >= d ? q + 1 : q
    }

    @Test func multiplierIsNormalised() {
        for real in [1e-9, 3.0517578125e-5, 0.0039215, 0.25, 0.5, 0.999999, 1.0, 1.5, 17.0, 1e6] {
            let m = DyadicMultiplier(real)
            #expect(m.multiplier >= 1 << 30)
            #expect(m.shift >= 1 && m.shift <= 62)
            #expect(abs(m.value - real) / real < 1e-9, "M = \(real) approximated by \(m)")
        }
    }

    @Test func zeroAndTinyScalesGiveTheZeroPoint() {
        #expect(DyadicMultiplier(0) == .zero)
        #expect(DyadicMultiplier(-1) == .zero)
        #expect(DyadicMultiplier(.nan) == .zero)
        #expect(DyadicMultiplier(1e-30) == .zero)       // shift would exceed 62
        let r = Requantization(numerics: .dyadic, real: 0, floatScale: 0, zeroPoint: 77, qmin: 0, qmax: 255)
        for acc: Int64 in [Int64(Int32.min), -1, 0, 1, Int64(Int32.max)] { #expect(r.apply(acc) == 77) }
    }

    @Test func tiesRoundTowardPositiveInfinity() {
        let half = DyadicMultiplier(0.5)
        #expect(half.apply(1) == 1)      // 0.5 → 1
        #expect(half.apply(-1) == 0)     // −0.5 → 0
        #expect(half.apply(3) == 2)      // 1.5 → 2
        #expect(half.apply(-3) == -1)    // −1.5 → −1
        let quarter = DyadicMultiplier(0.25)
        #expect(quarter.apply(2) == 1)   // 0.5 → 1
        #expect(quarter.apply(-2) == 0)
        #expect(quarter.apply(-6) == -1) // −1.5 → −1
    }

    @Test func largeMultipliersAndSaturation() {
        let m = DyadicMultiplier(3.75)                     // M ≥ 1 still uses a right shift
        #expect(m.apply(4) == 15)
        let r = Requantization(numerics: .dyadic, real: 1000, floatScale: 1000, zeroPoint: 128, qmin: 0, qmax: 255)
        #expect(r.apply(1) == 255)
        #expect(r.apply(-1) == 0)
        #expect(r.apply(Int64(Int32.max)) == 255)
        #expect(r.apply(Int64(Int32.min)) == 0)
        let s = Requantization(numerics: .dyadic, real: 1, floatScale: 1, zeroPoint: -128, qmin: -128, qmax: 127)
        #expect(s.apply(300) == 127)
        #expect(s.apply(-5) == -128)
        let z = Requantization(numerics: .dyadic, real: 1, floatScale: 1, zeroPoint: 255, qmin: 0, qmax: 255)
        #expect(z.apply(-255) == 0)
        #expect(z.apply(1) == 255)
    }

    /// Swift's rule, exact rational rounding and the C oracle agree on a dense sweep of
    /// accumulators (every tie of small shifts included) for multipliers across the range.
    @Test func swiftExactAndKernelOracleAgree() {
        let reals = [1e-7, 1.0 / 3.0, 0.5, 0.75, 0.0078125, 1.0, 2.5, 255.0, 1.0e-4 * 7, 0.999]
        var accs: [Int64] = Array(-2048...2048)
        accs += [Int64(Int32.min), Int64(Int32.min) + 1, Int64(Int32.max), Int64(Int32.max) - 1, 1 << 20, -(1 << 20)]
        for real in reals {
            let m = DyadicMultiplier(real)
            for acc in accs {
                let swift = m.apply(acc)
                #expect(swift == exact(acc, m), "M=\(real) acc=\(acc)")
                let expected = Int32(min(max(swift + 3, -128), 127))
                let oracle = dyd_requantize_dyadic(acc, m.multiplier, m.shift, 3, -128, 127)
                if oracle != expected { Issue.record("C oracle \(oracle) ≠ \(expected) for M=\(real) acc=\(acc)"); return }
            }
        }
    }

    /// The onnxruntime profile: float32(acc)·scale rounded half to even, like the C oracle.
    @Test func floatProfileRoundsHalfToEven() {
        #expect(FloatRequantization.apply(1, scale: 0.5) == 0)
        #expect(FloatRequantization.apply(3, scale: 0.5) == 2)
        #expect(FloatRequantization.apply(5, scale: 0.5) == 2)
        #expect(FloatRequantization.apply(-5, scale: 0.5) == -2)
        for acc in stride(from: Int32(-100_000), through: 100_000, by: 37) {
            let v = Int32(min(max(FloatRequantization.apply(acc, scale: 0.0123) + 10, 0), 255))
            #expect(dyd_requantize_fp32(acc, 0.0123, 10, 0, 255) == v)
        }
    }
}
