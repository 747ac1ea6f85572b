import Dyadic
import Foundation
import Testing

/// The `latency` executable's machine-readable outputs keep the documented format
/// (the per-layer CSV is the quantizer's latency table).
struct LatencyToolTests {
    static let latency = Tool(name: "latency")

    @Test func writesJsonCsvAndTrace() throws {
        try #require(Self.latency.isBuilt, "latency not built at \(Self.latency.path)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dyadic-latency-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("l.json").path, csv = dir.appendingPathComponent("l.csv").path
        let trace = dir.appendingPathComponent("t.json").path
        let model = Repo.path("models/lowbit/conv_int4w.onnx")
        let result = try Self.latency.run([model, "--runs", "4", "--warmup", "1", "--threads", "2", "--per-layer",
                              "--json", json, "--csv", csv, "--trace", trace])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("latency: min") && result.stdout.contains("p99"))
        // every figure names its CPU and kernel level
        #expect(result.stdout.contains("cpu \(KernelInfo.cpuModel), best kernel level \(KernelInfo.detectedISA)"))
        #expect(result.stdout.contains("kernels \(KernelInfo.activeISA)"))
        #expect(!KernelInfo.cpuModel.isEmpty)

        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(doc["cpu"] as? String == KernelInfo.cpuModel)
        for key in ["median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "peak_resident_bytes", "layers", "ops"] {
            #expect(doc[key] != nil, "JSON lacks \(key)")
        }
        let layers = try #require(doc["layers"] as? [[String: Any]])
        let plan = try #require(try Session(onnxPath: model).plan)
        #expect(layers.count == plan.layers.count)
        for key in ["name", "op", "precision", "macs", "median_us"] { #expect(layers.first?[key] != nil, "layer lacks \(key)") }
        #expect(layers.contains { ($0["precision"] as? String) == "w4a8" && ($0["macs"] as? Int ?? 0) > 0 })

        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.first.map(String.init) == ProfileReport.csvColumns.joined(separator: ","))
        #expect(lines.count == plan.layers.count + 1)

        let events = try #require((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: trace))) as? [String: Any])?["traceEvents"] as? [[String: Any]])
        let layerEvents = events.filter { ($0["cat"] as? String) == "layer" }
        #expect(layerEvents.count == 4 * plan.layers.count, "one event per layer per run")
        #expect(events.allSatisfy { $0["ph"] != nil && $0["tid"] != nil && $0["pid"] != nil })
    }

    @Test func badArgumentsFailCleanly() throws {
        try #require(Self.latency.isBuilt)
        for (arguments, fragment) in [(["/nonexistent.onnx"], "cannot read"),
                                      ([Repo.path("models/lowbit/conv_int4w.onnx"), "--runs", "0"], "--runs"),
                                      ([Repo.path("models/lowbit/conv_int4w.onnx"), "--csv", "/nonexistent/dir/x.csv"], "directory")] {
            let result = try Self.latency.run(arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
        }
    }
}
