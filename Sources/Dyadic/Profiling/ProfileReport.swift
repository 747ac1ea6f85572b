import Foundation

/// Latency figures of a profiled plan: whole runs and each layer, as medians over runs.
public struct ProfileReport: Sendable {
    /// One layer's row of the per-layer table.
    public struct LayerRow: Codable, Sendable {
        public var index: Int
        public var name: String
        public var op: String
        public var precision: String
        public var kernel: String
        public var inputShapes: String
        public var outputShapes: String
        public var macs: Int
        public var medianMicroseconds: Double
        /// 2·MACs per second, in 10^9 (0 for layers without products).
        public var gops: Double
        /// Fraction of the summed layer medians.
        public var share: Double

        enum CodingKeys: String, CodingKey {
            case index, name, op, precision, kernel, macs, gops, share
            case inputShapes = "input_shapes", outputShapes = "output_shapes", medianMicroseconds = "median_us"
        }
    }

    /// All layers of one op type.
    public struct OpRow: Codable, Sendable {
        public var op: String
        public var count: Int
        public var macs: Int
        public var medianMicroseconds: Double
        public var share: Double

        enum CodingKeys: String, CodingKey {
            case op, count, macs, share
            case medianMicroseconds = "median_us"
        }
    }

    /// Whole-run latencies in milliseconds, sorted.
    public let runMilliseconds: [Double]
    public let layers: [LayerRow]
    public let ops: [OpRow]

    public init(plan: Plan, profiler: Profiler) {
        self.init(plan: plan, runMilliseconds: profiler.runSpans.map { Double($0.end - $0.start) / 1e6 }, profiler: profiler)
    }

    /// `runMilliseconds` may come from unprofiled runs; layer figures come from `profiler`.
    public init(plan: Plan, runMilliseconds: [Double], profiler: Profiler?) {
        self.runMilliseconds = runMilliseconds.sorted()
        var perLayer = [[Double]](repeating: [], count: plan.layers.count)
        for span in profiler?.layerSpans ?? [] { perLayer[span.layer].append(Double(span.end - span.start) / 1e3) }
        let medians = perLayer.map { $0.isEmpty ? 0 : Statistics.median($0) }
        let total = medians.reduce(0, +)
        func shapes(_ values: [Int]) -> String { values.map { plan.values[$0].typeString }.joined(separator: " ") }
        layers = plan.layers.enumerated().map { i, layer in
            let us = medians[i]
            return LayerRow(index: i, name: layer.sourceNodes.first ?? layer.op, op: layer.op, precision: layer.precision,
                            kernel: layer.kernel, inputShapes: shapes(layer.inputs), outputShapes: shapes(layer.outputs),
                            macs: layer.macs, medianMicroseconds: us,
                            gops: us > 0 ? 2 * Double(layer.macs) / us / 1e3 : 0, share: total > 0 ? us / total : 0)
        }
        var byOp: [String: OpRow] = [:]
        for row in layers {
            var r = byOp[row.op] ?? OpRow(op: row.op, count: 0, macs: 0, medianMicroseconds: 0, share: 0)
            r.count += 1
            r.macs += row.macs
            r.medianMicroseconds += row.medianMicroseconds
            r.share += row.share
            byOp[row.op] = r
        }
        ops = byOp.values.sorted { ($0.medianMicroseconds, $1.op) > ($1.medianMicroseconds, $0.op) }
    }

    public var minMilliseconds: Double { runMilliseconds.first ?? 0 }
    public var maxMilliseconds: Double { runMilliseconds.last ?? 0 }
    public var medianMilliseconds: Double { Statistics.median(runMilliseconds) }
    public func percentileMilliseconds(_ p: Double) -> Double { Statistics.percentile(runMilliseconds, p) }

    // MARK: Text forms

    /// Columns of the per-layer CSV, in order. The quantizer reads this file as a
    /// latency table: one row per layer, `name` is the first ONNX node it implements.
    public static let csvColumns = ["index", "name", "op", "precision", "kernel", "input_shapes", "output_shapes",
                                    "macs", "median_us", "gops", "share"]

    public func csv() -> String {
        var lines = [ProfileReport.csvColumns.joined(separator: ",")]
        for r in layers {
            let fields = [String(r.index), r.name, r.op, r.precision, r.kernel, r.inputShapes, r.outputShapes, String(r.macs),
                          String(format: "%.3f", r.medianMicroseconds), String(format: "%.2f", r.gops), String(format: "%.5f", r.share)]
            lines.append(fields.map(ProfileReport.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 quoting where needed.
    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The per-layer table and the summary by op, for a terminal.
    public func table() -> String {
        func l(_ s: String, _ w: Int) -> String { s.count >= w ? String(s.prefix(w)) : s + String(repeating: " ", count: w - s.count) }
        func r(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        func f(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
        var out: [String] = []
        out.append([r("#", 4), l("name", 28), l("op", 10), l("precision", 9), l("kernel", 52), l("output", 26),
                    r("MACs", 10), r("median us", 10), r("GOPS", 7), r("share", 7)].joined(separator: " "))
        for row in layers {
            out.append([r(String(row.index), 4), l(String(row.name.suffix(28)), 28), l(row.op, 10), l(row.precision, 9),
                        l(row.kernel, 52), l(row.outputShapes, 26), r(String(row.macs), 10),
                        r(f(row.medianMicroseconds, 1), 10), r(f(row.gops, 1), 7), r(f(100 * row.share, 1) + "%", 7)]
                .joined(separator: " "))
        }
        out.append("")
        out.append([l("op", 12), r("layers", 6), r("MACs", 12), r("median us", 10), r("GOPS", 7), r("share", 7)].joined(separator: " "))
        for o in ops {
            let gops = o.medianMicroseconds > 0 ? 2 * Double(o.macs) / o.medianMicroseconds / 1e3 : 0
            out.append([l(o.op, 12), r(String(o.count), 6), r(String(o.macs), 12), r(f(o.medianMicroseconds, 1), 10),
                        r(f(gops, 1), 7), r(f(100 * o.share, 1) + "%", 7)].joined(separator: " "))
        }
        return out.joined(separator: "\n")
    }
}
