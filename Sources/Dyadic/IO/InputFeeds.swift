/// Graph inputs for command-line tools: `NAME=FILE.npy` specs, or synthetic data.
public enum InputFeeds {
    /// Reads each `NAME=FILE.npy`; a name may appear once.
    public static func read(_ specs: [String]) throws -> [String: Tensor] {
        var feeds: [String: Tensor] = [:]
        for spec in specs {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                throw DyadicError("--input '\(spec)' must be NAME=FILE.npy")
            }
            let name = String(spec[..<eq]), path = String(spec[spec.index(after: eq)...])
            guard feeds[name] == nil else { throw DyadicError("input '\(name)' is given twice") }
            feeds[name] = try NumpyFile.read(path: path)
        }
        return feeds
    }

    /// Deterministic pseudo-random data for an input (symbolic dimensions become 1):
    /// floats in [-1, 1), integers over their type's range. Latency does not depend on
    /// the values of a dense model, so this is what timing tools use by default.
    public static func synthetic(_ input: ValueInfo, seed: UInt64 = 1) -> Tensor {
        let shape = input.shape.map { $0 ?? 1 }
        let count = shape.reduce(1, *)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt64 {
            // xorshift64*: fast, and the same on every platform.
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 0x2545_F491_4F6C_DD1D
        }
        switch input.dtype {
        case .float32:
            return Tensor((0..<count).map { _ in Float(next() >> 40) / Float(1 << 23) - 1 }, shape: shape)
        default:
            var t = Tensor(zeros: input.dtype, shape: shape)
            for i in t.bytes.indices { t.bytes[i] = UInt8(truncatingIfNeeded: next() >> 56) }
            if input.dtype == .bool { for i in t.bytes.indices { t.bytes[i] &= 1 } }
            return t
        }
    }
}
