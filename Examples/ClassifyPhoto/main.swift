// Classifies the bundled photo with EfficientNet-Lite0 INT8, using only Dyadic's public
// API, as an app embedding the library would:
//
//     swift run classify-photo [MODEL.onnx] [INPUT.npy] [LABELS.txt]
//
// The defaults are the committed model, photo and labels (run from the repository root).
import Dyadic
import DyadicONNX
import Foundation

let arguments = CommandLine.arguments.dropFirst()
let directory = "models/efficientnet-lite0-int8"
let modelPath = arguments.first ?? "\(directory)/qdq.onnx"
let inputPath = arguments.dropFirst().first ?? "\(directory)/chelsea.npy"
let labelsPath = arguments.dropFirst(2).first ?? "\(directory)/labels.txt"

do {
    // Load once; `run` may then be called from any number of threads at once.
    let session = try Session(contentsOf: URL(fileURLWithPath: modelPath),
                              options: SessionOptions(threads: 2))
    guard let input = session.inputs.first, let output = session.outputs.first else {
        throw DyadicError("\(modelPath): the model has no inputs or no outputs")
    }
    let image = try NumpyFile.read(path: inputPath)  // [1, 3, 224, 224] float32, NCHW
    let results = try session.run([input.name: image])
    guard let logits = results[output.name]?.floats, let best = logits.indices.max(by: { logits[$0] < logits[$1] }) else {
        throw DyadicError("\(modelPath): no output '\(output.name)'")
    }
    let labels = try String(contentsOfFile: labelsPath, encoding: .utf8).split(separator: "\n")
    let label = best < labels.count ? String(labels[best]) : "class \(best)"
    print("\(label) (class \(best), logit \(logits[best]))")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
