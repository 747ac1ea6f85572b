/// Every error Dyadic reports: one line that says what is wrong and where.
public struct DyadicError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
