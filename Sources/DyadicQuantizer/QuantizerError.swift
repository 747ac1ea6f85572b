import Dyadic

/// An error from the quantizer's algorithms: one line that says what is wrong and where.
///
/// Bit allocation has its own structured error (`BitAllocationError`) because callers act on
/// its fields (which budget, what minimum); everything else reports with this message type.
public struct QuantizerError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = DyadicError.oneLine(message) }
    public var description: String { message }
}
