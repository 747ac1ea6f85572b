import Foundation
import Testing
@testable import DyadicQuantizer

@Suite struct RangeCalibrationTests {
    /// Batches whose range grows (forcing re-binning) against sorting everything.
    @Test func histogramPercentilesMatchSorting() {
        var rng = SeededGenerator(seed: 31)
        var all: [Float] = []
        var observer = RangeObserver(binsPerSide: 1024), halves = (RangeObserver(binsPerSide: 1024), RangeObserver(binsPerSide: 1024))
        for batch in 0..<20 {
            let spread = pow(2, Double(batch) / 3)
            let values = (0..<5000).map { _ in Float(rng.gaussian() * spread + 0.3 * spread) }
            all += values
            observer.observe(values)
            if batch % 2 == 0 { halves.0.observe(values) } else { halves.1.observe(values) }
        }
        let sorted = all.sorted()
        #expect(observer.count == all.count && observer.minimum == sorted.first && observer.maximum == sorted.last)
        let width = observer.binWidth
        #expect(observer.range > observer.maximum && observer.range < 2 * max(observer.maximum, -observer.minimum) * 1.0001)
        func nearestRank(_ f: Double) -> Float { sorted[min(max(Int((f * Double(sorted.count)).rounded(.up)) - 1, 0), sorted.count - 1)] }
        for f in [0.0001, 0.01, 0.25, 0.5, 0.9, 0.999, 0.9999] {
            #expect(abs(observer.quantile(f) - nearestRank(f)) <= width, "quantile \(f)")
        }
        // The tails are sparse, so use the very cut the observer computes.
        let cut = (100 - 99.99) / 200
        let (lo, hi) = observer.percentileRange(99.99)
        #expect(abs(lo - nearestRank(cut)) <= width, "\(lo) vs \(nearestRank(cut)), bin \(width)")
        #expect(abs(hi - nearestRank(1 - cut)) <= width, "\(hi) vs \(nearestRank(1 - cut)), bin \(width)")
        let absSorted = all.map(abs).sorted()
        let absP = absSorted[Int((0.999 * Double(absSorted.count)).rounded(.up)) - 1]
        #expect(abs(observer.absolutePercentile(99.9) - absP) <= width)

        // Merging two observers of disjoint batches gives the same histogram.
        var merged = halves.0
        merged.merge(halves.1)
        #expect(merged.count == observer.count && merged.range == observer.range)
        for f in [0.001, 0.5, 0.999] { #expect(merged.quantile(f) == observer.quantile(f)) }
    }

    @Test func mseClippingBeatsMinMaxOnHeavyTails() {
        var rng = SeededGenerator(seed: 32)
        // Laplace body with rare large outliers.
        let data = (0..<200_000).map { i -> Float in
            let u = Double.random(in: -0.5..<0.5, using: &rng)
            let laplace = -(u < 0 ? -1.0 : 1.0) * log(1 - 2 * abs(u))
            return Float(i % 5000 == 0 ? laplace * 40 : laplace)
        }
        var observer = RangeObserver()
        for chunk in stride(from: 0, to: data.count, by: 10_000) { observer.observe(Array(data[chunk..<(chunk + 10_000)])) }
        func mse(_ p: ActivationQuantization) -> Double {
            data.reduce(0.0) { let d = Double(p.fakeQuantize($1) - $1); return $0 + d * d } / Double(data.count)
        }
        for (signed, symmetric) in [(false, false), (true, true), (true, false)] {
            let minMax = ActivationQuantization.integer(lower: observer.minimum, upper: observer.maximum,
                                                        signed: signed, symmetric: symmetric)
            let (lo, hi) = observer.mseOptimalRange(bits: 8, signed: signed, symmetric: symmetric)
            let clipped = ActivationQuantization.integer(lower: lo, upper: hi, signed: signed, symmetric: symmetric)
            print(String(format: "MSE clipping (signed %@, symmetric %@): range [%.2f, %.2f] of [%.2f, %.2f], MSE %.3g vs min/max %.3g",
                         signed ? "yes" : "no", symmetric ? "yes" : "no", lo, hi, observer.minimum, observer.maximum,
                         mse(clipped), mse(minMax)))
            #expect(mse(clipped) < 0.8 * mse(minMax))
        }
        let clip = observer.mseOptimalFP8Clip(fp8: fp8E4M3)
        #expect(clip > 0 && clip <= max(-observer.minimum, observer.maximum))
    }

    @Test func parametersFollowOnnxRuntime() {
        let u8 = ActivationQuantization.integer(lower: -1, upper: 3, signed: false)
        #expect(u8.scale == Float(4.0 / 255) && u8.zeroPoint == 64)   // round(63.75)
        #expect(u8.fakeQuantize(0) == 0)                                // real 0 is exact
        let positive = ActivationQuantization.integer(lower: 0.5, upper: 2, signed: false)
        #expect(positive.zeroPoint == 0 && positive.scale == Float(2.0 / 255))   // widened to 0
        let s8 = ActivationQuantization.integer(lower: -2, upper: 1, signed: true, symmetric: true)
        #expect(s8.scale == Float(4.0 / 254) && s8.zeroPoint == 0 && s8.qmin == -127)
        let u8sym = ActivationQuantization.integer(lower: -2, upper: 1, signed: false, symmetric: true)
        #expect(u8sym.zeroPoint == 128)                                 // round-half-even(127.5)
        let s8asym = ActivationQuantization.integer(lower: -1, upper: 3, signed: true)
        #expect(s8asym.zeroPoint == -64 && s8asym.qmin == -128)         // round(−128 + 63.75)
        let empty = ActivationQuantization.integer(lower: 0, upper: 0, signed: false)
        #expect(empty.scale == 1 && empty.zeroPoint == 0)
        #expect(ActivationQuantization.fp8(clip: 8.96).scale == Float(8.96) / 448)
        #expect(ActivationQuantization.fp8(clip: 8.96).zeroPoint == 0)
    }
}
