/// Element types a tensor can hold inside Dyadic.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, uint8, int8, int32, int64, bool

    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .uint8, .int8, .bool: 1
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
        }
    }

    public var isQuantized8Bit: Bool { self == .uint8 || self == .int8 }

    /// Integer range of an 8-bit (or wider) integer type.
    public var integerRange: ClosedRange<Int32> {
        switch self {
        case .uint8: 0...255
        case .int8: -128...127
        default: Int32.min...Int32.max
        }
    }
}
