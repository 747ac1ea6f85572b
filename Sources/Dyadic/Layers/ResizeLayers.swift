/// Float32 Resize, linear or cubic: the separable interpolation the reference op runs,
/// with its taps computed once at plan time.
final class FloatResizeLayer: Layer {
    let op = "Resize"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel = "f32_separable_interpolation"
    let interpolation: ResizeInterpolation
    let details: String

    init(source: [String], input: Int, output: Int, interpolation: ResizeInterpolation, mode: String) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.interpolation = interpolation
        details = "\(mode) \(interpolation.inShape.shapeString) → \(interpolation.outShape.shapeString)"
    }

    func run(_ context: ExecutionContext) {
        interpolation.run(context.pointer(inputs[0]).assumingMemoryBound(to: Float.self),
                          context.pointer(outputs[0]).assumingMemoryBound(to: Float.self))
    }
}

/// Resize, linear or cubic, of an 8-bit tensor in integers (QOperator graphs resize
/// uint8 tensors directly; in QDQ graphs DQ → Resize → Q with one scale is the same).
/// Works on the physical layout: an NHWC tensor is interpolated as [N, H, W, C].
final class IntegerResizeLayer: Layer {
    let op = "QResize"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel = "x8_separable_interpolation_q11"
    let interpolation: ResizeInterpolation
    let signed: Bool
    let details: String

    init(source: [String], input: Int, output: Int, interpolation: ResizeInterpolation, signed: Bool, mode: String) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.interpolation = interpolation
        self.signed = signed
        details = "\(mode) \(interpolation.inShape.shapeString) → \(interpolation.outShape.shapeString) (physical), Q\(ResizeInterpolation.weightBits) weights"
    }

    func run(_ context: ExecutionContext) {
        interpolation.runCodes(context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self),
                               context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self), signed: signed)
    }
}

