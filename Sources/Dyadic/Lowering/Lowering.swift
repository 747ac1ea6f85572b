/// Turns an imported `Graph` into an executable `Plan` for given input shapes.
///
/// One forward walk over the (topologically ordered) nodes. Each ONNX value is
/// tracked symbolically (`Symbol`): a value in memory, a constant, or the
/// *dequantization* of an integer value. DequantizeLinear therefore emits nothing;
/// the consumer decides. A Conv/Gemm/MatMul/Add/Mul/pool/Concat/non-linearity whose
/// inputs are dequantized and whose only consumer is a QuantizeLinear (possibly
/// through Relu/Clip) becomes one integer layer that writes the quantized value
/// directly; data-movement ops commute with dequantization and run on the integers.
/// QOperator nodes (QLinearConv, com.microsoft QLinearAdd, …) are rewritten into the
/// same integer layers. Anything else runs on the float reference path, and the
/// plan reports those layers as not integer-only.
final class Lowering {
    indirect enum Symbol {
        case value(Int)
        case constant(Tensor)
        /// real = scale·(q − zp) of an integer value or constant.
        case dequantized(Symbol, QuantParams)
    }

    /// The quantization that ends a fused pattern.
    struct OutputQuantization {
        var name: String
        var params: QuantParams
        var dtype: DType
        var qmin: Int32
        var qmax: Int32
        var nodes: [Int]
    }

    let graph: Graph
    /// The nodes being lowered: the graph's, with the chosen branch of each If whose
    /// condition is known spliced in after it.
    var nodes: [Node]
    let numerics: NumericsProfile
    var values: [PlanValue] = []
    var layers: [Layer] = []
    var env: [String: Symbol] = [:]
    var consumers: [String: [Int]] = [:]
    var absorbed: Set<Int> = []
    let graphOutputs: Set<String>
    /// Materialized forms of symbols, so each conversion is emitted once.
    var floatForm: [String: Int] = [:]
    var layoutForm: [String: Int] = [:]

    init(graph: Graph, numerics: NumericsProfile) {
        self.graph = graph
        self.nodes = graph.nodes
        self.numerics = numerics
        graphOutputs = Set(graph.outputs.map(\.name))
        indexConsumers()
    }

    func indexConsumers() {
        consumers = [:]
        for (i, node) in nodes.enumerated() {
            // An If's branches read outer values too: they count as its inputs, so that no
            // pattern fuses away a value a branch still needs.
            let hasSubgraph = node.attributes.values.contains { if case .graph = $0 { true } else { false } }
            let reads = hasSubgraph ? Array(GraphRewrites.reads(node)).sorted() : node.inputs.filter { !$0.isEmpty }
            for input in reads { consumers[input, default: []].append(i) }
        }
    }

    /// No float activation fused into its producer (`SessionOptions.observable`).
    var observable = false
    /// SessionOptions.memoryLimit, checked by the plan.
    var memoryLimit = SessionOptions.defaultMemoryLimit
    /// The node being lowered, named in errors about the values it makes.
    var loweringNode: String?

    /// `graph` must have passed `GraphValidation` (Session's init checks it and its subgraphs once).
    static func plan(graph: Graph, inputShapes: [String: [Int]], numerics: NumericsProfile, observable: Bool = false,
                     memoryLimit: Int = SessionOptions.defaultMemoryLimit) throws -> Plan {
        let rewritten = GraphRewrites.fuseHardSwish(GraphRewrites.foldBatchNormalization(ContribExpansion.expand(GraphRewrites.topologicallySorted(graph))))
        let lowering = Lowering(graph: rewritten, numerics: numerics)
        lowering.observable = observable
        lowering.memoryLimit = memoryLimit
        return try lowering.build(inputShapes: inputShapes)
    }

