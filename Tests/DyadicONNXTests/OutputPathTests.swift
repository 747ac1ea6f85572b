import Dyadic
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Output paths never cost the user data: directories, FIFOs and devices are refused with
/// one line and left as they were; regular files are replaced whole; no temporary file or
/// partial output survives an error.
@Suite struct OutputPathTests {
    static let model = Repo.path("models/fashion-mnist/model.onnx")
    static let calibration = Repo.path("models/fashion-mnist/calibration")

    /// A fresh folder holding a directory with a file in it, a FIFO and a regular file.
    struct Scratch {
        let root: URL
        var directory: String { root.appendingPathComponent("existing-dir").path }
        var kept: String { root.appendingPathComponent("existing-dir/keep.txt").path }
        var fifo: String { root.appendingPathComponent("fifo").path }
        var regular: String { root.appendingPathComponent("regular.onnx").path }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("dyadic-out-\(UUID().uuidString)")
            try FileManager.default.createDirectory(atPath: root.appendingPathComponent("existing-dir").path,
                                                    withIntermediateDirectories: true)
            try Data("precious".utf8).write(to: URL(fileURLWithPath: root.appendingPathComponent("existing-dir/keep.txt").path))
            try #require(mkfifo(root.appendingPathComponent("fifo").path, 0o644) == 0)
            try Data("old".utf8).write(to: URL(fileURLWithPath: root.appendingPathComponent("regular.onnx").path))
        }

        /// Everything in the folder, recursively, with each regular file's contents.
        func snapshot() throws -> [String: String] {
            var out: [String: String] = [:]
            let e = FileManager.default.enumerator(atPath: root.path)!
            while let name = e.nextObject() as? String {
                let path = root.appendingPathComponent(name).path
                var info = stat()
                try #require(lstat(path, &info) == 0)
                let kind = info.st_mode & S_IFMT
                out[name] = kind == S_IFREG ? (try String(contentsOfFile: path, encoding: .utf8)) : "mode \(kind)"
            }
            return out
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    @Test func quantizeRefusesDirectoriesFifosAndDevicesAndChangesNothing() throws {
        let quantize = Tool(name: "quantize")
        try #require(quantize.isBuilt, "quantize not built at \(quantize.path)")
        let scratch = try Scratch()
        defer { scratch.remove() }
        let before = try scratch.snapshot()
        let cases: [(flag: String, path: String, fragment: String)] = [
            ("-o", scratch.directory, "is a directory"),
            ("-o", scratch.fifo, "is a FIFO"),
            ("-o", "/dev/null", "is a device"),
            ("--report", scratch.directory, "is a directory"),
            ("--report", scratch.fifo, "is a FIFO"),
        ]
        for c in cases {
            var arguments = [Self.model, "--calibration", Self.calibration, "--max-samples", "2", "--sensitivity-samples", "0"]
            arguments += c.flag == "-o" ? ["-o", c.path] : ["-o", scratch.regular, "--report", c.path]
            let result = try quantize.run(arguments)
            let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
            #expect(result.exitedNormally && result.status == 1, "\(c): \(result.stderr)")
            #expect(lines.count == 1 && lines[0].contains(c.fragment), "\(c): \(result.stderr)")
            #expect(try scratch.snapshot() == before, "\(c) changed the folder")
        }
    }

    @Test func quantizeReplacesARegularFileAndALinkedOneWhole() throws {
        let quantize = Tool(name: "quantize")
        try #require(quantize.isBuilt, "quantize not built at \(quantize.path)")
        let scratch = try Scratch()
        defer { scratch.remove() }
        let link = scratch.root.appendingPathComponent("link.onnx").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: scratch.regular)
        let report = scratch.root.appendingPathComponent("report.txt").path
        let result = try quantize.run([Self.model, "--calibration", Self.calibration, "--max-samples", "2",
                                       "--sensitivity-samples", "0", "-o", link, "--report", report])
        #expect(result.exitedNormally && result.status == 0, "\(result.stderr)")
        // The link still points at the file, which now holds the whole model; nothing else appeared.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == scratch.regular)
        let written = try Data(contentsOf: URL(fileURLWithPath: scratch.regular))
        #expect(written.count > 1000)
        let session = try Session(onnxPath: scratch.regular)
        #expect(session.plan != nil)
        #expect(FileManager.default.fileExists(atPath: report))
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: scratch.root.path))
        #expect(names == ["existing-dir", "fifo", "regular.onnx", "link.onnx", "report.txt"], "\(names)")
    }

    @Test func writeAllStagesEveryFileBeforeReplacingAny() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let fresh = scratch.root.appendingPathComponent("fresh.npy").path
        let before = try scratch.snapshot()
        // The second target is a directory: the first file must not be written either.
        #expect(throws: DyadicError.self) {
            try OutputFile.writeAll([(fresh, Data("a".utf8)), (scratch.directory, Data("b".utf8))])
        }
        #expect(try scratch.snapshot() == before)
        try OutputFile.writeAll([(fresh, Data("a".utf8)), (scratch.regular, Data("new".utf8))])
        #expect(try String(contentsOfFile: fresh, encoding: .utf8) == "a")
        #expect(try String(contentsOfFile: scratch.regular, encoding: .utf8) == "new")
        #expect(try scratch.snapshot().count == before.count + 1)
    }

    @Test func missingFoldersAndEmptyPathsAreOneLineErrors() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        for (path, fragment) in [(scratch.root.appendingPathComponent("no/such/x.npy").path, "directory does not exist"),
                                 ("", "empty"), (scratch.root.appendingPathComponent("bad\nname/x.npy").path, "bad\\nname")] {
            do {
                try OutputFile.checkReplaceable(path)
                Issue.record("\(path) was accepted")
            } catch let error as DyadicError {
                #expect(error.message.contains(fragment) && !error.message.contains("\n"), "\(error.message)")
            }
        }
    }

    @Test func runmodelRefusesAnOutputFileThatIsADirectory() throws {
        let runmodel = Tool(name: "runmodel")
        try #require(runmodel.isBuilt, "runmodel not built at \(runmodel.path)")
        let scratch = try Scratch()
        defer { scratch.remove() }
        let input = scratch.root.appendingPathComponent("x.npy").path
        try NumpyFile.write(Tensor(zeros: .float32, shape: [1, 1, 28, 28]), path: input)
        let session = try Session(onnxPath: Self.model)
        let outputName = try #require(session.graph.outputs.first?.name)
        let blocked = scratch.root.appendingPathComponent(outputName + ".npy").path
        try FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: false)
        let inputName = try #require(session.graph.inputs.first?.name)
        let result = try runmodel.run([Self.model, "--input", "\(inputName)=\(input)", "--output-dir", scratch.root.path])
        #expect(result.exitedNormally && result.status == 1, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("is a directory"), "\(result.stderr)")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: blocked, isDirectory: &isDirectory) && isDirectory.boolValue)
    }
}
