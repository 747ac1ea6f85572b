import Dyadic
import DyadicKernels
import Foundation

/// The quantized model's activations against the float model's, tensor by tensor, on
/// calibration samples: where accuracy goes.
public struct LayerAccuracy: Sendable {
    public var tensor: String
    /// The node that produces the tensor in the float model.
    public var node: String
    public var sqnr: Double
    public var cosine: Double
    /// Output SQNR and cosine of the whole model (the graph outputs).
    public static let modelOutput = "model output"

    /// Runs both models on `samples`; the quantized one with Dyadic's integer plan. Rows are
    /// sorted worst SQNR first; the model output row is included.
    public static func compare(float: Graph, quantized: Graph, samples: [Tensor], inputName: String) throws -> [LayerAccuracy] {
        var producer: [String: String] = [:]
        for node in float.nodes { for out in node.outputs { producer[out] = node.name } }
        var signal: [String: Double] = [:], noise: [String: Double] = [:], dot: [String: Double] = [:], qq: [String: Double] = [:]
        func add(_ key: String, _ a: [Float], _ b: [Float]) {
            var s = 0.0, n = 0.0, d = 0.0, q = 0.0
            for (x, y) in zip(a, b) {
                let (x, y) = (Double(x), Double(y))
                s += x * x; n += (x - y) * (x - y); d += x * y; q += y * y
            }
            signal[key, default: 0] += s; noise[key, default: 0] += n; dot[key, default: 0] += d; qq[key, default: 0] += q
        }
        var floatRun = try ObservedRun(graph: float, inputName: inputName)
        var quantRun = try ObservedRun(graph: quantized, inputName: inputName)
        for sample in samples {
            var floatValues: [String: [Float]] = [:], quantValues: [String: [Float]] = [:]
            let want = try floatRun.run(sample) { value, context in
                let v = context.plan.values[value]
                guard v.dtype == .float32, producer[v.name] != nil, floatValues[v.name] == nil else { return }
                floatValues[v.name] = realNCHW(context.tensor(value), v)
            }
            let got = try quantRun.run(sample) { value, context in
                let v = context.plan.values[value]
                guard v.quant != nil, v.constant == nil, v.name.hasSuffix("_quantized"), quantValues[v.name] == nil else { return }
                quantValues[v.name] = realNCHW(context.tensor(value), v)
            }
            for (name, q) in quantValues {
                let base = String(name.dropLast("_quantized".count))
                guard let f = floatValues[base] ?? floatValues[base + "_float"], f.count == q.count else { continue }
                add(base, f, q)
            }
            for (name, w) in want { if let g = got[name] { add(modelOutput, w.floats, g.floats) } }
        }
        return signal.keys.map { key in
            let s = signal[key]!, n = noise[key]!, d = dot[key]!, q = qq[key]!
            return LayerAccuracy(tensor: key, node: key == modelOutput ? "" : producer[key] ?? producer[key + "_float"] ?? "",
                                 sqnr: n > 0 ? 10 * log10(s / n) : .infinity,
                                 cosine: s > 0 && q > 0 ? d / (s.squareRoot() * q.squareRoot()) : (s == q ? 1 : 0))
        }.sorted { $0.sqnr < $1.sqnr }
    }

    /// Dequantizes an integer value and puts it in NCHW order.
    static func realNCHW(_ t: Tensor, _ v: PlanValue) -> [Float] {
        var real: [Float]
        if let q = v.quant, q.isPerTensor {
            let s = q.scale[0], z = q.zeroPoint[0]
            switch v.dtype {
            case .uint8: real = t.bytes.map { s * Float(Int32($0) - z) }
            case .int8: real = t.bytes.map { s * Float(Int32(Int8(bitPattern: $0)) - z) }
            case .float8e4m3fn: real = t.bytes.map { s * dyd_fp8_e4m3_to_f32($0) }
            case .float32: real = t.floats
            default: return []
            }
        } else {
            real = t.dtype == .float32 ? t.floats : []
        }
        guard v.layout == .nhwc, v.shape.count == 4, !real.isEmpty else { return real }
        let (n, c, h, w) = (v.shape[0], v.shape[1], v.shape[2], v.shape[3])
        var out = [Float](repeating: 0, count: real.count)
        for b in 0..<n { for y in 0..<h { for x in 0..<w { for ch in 0..<c {
            out[((b * c + ch) * h + y) * w + x] = real[((b * h + y) * w + x) * c + ch]
        } } } }
        return out
    }
}
