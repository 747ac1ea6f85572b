import Foundation

/// A positive real multiplier M written as the dyadic number m·2^−s (HAWQ-V3).
///
/// `m` is normalised into [2^30, 2^31) so that it keeps 31 significant bits, and
/// `s` is the right shift, 1 ≤ s ≤ 62. Multipliers too small to change any int32
/// accumulator (s would exceed 62) and zero scales become m = 0: the output is the
/// zero point. Multipliers ≥ 2^30 saturate any non-zero accumulator; they are
/// clamped to the largest representable value.
public struct DyadicMultiplier: Equatable, Sendable, CustomStringConvertible {
    public var multiplier: Int32
    public var shift: Int32

    public static let zero = DyadicMultiplier(multiplier: 0, shift: 1)

    public init(multiplier: Int32, shift: Int32) {
        self.multiplier = multiplier
        self.shift = shift
    }

    /// Nearest dyadic approximation of `real` (computed in double, at load time).
    public init(_ real: Double) {
        guard real.isFinite, real > 0 else { self = .zero; return }
        let exponent = real.exponent                 // real = significand · 2^exponent, significand ∈ [1, 2)
        var m = (real.significand * 1_073_741_824.0).rounded()   // ∈ [2^30, 2^31]
        var s = 30 - Int(exponent)
        if m == 2_147_483_648.0 { m = 1_073_741_824.0; s -= 1 }
        if s > 62 { self = .zero; return }
        if s < 1 { self.init(multiplier: Int32.max, shift: 1); return }
        self.init(multiplier: Int32(m), shift: Int32(s))
    }

    public var value: Double { Double(multiplier) * pow(2.0, -Double(shift)) }

    /// The rounding rule of the numerics contract: one rounding, ties toward +∞.
    @inlinable
    public func apply(_ accumulator: Int64) -> Int64 {
        let product = accumulator &* Int64(multiplier)
        return (product &+ (Int64(1) << (shift - 1))) >> shift
    }

    public var description: String { "\(multiplier)·2^-\(shift)" }
}

/// The requantization used by ONNX Runtime's CPU kernels: float32 scale, round half to even.
public enum FloatRequantization {
    @inlinable
    public static func apply(_ accumulator: Int32, scale: Float) -> Int64 {
        Int64((Float(accumulator) * scale).rounded(.toNearestOrEven))
    }
}

/// Which requantization the quantized layers use. (Not `Numerics`: an app that also
/// imports swift-numerics' module of that name would see an ambiguity.)
public enum NumericsProfile: String, Sendable, CaseIterable {
    /// Integer multiplier and shift (the default; integer-only).
    case dyadic
    /// Float32 scale rounded half to even, as ONNX Runtime computes it (for bit-exact comparison).
    case onnxruntime
}
