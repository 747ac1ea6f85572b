// Activation ranges from streamed calibration data, and the (scale, zero point) they give.
//
// A `RangeObserver` sees each tensor batch by batch and keeps, in bounded memory, the exact
// minimum and maximum and a histogram for percentile and MSE-optimal clipping. The histogram
// has two halves of `binsPerSide` bins each, for |x| of negative and of non-negative values,
// over [0, R) with R a power of two. When a value reaches R, R doubles and adjacent bin
// pairs merge — an exact re-binning (no interpolation), so the histogram is the same as if
// the final R had been known from the start. Bins are never narrower than needed by more
// than a factor of 2 (R < 2·max|x|).
//
// Parameters follow ONNX Runtime's quantization tool (`compute_scale_zp`) so that a QDQ
// model from either tool carries the same numbers: the range is widened to include 0, the
// zero point is chosen so real 0 is exact, int8 symmetric uses [−127, 127].

import Foundation

/// Streaming statistics of one tensor.
public struct RangeObserver: Sendable {
    public let binsPerSide: Int
    public private(set) var count = 0
    public private(set) var minimum = Float.infinity
    public private(set) var maximum = -Float.infinity
    /// The histogram covers (−range, range); 0 until a non-zero value is seen.
    public private(set) var range: Float = 0
    private var positive: [Int]   // bin i: i·w ≤ x < (i+1)·w, w = range / binsPerSide
    private var negative: [Int]   // bin i: i·w ≤ −x < (i+1)·w

    /// `binsPerSide` must be a power of two (so halving merges whole pairs).
    public init(binsPerSide: Int = 2048) {
        precondition(binsPerSide >= 2 && binsPerSide & (binsPerSide - 1) == 0, "bins per side must be a power of two ≥ 2")
        self.binsPerSide = binsPerSide
        positive = [Int](repeating: 0, count: binsPerSide)
        negative = positive
    }

    public var binWidth: Float { range / Float(binsPerSide) }

    /// Adds a batch of values (NaN and ±inf are skipped: they have no bin).
    public mutating func observe(_ values: [Float]) {
        var largest: Float = 0
        for v in values where v.isFinite {
            minimum = min(minimum, v)
            maximum = max(maximum, v)
            largest = max(largest, abs(v))
        }
        grow(toCover: largest)
        let scale = range > 0 ? Float(binsPerSide) / range : 0
        for v in values where v.isFinite {
            // Clamped as a float: a tiny range (denormal values) makes abs(v)·scale overflow Int.
            let b = Int(min(abs(v) * scale, Float(binsPerSide - 1)))
            if v < 0 { negative[b] += 1 } else { positive[b] += 1 }
            count += 1
        }
    }

    /// Adds everything another observer of the same tensor has seen.
    public mutating func merge(_ other: RangeObserver) {
        precondition(other.binsPerSide == binsPerSide, "observers with different bin counts")
        var other = other
        grow(toCover: other.range / 2)
        other.grow(toCover: range / 2)
        for i in 0..<binsPerSide {
            positive[i] += other.positive[i]
            negative[i] += other.negative[i]
        }
        count += other.count
        minimum = min(minimum, other.minimum)
        maximum = max(maximum, other.maximum)
    }

    /// Doubles the range (merging bin pairs) until it exceeds `magnitude`.
    private mutating func grow(toCover magnitude: Float) {
        guard magnitude > 0, magnitude.isFinite else { return }
        if range == 0 {
            // The first non-zero value: the smallest power of two above it. Zeros seen so far
            // are in bin 0, which stays bin 0 under any doubling.
            range = Float(sign: .plus, exponent: magnitude.exponent + 1, significand: 1)
            return
        }
        while magnitude >= range {
            for side in 0..<2 {
                var bins = side == 0 ? positive : negative
                for i in 0..<(binsPerSide / 2) { bins[i] = bins[2 * i] + bins[2 * i + 1] }
                for i in (binsPerSide / 2)..<binsPerSide { bins[i] = 0 }
                if side == 0 { positive = bins } else { negative = bins }
            }
            range *= 2
        }
    }

    /// The signed bins from most negative to most positive: (lower edge, upper edge, count).
    private var signedBins: [(lo: Float, hi: Float, n: Int)] {
        let w = binWidth
        return (0..<binsPerSide).reversed().map { (-Float($0 + 1) * w, -Float($0) * w, negative[$0]) }
            + (0..<binsPerSide).map { (Float($0) * w, Float($0 + 1) * w, positive[$0]) }
    }

    /// The value below which a fraction `f` of the samples lie, interpolating linearly inside
    /// a bin, clamped to the observed [minimum, maximum]. Accurate to one bin width.
    public func quantile(_ f: Double) -> Float {
        guard count > 0 else { return 0 }
        let target = min(max(f, 0), 1) * Double(count)
        var seen = 0.0
        for b in signedBins where b.n > 0 {
            if seen + Double(b.n) >= target {
                let t = Float((target - seen) / Double(b.n))
                return min(max(b.lo + t * (b.hi - b.lo), minimum), maximum)
            }
            seen += Double(b.n)
        }
        return maximum
    }

    /// The percentile range as ONNX Runtime's percentile calibrator defines it: the tails
    /// (100 − p)/2 % each side are cut.
    public func percentileRange(_ p: Double) -> (lower: Float, upper: Float) {
        let cut = (100 - p) / 200
        return (quantile(cut), quantile(1 - cut))
    }

