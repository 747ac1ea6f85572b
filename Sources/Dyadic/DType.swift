/// Element types a tensor can hold inside Dyadic.
///
/// 2- and 4-bit integers are held one per byte (sign-extended when signed) inside
/// Dyadic; ONNX's packing (four or two per byte, first element in the lowest bits)
/// exists only in files, and kernels pack weights their own way. FP8 E4M3FN values are their
/// 8-bit codes.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, uint8, int8, int32, int64, bool, int4, uint4, int2, uint2, float8e4m3fn

    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .uint8, .int8, .bool, .int4, .uint4, .int2, .uint2, .float8e4m3fn: 1
        case .int64: 8
        }
    }

    /// Short name used in `--describe` and error messages.
    public var description: String {
        switch self {
        case .float32: "f32"
        case .uint8: "u8"
        case .int8: "i8"
        case .int32: "i32"
        case .int64: "i64"
        case .bool: "bool"
        case .int4: "i4"
        case .uint4: "u4"
        case .int2: "i2"
        case .uint2: "u2"
        case .float8e4m3fn: "f8e4m3"
        }
    }

    public var isQuantized8Bit: Bool { self == .uint8 || self == .int8 }
    /// Integer types narrower than a byte: ONNX stores them packed.
    public var isSubByteInteger: Bool { packedBits != nil }
    /// Bits per element in ONNX's packed storage, nil for byte-sized types.
    public var packedBits: Int? {
        switch self {
        case .int4, .uint4: 4
        case .int2, .uint2: 2
        default: nil
        }
    }
    public var isSigned: Bool { self == .int8 || self == .int4 || self == .int2 || self == .int32 || self == .int64 }

    /// Integer range of an integer type.
    public var integerRange: ClosedRange<Int32> {
        switch self {
        case .uint8: 0...255
        case .int8: -128...127
        case .uint4: 0...15
        case .int4: -8...7
        case .uint2: 0...3
        case .int2: -2...1
        default: Int32.min...Int32.max
        }
    }
}
