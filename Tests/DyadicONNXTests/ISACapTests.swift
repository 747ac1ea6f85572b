import Dyadic
import DyadicONNX
import Foundation
import Testing

/// EfficientNet-Lite0 through the scalar and AVX2 kernels gives the same bytes as
/// through the best kernels of this CPU. `DYADIC_ISA` is read once per process, so the
/// capped runs are `runmodel` child processes.
struct ISACapTests {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("runmodel").path

    /// Runs runmodel with `DYADIC_ISA=isa`; returns its stdout, and the logits when asked.
    func runmodel(_ arguments: [String], isa: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["DYADIC_ISA": isa]) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "runmodel \(arguments) with DYADIC_ISA=\(isa): \(errors)")
        return text
    }

    @Test(.enabled(if: EfficientNetFixture.available && KernelInfo.detectedISA != "scalar"), arguments: ["scalar", "avx2", "neon", "neondot"])
    func efficientNetIdenticalUnderEveryCap(_ isa: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "runmodel not built at \(Self.binary)")
        let x86 = ["avx2", "avx512vnni"].contains(KernelInfo.detectedISA)
        // Caps of this architecture below its detected level only.
        guard isa != KernelInfo.detectedISA, x86 ? ["scalar", "avx2"].contains(isa) : isa != "avx2" else { return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dyadic-isa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let photo = Repo.path("../shared/models/efficientnet-lite0/samples/astronaut.npy")
        let input = try NumpyFile.read(path: photo)
        for variant in ["qdq", "qop"] {
            let model = EfficientNetFixture.model(variant)
            let described = try runmodel([model, "--describe"], isa: isa)
            #expect(described.contains("__\(isa)") && !described.contains("__\(KernelInfo.detectedISA)"),
                    "\(variant): kernels under DYADIC_ISA=\(isa) are not all \(isa)")
            for numerics in [Numerics.dyadic, .onnxruntime] {
                let want = try Session(onnxPath: model, options: SessionOptions(numerics: numerics)).run(["input": input])["logits"]!
                _ = try runmodel([model, "--input", "input=\(photo)", "--numerics", numerics.rawValue, "--output-dir", dir.path], isa: isa)
                let got = try NumpyFile.read(path: dir.appendingPathComponent("logits.npy").path)
                #expect(got.bytes == want.bytes, "\(variant) \(numerics) under DYADIC_ISA=\(isa) differs from \(KernelInfo.activeISA)")
            }
        }
    }
}
