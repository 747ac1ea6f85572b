import ArgumentParser
import Dyadic
import DyadicONNX
import Foundation
import ToolSupport
#if canImport(Glibc)
import Glibc
#endif

@main
struct Latency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Profile a model with Dyadic: whole-model latency and, per layer, time, MACs and GOPS.")

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .customLong("input"), help: "An input as NAME=FILE.npy (default: synthetic data of the declared shape).")
    var inputs: [String] = []

    @Option(help: "Threads per layer (1 = the calling thread only).")
    var threads: Int = 1

    @Option(help: "Untimed runs before timing.")
    var warmup: Int = 5

    @Option(help: "Timed runs.")
    var runs: Int = 50

    @Option(help: "Requantization: dyadic or onnxruntime.")
    var numerics: String = "dyadic"

    @Flag(name: .customLong("per-layer"), help: "Print the per-layer table and a summary by op.")
    var perLayer = false

    @Option(help: "Write the figures as JSON to FILE.")
    var json: String?

    @Option(help: "Write the per-layer table as CSV to FILE (the quantizer's latency table).")
    var csv: String?

    @Option(help: "Write a Chrome trace-event JSON file (Perfetto, chrome://tracing).")
    var trace: String?

    @Flag(name: .customLong("hook-overhead"),
          help: "Compare runs without profiling hooks against runs with the hooks present but off, interleaved.")
    var hookOverhead = false

    static func main() { mainReportingOneLine() }

    func run() throws { try execute() }

    func execute() throws {
        guard let profile = NumericsProfile(rawValue: numerics) else {
            throw DyadicError("--numerics must be dyadic or onnxruntime, not '\(numerics)'")
        }
        guard threads >= 1 else { throw DyadicError("--threads must be at least 1") }
        guard runs >= 1, warmup >= 0 else { throw DyadicError("--runs must be ≥ 1 and --warmup ≥ 0") }
        for path in [json, csv, trace].compactMap({ $0 }) { try OutputFile.checkReplaceable(path) }
        var feeds = try InputFeeds.read(inputs)
        let session = try Session(onnxPath: model, options: SessionOptions(numerics: profile, threads: threads))
        for input in session.graph.inputs where feeds[input.name] == nil {
            guard !session.parameterInputs.contains(input.name) else {
                throw DyadicError("input '\(input.name)' is a parameter of the model: give it with --input \(input.name)=FILE.npy")
            }
            feeds[input.name] = InputFeeds.synthetic(input)
        }
        // One run through the session checks the feeds and fixes the plan.
        _ = try session.run(feeds)
        guard let plan = session.plan else { throw DyadicError("no execution plan") }
        let context = try plan.makeContext(threads: threads)
        for (name, _) in plan.inputs { try context.setInput(name, feeds[name]!) }

        print("model \(model)")
        print("cpu \(KernelInfo.cpuModel), best kernel level \(KernelInfo.detectedISA)")
        print("numerics \(profile.rawValue), threads \(threads), kernels \(KernelInfo.activeISA), \(plan.layers.count) layers, "
              + "\(warmup) warm-up + \(runs) timed runs")
        if hookOverhead {
            compareHooks(context)
            return
        }
        let profiled = perLayer || json != nil || csv != nil || trace != nil
        let profiler = profiled ? Profiler(layerCount: plan.layers.count, maxThreads: threads) : nil
        for _ in 0..<warmup { context.run() }
        if let failure = context.failure { throw failure }
        var times: [Double] = []
        times.reserveCapacity(runs)
        for _ in 0..<runs {
            times.append(Statistics.milliseconds { if let profiler { context.run(profiler: profiler) } else { context.run() } })
        }
        let report = ProfileReport(plan: plan, runMilliseconds: times, profiler: profiler)
        let rss = peakResidentBytes()
        print(String(format: "latency: min %.3f ms, median %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms",
                     report.minMilliseconds, report.medianMilliseconds, report.percentileMilliseconds(90),
                     report.percentileMilliseconds(99), report.maxMilliseconds))
        print(String(format: "peak resident memory: %.1f MiB; arena %.2f MiB", Double(rss) / 1048576, Double(plan.arenaSize) / 1048576))
        if perLayer {
            print("")
            print(report.table())
        }
        var files: [(path: String, bytes: Data)] = []
        if let csv { files.append((csv, Data(report.csv().utf8))) }
        if let json {
            let doc = LatencyDocument(model: model, numerics: profile.rawValue, threads: threads, kernels: KernelInfo.activeISA,
                                      warmup: warmup, runs: runs, report: report, peakResidentBytes: rss, arenaBytes: plan.arenaSize)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            files.append((json, try encoder.encode(doc)))
        }
        if let trace, let profiler { files.append((trace, try ChromeTrace.json(plan: plan, profiler: profiler))) }
        // All requested files or none of them.
        try OutputFile.writeAll(files)
        for file in files { print("wrote \(file.path)") }
    }

    /// Hooks compiled out (`run()`) against hooks compiled in but off (`run(profiler: nil)`),
    /// in alternating blocks so that drift on a shared machine hits both alike.
    func compareHooks(_ context: ExecutionContext) {
        for _ in 0..<warmup { context.run(); context.run(profiler: nil) }
        var without: [Double] = [], with: [Double] = []
        let block = 10
        for _ in 0..<max(1, runs / block) {
            for _ in 0..<block { without.append(Statistics.milliseconds { context.run() }) }
            for _ in 0..<block { with.append(Statistics.milliseconds { context.run(profiler: nil) }) }
        }
        let a = Statistics.median(without), b = Statistics.median(with)
        print(String(format: "without hooks: median %.3f ms (%d runs)", a, without.count))
        print(String(format: "hooks, off:    median %.3f ms (%d runs)", b, with.count))
        print(String(format: "ratio hooks/without: %.3f", b / a))
    }

    func peakResidentBytes() -> Int {
        var usage = rusage()
        #if canImport(Darwin)
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss)
        #else
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
        #endif
    }
}

/// The `--json` document.
struct LatencyDocument: Encodable {
    var model: String
    var numerics: String
    var threads: Int
    var kernels: String
    var warmup: Int
    var runs: Int
    var report: ProfileReport
    var peakResidentBytes: Int
    var arenaBytes: Int

    enum CodingKeys: String, CodingKey {
        case model, cpu, numerics, threads, kernels, warmup, runs, layers, ops
        case minMs = "min_ms", medianMs = "median_ms", p90Ms = "p90_ms", p99Ms = "p99_ms", maxMs = "max_ms"
        case peakResidentBytes = "peak_resident_bytes", arenaBytes = "arena_bytes"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(KernelInfo.cpuModel, forKey: .cpu)
        try c.encode(numerics, forKey: .numerics)
        try c.encode(threads, forKey: .threads)
        try c.encode(kernels, forKey: .kernels)
        try c.encode(warmup, forKey: .warmup)
        try c.encode(runs, forKey: .runs)
        try c.encode(report.minMilliseconds, forKey: .minMs)
        try c.encode(report.medianMilliseconds, forKey: .medianMs)
        try c.encode(report.percentileMilliseconds(90), forKey: .p90Ms)
        try c.encode(report.percentileMilliseconds(99), forKey: .p99Ms)
        try c.encode(report.maxMilliseconds, forKey: .maxMs)
        try c.encode(peakResidentBytes, forKey: .peakResidentBytes)
        try c.encode(arenaBytes, forKey: .arenaBytes)
        try c.encode(report.layers, forKey: .layers)
        try c.encode(report.ops, forKey: .ops)
    }
}
