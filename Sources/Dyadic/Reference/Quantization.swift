import DyadicKernels

/// QuantizeLinear / DequantizeLinear reference (per-tensor, per-axis and blocked; 8- and
/// 4-bit integers and FP8 E4M3FN), the only float↔integer conversions of a quantized graph.
public enum Quantization {
    /// Per-element index into the scale (and zero-point) tensor: nil for per-tensor;
    /// per-axis (a 1-D tensor along `axis`); or blocked (opset 21: the same rank as x,
    /// with dimension `axis` cut into blocks of `block_size`).
    static func paramIndex(_ node: Node, shape: [Int], paramShape: [Int]) throws -> ((Int) -> Int)? {
        let count = paramShape.reduce(1, *)
        let block = try node.int("block_size", default: 0)
        var axis = try node.int("axis", default: 1)
        if axis < 0 { axis += shape.count }
        if block == 0 {
            if count == 1 { return nil }
            guard axis >= 0 && axis < shape.count, shape[axis] == count, paramShape.count == 1 else {
                throw node.invalid("scales of shape \(paramShape.shapeString) do not match axis \(axis) of shape \(shape.shapeString)")
            }
            let inner = shape[(axis + 1)...].reduce(1, *), n = shape[axis]
            return { ($0 / inner) % n }
        }
        guard block > 0, axis >= 0 && axis < shape.count, paramShape.count == shape.count,
              paramShape[axis] == (shape[axis] + block - 1) / block,
              zip(shape, paramShape).enumerated().allSatisfy({ $0.offset == axis || $0.element.0 == $0.element.1 }) else {
            throw node.invalid("blocked scales of shape \(paramShape.shapeString) do not match shape \(shape.shapeString), axis \(axis), block size \(block)")
        }
        func strides(_ dims: [Int]) -> [Int] {
            var out = [Int](repeating: 1, count: dims.count)
            for d in dims.indices.dropLast().reversed() { out[d] = out[d + 1] * dims[d + 1] }
            return out
        }
        let xStrides = strides(shape), pStrides = strides(paramShape), rank = shape.count
        return { i in
            var rest = i, index = 0
            for d in 0..<rank {
                let coordinate = rest / xStrides[d]
                rest -= coordinate * xStrides[d]
                index += (d == axis ? coordinate / block : coordinate) * pStrides[d]
            }
            return index
        }
    }

    /// The output type of QuantizeLinear: its zero point's, else `output_dtype` (opset 21), else uint8.
    static func outputType(_ node: Node, zeroPoint: Tensor?) throws -> DType {
        if let zp = zeroPoint { return zp.dtype }
        switch try node.int("output_dtype", default: 0) {
        case 0, 2: return .uint8
        case 3: return .int8
        case 17: return .float8e4m3fn
        case 21: return .uint4
        case 22: return .int4
        case 25: return .uint2
        case 26: return .int2
        case let code: throw node.unsupported("output_dtype \(code)")
        }
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
        let dtype = try outputType(node, zeroPoint: zp)
        let scales = scale.floats
        guard !scales.isEmpty else { throw node.invalid("an empty scale") }
        let index = try paramIndex(node, shape: x.shape, paramShape: scale.shape)
        let v = x.floats
        var out = [UInt8](repeating: 0, count: v.count)
        if dtype == .float8e4m3fn {
            guard zp?.bytes.allSatisfy({ $0 == 0 }) ?? true else { throw node.unsupported("a non-zero FP8 zero point") }
            let saturate: Int32 = try node.int("saturate", default: 1) != 0 ? 1 : 0
            for i in 0..<v.count { out[i] = dyd_fp8_e4m3_from_f32(v[i] / scales[index?(i) ?? 0], saturate) }
            return Tensor(dtype: dtype, shape: x.shape, bytes: out)
        }
        guard dtype.isQuantized8Bit || dtype.isSubByteInteger else { throw node.unsupported("output element type \(dtype)") }
        let zps = zp?.int32Values ?? [0]
        guard zps.count == 1 || zps.count == scales.count else { throw node.invalid("scale and zero point sizes differ") }
        let range = dtype.integerRange
        for i in 0..<v.count {
            let c = index?(i) ?? 0
            let q = quantize(v[i], scale: scales[c], zeroPoint: zps.count == 1 ? zps[0] : zps[c], range: range)
            out[i] = UInt8(truncatingIfNeeded: q)
        }
        return Tensor(dtype: dtype, shape: x.shape, bytes: out)
    }

