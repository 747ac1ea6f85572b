import Dyadic
import DyadicONNX
import Foundation

/// Paths relative to the package root, wherever `swift test` runs from.
enum Repo {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    static func path(_ relative: String) -> String { (root as NSString).appendingPathComponent(relative) }
}

/// One entry of a models manifest written by tools/make_test_models.py or
/// tools/quantize_efficientnet.py: a model, its inputs and ONNX Runtime's outputs.
struct ManifestEntry: Decodable {
    struct Input: Decodable { let name: String; let file: String }
    struct Output: Decodable { let name: String; let file: String; let scale: Double?; let zero_point: Int?; let fp8_scale: Double? }
    let `case`: String
    let variant: String
    let model: String
    let inputs: [Input]
    let outputs: [Output]

    var label: String { "\(self.case)/\(variant)" }

    static func load(_ relative: String) throws -> [ManifestEntry] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repo.path(relative)))
        return try JSONDecoder().decode([ManifestEntry].self, from: data)
    }

    func run(_ numerics: NumericsProfile, threads: Int = 1) throws -> [String: Tensor] {
        let session = try Session(onnxPath: Repo.path(model), options: SessionOptions(numerics: numerics, threads: threads))
        var feeds: [String: Tensor] = [:]
        for input in inputs { feeds[input.name] = try NumpyFile.read(path: Repo.path(input.file)) }
        return try session.run(feeds)
    }
}

/// Differences of two float outputs measured in output quantization steps.
struct LSBStats {
    var count = 0, exact = 0, withinOne = 0
    var maximum = 0.0

    init(_ got: [Float], _ want: [Float], scale: Double) {
        count = got.count
        for (g, w) in zip(got, want) {
            // Outputs are dequantized codes: their difference is a whole number of steps.
            let d = (abs(Double(g) - Double(w)) / scale).rounded()
            maximum = max(maximum, d)
            if d == 0 { exact += 1 }
            if d <= 1 { withinOne += 1 }
        }
    }

    var withinOneFraction: Double { count == 0 ? 1 : Double(withinOne) / Double(count) }
    var description: String {
        String(format: "exact %d/%d, within 1 LSB %.2f%%, max %.0f LSB", exact, count, withinOneFraction * 100, maximum)
    }
}

func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] } ?? 0 }

/// The INT8 EfficientNet-Lite0 and its five sample photos (with the float model's logits),
/// committed under models/ so that every clone runs these suites; a missing file fails.
enum EfficientNetFixture {
    static let photos = ["chelsea", "astronaut", "coffee", "rocket", "motorcycle"]

    static func model(_ variant: String) -> String { Repo.path("models/efficientnet-lite0-int8/\(variant).onnx") }
    static func samplePath(_ file: String) -> String { Repo.path("models/efficientnet-lite0-int8/samples/\(file)") }
    static func photo(_ name: String) throws -> Tensor { try NumpyFile.read(path: samplePath("\(name).npy")) }
}

/// One of the package's executables run as a child process.
/// Position of an E4M3FN value (given dequantized with `scale`) in the ordered list of
/// codes: adjacent FP8 values differ by 1. Values are assumed finite and in range.
func fp8Ordinal(_ value: Float, scale: Double) -> Int {
    let x = Double(value) / scale, a = abs(x)
    let magnitude: Double
    if a < 0x1p-6 {
        magnitude = a * 512                              // subnormals: steps of 2^-9
    } else {
        let e = a.exponent
        magnitude = Double((Int(e) + 7) * 8) + (a.significand - 1) * 8
    }
    return (x < 0 ? -1 : 1) * Int(magnitude.rounded())
}

struct Tool {
    let name: String
    /// Built next to the test runner.
    var path: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }
    var isBuilt: Bool { FileManager.default.isExecutableFile(atPath: path) }

    struct Result {
        let exitedNormally: Bool
        let status: Int32
        let stdout: String
        let stderr: String
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(exitedNormally: process.terminationReason == .exit, status: process.terminationStatus,
                      stdout: stdout, stderr: stderr)
    }
}
