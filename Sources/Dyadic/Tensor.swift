import DyadicKernels

/// A dense, row-major tensor with raw byte storage.
///
/// Storage is untyped bytes so that data movement (reshape, transpose, concat, pad)
/// is written once for every element type; typed views come from `withUnsafe...`.
public struct Tensor: Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(bytes.count == shape.reduce(1, *) * dtype.byteSize, "tensor byte count does not match its shape")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(zeros dtype: DType, shape: [Int]) {
        self.init(dtype: dtype, shape: shape, bytes: [UInt8](repeating: 0, count: shape.reduce(1, *) * dtype.byteSize))
    }

    public init(_ values: [Float], shape: [Int]) {
        self.init(dtype: .float32, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }
    public init(_ values: [UInt8], shape: [Int]) { self.init(dtype: .uint8, shape: shape, bytes: values) }
    public init(_ values: [Int8], shape: [Int]) {
        self.init(dtype: .int8, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }
    public init(_ values: [Int32], shape: [Int]) {
        self.init(dtype: .int32, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }
    public init(_ values: [Int64], shape: [Int]) {
        self.init(dtype: .int64, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }

    public func elements<T>(as type: T.Type) -> [T] {
        bytes.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
    }

    /// Values as Float: float32 as stored, FP8 decoded, integer types converted (never a
    /// reinterpretation of another type's bytes).
    public var floats: [Float] {
        switch dtype {
        case .float32: elements(as: Float.self)
        case .float8e4m3fn: bytes.map(dyd_fp8_e4m3_to_f32)
        default: int64Values.map(Float.init)
        }
    }

    /// Values of an integer or float tensor widened to Int64 (shapes, axes, pads).
    public var int64Values: [Int64] {
        switch dtype {
        case .int64: elements(as: Int64.self)
        case .int32: elements(as: Int32.self).map(Int64.init)
        case .uint8, .bool, .uint4, .uint2: bytes.map(Int64.init)
        case .int8, .int4, .int2: elements(as: Int8.self).map(Int64.init)
        case .float32: elements(as: Float.self).map(Self.saturatingInt64)
        case .float8e4m3fn: bytes.map { Self.saturatingInt64(dyd_fp8_e4m3_to_f32($0)) }
        }
    }

    /// A float truncated toward zero and saturated (NaN as 0): a model's float tensor read
    /// as sizes or indices must not trap.
    static func saturatingInt64(_ f: Float) -> Int64 {
        if f.isNaN { return 0 }
        if f >= 0x1p63 { return .max }
        if f < -0x1p63 { return .min }
        return Int64(f)
    }

    /// Values as Int32 (zero points); int8/uint8 widen.
    public var int32Values: [Int32] { int64Values.map { Int32(truncatingIfNeeded: $0) } }

    /// Values as Double (scales); integer types widen.
    public var doubleValues: [Double] {
        dtype == .float32 ? floats.map(Double.init) : int64Values.map(Double.init)
    }

    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(dtype: dtype, shape: newShape, bytes: bytes)
    }
}

extension Array where Element == Int {
    /// "[1,3,224,224]"
    public var shapeString: String { "[" + map(String.init).joined(separator: ",") + "]" }
}