    func build(inputShapes: [String: [Int]]) throws -> Plan {
        var inputs: [(String, Int)] = []
        for input in graph.inputs {
            guard let shape = inputShapes[input.name] else { throw DyadicError("no shape for input '\(input.name)'") }
            let v = try addValue(input.name, input.dtype, shape)
            env[input.name] = .value(v)
            inputs.append((input.name, v))
        }
        for (name, tensor) in graph.initializers where env[name] == nil { env[name] = .constant(tensor) }
        var i = 0
        while i < nodes.count {
            if !absorbed.contains(i) {
                loweringNode = nodes[i].label
                try lower(nodes[i], index: i)
            }
            i += 1
        }
        var outputs: [(String, Int)] = []
        for output in graph.outputs {
            guard env[output.name] != nil else { throw DyadicError("graph output '\(output.name)' is not produced by any node") }
            var v = try materialize(output.name, as: nil, context: "graph output '\(output.name)'")
            v = try nchw(v, key: output.name)
            guard values[v].dtype == output.dtype else {
                throw DyadicError("graph output '\(output.name)' is declared \(output.dtype) but computes \(values[v].dtype)")
            }
            outputs.append((output.name, v))
        }
        // Observed runs keep every layer, so that each value they report is computed.
        let composed = observable ? layers : TableComposition.compose(layers, values: values)
        return try Plan(values: values, layers: Lowering.liveLayers(composed, outputs: Set(outputs.map(\.1))),
                        inputs: inputs, outputs: outputs, numerics: numerics, memoryLimit: memoryLimit)
    }

    /// Drops layers whose outputs nobody reads (e.g. an NCHW quantization that a fused
    /// quantize-to-NHWC replaced). Layers have no side effects besides their outputs.
    static func liveLayers(_ layers: [Layer], outputs: Set<Int>) -> [Layer] {
        var needed = outputs
        var kept: [Layer] = []
        for layer in layers.reversed() where layer.outputs.contains(where: needed.contains) {
            kept.append(layer)
            needed.formUnion(layer.inputs)
        }
        return kept.reversed()
    }

    // MARK: - Values

    func addValue(_ name: String, _ dtype: DType, _ shape: [Int], layout: Layout = .nchw,
                  quant: QuantParams? = nil, constant: Tensor? = nil) throws -> Int {
        // Checked where a value is made, so no later size arithmetic on it can overflow.
        let value = PlanValue(name: name, dtype: dtype, shape: shape, layout: layout, quant: quant, constant: constant)
        try value.checkSize(memoryLimit: memoryLimit, producer: loweringNode.map { " (\($0))" } ?? "")
        return appendValue(value)
    }

    func appendValue(_ value: PlanValue) -> Int {
        values.append(value)
        return values.count - 1
    }

    func symbol(_ name: String, of node: Node) throws -> Symbol {
        guard let s = env[name] else { throw node.invalid("uses value '\(name)' which no earlier node produces") }
        return s
    }

    /// Constant tensor of an input (nil if absent), with dequantized constants folded.
    func constantInput(_ node: Node, _ i: Int) throws -> Tensor? {
        guard i < node.inputs.count, !node.inputs[i].isEmpty else { return nil }
        return try foldedConstant(try symbol(node.inputs[i], of: node), node)
    }

    func foldedConstant(_ s: Symbol, _ node: Node) throws -> Tensor? {
        switch s {
        case .constant(let t): return t
        case .value: return nil
        case .dequantized(let base, let q):
            guard case .constant(let t) = base else { return nil }
            return try Quantization.dequantizeLinear(
                Node(name: node.name, opType: "DequantizeLinear", inputs: [], outputs: [], attributes: q.axis.map { ["axis": .int(Int64($0))] } ?? [:]),
                t, Tensor(q.scale, shape: [q.scale.count]), Tensor(q.zeroPoint, shape: [q.zeroPoint.count]))
        }
    }

