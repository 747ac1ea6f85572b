/// Physical order of a rank-4 activation. Logical shapes stay ONNX's NCHW.
public enum Layout: String, Sendable {
    case nchw, nhwc
}

/// One tensor of an execution plan: its type, where it lives, what it means.
public struct PlanValue: Sendable {
    public var name: String
    public var dtype: DType
    /// Logical (ONNX) shape.
    public var shape: [Int]
    public var layout: Layout
    public var quant: QuantParams?
    /// Set for values known at load; they are copied into each context once.
    public var constant: Tensor?

    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { count * dtype.byteSize }
    /// The byte count, or nil when a dimension is negative or the product overflows.
    var checkedByteCount: Int? {
        guard let count = shape.checkedProduct else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        return overflow ? nil : bytes
    }

    /// The shape as stored in memory.
    public var physicalShape: [Int] {
        layout == .nhwc && shape.count == 4 ? [shape[0], shape[2], shape[3], shape[1]] : shape
    }

    public var typeString: String {
        var s = "\(dtype)\(physicalShape.shapeString)"
        if layout == .nhwc && shape.count == 4 { s += " NHWC" }
        return s
    }
}
