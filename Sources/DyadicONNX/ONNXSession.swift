import Dyadic

extension Session {
    /// Loads an ONNX file and prepares it to run.
    public convenience init(onnxPath path: String, options: SessionOptions = SessionOptions()) throws {
        try self.init(graph: try ONNXImporter.load(path: path), options: options)
    }
}