    /// A memory value for an ONNX value: constants become plan constants, dequantized
    /// integers get a Dequantize layer. NCHW unless the value already lives as NHWC.
    func materialize(_ name: String, as dtype: DType?, context: String) throws -> Int {
        guard let s = env[name] else { throw DyadicError("\(context): value '\(name)' is not produced by any node") }
        switch s {
        case .value(let v): return v
        case .constant(let t):
            if let cached = floatForm[name] { return cached }
            let v = try addValue(name, t.dtype, t.shape, constant: t)
            floatForm[name] = v
            return v
        case .dequantized(let base, let q):
            if let cached = floatForm[name] { return cached }
            if case .constant(let t) = base {
                // Constant weights read by a float layer: dequantized once, here.
                let f = try foldedConstant(s, Node(name: context, opType: "DequantizeLinear", inputs: [], outputs: []))!
                let v = try addValue(name, .float32, t.shape, constant: f)
                floatForm[name] = v
                return v
            }
            var source: Int
            switch base {
            case .value(let v): source = v
            case .constant(let t): source = try addValue(name + "_q", t.dtype, t.shape, constant: t)
            case .dequantized: throw DyadicError("\(context): nested dequantization of '\(name)'")
            }
            source = try nchw(source, key: name + "_q")
            let info = values[source]
            let out = try addValue(name, .float32, info.shape)
            if q.isPerTensor {
                layers.append(DequantizeLayer(source: [name], input: source, output: out, scale: q.scale[0],
                                              zeroPoint: q.zeroPoint[0], dtype: info.dtype, count: info.count))
            } else {
                let node = Node(name: name, opType: "DequantizeLinear", inputs: [], outputs: [],
                                attributes: ["axis": .int(Int64(q.axis ?? 1))])
                let scale = try addValue(name + "_scale", .float32, [q.scale.count], constant: Tensor(q.scale, shape: [q.scale.count]))
                let zp = try addValue(name + "_zp", .int32, [q.zeroPoint.count], constant: Tensor(q.zeroPoint, shape: [q.zeroPoint.count]))
                layers.append(ReferenceLayer(node: node, opset: graph.opset, inputSlots: [source, scale, zp], outputs: [out], isIntegerOnly: false))
            }
            floatForm[name] = out
            return out
        }
    }

    /// Lowers, ahead of its turn, the node that defines `name` (and what it reads, a few
    /// levels deep) when a fused pattern needs the value before the walk reaches it: the
    /// topological order may put a scale computed from the input's quantization after
    /// the product that uses it. False when that is not possible.
    func lowerAhead(_ name: String, depth: Int = 8) throws -> Bool {
        if env[name] != nil { return true }
        guard depth > 0, let p = nodes.firstIndex(where: { $0.outputs.contains(name) }), !absorbed.contains(p) else { return false }
        let node = nodes[p]
        guard node.domain.isEmpty, !["If", "Loop", "Scan"].contains(node.opType) else { return false }
        for input in node.inputs where !input.isEmpty {
            guard try lowerAhead(input, depth: depth - 1) else { return false }
        }
        try lower(node, index: p)
        absorbed.insert(p)
        return env[name] != nil
    }

    // MARK: - Layouts

    func nchw(_ v: Int, key: String) throws -> Int { try relayout(v, to: .nchw, key: key) }
    func nhwc(_ v: Int, key: String) throws -> Int { try relayout(v, to: .nhwc, key: key) }

