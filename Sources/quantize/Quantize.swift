import ArgumentParser
import Dyadic
import DyadicONNX
import DyadicQuantizer
import Foundation
import ToolSupport

@main
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a float ONNX model to INT8, INT4, mixed INT8/INT4 or W4A8-FP8 (QDQ ONNX).",
        discussion: """
            Calibrates on .npy samples with Dyadic's float path, quantizes weights per channel \
            (round-to-nearest or GPTQ), and with --weights mixed chooses INT8 or INT4 per layer \
            by an exact integer program under the budgets given (ratios to the all-INT8 model).
            """)

    @Argument(help: "The float ONNX model.")
    var model: String

    @Option(help: "A directory of .npy inputs (one sample each, or batches along the first axis).")
    var calibration: String

    @Option(name: .shortAndLong, help: "The quantized ONNX model to write.")
    var output: String

    @Option(help: "Activation type: u8 (asymmetric) or s8 (symmetric).")
    var activations = "u8"

    @Option(help: "Weight precision: int8, int4, mixed (INT8/INT4 per layer) or fp8 (W4A8-FP8 on every layer).")
    var weights = "int8"

    @Option(help: "Weight rounding: rtn (round to nearest), gptq (integer weights; the default) or dpq (fp8; the default there).")
    var method: String?

    @Option(help: "Activation ranges: percentile (the default), minmax or mse.")
    var ranges = "percentile"

    @Option(help: "With --ranges percentile: the percentage of values inside the range.")
    var percentile = 99.99

    @Option(help: "What the allocation minimises: output (measured output noise of each layer alone), quadratic (Σ ΔwHΔwᵀ) or trace (HAWQ's tr(H)/n·‖ΔW‖²).")
    var objective = "output"

    @Option(name: .customLong("size-budget"), help: "Weight bytes ≤ R × the all-INT8 model's (mixed).")
    var sizeBudget: Double?

    @Option(name: .customLong("bops-budget"), help: "Bit operations ≤ R × the all-INT8 model's (mixed).")
    var bopsBudget: Double?

    @Option(name: .customLong("latency-budget"), help: "Latency ≤ R × the all-INT8 model's, from --latency-table (mixed).")
    var latencyBudget: Double?

    @Option(name: .customLong("latency-table"), help: "The latency tool's per-layer CSV of this model at one precision (repeat: one per precision, INT8 first).")
    var latencyTables: [String] = []

    @Option(help: "With --weights mixed: the precisions to choose from, of int8, int4 and fp8.")
    var candidates = "int8,int4"

    @Option(name: .customLong("keep-8bit"), parsing: .upToNextOption, help: "Node names to keep at 8 bits.")
    var keep8Bit: [String] = []

    @Option(name: .customLong("pin"), parsing: .upToNextOption, help: "NODE=PRECISION: give a layer a precision outright (mixed).")
    var pinned: [String] = []

    @Flag(name: .customLong("no-pin-first-last"), help: "Let the first and last layers take less than 8 bits.")
    var noPinFirstLast = false

    @Flag(name: .customLong("no-bias-correction"), help: "Keep the float biases (no −ΔW·E[x] correction).")
    var noBiasCorrection = false

    @Flag(name: .customLong("no-residual-ties"), help: "Do not tie the precisions of layers that meet at an Add.")
    var noResidualTies = false

    @Option(name: .customLong("max-samples"), help: "Use at most N calibration samples.")
    var maxSamples: Int?

    @Option(name: .customLong("sensitivity-samples"), help: "Samples for each layer's measured output SQNR (mixed).")
    var sensitivitySamples = 4

    @Option(help: "Write the per-layer report to FILE.")
    var report: String?

    static func main() { mainReportingOneLine(cleanup: Progress.clear) }

    func run() throws { try execute() }

    func execute() throws {
        var options = QuantizerOptions()
        guard ["u8", "s8"].contains(activations) else { throw QuantizerError("--activations must be u8 or s8, not '\(activations)'") }
        options.signedActivations = activations == "s8"
        guard let w = QuantizerOptions.Weights(rawValue: weights) else {
            throw QuantizerError("--weights must be int8, int4, mixed or fp8, not '\(weights)'")
        }
        options.weights = w
        // The default method depends on the weights: GPTQ for integers, DPQ for FP8.
        let methodName = method ?? (w == .fp8 ? "dpq" : "gptq")
        guard let m = QuantizerOptions.Method(rawValue: methodName) else {
            throw QuantizerError("--method must be rtn, gptq or dpq, not '\(methodName)'")
        }
        if m == .dpq && w != .fp8 { throw QuantizerError("--method dpq is for --weights fp8 (use gptq or rtn for integer weights)") }
        if m == .gptq && w == .fp8 { throw QuantizerError("--weights fp8 takes --method dpq or rtn") }
        options.method = m
        guard let r = QuantizerOptions.RangeMethod(rawValue: ranges) else { throw QuantizerError("--ranges must be minmax, percentile or mse, not '\(ranges)'") }
        options.ranges = r
        guard let o = QuantizerOptions.Objective(rawValue: objective) else { throw QuantizerError("--objective must be output, quadratic or trace, not '\(objective)'") }
        options.objective = o
        guard percentile > 0, percentile <= 100 else { throw QuantizerError("--percentile must be in (0, 100]") }
        options.percentile = percentile
        for (flag, v) in [("--size-budget", sizeBudget), ("--bops-budget", bopsBudget), ("--latency-budget", latencyBudget)] {
            if let v, !(v > 0) { throw QuantizerError("\(flag) must be a positive ratio, not \(v)") }
            if v != nil, w != .mixed { throw QuantizerError("\(flag) needs --weights mixed") }
        }
        options.sizeBudget = sizeBudget
        options.bopsBudget = bopsBudget
        options.latencyBudget = latencyBudget
        if !latencyTables.isEmpty { options.latencyTable = try LatencyTable(files: latencyTables) }
        options.keep8Bit = keep8Bit
        let chosen = candidates.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard chosen.contains("int8"), Set(chosen).isSubset(of: ["int8", "int4", "fp8"]) else {
            throw QuantizerError("--candidates must list int8 and any of int4 and fp8, not '\(candidates)'")
        }
        options.mixedCandidates = chosen
        for p in pinned {
            let parts = p.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw QuantizerError("--pin takes NODE=PRECISION, not '\(p)'") }
            options.pins[parts[0]] = parts[1]
        }
        options.pinFirstLast = !noPinFirstLast
        options.tieResiduals = !noResidualTies
        options.biasCorrection = !noBiasCorrection
        options.sensitivitySamples = max(0, sensitivitySamples)
        try OutputFile.checkReplaceable(output)
        if let report {
            try OutputFile.checkReplaceable(report)
            guard report != output else { throw QuantizerError("--report and -o name the same file '\(OutputFile.escaped(output))'") }
        }

        let graph = try ONNXImporter.load(path: model)
        guard let input = graph.inputs.first else { throw QuantizerError("\(model): the model has no inputs") }
        var samples = try CalibrationSet.load(directory: calibration, input: input)
        if let maxSamples { samples = Array(samples.prefix(max(1, maxSamples))) }
        Progress.status("\(samples.count) calibration samples from \(calibration)")

        let result = try ModelQuantizer.quantize(graph, samples: samples, options: options) { stage, done, total in
            Progress.show(stage.rawValue, done, total)
        }
        Progress.clear()
        // The written model must load and lower in Dyadic before it replaces anything.
        let check = try Session(graph: result.graph)
        let packed = check.plan?.layers.compactMap { ($0 as? WeightedLayer)?.weightBytes }.reduce(0, +)
        // The report is made before anything is written, so that the model and the report
        // land together or not at all.
        var reportText: String?
        var outputAccuracy: LayerAccuracy?
        let reportSamples = Array(samples.prefix(8))
        if report != nil {
            Progress.show(QuantizerStage.report.rawValue, 0, 1)
            let accuracy = try LayerAccuracy.compare(float: graph, quantized: result.graph, samples: reportSamples, inputName: input.name)
            Progress.clear()
            reportText = QuantizationReport.text(result, accuracy: accuracy, packedWeightBytes: packed)
            outputAccuracy = accuracy.first(where: { $0.tensor == LayerAccuracy.modelOutput })
        }
        var files = [(path: output, bytes: try ONNXExporter.data(result.graph))]
        if let report, let reportText { files.append((report, Data(reportText.utf8))) }
        try OutputFile.writeAll(files)
        let counts = Dictionary(grouping: result.chosen.values, by: { $0 }).mapValues(\.count)
        print("wrote \(output): " + counts.keys.sorted().map { "\(counts[$0]!) \($0)" }.joined(separator: ", ") + " layers"
                      + (check.plan?.isIntegerOnly == true ? ", integer-only in Dyadic" : ""))
        if let a = result.allocation {
            for (d, name) in result.dimensions.enumerated() where result.int8Totals[d] > 0 {
                let total = a.totals[d] + (d == 2 ? result.fixedLatency : 0)
                print(String(format: "  %@: predicted %.1f = %.3f× INT8%@", name, total, total / result.int8Totals[d],
                                     result.budgets[d].map { String(format: " (budget %.3f×)", $0 / result.int8Totals[d]) } ?? ""))
            }
        }
        if let report, let out = outputAccuracy {
            print(String(format: "model output vs float on %d samples: SQNR %.2f dB, cosine %.5f; report in %@",
                                 reportSamples.count, out.sqnr, out.cosine, report))
        }
    }
}