    /// DynamicQuantizeLinear: uint8 with a scale and zero point from the tensor's own
    /// range widened to include 0, as ONNX Runtime computes them (float32 arithmetic).
    static func dynamicQuantizeLinear(_ node: Node, _ x: Tensor) throws -> [Tensor] {
        try node.checkAttributes(known: [])
        guard x.dtype == .float32 else { throw node.unsupported("input element type \(x.dtype)") }
        let v = x.floats
        let lo = v.min() ?? 0, hi = v.max() ?? 0
        guard lo.isFinite, hi.isFinite, !v.contains(where: \.isNaN) else { throw node.invalid("the input holds a non-finite value") }
        let (scale, zp) = dynamicParameters(lo: lo, hi: hi)
        let q = v.map { UInt8(quantize($0, scale: scale, zeroPoint: Int32(zp), range: 0...255)) }
        return [Tensor(dtype: .uint8, shape: x.shape, bytes: q), Tensor([scale], shape: []), Tensor(dtype: .uint8, shape: [], bytes: [zp])]
    }

    /// DynamicQuantizeLinear's scale and zero point for finite values in [lo, hi]:
    /// scale = (max(hi, 0) − min(lo, 0))/255, or 1 when that range is empty (ONNX
    /// Runtime's choice; the formula would divide by 0), zero point =
    /// round_half_even(clamp(−min(lo, 0)/scale, 0, 255)).
    static func dynamicParameters(lo: Float, hi: Float) -> (scale: Float, zeroPoint: UInt8) {
        let lo = min(lo, 0), hi = max(hi, 0)
        let scale: Float = hi == lo ? 1 : (hi - lo) / 255
        return (scale, UInt8(min(max(0 - lo / scale, 0), 255).rounded(.toNearestOrEven)))
    }

    static func dequantizeLinear(_ node: Node, _ x: Tensor, _ scale: Tensor, _ zp: Tensor?) throws -> Tensor {
        try node.checkAttributes(known: ["axis", "block_size", "output_dtype"])
        let scales = scale.floats
        guard !scales.isEmpty else { throw node.invalid("an empty scale") }
        let index = try paramIndex(node, shape: x.shape, paramShape: scale.shape)
        var out = [Float](repeating: 0, count: x.count)
        if x.dtype == .float8e4m3fn {
            guard zp?.bytes.allSatisfy({ $0 == 0 }) ?? true else { throw node.unsupported("a non-zero FP8 zero point") }
            for i in 0..<out.count { out[i] = dyd_fp8_e4m3_to_f32(x.bytes[i]) * scales[index?(i) ?? 0] }
            return Tensor(out, shape: x.shape)
        }
        guard x.dtype.isQuantized8Bit || x.dtype.isSubByteInteger || x.dtype == .int32 else {
            throw node.unsupported("input element type \(x.dtype)")
        }
        let zps = zp?.int32Values ?? [0]
        guard zps.count == 1 || zps.count == scales.count else { throw node.invalid("scale and zero point sizes differ") }
        let v = x.int32Values
        for i in 0..<v.count {
            let c = index?(i) ?? 0
            out[i] = Float(Int64(v[i]) - Int64(zps.count == 1 ? zps[0] : zps[c])) * scales[c]
        }
        return Tensor(out, shape: x.shape)
    }
}