    func relayout(_ v: Int, to layout: Layout, key: String) throws -> Int {
        let info = values[v]
        guard info.shape.count == 4, info.layout != layout else { return v }
        let cacheKey = "\(key)#\(layout)#\(v)"
        if let cached = layoutForm[cacheKey] { return cached }
        let out = try addValue(info.name + "_" + layout.rawValue, info.dtype, info.shape, layout: layout, quant: info.quant)
        if info.shape[1] == 1 || info.shape[2] * info.shape[3] == 1 {
            // One channel or one pixel: both layouts are the same bytes.
            layers.append(CopyLayer(op: layout == .nhwc ? "ToNHWC" : "ToNCHW", source: [info.name], input: v, output: out,
                                    byteCount: info.byteCount))
            layoutForm[cacheKey] = out
            return out
        }
        if layout == .nhwc, let q = layers.last(where: { $0.outputs.contains(v) }) as? QuantizeLayer, q.nhwc == nil {
            // Quantize straight into NHWC; the NCHW quantization goes if nothing else reads it.
            layers.append(QuantizeLayer(source: q.sourceNodes, input: q.inputs[0], output: out, scale: q.scale,
                                        zeroPoint: q.zeroPoint, dtype: q.dtype, count: q.count, nhwcFrom: info.shape,
                                        saturate: q.saturate))
            layoutForm[cacheKey] = out
            return out
        }
        layers.append(LayoutLayer(source: [info.name], input: v, output: out, toNHWC: layout == .nhwc,
                                  shape: info.shape, elementSize: info.dtype.byteSize))
        layoutForm[cacheKey] = out
        return out
    }

    // MARK: - The walk

    /// The (ONNX, NCHW-order) shape of a symbol.
    func knownShape(_ s: Symbol) -> [Int]? {
        switch s {
        case .value(let v): values[v].shape
        case .constant(let t): t.shape
        case .dequantized(let base, _): knownShape(base)
        }
    }

    static func isConstant(_ s: Symbol) -> Bool {
        switch s {
        case .value: false
        case .constant: true
        case .dequantized(let base, _): isConstant(base)
        }
    }

    /// Evaluates a node whose inputs are all constants once, at load.
    func fold(_ node: Node, _ symbols: [Symbol?]) throws {
        let tensors = try symbols.map { try $0.flatMap { try foldedConstant($0, node) } }
        try checkOutputSizes(node, tensors)
        let results = try ReferenceOps.evaluate(node, tensors, opset: graph.opset)
        for (name, t) in zip(node.outputs, results) { env[name] = .constant(t) }
    }

    /// Refuses a node whose outputs would exceed the memory limit before a reference op
    /// computes them at load (a Tile or Resize of a constant to a huge shape).
    /// `bytesPerElement` overrides the outputs' own element sizes (index maps). Ops
    /// without shape inference are not checked here; their evaluation checks its inputs.
    func checkOutputSizes(_ node: Node, _ inputs: [Tensor?], bytesPerElement: Int? = nil) throws {
        let types = inputs.map { $0.map { ReferenceOps.TypeInfo($0.dtype, $0.shape) } }
        guard let outputs = try? ReferenceOps.inferTypes(node, types, constants: inputs, opset: graph.opset) else { return }
        for (name, type) in zip(node.outputs, outputs) {
            guard let bytes = type.shape.checkedByteCount(elementSize: bytesPerElement ?? type.dtype.byteSize), bytes <= memoryLimit else {
                throw node.overMemoryLimit("output '\(name)' of shape \(type.shape.shapeString) needs more than the memory limit of \(memoryLimit) bytes")
            }
        }
    }

