/// The com.microsoft quantized operators that ONNX Runtime's QOperator format writes.
extension Lowering {
    static let contribOps: Set<String> = Set<String>([
        "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat",
        "QGemm", "QLinearSigmoid", "QLinearLeakyRelu", "DynamicQuantizeLSTM", "QLinearSoftmax",
    ]).union(ContribReference.ops)

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
        case "DynamicQuantizeLSTM":
            try lowerDynamicQuantizeLSTM(node)
        case "QLinearSoftmax":
            try lowerQLinearSoftmax(node)
        case "MatMulIntegerToFloat", "DynamicQuantizeMatMul":
            if try lowerIntegerMatMulToFloat(node) { return }
            try lowerReference(node)
        case "MatMulNBits":
            if try lowerMatMulNBits(node) { return }
            try lowerReference(node)
        case let op where ContribReference.ops.contains(op):
            try lowerReference(node)
        default:
            throw node.unsupported("op")
        }
    }

    /// QLinearSoftmax: integer in the default numerics; with ONNX Runtime's numerics it
    /// runs as its definition: dequantize, float Softmax (with the semantics of the opset
    /// the node names), quantize.
    func lowerQLinearSoftmax(_ node: Node) throws {
        try node.checkAttributes(known: ["axis", "opset"])
        guard node.inputs.count >= 5 else { throw node.invalid("needs X, X_scale, x_zero_point, Y_scale, y_zero_point") }
        let x = try explicitActivation(node, input: 0, scale: 1)
        let opset = try node.int("opset", default: graph.opset)
        if numerics == .dyadic {
            let out = try explicitOutput(node, scale: 3, defaultType: values[x.value].dtype)
            if try emitIntegerSoftmax(node, x: x, out: out, opset: opset) { return }
        }
        let inner = "\(node.name)/dequantized", real = "\(node.name)/softmax"
        env[inner] = .dequantized(.value(x.value), x.params)
        var attributes: [String: Attribute] = [:]
        if let axis = node.attributes["axis"] { attributes["axis"] = axis }
        try lowerReference(Node(name: node.name, opType: "Softmax", inputs: [inner], outputs: [real], attributes: attributes), opset: opset)
        let quantize = Node(name: node.name, opType: "QuantizeLinear", inputs: [real, node.inputs[3], node.inputs[4]], outputs: node.outputs)
        try lowerQuantize(quantize, try quantize.inputs.map { try symbol($0, of: quantize) })
    }

    /// DynamicQuantizeLSTM: an LSTM whose W and R are stored quantized and transposed
    /// ([directions][input][4·hidden]). They are dequantized once at load into ONNX
    /// LSTM's float layout and the LSTM runs in float32. ONNX Runtime instead quantizes
    /// X and the hidden state to uint8 at every step, so its outputs differ from these
    /// by that rounding.
    func lowerDynamicQuantizeLSTM(_ node: Node) throws {
        guard node.inputs.count >= 12 else { throw node.invalid("needs 12 inputs (X, W, R, B, sequence_lens, initial_h, initial_c, P, W_scale, W_zero_point, R_scale, R_zero_point)") }
        func dequantizedTransposed(_ q: Int, _ scale: Int, _ zp: Int, _ what: String) throws -> Tensor {
            guard let w = try constantInput(node, q), let s = try constantInput(node, scale) else {
                throw node.unsupported("a quantized \(what) that is not a constant")
            }
            let z = try constantInput(node, zp)
            guard w.shape.count == 3, w.dtype.isQuantized8Bit else { throw node.invalid("\(what) must be an 8-bit [directions, rows, 4·hidden] tensor") }
            let (dirs, rows, cols) = (w.shape[0], w.shape[1], w.shape[2])
            let scales = s.floats, zps = z?.int64Values ?? [0]
            guard scales.count == dirs || scales.count == dirs * cols, zps.count == 1 || zps.count == scales.count else {
                throw node.invalid("\(what)_scale and \(what)_zero_point must have one value per direction or per direction and column")
            }
            let q = w.int64Values
            var out = [Float](repeating: 0, count: q.count)
            for d in 0..<dirs {
                for r in 0..<rows {
                    for c in 0..<cols {
                        let p = scales.count == dirs ? d : d * cols + c
                        let zero = zps.count == 1 ? zps[0] : zps[p]
                        out[(d * cols + c) * rows + r] = Float(q[(d * rows + r) * cols + c] - zero) * scales[p]
                    }
                }
            }
            return Tensor(out, shape: [dirs, cols, rows])
        }
        let w = try dequantizedTransposed(1, 8, 9, "W"), r = try dequantizedTransposed(2, 10, 11, "R")
        let wName = "\(node.name)/W_dequantized", rName = "\(node.name)/R_dequantized"
        env[wName] = .constant(w)
        env[rName] = .constant(r)
        var lstm = Node(name: node.name, opType: "LSTM", inputs: [node.inputs[0], wName, rName] + Array(node.inputs[3..<8]),
                        outputs: node.outputs, attributes: node.attributes)
        while lstm.inputs.last == "" { lstm.inputs.removeLast() }
        if try lowerFloatLSTM(lstm) { return }
        try lowerReference(lstm)
    }

    /// MatMulNBits with constant weights: dequantized once at load to float [K, N] and run
    /// on the packed float GEMM; the bias, if any, as a float addition.
    func lowerMatMulNBits(_ node: Node) throws -> Bool {
        guard node.inputs.count >= 3, let b = try constantInput(node, 1), let scales = try constantInput(node, 2) else { return false }
        let zeroPoints = try constantInput(node, 3)
        if node.inputs.count > 3, !node.inputs[3].isEmpty, zeroPoints == nil { return false }
        if node.inputs.count > 4, !node.inputs[4].isEmpty { return false }
        let weights = try ContribReference.nbitsWeights(node, b, scales: scales, zeroPoints: zeroPoints, groupIndex: nil)
        let weightName = node.name + "/dequantized_weights"
        env[weightName] = .constant(weights)
        let hasBias = node.inputs.count > 5 && !node.inputs[5].isEmpty
        let product = hasBias ? node.name + "/product" : node.outputs[0]
        guard try lowerFloatMatrixProduct(Node(name: node.name, opType: "MatMul", inputs: [node.inputs[0], weightName], outputs: [product])) else {
            return false
        }
        if hasBias {
            let add = Node(name: node.name + "/bias", opType: "Add", inputs: [product, node.inputs[5]], outputs: [node.outputs[0]])
            if try !lowerFloatBinary(add) { try lowerReference(add) }
        }
        return true
    }
}
