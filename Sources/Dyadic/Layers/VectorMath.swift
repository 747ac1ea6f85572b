/// exp, sigmoid, tanh, erf and HardSwish over float32 arrays, 8 lanes at a time through Swift's SIMD
/// types (which the compiler maps onto the CPU's vector registers). exp is the usual
/// range reduction x = n·ln2 + r, |r| ≤ ln2/2, with a degree-6 polynomial for e^r
/// (truncation error below 2^-23 relative) and 2^n put into the exponent field; inputs
/// are clamped to [-87.3, 88.3], where 2^n stays a normal float32. Every step is a
/// plain lane-wise operation (the rounding of n by the 1.5·2^23 trick, compare-and-select
/// for the clamps), so nothing falls back to scalar code.
enum VectorMath {
    typealias V = SIMD8<Float>
    typealias I = SIMD8<Int32>

    /// min(max(x, lo), hi) by compare and select: Swift's pointwiseMin/Max are not
    /// compiled to vector instructions (measured 6× slower).
    @inline(__always)
    static func clamp(_ x: V, _ lo: Float, _ hi: Float) -> V {
        x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
    }

    @inline(__always)
    static func exp(_ x: V) -> V {
        let xc = clamp(x, -87.3, 88.3)
        // t's low mantissa bits hold round(x·log2 e); n is that integer as a float.
        let t = xc * 1.442695040888963 + 12582912
        let n = t - 12582912
        // ln 2 split so that n·ln2Hi is exact for |n| < 2^9.
        let r = xc - n * 0.693359375 + n * 2.12194440e-4
        var p = V(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let e = (unsafeBitCast(t, to: I.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(e, to: V.self)
    }

    @inline(__always)
    static func sigmoid(_ x: V) -> V { 1 / (1 + exp(-x)) }

    @inline(__always)
    static func tanh(_ x: V) -> V {
        // 1 − 2/(e^{2|x|} + 1) with the sign restored; |x| ≥ 9 is ±1 in float32.
        let negative = x .< 0
        let a = clamp(x.replacing(with: -x, where: negative), 0, 9)
        let t = 1 - 2 / (exp(2 * a) + 1)
        return t.replacing(with: -t, where: negative)
    }

    /// x·min(max(x/6 + 1/2, 0), 1), the same operations in the same order as the
    /// scalar definition, so the results are identical.
    @inline(__always)
    static func hardSwish(_ x: V) -> V {
        x * clamp(x / 6 + 0.5, 0, 1)
    }

    /// erf: the odd Taylor series to x⁹ for |x| < 0.5 (relative error below 1e-6 there),
    /// else Abramowitz–Stegun 7.1.26, 1 − t·P(t)·e^{−x²} with t = 1/(1 + 0.3275911|x|)
    /// (absolute error below 1.5e-7, so relative below 3e-7 where |erf| ≥ 0.52).
    @inline(__always)
    static func erf(_ x: V) -> V {
        let negative = x .< 0
        let a = x.replacing(with: -x, where: negative)
        let a2 = a * a
        var series = V(repeating: 1.0 / 216)
        series = series * -a2 + 1.0 / 42
        series = series * -a2 + 1.0 / 10
        series = series * -a2 + 1.0 / 3
        series = (series * -a2 + 1) * a * 1.1283791670955126
        let t = 1 / (1 + 0.3275911 * a)
        var p = V(repeating: 1.061405429)
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        let tail = 1 - p * t * exp(-a2)
        let y = tail.replacing(with: series, where: a .< 0.5)
        return y.replacing(with: -y, where: negative)
    }

    enum Function { case exp, sigmoid, tanh, hardSwish, erf }

    /// y[i] = f(x[i]) for n elements, 8 at a time; the tail goes through a padded vector.
    /// One loop per function, so each is compiled with its function inlined.
    static func map(_ function: Function, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        switch function {
        case .exp: while i + 8 <= n { store(exp(load(x + i)), y + i); i += 8 }
        case .sigmoid: while i + 8 <= n { store(sigmoid(load(x + i)), y + i); i += 8 }
        case .tanh: while i + 8 <= n { store(tanh(load(x + i)), y + i); i += 8 }
        case .hardSwish: while i + 8 <= n { store(hardSwish(load(x + i)), y + i); i += 8 }
        case .erf: while i + 8 <= n { store(erf(load(x + i)), y + i); i += 8 }
        }
        guard i < n else { return }
        var v = V(repeating: 0)
        for k in 0..<(n - i) { v[k] = x[i + k] }
        let r: V
        switch function {
        case .exp: r = exp(v)
        case .sigmoid: r = sigmoid(v)
        case .tanh: r = tanh(v)
        case .hardSwish: r = hardSwish(v)
        case .erf: r = erf(v)
        }
        for k in 0..<(n - i) { y[i + k] = r[k] }
    }

    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    private static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
}
