import DyadicKernels

/// Float32 Resize, linear or cubic, with its taps computed once at plan time. When only
/// two neighbouring axes are resized it runs on the C kernel a row at a time (the same
/// sums in the same order as the definition); otherwise, or with tf_crop_and_resize's
/// extrapolated points, on `ResizeInterpolation.run`.
final class FloatResizeLayer: Layer {
    let op = "Resize"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel: String
    let interpolation: ResizeInterpolation
    let spatial: SpatialResize?
    let details: String
    let workspaceSize: Int

    init(source: [String], input: Int, output: Int, interpolation: ResizeInterpolation, mode: String) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.interpolation = interpolation
        details = "\(mode) \(interpolation.inShape.shapeString) → \(interpolation.outShape.shapeString)"
        spatial = interpolation.axes.contains { $0.outside.contains(true) } ? nil : SpatialResize(interpolation)
        kernel = spatial == nil ? "f32_separable_interpolation" : String(cString: dyd_resize_f32_2d_kernel_name())
        workspaceSize = spatial.map { dyd_resize_f32_2d_workspace_size($0.inW, $0.inner) } ?? 0
    }

    func run(_ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        guard let s = spatial else {
            interpolation.run(x, y)
            return
        }
        s.run(x, y, workspace: context.workspace(0))
    }
}

/// Resize, linear or cubic, of an 8-bit tensor in integers (QOperator graphs resize
/// uint8 tensors directly; in QDQ graphs DQ → Resize → Q with one scale is the same).
/// Works on the physical layout: an NHWC tensor is interpolated as [N, H, W, C]. When
/// only two neighbouring axes are resized (the spatial ones, in either layout) it runs
/// on the C kernel, a row at a time; otherwise on `ResizeInterpolation.runCodes`.
final class IntegerResizeLayer: Layer {
    let op = "QResize"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = true
    let kernel: String
    let interpolation: ResizeInterpolation
    let signed: Bool
    let details: String
    let workspaceSize: Int

    let spatial: SpatialResize?

    init(source: [String], input: Int, output: Int, interpolation: ResizeInterpolation, signed: Bool, mode: String) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.interpolation = interpolation
        self.signed = signed
        details = "\(mode) \(interpolation.inShape.shapeString) → \(interpolation.outShape.shapeString) (physical), Q\(ResizeInterpolation.weightBits) weights"
        spatial = SpatialResize(interpolation)
        kernel = spatial == nil ? "x8_separable_interpolation_q11" : String(cString: dyd_resize_x8_2d_kernel_name())
        workspaceSize = spatial.map { dyd_resize_x8_2d_workspace_size($0.inW, $0.outW, $0.inner) } ?? 0
    }

    func run(_ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: UInt8.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: UInt8.self)
        guard let s = spatial else {
            interpolation.runCodes(x, y, signed: signed)
            return
        }
        s.run(x, y, signed: signed, workspace: context.workspace(0))
    }
}

/// The resize kernels' view of an interpolation that resizes at most two neighbouring
/// axes: [outer][h][w][inner] with CSR taps for h and w, as Q11 integers for 8-bit
/// codes and as floats for float32.
struct SpatialResize {
    var outer: Int, inH: Int, inW: Int, inner: Int, outH: Int, outW: Int
    var start: ([UInt32], [UInt32]), index: ([UInt32], [UInt32]), weight: ([Int32], [Int32])
    var floatWeight: ([Float], [Float])
    var shift: UInt32

    /// The kernels' view of `p`, or nil unless at most two neighbouring axes are resized.
    init?(_ p: ResizeInterpolation) {
        let rank = p.inShape.count
        let resized = p.axes.indices.filter { !p.axes[$0].isIdentity }
        guard rank >= 2, let first = resized.first, resized.count <= 2, resized.last! <= first + 1 else { return nil }
        let a = min(first, rank - 2)
        func taps(_ d: Int) -> ([UInt32], [UInt32], [Int32], [Float]) {
            let t = p.axes[d]
            if t.isIdentity {
                let n = p.inShape[d]
                return ((0...n).map(UInt32.init), (0..<n).map(UInt32.init), [Int32](repeating: 1, count: n), [Float](repeating: 1, count: n))
            }
            return (t.start.map(UInt32.init), t.index.map(UInt32.init), t.integerWeight, t.weight)
        }
        let (h, w) = (taps(a), taps(a + 1))
        (outer, inH, inW, inner) = (p.inShape[..<a].reduce(1, *), p.inShape[a], p.inShape[a + 1], p.inShape[(a + 2)...].reduce(1, *))
        (outH, outW) = (p.outShape[a], p.outShape[a + 1])
        (start, index, weight, floatWeight) = ((h.0, w.0), (h.1, w.1), (h.2, w.2), (h.3, w.3))
        shift = UInt32(resized.count * ResizeInterpolation.weightBits)
    }
}

extension SpatialResize {
    /// The C kernel on `x` → `y` with scratch of `dyd_resize_x8_2d_workspace_size(inW, outW, inner)` bytes.
    func run(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<UInt8>, signed: Bool, workspace: UnsafeMutableRawPointer) {
        start.0.withUnsafeBufferPointer { hs in index.0.withUnsafeBufferPointer { hi in weight.0.withUnsafeBufferPointer { hw in
            start.1.withUnsafeBufferPointer { ws in index.1.withUnsafeBufferPointer { wi in weight.1.withUnsafeBufferPointer { ww in
                var h = dyd_resize_taps(start: hs.baseAddress, index: hi.baseAddress, weight: hw.baseAddress)
                var w = dyd_resize_taps(start: ws.baseAddress, index: wi.baseAddress, weight: ww.baseAddress)
                dyd_resize_x8_2d(x, y, signed ? 1 : 0, outer, inH, inW, inner, outH, outW, &h, &w, shift, workspace)
            } } }
        } } }
    }
}

extension SpatialResize {
    /// The float kernel on `x` → `y` with scratch of `dyd_resize_f32_2d_workspace_size(inW, inner)` bytes.
    func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, workspace: UnsafeMutableRawPointer) {
        start.0.withUnsafeBufferPointer { hs in index.0.withUnsafeBufferPointer { hi in floatWeight.0.withUnsafeBufferPointer { hw in
            start.1.withUnsafeBufferPointer { ws in index.1.withUnsafeBufferPointer { wi in floatWeight.1.withUnsafeBufferPointer { ww in
                var h = dyd_resize_taps_f32(start: hs.baseAddress, index: hi.baseAddress, weight: hw.baseAddress)
                var w = dyd_resize_taps_f32(start: ws.baseAddress, index: wi.baseAddress, weight: ww.baseAddress)
                dyd_resize_f32_2d(x, y, outer, inH, inW, inner, outH, outW, &h, &w, workspace)
            } } }
        } } }
    }
}
