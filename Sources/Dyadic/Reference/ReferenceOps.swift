/// The float reference path: every ONNX operator Dyadic runs outside the integer
/// kernels, with ONNX semantics, on NCHW tensors.
///
/// It is the accuracy baseline for float models, what calibration runs on, what
/// folds constants at load, and the fallback for quantized patterns that have no
/// integer lowering (which `--describe` then reports as not integer-only).
public enum ReferenceOps {
    /// Default-domain operators the reference path implements.
    public static let supported: Set<String> = Set<String>([
        "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish",
        "Clip", "Softmax", "Conv", "ConvInteger", "MatMul", "MatMulInteger", "Gemm",
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
        "Concat", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Pad", "Resize",
        "Identity", "Shape", "QuantizeLinear", "DequantizeLinear",
        "BatchNormalization", "LayerNormalization", "InstanceNormalization", "ConvTranspose", "LSTM", "GRU",
        "Gather", "Slice", "Split", "Tile", "Expand", "Where", "ConstantOfShape", "Range", "Size", "Cast",
        "Pow", "PRelu", "Not", "ArgMax", "ArgMin", "LogSoftmax", "Dropout", "DynamicQuantizeLinear",
        "SpaceToDepth", "DepthToSpace",
    ]).union(MathOps.unaryFloatOps).union(MathOps.comparisonOps).union(MathOps.logicOps)
        .union(MathOps.variadicOps).union(Reductions.ops)

    /// Inputs the lowering needs as constants: those that decide an output's shape, and
    /// the quantization parameters of the integer patterns. A graph input in such a
    /// position is folded into the plan, which is rebuilt when its value changes.
    public static func parameterPositions(_ node: Node, opset: Int) -> [Int] {
        let n = node.inputs.count
        if node.domain == "com.microsoft" {
            switch node.opType {
            case "QLinearAdd", "QLinearMul": return [1, 2, 4, 5, 6, 7]
            case "QLinearConcat": return [0, 1] + stride(from: 2, to: n, by: 3).flatMap { [$0 + 1, $0 + 2] }
            case "DynamicQuantizeLSTM": return []
            case let op where ContribReference.ops.contains(op): return []
            default: return Array(1..<max(n, 1))
            }
        }
        switch node.opType {
        case "QuantizeLinear", "DequantizeLinear": return [1, 2]
        case "QLinearConv": return Array(1..<max(n, 1))
        case "QLinearMatMul": return [1, 2, 4, 5, 6, 7]
        default: return shapeInputs(node, opset: opset)
        }
    }

    /// Inputs that decide an output's shape: they must be constants at load (or graph
    /// inputs given at run time, which then specialise the plan).
    public static func shapeInputs(_ node: Node, opset: Int) -> [Int] {
        guard node.domain.isEmpty else { return [] }
        switch node.opType {
        case "Reshape", "Expand", "Tile": return [1]
        case "ConstantOfShape": return [0]
        case "Range": return [0, 1, 2]
        case "Slice": return opset >= 10 ? [1, 2, 3, 4] : []
        case "Split", "Squeeze", "Unsqueeze": return opset >= 13 ? [1] : []
        case "Pad": return opset >= 11 ? [1, 3] : []
        case "Resize": return [1, 2, 3]
        case "ReduceSum": return opset >= 13 ? [1] : []
        case "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp":
            return opset >= 18 ? [1] : []
        case "If": return [0]
        default: return []
        }
    }

    public struct TypeInfo: Equatable, Sendable {
        public var dtype: DType
        public var shape: [Int]
        public init(_ dtype: DType, _ shape: [Int]) { self.dtype = dtype; self.shape = shape }
    }

    static func input(_ inputs: [Tensor?], _ i: Int, _ node: Node) throws -> Tensor {
        guard i < inputs.count, let t = inputs[i] else { throw node.invalid("input \(i) is required") }
        return t
    }

    static func optional(_ inputs: [Tensor?], _ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }

