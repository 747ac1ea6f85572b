/// Every error Dyadic reports: one line that says what is wrong and where. Line breaks
/// and other control characters (from names in a model, say) appear escaped. `kind`
/// tells an app what went wrong without parsing the message.
public struct DyadicError: Error, CustomStringConvertible, Sendable {
    /// What an app may need to tell apart.
    public enum Kind: Sendable, Equatable {
        /// An operator, attribute, element type or combination Dyadic does not run:
        /// the node's name and its op type where the error is about one node.
        case unsupported(node: String?, op: String?)
        /// The model is malformed or inconsistent (not ONNX, wrong input or output
        /// counts, sizes that do not match their data, names used before definition, …).
        case invalidModel
        /// A tensor given to a run does not fit the model: an unknown or missing input,
        /// or one of the wrong element type or shape; `name` is the input's.
        case invalidInput(name: String)
        /// A value, the arena or a layer's scratch memory would exceed the memory limit.
        case resourceLimit
        /// Anything else (a file that cannot be read, a bad argument).
        case other
    }

    public let kind: Kind
    public let message: String
    public init(_ message: String, kind: Kind = .other) {
        self.message = DyadicError.oneLine(message)
        self.kind = kind
    }
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