    func lower(_ node: Node, index: Int) throws {
        guard node.domain.isEmpty || node.domain == "com.microsoft" else { throw node.unsupported("op domain '\(node.domain)'") }
        let symbols = try node.inputs.map { $0.isEmpty ? nil : try symbol($0, of: node) }

        if node.domain == "com.microsoft" {
            try lowerContrib(node)
            return
        }
        // Shape and Size read only the shape, which the plan knows: constants.
        if node.opType == "Shape" || node.opType == "Size", let first = symbols.first ?? nil, let shape = knownShape(first) {
            let result = try ReferenceOps.evaluate(node, [Tensor(zeros: .uint8, shape: shape)], opset: graph.opset)
            for (name, t) in zip(node.outputs, result) { env[name] = .constant(t) }
            return
        }
        // Fold nodes whose inputs are all constants (shape arithmetic, weight transforms).
        if node.opType != "DequantizeLinear", ReferenceOps.supported.contains(node.opType),
           symbols.allSatisfy({ $0 == nil || Self.isConstant($0!) }) {
            try fold(node, symbols)
            return
        }
        if Lowering.chainTableOps.contains(node.opType), try lowerQDQChainTable(node, index: index, symbols) { return }
        switch node.opType {
        case "If":
            try inlineIf(node, index: index, symbols)
        case "DequantizeLinear":
            try lowerDequantize(node, symbols)
        case "QuantizeLinear":
            try lowerQuantize(node, symbols)
        case "Conv", "Gemm", "MatMul":
            if let x = fp8Activation(symbols.first ?? nil), try lowerFp8MatrixProduct(node, x: x, symbols) { return }
            if try lowerQDQMatrixProduct(node, index: index, symbols) { return }
            if try lowerQDQBatchedMatMul(node, symbols) { return }
            if try lowerFloatMatrixProduct(node) { return }
            if try lowerFloatBatchedMatMul(node) { return }
            try lowerReference(node)
        case "Add", "Mul":
            if try lowerFp8Add(node, symbols) { return }
            if try lowerQDQBinary(node, index: index, symbols) { return }
            if try lowerQDQScalarTable(node, index: index, symbols) { return }
            if try lowerQDQChannelTable(node, index: index, symbols) { return }
            if try lowerFloatBinary(node) { return }
            try lowerReference(node)
        case "AveragePool", "GlobalAveragePool", "MaxPool":
            if try lowerFp8GlobalAveragePool(node, symbols) { return }
            if try lowerQDQPool(node, index: index, symbols) { return }
            if try lowerFloatMaxPool(node) { return }
            if try lowerFloatGlobalPool(node) { return }
            try lowerReference(node)
        case "Concat":
            if try lowerQDQConcat(node, index: index, symbols) { return }
            if try lowerPlainConcat(node) { return }
            try lowerReference(node)
        case "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Relu", "Clip":
            if try lowerQDQTable(node, index: index, symbols) { return }
            if try lowerFloatClamp(node) { return }
            if try lowerFloatUnary(node) { return }
            try lowerReference(node)
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Resize", "Pad":
            if try lowerDataMovement(node, symbols) { return }
            if try lowerIndexedCopy(node) { return }
            if node.opType == "Resize", try lowerIntegerResize(node, symbols) { return }
            if node.opType == "Resize", try lowerFloatResize(node) { return }
            try lowerReference(node)
        case "Slice", "Split", "Gather", "Tile", "Expand", "SpaceToDepth", "DepthToSpace":
            // Data movement of a quantized value moves its integers (Gather of run-time indices too).
            let movable = try node.opType != "Gather" || constantInput(node, 1) != nil
            if movable, try lowerDataMovement(node, symbols) { return }
            if try lowerIndexedCopy(node) { return }
            if node.opType == "Gather", try lowerGather(node, symbols) { return }
            try lowerReference(node)
        case "QLinearConv", "QLinearMatMul":
            try lowerQLinearMatrixProduct(node)
        case "DynamicQuantizeLinear":
            if try lowerDynamicQuantize(node) { return }
            try lowerReference(node)
        case "LSTM":
            if try lowerFloatLSTM(node) { return }
            try lowerReference(node)
        case "ConvInteger":
            if try lowerIntegerConv(node) { return }
            try lowerReference(node)
        case "MatMulInteger":
            if try lowerIntegerMatMul(node) { return }
            try lowerReference(node)
        case "Softmax":
            if try lowerQDQSoftmax(node, index: index, symbols) { return }
            if try lowerFloatSoftmax(node) { return }
            try lowerReference(node)
        case "LayerNormalization":
            if try lowerQDQLayerNorm(node, index: index, symbols) { return }
            if try lowerFloatLayerNorm(node) { return }
            try lowerReference(node)
        case "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin":
            if try lowerFloatReduce(node) { return }
            try lowerReference(node)
        case "BatchNormalization":
            if try lowerQDQChannelTable(node, index: index, symbols) { return }
            try lowerReference(node)
        case "ConvTranspose":
            if try lowerQDQConvTranspose(node, index: index, symbols) { return }
            if try lowerFloatConvTranspose(node) { return }
            try lowerReference(node)
        case "Sub", "Div", "Max", "Min", "PRelu", "Pow":
            if try lowerQDQScalarTable(node, index: index, symbols) { return }
            if try lowerQDQChannelTable(node, index: index, symbols) { return }
            if try lowerFloatBinary(node) { return }
            try lowerReference(node)
        case "Sqrt", "Exp", "Neg", "Abs", "Reciprocal", "Erf", "Floor", "Ceil", "Log":
            if try lowerQDQScalarTable(node, index: index, symbols) { return }
            if try lowerFloatUnary(node) { return }
            try lowerReference(node)
        case "Elu", "Selu", "Celu", "Gelu", "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Round", "Sign", "Sin", "Cos":
            if try lowerQDQScalarTable(node, index: index, symbols) { return }
            try lowerReference(node)
        default:
            guard ReferenceOps.supported.contains(node.opType) else { throw node.unsupported("op") }
            try lowerReference(node)
        }
    }

