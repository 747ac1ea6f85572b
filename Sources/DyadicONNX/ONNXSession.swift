import Dyadic
import Foundation

extension Session {
    /// Loads an ONNX file and prepares it to run.
    public convenience init(onnxPath path: String, options: SessionOptions = SessionOptions()) throws {
        try self.init(graph: try ONNXImporter.load(path: path), options: options)
    }

    /// Loads the ONNX model at a file URL (external data is read beside it) and prepares
    /// it to run.
    public convenience init(contentsOf url: URL, options: SessionOptions = SessionOptions()) throws {
        guard url.isFileURL else { throw DyadicError("\(url.absoluteString): only file URLs can be loaded") }
        try self.init(onnxPath: url.path, options: options)
    }

    /// Prepares an ONNX model held in memory (one that needs no external data files).
    public convenience init(data: Data, options: SessionOptions = SessionOptions()) throws {
        try self.init(graph: try ONNXImporter.load(data: data), options: options)
    }
}
