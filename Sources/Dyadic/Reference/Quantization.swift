/// QuantizeLinear / DequantizeLinear reference (per-tensor and per-axis), the only
/// float↔integer conversions of a quantized graph.
public enum Quantization {
    /// Per-element index into per-axis parameters, or nil for per-tensor.
    static func axisIndex(_ node: Node, shape: [Int], paramCount: Int) throws -> ((Int) -> Int)? {
        if paramCount == 1 { return nil }
        if try node.int("block_size", default: 0) != 0 { throw node.unsupported("blocked quantization") }
        var axis = try node.int("axis", default: 1)
        if axis < 0 { axis += shape.count }
        guard axis >= 0 && axis < shape.count, shape[axis] == paramCount else {
            throw node.invalid("\(paramCount) scales do not match axis \(axis) of shape \(shape.shapeString)")
        }
        let inner = shape[(axis + 1)...].reduce(1, *), n = shape[axis]
        return { ($0 / inner) % n }
    }

    /// y = saturate(round_half_even(x / scale) + zero_point); NaN gives the type's
    /// minimum, as ONNX Runtime's kernels do.
    @inlinable
    public static func quantize(_ x: Float, scale: Float, zeroPoint: Int32, range: ClosedRange<Int32>) -> Int32 {
        let v = (x / scale).rounded(.toNearestOrEven) + Float(zeroPoint)
        if v.isNaN { return range.lowerBound }
        return Int32(min(max(v, Float(range.lowerBound)), Float(range.upperBound)))
    }

    static func quantizeLinear(_ node: Node, _ x: Tensor, _ scale: Tensor, _ zp: Tensor?) throws -> Tensor {
        try node.checkAttributes(known: ["axis", "saturate", "block_size", "output_dtype", "precision"])
        guard x.dtype == .float32 else { throw node.unsupported("input element type \(x.dtype)") }
        let dtype: DType = zp?.dtype ?? .uint8
        guard dtype.isQuantized8Bit else { throw node.unsupported("output element type \(dtype)") }
        let scales = scale.floats, zps = zp?.int32Values ?? [0]
        guard scales.count == max(zps.count, 1) || zps.count == 1 else { throw node.invalid("scale and zero point sizes differ") }
        let index = try axisIndex(node, shape: x.shape, paramCount: scales.count)
        let v = x.floats
        let range = dtype.integerRange
        var out = [UInt8](repeating: 0, count: v.count)
        for i in 0..<v.count {
            let c = index?(i) ?? 0
            let q = quantize(v[i], scale: scales[c], zeroPoint: zps.count == 1 ? zps[0] : zps[c], range: range)
            out[i] = UInt8(truncatingIfNeeded: q)
        }
        return Tensor(dtype: dtype, shape: x.shape, bytes: out)
    }

    static func dequantizeLinear(_ node: Node, _ x: Tensor, _ scale: Tensor, _ zp: Tensor?) throws -> Tensor {
        try node.checkAttributes(known: ["axis", "block_size", "output_dtype"])
        guard x.dtype.isQuantized8Bit || x.dtype == .int32 else { throw node.unsupported("input element type \(x.dtype)") }
        let scales = scale.floats, zps = zp?.int32Values ?? [0]
        let index = try axisIndex(node, shape: x.shape, paramCount: scales.count)
        let v = x.int32Values
        var out = [Float](repeating: 0, count: v.count)
        for i in 0..<v.count {
            let c = index?(i) ?? 0
            out[i] = Float(v[i] - (zps.count == 1 ? zps[0] : zps[c])) * scales[c]
        }
        return Tensor(out, shape: x.shape)
    }
}
