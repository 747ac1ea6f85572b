import Dyadic
import Foundation
import SwiftProtobuf

/// Writes a `Graph` as an ONNX model: the inverse of `ONNXImporter` for everything the
/// importer keeps (nodes, initializers, graph inputs and outputs, the default-domain opset).
public enum ONNXExporter {
    /// The serialized model. Sub-byte integers are packed as ONNX stores them.
    public static func data(_ graph: Graph, producer: String = "dyadic") throws -> Data {
        var model = Onnx_ModelProto()
        model.irVersion = irVersion(opset: graph.opset)
        model.producerName = producer
        var imports = [Onnx_OperatorSetIdProto()]
        imports[0].domain = ""
        imports[0].version = Int64(graph.opset)
        for domain in Set(graph.nodes.map(\.domain)).subtracting([""]).sorted() {
            var entry = Onnx_OperatorSetIdProto()
            entry.domain = domain
            entry.version = 1
            imports.append(entry)
        }
        model.opsetImport = imports
        model.graph = graphProto(graph)
        return try model.serializedData()
    }

    static func graphProto(_ graph: Graph) -> Onnx_GraphProto {
        var g = Onnx_GraphProto()
        g.name = graph.name
        g.node = graph.nodes.map(node)
        g.initializer = graph.initializers.keys.sorted().map { tensor(graph.initializers[$0]!, name: $0) }
        g.input = graph.inputs.map(valueInfo)
        g.output = graph.outputs.map(valueInfo)
        return g
    }

    /// Writes the model whole or not at all; only a regular file at `path` is replaced.
    public static func write(_ graph: Graph, to path: String, producer: String = "dyadic") throws {
        try OutputFile.write(try data(graph, producer: producer), to: path)
    }

    /// The oldest IR version that carries the opset (FLOAT8 needs 9, INT4 10, INT2 11).
    static func irVersion(opset: Int) -> Int64 {
        switch opset {
        case 25...: 11
        case 21...: 10
        case 19...: 9
        case 15...: 8
        default: 7
        }
    }

    static func node(_ n: Node) -> Onnx_NodeProto {
        var p = Onnx_NodeProto()
        p.name = n.name
        p.opType = n.opType
        p.domain = n.domain
        p.input = n.inputs
        p.output = n.outputs
        p.attribute = n.attributes.keys.sorted().map { attribute(n.attributes[$0]!, name: $0) }
        return p
    }

    static func attribute(_ a: Attribute, name: String) -> Onnx_AttributeProto {
        var p = Onnx_AttributeProto()
        p.name = name
        switch a {
        case .int(let v): p.type = .int; p.i = v
        case .float(let v): p.type = .float; p.f = v
        case .string(let v): p.type = .string; p.s = Data(v.utf8)
        case .ints(let v): p.type = .ints; p.ints = v
        case .floats(let v): p.type = .floats; p.floats = v
        case .strings(let v): p.type = .strings; p.strings = v.map { Data($0.utf8) }
        case .tensor(let t): p.type = .tensor; p.t = tensor(t, name: "")
        case .graph(let g): p.type = .graph; p.g = graphProto(g)
        }
        return p
    }

    static func code(_ dtype: DType) -> Int32 {
        switch dtype {
        case .float32: 1
        case .uint8: 2
        case .int8: 3
        case .int32: 6
        case .int64: 7
        case .bool: 9
        case .float8e4m3fn: 17
        case .uint4: 21
        case .int4: 22
        case .uint2: 25
        case .int2: 26
        }
    }

    static func tensor(_ t: Tensor, name: String) -> Onnx_TensorProto {
        var p = Onnx_TensorProto()
        p.name = name
        p.dataType = code(t.dtype)
        p.dims = t.shape.map { Int64($0) }
        p.rawData = Data(t.dtype.isSubByteInteger ? packSubByte(t) : t.bytes)
        return p
    }

    /// Two (four) values per byte, the first in the lowest bits; the inverse of
    /// `ONNXImporter.unpackSubByte`.
    static func packSubByte(_ t: Tensor) -> [UInt8] {
        let bits = t.dtype.packedBits ?? 8, perByte = 8 / bits
        let mask = UInt8((1 << bits) - 1)
        var out = [UInt8](repeating: 0, count: (t.count + perByte - 1) / perByte)
        for (i, v) in t.bytes.enumerated() { out[i / perByte] |= (v & mask) << ((i % perByte) * bits) }
        return out
    }

    static func valueInfo(_ v: ValueInfo) -> Onnx_ValueInfoProto {
        var p = Onnx_ValueInfoProto()
        p.name = v.name
        var type = Onnx_TypeProto.Tensor()
        type.elemType = code(v.dtype)
        var shape = Onnx_TensorShapeProto()
        shape.dim = v.shape.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = Int64(d) } else { dim.dimParam = "N" }
            return dim
        }
        type.shape = shape
        p.type.tensorType = type
        return p
    }
}
