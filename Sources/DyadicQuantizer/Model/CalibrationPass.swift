import Dyadic

/// One streaming pass of the float model over the calibration samples: a histogram
/// per activation tensor that will be quantized, and per quantizable layer (and group)
/// the Hessian of its inputs. Memory is bounded by the statistics, not the samples.
public struct CalibrationStatistics: Sendable {
    public var ranges: [String: RangeObserver]
    /// Per layer name, one accumulator per weight group.
    public var hessians: [String: [HessianAccumulator]]
    public var samples: Int
}

struct CalibrationPass {
    let graph: Graph
    let layers: [QuantizableLayer]
    let activations: Set<String>
    /// At most this many input rows (output pixels) per sample and layer go into a Hessian.
    let rowsPerSample: Int

    func run(samples: [Tensor], inputName: String, progress: (Int) -> Void) throws -> CalibrationStatistics {
        var ranges: [String: RangeObserver] = [:]
        for name in activations { ranges[name] = RangeObserver() }
        var hessians: [String: [HessianAccumulator]] = [:]
        var byInput: [String: [Int]] = [:]
        for (i, layer) in layers.enumerated() {
            hessians[layer.name] = (0..<layer.groups).map { _ in HessianAccumulator(inputs: layer.columnsPerGroup) }
            byInput[layer.input, default: []].append(i)
        }
        var runner = try ObservedRun(graph: graph, inputName: inputName)
        for (s, sample) in samples.enumerated() {
            var seen: Set<String> = []
            _ = try runner.run(sample) { value, context in
                let info = context.plan.values[value]
                guard info.dtype == .float32, info.layout == .nchw, !seen.contains(info.name) else { return }
                let wantsRange = ranges[info.name] != nil, users = byInput[info.name] ?? []
                guard wantsRange || !users.isEmpty else { return }
                seen.insert(info.name)
                let t = context.tensor(value), values = t.floats
                // An infinite or NaN activation (finite inputs can overflow float32) has no range to quantize.
                if values.contains(where: { !$0.isFinite }) {
                    throw QuantizerError("calibration sample \(s + 1) makes '\(info.name)' infinite or NaN; its range cannot be quantized")
                }
                if wantsRange { ranges[info.name]!.observe(values) }
                for i in users { try accumulate(layers[i], t, sample: s, into: &hessians[layers[i].name]!) }
            }
            progress(s + 1)
        }
        return CalibrationStatistics(ranges: ranges, hessians: hessians, samples: samples.count)
    }

    /// Adds the layer's input rows (im2col rows for a convolution, per group) of one sample.
    func accumulate(_ layer: QuantizableLayer, _ x: Tensor, sample: Int, into acc: inout [HessianAccumulator]) throws {
        let v = x.floats
        switch layer.kind {
        case .gemm, .gemmTransposed, .matmul:
            let k = layer.columnsPerGroup, rows = v.count / k
            let picked = Self.pick(rows, limit: rowsPerSample, offset: sample)
            var data = [Float](); data.reserveCapacity(picked.count * k)
            for r in picked { data.append(contentsOf: v[(r * k)..<((r + 1) * k)]) }
            try acc[0].add(rows: data)
        case .conv:
            let node = graph.nodes[layer.nodeIndex]
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let (kh, kw) = (layer.weightShape[2], layer.weightShape[3])
            let g = try WindowGeometry(node: node, inputH: h, inputW: w, kernelShape: [kh, kw])
            let cpg = c / layer.groups, (oh, ow) = g.output
            let picked = Self.pick(n * oh * ow, limit: rowsPerSample, offset: sample)
            for group in 0..<layer.groups {
                var data = [Float](repeating: 0, count: picked.count * cpg * kh * kw)
                for (r, p) in picked.enumerated() {
                    let b = p / (oh * ow), oy = (p / ow) % oh, ox = p % ow
                    var col = r * cpg * kh * kw
                    for ic in 0..<cpg {
                        let plane = (b * c + group * cpg + ic) * h * w
                        for ky in 0..<kh {
                            let iy = oy * g.stride.h - g.pads.t + ky * g.dilation.h
                            for kx in 0..<kw {
                                let ix = ox * g.stride.w - g.pads.l + kx * g.dilation.w
                                if iy >= 0 && iy < h && ix >= 0 && ix < w { data[col] = v[plane + iy * w + ix] }
                                col += 1
                            }
                        }
                    }
                }
                try acc[group].add(rows: data)
            }
        }
    }

    /// Evenly spaced indices, at most `limit` of `count`, shifted per sample so that
    /// successive samples see different pixels.
    static func pick(_ count: Int, limit: Int, offset: Int) -> [Int] {
        guard count > limit else { return Array(0..<count) }
        let step = Double(count) / Double(limit)
        let shift = Double(offset % 7) / 7 * step
        return (0..<limit).map { min(count - 1, Int(Double($0) * step + shift)) }
    }
}
