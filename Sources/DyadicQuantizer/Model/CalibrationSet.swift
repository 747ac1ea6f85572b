import Dyadic
import Foundation

/// Calibration inputs from a directory of .npy files: each file one sample, or a batch
/// along the first axis; every sample becomes a batch-1 tensor of the input's shape.
public enum CalibrationSet {
    public static func load(directory: String, input: ValueInfo) throws -> [Tensor] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".npy") }.sorted()
        } catch {
            throw QuantizerError("cannot read the calibration directory '\(directory)'")
        }
        guard !files.isEmpty else { throw QuantizerError("no .npy files in the calibration directory '\(directory)'") }
        var samples: [Tensor] = []
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file)
            let t = try NumpyFile.read(path: path)
            guard t.dtype == input.dtype else {
                throw QuantizerError("\(path): element type \(t.dtype), the model's input '\(input.name)' is \(input.dtype)")
            }
            let rest = Array(input.shape.dropFirst())
            let fits = t.shape.count == input.shape.count
                && zip(t.shape.dropFirst(), rest).allSatisfy { $1 == nil || $0 == $1 }
            guard fits, let batch = t.shape.first, batch > 0 else {
                throw QuantizerError("\(path): shape \(t.shape.shapeString) does not fit the model's input '\(input.name)' \(input.shapeString)")
            }
            // NaN or ±inf would make every range they reach meaningless.
            if t.dtype == .float32, let bad = t.floats.firstIndex(where: { !$0.isFinite }) {
                throw QuantizerError("\(path): element \(bad) is \(t.floats[bad]); calibration samples must be finite")
            }
            let per = t.bytes.count / batch
            for b in 0..<batch {
                samples.append(Tensor(dtype: t.dtype, shape: [1] + Array(t.shape.dropFirst()),
                                      bytes: Array(t.bytes[(b * per)..<((b + 1) * per)])))
            }
        }
        return samples
    }
}
