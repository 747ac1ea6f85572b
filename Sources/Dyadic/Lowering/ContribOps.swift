/// The com.microsoft quantized operators that ONNX Runtime's QOperator format writes.
extension Lowering {
    static let contribOps: Set<String> = [
        "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat",
        "QGemm", "QLinearSigmoid", "QLinearLeakyRelu",
    ]

    func lowerContrib(_ node: Node) throws {
        switch node.opType {
        case "QGemm":
            try node.checkAttributes(known: ["alpha", "transA", "transB"])
            try lowerQLinearMatrixProduct(node)
        case "QLinearAdd", "QLinearMul":
            try node.checkAttributes(known: [])
            let a = try explicitActivation(node, input: 0, scale: 1)
            let b = try explicitActivation(node, input: 3, scale: 4)
            let out = try explicitOutput(node, scale: 6, defaultType: values[a.value].dtype)
            guard try emitBinary(node, mul: node.opType == "QLinearMul", a: a, b: b, out: out) else {
                throw node.unsupported("broadcasting between shapes \(values[a.value].shape.shapeString) and \(values[b.value].shape.shapeString)")
            }
        case "QLinearGlobalAveragePool", "QLinearAveragePool":
            let x = try explicitActivation(node, input: 0, scale: 1)
            let out = try explicitOutput(node, scale: 3, defaultType: values[x.value].dtype)
            guard try emitAvgPool(node, x: x, out: out) else { throw node.unsupported("these pooling settings") }
        case "QLinearConcat":
            let out = try explicitOutput(node, scale: 0, defaultType: .uint8)
            var inputs: [(value: Int, params: QuantParams)] = []
            var i = 2
            while i + 2 < node.inputs.count + 1 && i < node.inputs.count {
                inputs.append(try explicitActivation(node, input: i, scale: i + 1))
                i += 3
            }
            guard try emitConcat(Node(name: node.name, opType: node.opType, inputs: Array(node.inputs[2...]).enumerated().filter { $0.offset % 3 == 0 }.map(\.element),
                                      outputs: node.outputs, attributes: node.attributes), inputs: inputs, out: out) else {
                throw node.unsupported("this concatenation")
            }
        case "QLinearSigmoid", "QLinearLeakyRelu":
            let x = try explicitActivation(node, input: 0, scale: 1)
            let out = try explicitOutput(node, scale: 3, defaultType: values[x.value].dtype)
            let floatOp = Node(name: node.name, opType: node.opType == "QLinearSigmoid" ? "Sigmoid" : "LeakyRelu",
                               inputs: ["x"], outputs: ["y"], attributes: node.attributes)
            _ = try emitTable(floatOp, x: x, out: out) { real in
                try Elementwise.activation(floatOp, Tensor(real, shape: [real.count])).floats
            }
        default:
            throw node.unsupported("op")
        }
    }
}
