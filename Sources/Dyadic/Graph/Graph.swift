/// A model as imported: a format-independent mirror of an ONNX graph.
///
/// Importers (DyadicONNX) build it; `Lowering` turns it into an executable `Plan`.
/// Nodes keep their ONNX op type, domain and attributes as written, so that every
/// pattern decision is made in one place (the lowering), not split across importers.
public struct Graph: Sendable {
    public var name: String
    public var nodes: [Node]
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    /// Constant tensors by value name (ONNX initializers and Constant nodes).
    public var initializers: [String: Tensor]
    /// Opset of the default ONNX domain.
    public var opset: Int

    public init(name: String, nodes: [Node], inputs: [ValueInfo], outputs: [ValueInfo],
                initializers: [String: Tensor], opset: Int) {
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.initializers = initializers
        self.opset = opset
    }
}

public struct ValueInfo: Sendable {
    public var name: String
    public var dtype: DType
    /// Declared dimensions; nil entries are symbolic (fixed when a run supplies the input).
    public var shape: [Int?]

    public init(name: String, dtype: DType, shape: [Int?]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    public var shapeString: String {
        "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ",") + "]"
    }
}

public struct Node: Sendable {
    public var name: String
    public var opType: String
    /// "" for the default ONNX domain, e.g. "com.microsoft" for contrib ops.
    public var domain: String
    /// Value names; "" marks an omitted optional input.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: Attribute]

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: Attribute] = [:]) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    /// "Conv 'conv1'" — how errors name a node.
    public var label: String {
        let op = domain.isEmpty || domain == "ai.onnx" ? opType : "\(domain).\(opType)"
        return name.isEmpty ? op : "\(op) '\(name)'"
    }
}

public enum Attribute: Sendable {
    case int(Int64)
    case float(Float)
    case string(String)
    case ints([Int64])
    case floats([Float])
    case strings([String])
    case tensor(Tensor)
    /// A subgraph (If's branches, Loop's and Scan's bodies).
    indirect case graph(Graph)
}