    /// Runs `node` on concrete tensors (nil marks an omitted optional input).
    public static func evaluate(_ node: Node, _ inputs: [Tensor?], opset: Int) throws -> [Tensor] {
        if node.domain == "com.microsoft", ContribReference.ops.contains(node.opType) { return try ContribReference.evaluate(node, inputs) }
        guard node.domain.isEmpty else { throw node.unsupported("op") }
        let x = { try input(inputs, $0, node) }
        switch node.opType {
        case "Add", "Sub", "Mul", "Div":
            return [try Elementwise.binary(node, x(0), x(1))]
        case "Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish":
            return [try Elementwise.activation(node, x(0))]
        case "Clip":
            return [try Elementwise.clip(node, x(0), optional(inputs, 1), optional(inputs, 2))]
        case "Softmax":
            return [try Elementwise.softmax(node, x(0), opset: opset)]
        case "Conv":
            if try x(0).shape.count == 3, try x(1).shape.count == 3 {
                let y = try Convolution.conv(OneDimensional.node(node), x(0).reshaped(OneDimensional.shape(x(0).shape)),
                                             x(1).reshaped(OneDimensional.shape(x(1).shape)), optional(inputs, 2))
                return [y.reshaped([y.shape[0], y.shape[1], y.shape[3]])]
            }
            return [try Convolution.conv(node, x(0), x(1), optional(inputs, 2))]
        case "ConvInteger":
            if try x(0).shape.count == 3, try x(1).shape.count == 3 {
                let y = try Convolution.convInteger(OneDimensional.node(node), x(0).reshaped(OneDimensional.shape(x(0).shape)),
                                                    x(1).reshaped(OneDimensional.shape(x(1).shape)), optional(inputs, 2), optional(inputs, 3))
                return [y.reshaped([y.shape[0], y.shape[1], y.shape[3]])]
            }
            return [try Convolution.convInteger(node, x(0), x(1), optional(inputs, 2), optional(inputs, 3))]
        case "MatMul":
            return [try Convolution.matmulFloat(node, x(0), x(1))]
        case "MatMulInteger":
            return [try Convolution.matmulInteger(node, x(0), x(1), optional(inputs, 2), optional(inputs, 3))]
        case "Gemm":
            return [try Convolution.gemm(node, x(0), x(1), optional(inputs, 2))]
        case "MaxPool", "AveragePool":
            if node.outputs.count > 1 && !node.outputs[1].isEmpty { throw node.unsupported("the Indices output") }
            return [try Pooling.pool(node, x(0))]
        case "GlobalAveragePool", "GlobalMaxPool":
            return [try Pooling.global(node, x(0))]
        case "QuantizeLinear":
            return [try Quantization.quantizeLinear(node, x(0), x(1), optional(inputs, 2))]
        case "DequantizeLinear":
            return [try Quantization.dequantizeLinear(node, x(0), x(1), optional(inputs, 2))]
        case "Concat":
            return [try DataMovement.concat(node, inputs.compactMap { $0 })]
        case "Transpose":
            return [try DataMovement.transposeNode(node, x(0))]
        case "Identity":
            return [try x(0)]
        case "Dropout":
            // Inference: the identity, and a mask of all true. A training_mode input that
            // is true asks for random dropping, which an inference runtime does not do.
            try node.checkAttributes(known: ["seed", "ratio"])
            if let training = optional(inputs, 2), training.bytes.contains(where: { $0 != 0 }) { throw node.unsupported("training_mode") }
            let data = try x(0)
            let mask = Tensor(dtype: .bool, shape: data.shape, bytes: [UInt8](repeating: 1, count: data.count))
            return Array([data, mask].prefix(max(node.outputs.count, 1)))
        case "BatchNormalization":
            if try node.int("training_mode", default: 0) != 0 {
                return try Normalization.batchNormTraining(node, x(0), x(1), x(2), x(3), x(4))
            }
            return [try Normalization.batchNorm(node, x(0), x(1), x(2), x(3), x(4))]
        case "LayerNormalization":
            return Array(try Normalization.layerNorm(node, x(0), x(1), optional(inputs, 2)).prefix(max(node.outputs.count, 1)))
        case "InstanceNormalization":
            return [try Normalization.instanceNorm(node, x(0), x(1), x(2))]
        case "ConvTranspose":
            return [try TransposedConvolution.run(node, x(0), x(1), optional(inputs, 2))]
        case "LSTM", "GRU":
            return Array(try Recurrent.run(node, inputs).prefix(node.outputs.count))
        case "Gather":
            return [try Indexing.gather(node, x(0), x(1))]
        case "Split":
            return try Indexing.split(node, x(0), sizes: opset >= 13 ? optional(inputs, 1) : nil, opset: opset)
        case "Tile":
            return [try Indexing.tile(node, x(0), x(1))]
        case "Expand":
            return [try Indexing.expand(node, x(0), x(1))]
        case "Where":
            return [try Indexing.whereSelect(node, x(0), x(1), x(2))]
        case "ConstantOfShape":
            return [try Indexing.constantOfShape(node, x(0))]
        case "Range":
            return [try Indexing.range(node, x(0), x(1), x(2))]
        case "Size":
            try node.checkAttributes(known: [])
            return [Tensor([Int64(try x(0).count)], shape: [])]
        case "Cast":
            return [try Indexing.cast(node, x(0))]
        case "SpaceToDepth", "DepthToSpace":
            return [try Indexing.depthSpace(node, x(0))]
        case "Slice":
            let (starts, ends, axes, steps) = try Indexing.sliceParameters(node, inputs, opset: opset)
            let data = try x(0)
            return [Indexing.slice(node, data, ranges: try Indexing.sliceRanges(node, shape: data.shape, starts: starts, ends: ends, axes: axes, steps: steps))]
        case "Pow":
            return [try MathOps.pow(node, x(0), x(1))]
        case "PRelu":
            return [try MathOps.prelu(node, x(0), x(1))]
        case "Not":
            return [try MathOps.not(node, x(0))]
        case "ArgMax", "ArgMin":
            return [try Reductions.argExtreme(node, x(0))]
        case "LogSoftmax":
            return [try Elementwise.softmax(node, x(0), opset: opset, log: true)]
        case "DynamicQuantizeLinear":
            return try Quantization.dynamicQuantizeLinear(node, x(0))
        case let op where MathOps.unaryFloatOps.contains(op):
            return [try MathOps.unary(node, x(0))]
        case let op where MathOps.comparisonOps.contains(op):
            return [try MathOps.compare(node, x(0), x(1))]
        case let op where MathOps.logicOps.contains(op):
            return [try MathOps.logic(node, x(0), x(1))]
        case let op where MathOps.variadicOps.contains(op):
            return [try MathOps.variadic(node, inputs.compactMap { $0 })]
        case let op where Reductions.ops.contains(op):
            return [try Reductions.reduce(node, x(0), axesInput: optional(inputs, 1), opset: opset)]
        default:
            // Pure reshapes and the shape-driven ops share their shape logic with inference.
            let types = try inferTypes(node, inputs.map { $0.map { TypeInfo($0.dtype, $0.shape) } }, constants: inputs, opset: opset)
            switch node.opType {
            case "Reshape", "Flatten", "Squeeze", "Unsqueeze":
                return [try x(0).reshaped(types[0].shape)]
            case "Shape":
                let dims = try shapeSlice(node, try x(0).shape)
                return [Tensor(dims.map { Int64($0) }, shape: [dims.count])]
            case "Pad":
                let (pads, mode) = try padParameters(node, rank: try x(0).shape.count, inputs: inputs, opset: opset)
                return [try DataMovement.pad(node, x(0), pads: pads, value: optional(inputs, 2), mode: mode)]
            case "Resize":
                let scales = try resizeScales(node, inputs: inputs, rank: try x(0).shape.count)
                if try node.string("mode", default: "nearest") == "nearest" {
                    return [try DataMovement.resizeNearest(node, x(0), outShape: types[0].shape, scales: scales)]
                }
                let input = try x(0)
                let interpolation = try ResizeInterpolation(node, inShape: input.shape, outShape: types[0].shape, scales: scales,
                                                            roi: optional(inputs, 1).map(\.floats))
                if input.dtype.isQuantized8Bit, interpolation.fitsIntegers {
                    var out = [UInt8](repeating: 0, count: types[0].shape.reduce(1, *))
                    input.bytes.withUnsafeBufferPointer { x in
                        out.withUnsafeMutableBufferPointer { y in interpolation.runCodes(x.baseAddress!, y.baseAddress!, signed: input.dtype == .int8) }
                    }
                    return [Tensor(dtype: input.dtype, shape: types[0].shape, bytes: out)]
                }
                guard input.dtype == .float32 else { throw node.unsupported("linear or cubic Resize of \(input.dtype)") }
                var out = [Float](repeating: 0, count: types[0].shape.reduce(1, *))
                input.floats.withUnsafeBufferPointer { x in
                    out.withUnsafeMutableBufferPointer { y in interpolation.run(x.baseAddress!, y.baseAddress!) }
                }
                return [Tensor(out, shape: types[0].shape)]
            default:
                throw node.unsupported("op")
            }
        }
    }