    /// An If whose condition is known at load becomes its chosen branch: the branch's
    /// nodes are spliced in after the If (they read outer-scope values by name), its
    /// constants join the environment, and Identity nodes give its outputs the If's names.
    func inlineIf(_ node: Node, index: Int, _ symbols: [Symbol?]) throws {
        try node.checkAttributes(known: ["then_branch", "else_branch"])
        guard let first = symbols.first ?? nil, let condition = try foldedConstant(first, node) else {
            try lowerRuntimeIf(node)
            return
        }
        guard condition.count == 1, condition.dtype == .bool else { throw node.invalid("the condition must be one bool") }
        let key = condition.bytes[0] != 0 ? "then_branch" : "else_branch"
        guard case .graph(let branch)? = node.attributes[key] else { throw node.invalid("\(key) is missing") }
        guard branch.outputs.count == node.outputs.count else {
            throw node.invalid("\(key) has \(branch.outputs.count) outputs, the If \(node.outputs.count)")
        }
        for (name, t) in branch.initializers { env[name] = .constant(t) }
        var spliced = branch.nodes.map { inner -> Node in
            var n = inner
            n.name = "\(node.name)/\(key)/\(inner.name)"
            return n
        }
        for (inner, outer) in zip(branch.outputs, node.outputs) where !outer.isEmpty {
            spliced.append(Node(name: "\(node.name)/\(key)/output", opType: "Identity", inputs: [inner.name], outputs: [outer]))
        }
        nodes.insert(contentsOf: spliced, at: index + 1)
        absorbed = Set(absorbed.map { $0 > index ? $0 + spliced.count : $0 })
        indexConsumers()
    }

