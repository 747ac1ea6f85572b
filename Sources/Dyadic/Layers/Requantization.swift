import DyadicKernels

/// Per-channel requantization of int32 accumulators to an 8-bit output, built at
/// load from real scales: M[c] = s_x·s_w[c]/s_y.
///
/// Both profiles are prepared so that the same layer can describe itself in
/// either; `numerics` picks the one the kernels use.
public struct Requantization: Sendable {
    public var numerics: NumericsProfile
    public var multipliers: [DyadicMultiplier]
    /// float32(M) computed the way ONNX Runtime does (in float32 arithmetic).
    public var scales: [Float]
    public var zeroPoint: Int32
    public var qmin: Int32
    public var qmax: Int32

    /// - Parameters:
    ///   - inputScale, weightScales, outputScale: real scales (weightScales may have one entry).
    public init(numerics: NumericsProfile, inputScale: Float, weightScales: [Float], outputScale: Float,
                zeroPoint: Int32, qmin: Int32, qmax: Int32) {
        self.numerics = numerics
        multipliers = weightScales.map { DyadicMultiplier(Double(inputScale) * Double($0) / Double(outputScale)) }
        scales = weightScales.map { inputScale * $0 / outputScale }
        self.zeroPoint = zeroPoint
        self.qmin = qmin
        self.qmax = qmax
    }

    /// A requantization with a single real multiplier `real` (pooling, mul);
    /// `floatScale` is the float32 value ONNX Runtime would use.
    public init(numerics: NumericsProfile, real: Double, floatScale: Float, zeroPoint: Int32, qmin: Int32, qmax: Int32) {
        self.numerics = numerics
        multipliers = [DyadicMultiplier(real)]
        scales = [floatScale]
        self.zeroPoint = zeroPoint
        self.qmin = qmin
        self.qmax = qmax
    }

    public var isPerChannel: Bool { multipliers.count > 1 }

    /// The value the kernels compute for one accumulator of channel `c`.
    public func apply(_ acc: Int64, channel c: Int = 0) -> Int32 {
        let i = isPerChannel ? c : 0
        let v: Int64
        switch numerics {
        case .dyadic: v = multipliers[i].apply(acc) + Int64(zeroPoint)
        case .onnxruntime: v = FloatRequantization.apply(Int32(clamping: acc), scale: scales[i]) + Int64(zeroPoint)
        }
        return Int32(min(max(v, Int64(qmin)), Int64(qmax)))
    }

    /// The C view of a per-tensor requantization.
    var scalarKernelParams: dyd_requant_scalar {
        dyd_requant_scalar(kind: numerics == .dyadic ? DYD_REQUANT_DYADIC : DYD_REQUANT_FP32,
                           multiplier: multipliers[0].multiplier, shift: multipliers[0].shift, scale: scales[0],
                           zero_point: zeroPoint, qmin: qmin, qmax: qmax)
    }

    /// Calls `body` with the C view of these parameters (valid only inside `body`).
    func withKernelParams<R>(_ body: (dyd_requant) throws -> R) rethrows -> R {
        let m = multipliers.map(\.multiplier), s = multipliers.map(\.shift)
        return try m.withUnsafeBufferPointer { mp in
            try s.withUnsafeBufferPointer { sp in
                try scales.withUnsafeBufferPointer { fp in
                    try body(dyd_requant(kind: numerics == .dyadic ? DYD_REQUANT_DYADIC : DYD_REQUANT_FP32,
                                         per_channel: isPerChannel ? 1 : 0,
                                         multiplier: mp.baseAddress, shift: sp.baseAddress, scale: fp.baseAddress,
                                         zero_point: zeroPoint, qmin: qmin, qmax: qmax))
                }
            }
        }
    }

    /// "M = 1518500250·2^-38 … (32 channels) zp 0 clamp [0,255]"
    public var summary: String {
        let shown = numerics == .dyadic
            ? multipliers.prefix(3).map(\.description)
            : scales.prefix(3).map { "\($0)" }
        let more = multipliers.count > 3 ? ", … (\(multipliers.count) channels)" : ""
        let kind = numerics == .dyadic ? "M" : "scale"
        return "\(kind) \(shown.joined(separator: ", "))\(more) zp \(zeroPoint) clamp [\(qmin),\(qmax)]"
    }
}