    /// Output element types and shapes; `constants` holds the inputs known at load.
    public static func inferTypes(_ node: Node, _ types: [TypeInfo?], constants: [Tensor?], opset: Int) throws -> [TypeInfo] {
        if node.domain == "com.microsoft", ContribReference.ops.contains(node.opType) {
            // Shapes from an evaluation on zeros (these ops are cheap at load sizes).
            var inputs: [Tensor?] = types.map { $0.map { Tensor(zeros: $0.dtype, shape: $0.shape) } }
            for (i, c) in constants.enumerated() where c != nil && i < inputs.count { inputs[i] = c }
            let results = try ContribReference.evaluate(node, inputs)
            return node.outputs.indices.map { results.indices.contains($0) ? TypeInfo(results[$0].dtype, results[$0].shape) : TypeInfo(.float32, []) }
        }
        guard node.domain.isEmpty else { throw node.unsupported("op") }
        func t(_ i: Int) throws -> TypeInfo {
            guard i < types.count, let v = types[i] else { throw node.invalid("input \(i) is required") }
            return v
        }
        func constant(_ i: Int, _ what: String) throws -> Tensor {
            guard i < constants.count, let c = constants[i] else { throw node.unsupported("a \(what) that is not a constant") }
            return c
        }
        switch node.opType {
        case "Add", "Sub", "Mul", "Div":
            return [TypeInfo(try t(0).dtype, try Broadcast.shape(t(0).shape, t(1).shape, context: node.label))]
        case "Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "Softmax", "Identity":
            let known: [String: Set<String>] = ["LeakyRelu": ["alpha"], "HardSigmoid": ["alpha", "beta"],
                                                "Clip": ["min", "max"], "Softmax": ["axis"]]
            try node.checkAttributes(known: known[node.opType] ?? [])
            return [try t(0)]
        case "Reshape":
            try node.checkAttributes(known: ["allowzero"])
            let target = try constant(1, "target shape")
            return [TypeInfo(try t(0).dtype, try DataMovement.reshapeTarget(node, input: t(0).shape, requested: target.int64Values))]
        case "Flatten":
            return [TypeInfo(try t(0).dtype, try DataMovement.flattenShape(node, t(0).shape))]
        case "Squeeze":
            try node.checkAttributes(known: ["axes"])
            let axes = opset >= 13 ? (types.count > 1 && types[1] != nil ? try constant(1, "axes").int64Values.map { Int($0) } : nil) : try node.ints("axes")
            return [TypeInfo(try t(0).dtype, try DataMovement.squeezeShape(node, t(0).shape, axes: axes))]
        case "Unsqueeze":
            try node.checkAttributes(known: ["axes"])
            let axes = opset >= 13 ? try constant(1, "axes").int64Values.map { Int($0) } : (try node.ints("axes") ?? [])
            return [TypeInfo(try t(0).dtype, try DataMovement.unsqueezeShape(node, t(0).shape, axes: axes))]
        case "Shape":
            return [TypeInfo(.int64, [try shapeSlice(node, t(0).shape).count])]
        case "Pad":
            try node.checkAttributes(known: ["mode", "pads", "value"])
            let rank = try t(0).shape.count
            let (pads, _) = try padParameters(node, rank: rank, inputs: constants, opset: opset)
            guard pads.count == 2 * rank else { throw node.invalid("pads has \(pads.count) values for rank \(rank)") }
            return [TypeInfo(try t(0).dtype, (0..<rank).map { try! t(0).shape[$0] + pads[$0] + pads[$0 + rank] })]
        case "Resize":
            try node.checkAttributes(known: ["mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                                             "exclude_outside", "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy"])
            let mode = try node.string("mode", default: "nearest")
            guard ["nearest", "linear", "cubic"].contains(mode) else { throw node.invalid("resize mode '\(mode)' is not valid") }
            if try node.ints("axes") != nil { throw node.unsupported("the axes attribute") }
            let x = try t(0)
            if constants.count > 3, let sizes = constants[3], sizes.count > 0 {
                return [TypeInfo(x.dtype, sizes.int64Values.map { Int($0) })]
            }
            let scales = try resizeScales(node, inputs: constants, rank: x.shape.count)
            return [TypeInfo(x.dtype, try zip(x.shape, scales).map { d, scale in
                let size = (Float(d) * scale).rounded(.down)
                guard let n = Int(exactly: size), n >= 0 else { throw node.invalid("scale \(scale) makes a size of \(size) from \(d)") }
                return n
            })]
        case "Conv" where try t(0).shape.count == 3 && t(1).shape.count == 3, "ConvInteger" where try t(0).shape.count == 3 && t(1).shape.count == 3:
            let x = try t(0), w = try t(1)
            let g = try WindowGeometry(node: OneDimensional.node(node), inputH: 1, inputW: x.shape[2], kernelShape: [1, w.shape[2]])
            return [TypeInfo(node.opType == "Conv" ? x.dtype : .int32, [x.shape[0], w.shape[0], g.output.w])]
        case "Conv", "ConvInteger":
            let x = try t(0), w = try t(1)
            guard x.shape.count == 4, w.shape.count == 4 else { throw node.unsupported("a convolution of rank \(x.shape.count) (only 2-D)") }
            let g = try WindowGeometry(node: node, inputH: x.shape[2], inputW: x.shape[3], kernelShape: [w.shape[2], w.shape[3]])
            return [TypeInfo(node.opType == "Conv" ? x.dtype : .int32, [x.shape[0], w.shape[0], g.output.h, g.output.w])]
        case "MaxPool", "AveragePool":
            let x = try t(0)
            guard x.shape.count == 4 else { throw node.unsupported("a \(x.shape.count - 2)-D pooling (only 2-D)") }
            guard let k = try node.ints("kernel_shape") else { throw node.invalid("kernel_shape is required") }
            let g = try WindowGeometry(node: node, inputH: x.shape[2], inputW: x.shape[3], kernelShape: k,
                                       ceilMode: try node.int("ceil_mode", default: 0) != 0)
            return [TypeInfo(x.dtype, [x.shape[0], x.shape[1], g.output.h, g.output.w])]
        case "GlobalAveragePool", "GlobalMaxPool":
            let x = try t(0)
            guard x.shape.count >= 3 else { throw node.invalid("input must have rank 3 or more") }
            return [TypeInfo(x.dtype, Array(x.shape[0..<2]) + Array(repeating: 1, count: x.shape.count - 2))]
        case "Gemm":
            let a = try t(0), b = try t(1)
            guard a.shape.count == 2, b.shape.count == 2 else { throw node.invalid("Gemm needs 2-D inputs") }
            let m = try node.int("transA", default: 0) != 0 ? a.shape[1] : a.shape[0]
            let n = try node.int("transB", default: 0) != 0 ? b.shape[0] : b.shape[1]
            return [TypeInfo(a.dtype, [m, n])]
        case "Transpose":
            let x = try t(0)
            let perm = try node.ints("perm") ?? Array((0..<x.shape.count).reversed())
            guard perm.sorted() == Array(0..<x.shape.count) else { throw node.invalid("perm \(perm) is not a permutation of the input's axes") }
            return [TypeInfo(x.dtype, perm.map { x.shape[$0] })]
        case "QuantizeLinear":
            let zp = constants.count > 2 ? constants[2] : nil
            let dtype = zp?.dtype ?? (types.count > 2 ? types[2]?.dtype : nil) ?? .uint8
            return [TypeInfo(dtype, try t(0).shape)]
        case "DequantizeLinear":
            return [TypeInfo(.float32, try t(0).shape)]
        case "InstanceNormalization", "LogSoftmax":
            return [try t(0)]
        case let op where MathOps.unaryFloatOps.contains(op):
            return [try t(0)]
        case "Not":
            return [TypeInfo(.bool, try t(0).shape)]
        case "Pow", "PRelu":
            return [TypeInfo(try t(0).dtype, try Broadcast.shape(t(0).shape, t(1).shape, context: node.label))]
        case let op where MathOps.comparisonOps.contains(op) || MathOps.logicOps.contains(op):
            return [TypeInfo(.bool, try Broadcast.shape(t(0).shape, t(1).shape, context: node.label))]
        case "ConvTranspose":
            return [TypeInfo(try t(0).dtype, try TransposedConvolution.outputShape(node, x: t(0).shape, w: t(1).shape))]
        case "LSTM", "GRU":
            return try Recurrent.outputShapes(node, x: t(0).shape, w: t(1).shape).prefix(node.outputs.count).map { TypeInfo(.float32, $0) }
        case "Size":
            return [TypeInfo(.int64, [])]
        case "Cast":
            let code = try node.int("to", default: -1)
            guard let to = Indexing.dtype(onnxCode: code) else { throw node.unsupported("a cast to ONNX type \(code)") }
            return [TypeInfo(to, try t(0).shape)]
        case "Gather":
            let x = try t(0), i = try t(1)
            let a = try Indexing.axis(node, try node.int("axis", default: 0), rank: x.shape.count)
            return [TypeInfo(x.dtype, Array(x.shape[..<a]) + i.shape + Array(x.shape[(a + 1)...]))]
        case "Where":
            let shape = try Broadcast.shape(try Broadcast.shape(t(0).shape, t(1).shape, context: node.label), t(2).shape, context: node.label)
            return [TypeInfo(try t(1).dtype, shape)]
        case "Expand":
            return [TypeInfo(try t(0).dtype, try Indexing.expandShape(node, try t(0).shape, try constant(1, "shape")))]
        case "Tile":
            return [TypeInfo(try t(0).dtype, try Indexing.tileShape(node, try t(0).shape, try constant(1, "repeats")))]
        case "ConstantOfShape":
            return [TypeInfo(try Indexing.constantOfShapeFill(node).dtype, try Indexing.constantOfShapeDims(node, try constant(0, "shape")))]
        case "Range", "Slice", "Split":
            // Their shapes come from parameter inputs, which must be known here.
            for i in shapeInputs(node, opset: opset) where i < node.inputs.count && !node.inputs[i].isEmpty {
                _ = try constant(i, "shape-defining input \(i)")
            }
            let zeros = types.map { $0.map { Tensor(zeros: $0.dtype, shape: $0.shape) } }
            var inputs: [Tensor?] = zeros
            for (i, c) in constants.enumerated() where c != nil && i < inputs.count { inputs[i] = c }
            return try evaluate(node, inputs, opset: opset).map { TypeInfo($0.dtype, $0.shape) }
        case let op where Reductions.ops.contains(op):
            let x = try t(0)
            let axesInput = shapeInputs(node, opset: opset).isEmpty || node.inputs.count < 2 || node.inputs[1].isEmpty
                ? nil : try constant(1, "axes")
            guard let axes = try Reductions.axes(node, rank: x.shape.count, axesInput: axesInput, opset: opset) else { return [x] }
            return [TypeInfo(x.dtype, try Reductions.outputShape(node, x.shape, axes: axes))]
        default:
            // Everything else: evaluate on zero inputs of the right shape. Only used for ops
            // whose cost is negligible at load or that are folded anyway.
            let zeros = types.map { $0.map { Tensor(zeros: $0.dtype, shape: $0.shape) } }
            var inputs: [Tensor?] = zeros
            for (i, c) in constants.enumerated() where c != nil && i < inputs.count { inputs[i] = c }
            return try evaluate(node, inputs, opset: opset).map { TypeInfo($0.dtype, $0.shape) }
        }
    }

    /// The dimensions Shape returns: `start` and `end` clamp like Python slices.
    static func shapeSlice(_ node: Node, _ shape: [Int]) throws -> [Int] {
        try node.checkAttributes(known: ["start", "end"])
        let rank = shape.count
        func clampIndex(_ i: Int) -> Int { min(max(i < 0 ? i + rank : i, 0), rank) }
        let start = clampIndex(try node.int("start", default: 0)), end = clampIndex(try node.int("end", default: rank))
        return start < end ? Array(shape[start..<end]) : []
    }

    static func padParameters(_ node: Node, rank: Int, inputs: [Tensor?], opset: Int) throws -> ([Int], String) {
        let mode = try node.string("mode", default: "constant")
        if opset < 11 {
            return ((try node.ints("pads")) ?? [], mode)
        }
        guard inputs.count > 1, let p = inputs[1] else { throw node.unsupported("pads that are not a constant") }
        if inputs.count > 3, inputs[3] != nil { throw node.unsupported("the axes input") }
        return (p.int64Values.map { Int($0) }, mode)
    }

    static func resizeScales(_ node: Node, inputs: [Tensor?], rank: Int) throws -> [Float] {
        if inputs.count > 3, let sizes = inputs[3], sizes.count > 0, let x = inputs[0] {
            guard sizes.dtype == .int64, sizes.count == rank else { throw node.invalid("sizes must be \(rank) int64 values") }
            return zip(sizes.int64Values, x.shape).map { Float($0) / Float($1) }
        }
        guard inputs.count > 2, let s = inputs[2], s.count == rank else {
            throw node.invalid("needs constant scales or sizes for every axis")
        }
        guard s.dtype == .float32 else { throw node.invalid("scales must be float32, not \(s.dtype)") }
        return s.floats
    }
}
