/// Every error Dyadic reports: one line that says what is wrong and where. Line breaks
/// and other control characters (from names in a model, say) appear escaped.
public struct DyadicError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = DyadicError.oneLine(message) }
    public var description: String { message }

    /// `s` with control characters and Unicode line separators written as escapes.
    public static func oneLine(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            if !needsEscape(c) { out.unicodeScalars.append(c); continue }
            switch c {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{\(String(c.value, radix: 16))}"
            }
        }
        return out
    }

    private static func needsEscape(_ c: Unicode.Scalar) -> Bool {
        c.value < 0x20 || (0x7F...0x9F).contains(c.value) || c.value == 0x2028 || c.value == 0x2029
    }
}
