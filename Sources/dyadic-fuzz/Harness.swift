import Dyadic
import DyadicONNX
import Foundation

/// Coverage-guided fuzzing of what reads untrusted bytes: the ONNX importer with
/// validation, lowering and planning (`onnx`), the .npy reader (`npy`), and tiny models
/// run end to end on zero inputs (`run`). `DYADIC_FUZZ_TARGET` picks the harness.
///
/// Built with `-sanitize=fuzzer` (see tools/fuzz.sh) this file exports libFuzzer's
/// entry point and libFuzzer supplies `main`; built normally, `main` replays files
/// (a corpus, or a crash libFuzzer wrote) through the same harness, so a finding is
/// reproduced without the fuzzing build. Any error the library throws is a correct
/// answer to bad input; only a trap or a sanitizer report is a finding.
enum Harness: String {
    case onnx, npy, run

    /// Read once: libFuzzer calls the entry point for every input.
    static let selected: Harness = {
        let name = ProcessInfo.processInfo.environment["DYADIC_FUZZ_TARGET"] ?? "onnx"
        guard let h = Harness(rawValue: name) else {
            FileHandle.standardError.write(Data("error: DYADIC_FUZZ_TARGET must be onnx, npy or run (got '\(name)')\n".utf8))
            exit(1)
        }
        return h
    }()

    /// Inputs of more elements than this are not run (a model may declare any size).
    static let runElementLimit = 1 << 20
    /// Plans above either bound are made (so the size checks run) but not run: a valid
    /// model with a padded width of 458,763 columns took 54 s in this instrumented,
    /// scalar build, and libFuzzer reports any input above 20 s as a finding.
    static let runMacLimit = 1 << 26
    static let runArenaLimit = 1 << 26
    /// Plans may ask for at most this much (libFuzzer's allocation limit is 2 GiB):
    /// larger models must be refused by the limit check, not allocated.
    static let options = SessionOptions(memoryLimit: 1 << 30)

    func test(_ bytes: [UInt8]) {
        switch self {
        case .npy:
            _ = try? NumpyFile.decode(bytes, source: "fuzz")
        case .onnx:
            guard let graph = try? ONNXImporter.load(data: Data(bytes), source: "fuzz") else { return }
            _ = try? Session(graph: graph, options: Harness.options)
        case .run:
            guard let graph = try? ONNXImporter.load(data: Data(bytes), source: "fuzz"),
                  let session = try? Session(graph: graph, options: Harness.options) else { return }
            if let plan = session.plan {
                let macs = plan.layers.reduce(0) { $0.addingReportingOverflow($1.macs).partialValue }
                guard macs >= 0, macs <= Harness.runMacLimit, plan.arenaSize <= Harness.runArenaLimit else { return }
            }
            var feeds: [String: Tensor] = [:]
            for input in graph.inputs {
                let shape = input.shape.map { $0 ?? 1 }
                var count = 1
                for d in shape {
                    let (product, overflow) = count.multipliedReportingOverflow(by: d)
                    guard d >= 0, !overflow else { return }
                    count = product
                }
                guard count <= Harness.runElementLimit else { return }
                feeds[input.name] = Tensor(zeros: input.dtype, shape: shape)
            }
            _ = try? session.run(feeds)
        }
    }
}

#if DYADIC_FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Harness.selected.test(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
struct Replay {
    static func main() {
        let harness = Harness.selected
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("usage: DYADIC_FUZZ_TARGET=onnx|npy|run dyadic-fuzz FILE_OR_DIRECTORY...\n".utf8))
            exit(1)
        }
        var count = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("error: \(path): no such file or directory\n".utf8))
                exit(1)
            }
            // A directory is replayed whole, subdirectories included.
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                var isSubdirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: file, isDirectory: &isSubdirectory), !isSubdirectory.boolValue,
                      let data = FileManager.default.contents(atPath: file) else { continue }
                harness.test(Array(data))
                count += 1
            }
        }
        print("\(harness.rawValue): \(count) inputs replayed, no crash")
    }
}
#endif
