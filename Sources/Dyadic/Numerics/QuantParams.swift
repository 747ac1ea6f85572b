/// How an integer tensor maps to real values: real = scale · (q − zeroPoint).
public struct QuantParams: Sendable, Equatable, CustomStringConvertible {
    public var scale: [Float]
    public var zeroPoint: [Int32]
    /// Axis of per-axis parameters; nil for per-tensor.
    public var axis: Int?

    public init(scale: [Float], zeroPoint: [Int32], axis: Int? = nil) {
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.axis = axis
    }

    public init(scale: Float, zeroPoint: Int32) {
        self.init(scale: [scale], zeroPoint: [zeroPoint])
    }

    public var isPerTensor: Bool { scale.count == 1 }

    public var description: String {
        if isPerTensor { return "scale \(scale[0]) zp \(zeroPoint[0])" }
        return "per-axis(\(axis ?? 0)) ×\(scale.count)"
    }
}