    /// An If whose condition is known only at run time: both branches planned as graphs
    /// of their own over the outer values they read (IfLayer).
    func lowerRuntimeIf(_ node: Node) throws {
        let cond = try nchw(try materialize(node.inputs[0], as: nil, context: node.label), key: node.inputs[0])
        guard values[cond].dtype == .bool, values[cond].count == 1 else { throw node.invalid("the condition must be one bool") }
        var outer: [String: Int] = [:]
        func branch(_ key: String) throws -> IfLayer.Branch {
            guard case .graph(let g)? = node.attributes[key] else { throw node.invalid("\(key) is missing") }
            guard g.outputs.count == node.outputs.count else {
                throw node.invalid("\(key) has \(g.outputs.count) outputs, the If \(node.outputs.count)")
            }
            let local = Set(g.nodes.flatMap(\.outputs)).union(g.initializers.keys)
            let reads = g.nodes.reduce(into: Set<String>()) { $0.formUnion(GraphRewrites.reads($1)) }.subtracting(local)
                .union(g.outputs.map(\.name).filter { !local.contains($0) }).sorted()
            var inputs: [ValueInfo] = [], shapes: [String: [Int]] = [:]
            for name in reads {
                let v = try outer[name] ?? nchw(try materialize(name, as: nil, context: "\(node.label) \(key)"), key: name)
                outer[name] = v
                inputs.append(ValueInfo(name: name, dtype: values[v].dtype, shape: values[v].shape))
                shapes[name] = values[v].shape
            }
            let sub = Graph(name: "\(node.name)/\(key)", nodes: g.nodes, inputs: inputs, outputs: g.outputs,
                            initializers: g.initializers, opset: graph.opset)
            let plan: Plan
            do {
                plan = try Lowering.plan(graph: sub, inputShapes: shapes, numerics: numerics, observable: observable,
                                         memoryLimit: memoryLimit)
            } catch let error as DyadicError {
                throw DyadicError("\(node.label) \(key): \(error.message)")
            }
            return IfLayer.Branch(name: key, plan: plan, feeds: plan.inputs.map { ($0.value, outer[$0.name]!) })
        }
        let thenBranch = try branch("then_branch"), elseBranch = try branch("else_branch")
        var outs: [Int] = []
        for (i, name) in node.outputs.enumerated() {
            let a = thenBranch.plan.values[thenBranch.plan.outputs[i].value], b = elseBranch.plan.values[elseBranch.plan.outputs[i].value]
            guard a.dtype == b.dtype, a.shape == b.shape else {
                throw node.unsupported("branches whose output \(i) differs (\(a.typeString) and \(b.typeString)) with a condition computed at run time")
            }
            let v = try addValue(name, a.dtype, a.shape)
            env[name] = .value(v)
            outs.append(v)
        }
        let feeds = Array(Set(thenBranch.feeds.map(\.outer) + elseBranch.feeds.map(\.outer))).sorted()
        layers.append(IfLayer(source: node.name, label: node.label, condition: cond, outerValues: feeds, outputs: outs,
                              then: thenBranch, else: elseBranch))
    }

    /// Runs `node` on the reference path; integer outputs stay integer values.
    /// Ops that only relabel the shape of a (row-major) tensor.
    static let shapeOnlyOps: Set<String> = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"]

    func lowerReference(_ node: Node, opset: Int? = nil) throws {
        let opset = opset ?? graph.opset
        var slots: [Int?] = []
        var types: [ReferenceOps.TypeInfo?] = []
        var constants: [Tensor?] = []
        for name in node.inputs {
            if name.isEmpty { slots.append(nil); types.append(nil); constants.append(nil); continue }
            let v = try nchw(try materialize(name, as: nil, context: node.label), key: name)
            slots.append(v)
            types.append(ReferenceOps.TypeInfo(values[v].dtype, values[v].shape))
            constants.append(values[v].constant)
        }
        let outTypes = try ReferenceOps.inferTypes(node, types, constants: constants, opset: opset)
        let outputs = try zip(node.outputs, outTypes).map { try addValue($0.0, $0.1.dtype, $0.1.shape) }
        for (name, v) in zip(node.outputs, outputs) { env[name] = .value(v) }
        if Lowering.shapeOnlyOps.contains(node.opType), let x = slots.first ?? nil, outputs.count == 1,
           values[x].constant == nil, values[x].dtype == values[outputs[0]].dtype, values[x].count == values[outputs[0]].count {
            layers.append(CopyLayer(op: node.opType, source: [node.name], input: x, output: outputs[0], byteCount: values[x].byteCount))
            return
        }
        let floatFree = types.allSatisfy { $0 == nil || $0!.dtype != .float32 } && outTypes.allSatisfy { $0.dtype != .float32 }
        layers.append(ReferenceLayer(node: node, opset: opset, inputSlots: slots, outputs: outputs, isIntegerOnly: floatFree))
    }
}
