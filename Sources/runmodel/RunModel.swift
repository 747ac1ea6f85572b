import ArgumentParser
import Dyadic
import DyadicONNX
import Foundation
import ToolSupport

@main
struct RunModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runmodel",
        abstract: "Run an ONNX model (float or quantized) with Dyadic's integer-only engine.")

    @Argument(help: "The ONNX model file.")
    var model: String?

    @Option(name: .customLong("input"), help: "An input as NAME=FILE.npy (repeat for several inputs).")
    var inputs: [String] = []

    @Option(name: .customLong("output-dir"), help: "Write each output to DIR/<output name>.npy.")
    var outputDir: String?

    @Option(help: "Threads per layer (1 = the calling thread only).")
    var threads: Int = 1

    @Option(help: "Requantization: dyadic (integer-only) or onnxruntime (bit-exact with ONNX Runtime).")
    var numerics: String = "dyadic"

    @Option(help: "Time N runs after a warm-up and print min / median / max latency.")
    var runs: Int = 0

    @Option(help: "Class labels, one per line, to print the top classes of each output.")
    var labels: String?

    @Option(help: "How many top classes to print with --labels.")
    var top: Int = 5

    @Flag(help: "Print the lowered graph and whether it is integer-only.")
    var describe = false

    @Flag(name: .customLong("list-ops"), help: "Print the supported operators and exit.")
    var listOps = false

    static func main() { mainReportingOneLine() }

    func run() throws { try execute() }

    func execute() throws {
        if listOps {
            print(OperatorSupport.all.joined(separator: "\n"))
            return
        }
        guard let model else { throw DyadicError("no model given (usage: runmodel MODEL [--input NAME=FILE.npy] ...)") }
        guard let profile = NumericsProfile(rawValue: numerics) else {
            throw DyadicError("--numerics must be dyadic or onnxruntime, not '\(numerics)'")
        }
        guard threads >= 1 else { throw DyadicError("--threads must be at least 1") }
        guard runs >= 0, top >= 1 else { throw DyadicError("--runs must be ≥ 0 and --top ≥ 1") }
        let labelList = try labels.map { path -> [String] in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DyadicError("\(path): cannot read the labels file") }
            return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        let feeds = try InputFeeds.read(inputs)
        if let outputDir {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: outputDir, isDirectory: &isDir), isDir.boolValue else {
                throw DyadicError("--output-dir '\(outputDir)' is not an existing directory")
            }
        }
        let session = try Session(onnxPath: model, options: SessionOptions(numerics: profile, threads: threads))
        if describe && inputs.isEmpty {
            guard let plan = session.plan else {
                if session.parameterInputs.isEmpty {
                    throw DyadicError("the model's symbolic input sizes do not plan as 1: give its inputs with --input to describe its plan")
                }
                throw DyadicError("this model takes parameter inputs (\(session.parameterInputs.sorted().joined(separator: ", "))): give them with --input to describe its plan")
            }
            print(plan.describe())
            return
        }
        // Checked before running: two outputs must not share a file.
        var files: [String: String] = [:]
        for name in session.graph.outputs.map(\.name) where files[Self.fileName(name)] != name {
            if outputDir != nil, let other = files[Self.fileName(name)] {
                throw DyadicError("outputs '\(other)' and '\(name)' would both be written to \(Self.fileName(name)).npy")
            }
            files[Self.fileName(name)] = name
        }
        let outputs = try session.run(feeds)
        if describe, let plan = session.plan { print(plan.describe()) }
        for output in session.graph.outputs {
            guard let t = outputs[output.name] else { continue }
            print("output \(output.name): \(t.dtype)\(t.shape.shapeString)")
            if let labelList { printTop(t, labels: labelList) }
        }
        if runs > 0 { try timeRuns(session, inputs: feeds) }
        if let outputDir {
            // All files or none: a failure on the last output leaves the first ones unwritten too.
            try OutputFile.writeAll(files.sorted(by: { $0.key < $1.key }).compactMap { file, name in
                outputs[name].map { ((outputDir as NSString).appendingPathComponent(file + ".npy"), Data(NumpyFile.encode($0))) }
            })
        }
    }

    /// Output names become file names: anything but letters, digits, '.', '_', '-' becomes '_'.
    static func fileName(_ name: String) -> String {
        String(name.unicodeScalars.map { c in
            (c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "." || c == "_" || c == "-")) ? Character(c) : "_"
        })
    }

    func printTop(_ t: Tensor, labels: [String]) {
        let scores: [Float] = t.dtype == .float32 ? t.floats : t.int64Values.map(Float.init)
        let ranked = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        for (rank, i) in ranked.prefix(top).enumerated() {
            let label = i < labels.count ? labels[i] : "class \(i)"
            print(String(format: "  %d. %5d  %10.4f  %@", rank + 1, i, scores[i], label as NSString))
        }
    }

    func timeRuns(_ session: Session, inputs: [String: Tensor]) throws {
        let prepared = try session.prepare(inputs)
        try prepared.run()
        let times = try (0..<runs).map { _ in try Statistics.milliseconds { try prepared.run() } }
        print(String(format: "latency: min %.3f ms, median %.3f ms, max %.3f ms (%d runs, %d thread%@)",
                     times.min()!, Statistics.median(times), times.max()!, runs, threads, threads == 1 ? "" : "s"))
    }
}
