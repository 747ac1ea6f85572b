import Dyadic
import Foundation
import SwiftProtobuf

/// Reads an ONNX model (protobuf) into a Dyadic `Graph`.
///
/// Everything that can be wrong with the file is diagnosed here, with the tensor or
/// node named: undecodable bytes, missing graph, unsupported element types, tensors
/// whose declared size does not match their data, external data.
public enum ONNXImporter {
    /// Opsets of the default domain this importer accepts.
    public static let supportedOpsets = 1...25

    public static func load(path: String) throws -> Graph {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DyadicError("\(path): cannot read the file")
        }
        return try load(data: data, source: path)
    }

    /// Every error is `.unsupported` (an opset, element type or attribute type this
    /// importer does not read) or `.invalidModel`: the bytes are the model.
    public static func load(data: Data, source: String = "model") throws -> Graph {
        do {
            return try decode(data: data, source: source)
        } catch let error as DyadicError where error.kind == .other {
            throw DyadicError(error.message, kind: .invalidModel)
        }
    }

    private static func decode(data: Data, source: String) throws -> Graph {
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw DyadicError("\(source): not a valid ONNX model (protobuf decoding failed: \(error))")
        }
        guard model.hasGraph, !model.graph.node.isEmpty || !model.graph.output.isEmpty else {
            throw DyadicError("\(source): not a valid ONNX model (no graph)")
        }
        var opset = 0
        for entry in model.opsetImport where entry.domain.isEmpty || entry.domain == "ai.onnx" {
            opset = Int(entry.version)
        }
        if model.opsetImport.isEmpty { opset = 1 }
        guard supportedOpsets.contains(opset) else {
            throw DyadicError("\(source): ONNX opset \(opset) is not supported (supported: \(supportedOpsets.lowerBound)...\(supportedOpsets.upperBound))", kind: .unsupported(node: nil, op: nil))
        }
        return try convert(graph: model.graph, opset: opset, source: source)
    }

    static func convert(graph proto: Onnx_GraphProto, opset: Int, source: String, subgraph: Bool = false) throws -> Graph {
        var initializers: [String: Tensor] = [:]
        for tensor in proto.initializer {
            guard initializers[tensor.name] == nil else { throw DyadicError("\(source): initializer '\(tensor.name)' is defined twice") }
            initializers[tensor.name] = try convert(tensor: tensor, context: "\(source): initializer '\(tensor.name)'")
        }
        // Every value has one definition (ONNX graphs are in SSA form): a second one would
        // silently shadow the first, or close a cycle through it.
        var definedBy: [String: String] = [:]
        for input in proto.input where initializers[input.name] == nil {
            guard definedBy[input.name] == nil else { throw DyadicError("\(source): graph input '\(input.name)' is declared twice") }
            definedBy[input.name] = "a graph input"
        }
        for name in initializers.keys where definedBy[name] == nil { definedBy[name] = "an initializer" }
        if !proto.sparseInitializer.isEmpty {
            throw DyadicError("\(source): sparse initializers are not supported")
        }
        var nodes: [Node] = []
        for (index, nodeProto) in proto.node.enumerated() {
            let label = nodeProto.name.isEmpty ? "\(nodeProto.opType) node #\(index)" : "\(nodeProto.opType) '\(nodeProto.name)'"
            var attributes: [String: Attribute] = [:]
            for attribute in nodeProto.attribute {
                guard attributes[attribute.name] == nil else { throw DyadicError("\(source): \(label): attribute '\(attribute.name)' is given twice") }
                attributes[attribute.name] = try convert(attribute: attribute, context: "\(source): \(label)", opset: opset)
            }
            for output in nodeProto.output where !output.isEmpty {
                if let other = definedBy[output] { throw DyadicError("\(source): \(label): output '\(output)' is already defined by \(other)") }
                definedBy[output] = label
            }
            let node = Node(name: nodeProto.name.isEmpty ? "\(nodeProto.opType)_\(index)" : nodeProto.name,
                            opType: nodeProto.opType,
                            domain: nodeProto.domain == "ai.onnx" ? "" : nodeProto.domain,
                            inputs: nodeProto.input, outputs: nodeProto.output, attributes: attributes)
            // Constant nodes become initializers: the lowering only ever sees constants as tensors.
            if node.opType == "Constant" && node.domain.isEmpty {
                initializers[node.outputs.first ?? ""] = try constantValue(node)
                continue
            }
            nodes.append(node)
        }
        let inputs = try proto.input
            .filter { initializers[$0.name] == nil }
            .map { try convert(valueInfo: $0, context: "\(source): graph input", untypedAllowed: subgraph) }
        let outputs = try proto.output.map { try convert(valueInfo: $0, context: "\(source): graph output", untypedAllowed: subgraph) }
        guard !outputs.isEmpty else { throw DyadicError("\(source): the graph has no outputs") }
        return Graph(name: proto.name, nodes: nodes, inputs: inputs, outputs: outputs,
                     initializers: initializers, opset: opset)
    }

    static func constantValue(_ node: Node) throws -> Tensor {
        guard let (_, value) = node.attributes.first, node.attributes.count == 1 else {
            throw node.invalid("needs exactly one value attribute")
        }
        switch value {
        case .tensor(let t): return t
        case .float(let v): return Tensor([v], shape: [])
        case .floats(let v): return Tensor(v, shape: [v.count])
        case .int(let v): return Tensor([v], shape: [])
        case .ints(let v): return Tensor(v, shape: [v.count])
        default: throw node.unsupported("this kind of constant value")
        }
    }

    /// A subgraph's inputs and outputs may leave their types to inference: they then
    /// read as float32 of unknown shape (the lowering takes types from the values).
    static func convert(valueInfo: Onnx_ValueInfoProto, context: String, untypedAllowed: Bool = false) throws -> ValueInfo {
        if untypedAllowed && !valueInfo.type.tensorType.hasElemType && valueInfo.type.value == nil {
            return ValueInfo(name: valueInfo.name, dtype: .float32, shape: [])
        }
        guard valueInfo.type.tensorType.hasElemType else {
            throw DyadicError("\(context) '\(valueInfo.name)': only tensor values are supported")
        }
        let dtype = try dtype(code: valueInfo.type.tensorType.elemType, context: "\(context) '\(valueInfo.name)'")
        let dims: [Int?] = valueInfo.type.tensorType.shape.dim.map { dim in
            if case .dimValue(let v)? = dim.value, v >= 0 { return Int(v) }
            return nil
        }
        return ValueInfo(name: valueInfo.name, dtype: dtype, shape: dims)
    }

    static func dtype(code: Int32, context: String) throws -> DType {
        switch code {
        case 1: return .float32
        case 2: return .uint8
        case 3: return .int8
        case 6: return .int32
        case 7: return .int64
        case 9: return .bool
        case 17: return .float8e4m3fn
        case 21: return .uint4
        case 22: return .int4
        case 25: return .uint2
        case 26: return .int2
        default:
            let name = Onnx_TensorProto.DataType(rawValue: Int(code)).map { "\($0)".uppercased() } ?? "code \(code)"
            throw DyadicError("\(context): element type \(name) is not supported", kind: .unsupported(node: nil, op: nil))
        }
    }

    /// Largest tensor Dyadic accepts from a file (4 GiB): larger declared sizes are corrupt or hostile.
    static let maximumTensorBytes = 1 << 32

    static func convert(tensor proto: Onnx_TensorProto, context: String) throws -> Tensor {
        if proto.dataLocation == .external || !proto.externalData.isEmpty {
            throw DyadicError("\(context): external tensor data is not supported", kind: .unsupported(node: nil, op: nil))
        }
        let dtype = try dtype(code: proto.dataType, context: context)
        var count = 1
        for dim in proto.dims {
            guard dim >= 0 else { throw DyadicError("\(context): negative dimension \(dim)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow, product <= maximumTensorBytes / dtype.byteSize else {
                throw DyadicError("\(context): declared shape \(proto.dims) is impossibly large")
            }
            count = product
        }
        let shape = proto.dims.map { Int($0) }
        // 4-bit (2-bit) values come two (four) per byte, the first in the lowest bits.
        let perByte = 8 / (dtype.packedBits ?? 8)
        let expectedBytes = dtype.isSubByteInteger ? (count + perByte - 1) / perByte : count * dtype.byteSize
        if !proto.rawData.isEmpty || count == 0 {
            guard proto.rawData.count == expectedBytes else {
                throw DyadicError("\(context): shape \(shape.shapeString) needs \(expectedBytes) bytes of data but the file holds \(proto.rawData.count)")
            }
            if dtype.isSubByteInteger { return unpackSubByte([UInt8](proto.rawData), count: count, dtype: dtype, shape: shape) }
            return Tensor(dtype: dtype, shape: shape, bytes: [UInt8](proto.rawData))
        }
        func checkCount(_ n: Int) throws {
            guard n == count else {
                throw DyadicError("\(context): shape \(shape.shapeString) needs \(count) values but the file holds \(n)")
            }
        }
        switch dtype {
        case .float32:
            try checkCount(proto.floatData.count)
            return Tensor(proto.floatData, shape: shape)
        case .int64:
            try checkCount(proto.int64Data.count)
            return Tensor(proto.int64Data, shape: shape)
        case .int32:
            try checkCount(proto.int32Data.count)
            return Tensor(proto.int32Data, shape: shape)
        case .uint8, .bool:
            try checkCount(proto.int32Data.count)
            return Tensor(dtype: dtype, shape: shape, bytes: proto.int32Data.map { UInt8(truncatingIfNeeded: $0) })
        case .int8:
            try checkCount(proto.int32Data.count)
            return Tensor(proto.int32Data.map { Int8(truncatingIfNeeded: $0) }, shape: shape)
        case .float8e4m3fn:
            try checkCount(proto.int32Data.count)
            return Tensor(dtype: dtype, shape: shape, bytes: proto.int32Data.map { UInt8(truncatingIfNeeded: $0) })
        case .int4, .uint4, .int2, .uint2:
            // int32_data holds the packed bytes, one per element of the field.
            guard proto.int32Data.count == expectedBytes else {
                throw DyadicError("\(context): shape \(shape.shapeString) needs \(expectedBytes) packed bytes but the file holds \(proto.int32Data.count)")
            }
            return unpackSubByte(proto.int32Data.map { UInt8(truncatingIfNeeded: $0) }, count: count, dtype: dtype, shape: shape)
        }
    }

    /// One value per byte from ONNX's packing of 4-bit (2-bit) values two (four) per
    /// byte, first element in the lowest bits; signed types are sign-extended.
    static func unpackSubByte(_ packed: [UInt8], count: Int, dtype: DType, shape: [Int]) -> Tensor {
        let bits = dtype.packedBits ?? 8
        let perByte = 8 / bits
        let mask = UInt8((1 << bits) - 1)
        let signBit = UInt8(1 << (bits - 1))
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            let field = (packed[i / perByte] >> ((i % perByte) * bits)) & mask
            out[i] = dtype.isSigned && field & signBit != 0 ? field | ~mask : field
        }
        return Tensor(dtype: dtype, shape: shape, bytes: out)
    }

    static func convert(attribute proto: Onnx_AttributeProto, context: String, opset: Int) throws -> Attribute {
        switch proto.type {
        case .int: return .int(proto.i)
        case .float: return .float(proto.f)
        case .string: return .string(String(decoding: proto.s, as: UTF8.self))
        case .ints: return .ints(proto.ints)
        case .floats: return .floats(proto.floats)
        case .strings: return .strings(proto.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensor: return .tensor(try convert(tensor: proto.t, context: "\(context): attribute '\(proto.name)'"))
        case .graph: return .graph(try convert(graph: proto.g, opset: opset, source: "\(context): attribute '\(proto.name)'", subgraph: true))
        default:
            throw DyadicError("\(context): attribute '\(proto.name)' of type \(proto.type) is not supported", kind: .unsupported(node: nil, op: nil))
        }
    }
}
