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
    var checkedByteCount: Int? { shape.checkedByteCount(elementSize: dtype.byteSize) }

    /// Throws unless the value's size is addressable and within `memoryLimit`;
    /// `producer` (" (Pad 'widen')") names what makes it.
    func checkSize(memoryLimit: Int, producer: String) throws {
        guard let bytes = checkedByteCount else {
            throw DyadicError("value '\(name)'\(producer): shape \(shape.shapeString) is too large to address", kind: .resourceLimit)
        }
        guard bytes <= memoryLimit else {
            throw DyadicError("value '\(name)'\(producer): shape \(shape.shapeString) needs \(bytes) bytes, above the memory limit of \(memoryLimit)",
                              kind: .resourceLimit)
        }
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
