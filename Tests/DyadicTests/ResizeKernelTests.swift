@testable import Dyadic
import DyadicKernels
import Testing

/// The integer resize kernel (rows of the h pass, then pixels of the w pass) against the
/// axis-by-axis definition it replaces (`ResizeInterpolation.runCodes`): equal codes for
/// both layouts, both signednesses, linear and cubic, up- and down-sampling, and one
/// axis resized alone.
@Suite struct ResizeKernelTests {
    @Test(arguments: [
        ("linear", "half_pixel", [1, 5, 7, 3], [1, 10, 14, 3]),      // NHWC, spatial axes 1, 2
        ("linear", "align_corners", [2, 3, 9, 11], [2, 3, 5, 16]),   // NCHW, axes 2, 3
        ("cubic", "pytorch_half_pixel", [1, 6, 6, 4], [1, 15, 9, 4]),
        ("cubic", "half_pixel", [1, 4, 13, 8], [1, 4, 13, 3]),       // only the last axis
        ("linear", "asymmetric", [1, 8, 5, 2], [1, 8, 11, 2]),       // only axis 2 (a middle one)
    ])
    func kernelEqualsTheDefinition(_ mode: String, _ transform: String, _ inShape: [Int], _ outShape: [Int]) throws {
        let node = Node(name: "resize", opType: "Resize", inputs: [], outputs: [],
                        attributes: ["mode": .string(mode), "coordinate_transformation_mode": .string(transform)])
        let scales = zip(inShape, outShape).map { Float($1) / Float($0) }
        let p = try ResizeInterpolation(node, inShape: inShape, outShape: outShape, scales: scales, roi: nil)
        let s = try #require(IntegerResizeLayer.spatial(p))
        let count = inShape.reduce(1, *), outCount = outShape.reduce(1, *)
        let x = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ ($0 >> 3) &* 29) }
        for signed in [false, true] {
            var want = [UInt8](repeating: 0, count: outCount), got = want
            x.withUnsafeBufferPointer { xp in want.withUnsafeMutableBufferPointer { p.runCodes(xp.baseAddress!, $0.baseAddress!, signed: signed) } }
            var workspace = [UInt8](repeating: 0, count: dyd_resize_x8_2d_workspace_size(s.inW, s.inner))
            x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBufferPointer { yp in workspace.withUnsafeMutableBytes { w in
                s.run(xp.baseAddress!, yp.baseAddress!, signed: signed, workspace: w.baseAddress!)
            } } }
            #expect(got == want, "\(mode) \(transform) \(inShape) → \(outShape) signed \(signed)")
        }
    }
}