    /// The p-th percentile of |x| (the symmetric variant).
    public func absolutePercentile(_ p: Double) -> Float {
        guard count > 0 else { return 0 }
        let target = min(max(p / 100, 0), 1) * Double(count), w = binWidth
        var seen = 0.0
        for i in 0..<binsPerSide {
            let n = Double(positive[i] + negative[i])
            if n > 0 && seen + n >= target {
                return min((Float(i) + Float((target - seen) / n)) * w, max(abs(minimum), abs(maximum)))
            }
            seen += n
        }
        return max(abs(minimum), abs(maximum))
    }

    /// The clipping range that minimises the histogram's expected quantization MSE for a
    /// `bits`-bit integer grid (parameters as `ActivationQuantization.integer` makes them).
    /// Candidates shrink [minimum, maximum] by a common factor α ∈ (0, 1] on a grid of
    /// `steps` values; each bin counts as its centre. O(steps · bins).
    public func mseOptimalRange(bits: Int = 8, signed: Bool, symmetric: Bool = false,
                                steps: Int = 400) -> (lower: Float, upper: Float) {
        guard count > 0, range > 0 else { return (min(minimum, 0), max(maximum, 0)) }
        let bins = signedBins.filter { $0.n > 0 }
        var best = (lower: min(minimum, 0), upper: max(maximum, 0)), bestError = Double.infinity
        for i in 1...steps {
            let alpha = Float(i) / Float(steps)
            let lower = min(minimum, 0) * alpha, upper = max(maximum, 0) * alpha
            let p = ActivationQuantization.integer(lower: lower, upper: upper, bits: bits, signed: signed, symmetric: symmetric)
            var error = 0.0
            for b in bins {
                let x = 0.5 * (b.lo + b.hi)
                let d = Double(p.fakeQuantize(x) - x)
                error += Double(b.n) * d * d
            }
            if error < bestError { bestError = error; best = (lower, upper) }
        }
        return best
    }

    /// The symmetric clip c minimising the expected MSE of FP8 E4M3 with scale c / 448;
    /// `fp8` is the float → FP8 → float cast.
    public func mseOptimalFP8Clip(steps: Int = 400, fp8: (Float) -> Float) -> Float {
        let full = max(abs(minimum), abs(maximum))
        guard count > 0, full > 0 else { return 0 }
        let bins = signedBins.filter { $0.n > 0 }
        var best = full, bestError = Double.infinity
        for i in 1...steps {
            let clip = full * Float(i) / Float(steps), scale = clip / 448
            var error = 0.0
            for b in bins {
                let x = 0.5 * (b.lo + b.hi)
                let d = Double(fp8(x / scale) * scale - x)
                error += Double(b.n) * d * d
            }
            if error < bestError { bestError = error; best = clip }
        }
        return best
    }
}

/// Scale and zero point of an activation tensor: real = scale · (q − zeroPoint).
public struct ActivationQuantization: Sendable, Equatable {
    public var scale: Float
    public var zeroPoint: Int32
    public var qmin: Int32
    public var qmax: Int32

    /// ONNX Runtime's `compute_scale_zp` for a `bits`-bit grid: unsigned [0, 2^b − 1];
    /// signed [−2^(b−1), 2^(b−1) − 1], or [−(2^(b−1) − 1), 2^(b−1) − 1] when symmetric.
    /// The range is widened to contain 0; symmetric makes it [−m, m]. The scale is computed
    /// in double from the float32 range width and stored as float32; the zero point is
    /// round-half-even(qmin − lower / scale), or the grid's middle when symmetric.
    public static func integer(lower: Float, upper: Float, bits: Int = 8, signed: Bool,
                               symmetric: Bool = false) -> ActivationQuantization {
        let qmin: Int32 = signed ? (symmetric ? -(1 << (bits - 1)) + 1 : -(1 << (bits - 1))) : 0
        let qmax: Int32 = signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1
        var lo = min(lower, 0), hi = max(upper, 0)
        if symmetric {
            let m = max(abs(lo), abs(hi))
            (lo, hi) = (-m, m)
        }
        let scale = Double(hi - lo) / Double(qmax - qmin)
        guard scale >= Double(Float.leastNormalMagnitude) else {
            return ActivationQuantization(scale: 1, zeroPoint: 0, qmin: qmin, qmax: qmax)
        }
        let zero = symmetric
            ? (Double(qmin + qmax) / 2).rounded(.toNearestOrEven)
            : (Double(qmin) - Double(lo) / scale).rounded(.toNearestOrEven)
        return ActivationQuantization(scale: Float(scale), zeroPoint: Int32(zero), qmin: qmin, qmax: qmax)
    }

    /// FP8 E4M3: scale = clip / 448 (the largest finite E4M3 value), zero point 0.
    public static func fp8(clip: Float) -> ActivationQuantization {
        ActivationQuantization(scale: clip > 0 ? clip / 448 : 1, zeroPoint: 0, qmin: -448, qmax: 448)
    }

    /// Quantize then dequantize one value on the integer grid (round half to even, saturate).
    public func fakeQuantize(_ x: Float) -> Float {
        let q = min(max((x / scale).rounded(.toNearestOrEven) + Float(zeroPoint), Float(qmin)), Float(qmax))
        return scale * (q - Float(zeroPoint))
    }
}
