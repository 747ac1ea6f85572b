import Dyadic
import DyadicONNX
import Foundation
import Testing

/// EfficientNet-Lite0 through the scalar and AVX2 kernels gives the same bytes as
/// through the best kernels of this CPU. `DYADIC_ISA` is read once per process, so the
/// capped runs are `runmodel` child processes.
struct ISACapTests {
    static let runmodel = Tool(name: "runmodel")

    /// Runs runmodel with `DYADIC_ISA=isa`; returns its stdout.
    func runmodel(_ arguments: [String], isa: String) throws -> String {
        let result = try Self.runmodel.run(arguments, environment: ["DYADIC_ISA": isa])
        #expect(result.status == 0, "runmodel \(arguments) with DYADIC_ISA=\(isa): \(result.stderr)")
        return result.stdout
    }

    /// The levels of this CPU's architecture below the one it runs: every x86 CPU the
    /// kernels serve has at least AVX2 and every AArch64 one NEON, so this is never empty.
    static let caps: [String] = {
        let order = ["avx2", "avx512vnni"].contains(KernelInfo.detectedISA) ? ["scalar", "avx2", "avx512vnni"]
                                                                            : ["scalar", "neon", "neondot", "i8mm"]
        return Array(order.prefix(while: { $0 != KernelInfo.detectedISA }))
    }()

    @Test func everyCpuHasACapBelowIt() {
        #expect(!Self.caps.isEmpty, "detected ISA \(KernelInfo.detectedISA) has no lower level to compare with")
    }

    @Test(arguments: caps)
    func efficientNetIdenticalUnderEveryCap(_ isa: String) throws {
        try #require(Self.runmodel.isBuilt, "runmodel not built at \(Self.runmodel.path)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dyadic-isa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let photo = EfficientNetFixture.samplePath("astronaut.npy")
        let input = try NumpyFile.read(path: photo)
        for variant in ["qdq", "qop"] {
            let model = EfficientNetFixture.model(variant)
            let described = try runmodel([model, "--describe"], isa: isa)
            #expect(described.contains("__\(isa)") && !described.contains("__\(KernelInfo.detectedISA)"),
                    "\(variant): kernels under DYADIC_ISA=\(isa) are not all \(isa)")
            for numerics in [NumericsProfile.dyadic, .onnxruntime] {
                let want = try Session(onnxPath: model, options: SessionOptions(numerics: numerics)).run(["input": input])["logits"]!
                _ = try runmodel([model, "--input", "input=\(photo)", "--numerics", numerics.rawValue, "--output-dir", dir.path], isa: isa)
                let got = try NumpyFile.read(path: dir.appendingPathComponent("logits.npy").path)
                #expect(got.bytes == want.bytes, "\(variant) \(numerics) under DYADIC_ISA=\(isa) differs from \(KernelInfo.activeISA)")
            }
        }
    }
}
