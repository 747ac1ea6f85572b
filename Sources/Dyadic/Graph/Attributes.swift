/// Typed attribute access with errors that name the node and the attribute.
extension Node {
    public func int(_ key: String, default value: Int) throws -> Int {
        guard let attribute = attributes[key] else { return value }
        guard case .int(let v) = attribute else { throw wrongType(key, "an int") }
        return Int(v)
    }

    public func float(_ key: String, default value: Float) throws -> Float {
        guard let attribute = attributes[key] else { return value }
        switch attribute {
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: throw wrongType(key, "a float")
        }
    }

    public func string(_ key: String, default value: String) throws -> String {
        guard let attribute = attributes[key] else { return value }
        guard case .string(let v) = attribute else { throw wrongType(key, "a string") }
        return v
    }

    public func ints(_ key: String) throws -> [Int]? {
        guard let attribute = attributes[key] else { return nil }
        switch attribute {
        case .ints(let v): return v.map { Int($0) }
        case .int(let v): return [Int(v)]
        default: throw wrongType(key, "a list of ints")
        }
    }

    public func floats(_ key: String) throws -> [Float]? {
        guard let attribute = attributes[key] else { return nil }
        guard case .floats(let v) = attribute else { throw wrongType(key, "a list of floats") }
        return v
    }

    /// Rejects attributes this implementation does not understand, so that a model
    /// never runs with a silently ignored setting.
    public func checkAttributes(known: Set<String>) throws {
        for key in attributes.keys.sorted() where !known.contains(key) {
            throw unsupported("attribute '\(key)'")
        }
    }

    public func unsupported(_ what: String) -> DyadicError {
        DyadicError("\(label): \(what) is not supported", kind: .unsupported(node: name.isEmpty ? nil : name, op: opType))
    }

    public func invalid(_ what: String) -> DyadicError {
        DyadicError("\(label): \(what)", kind: .invalidModel)
    }

    /// The node would need more memory than the session allows.
    public func overMemoryLimit(_ what: String) -> DyadicError {
        DyadicError("\(label): \(what)", kind: .resourceLimit)
    }

    /// Throws unless every size fits the C kernels' 32-bit fields.
    func checkKernelSizes(_ sizes: [Int], _ what: String) throws {
        guard sizes.allSatisfy({ UInt32(exactly: $0) != nil }) else {
            throw unsupported("\(what) \(sizes) (the kernels take sizes from 0 to 2^32 - 1)")
        }
    }

    private func wrongType(_ key: String, _ expected: String) -> DyadicError {
        DyadicError("\(label): attribute '\(key)' must be \(expected)")
    }
}
