@testable import Dyadic
import DyadicKernels
import Testing

/// The resize kernels (rows of the h pass, then pixels of the w pass) against the
/// axis-by-axis definitions they replace: the integer one against
/// `ResizeInterpolation.runCodes` (equal codes for both signednesses), the float one
/// against `ResizeInterpolation.run` (equal bits); both layouts, linear and cubic, up-
/// and down-sampling, and one axis resized alone.
@Suite struct ResizeKernelTests {
    static let cases: [(String, String, [Int], [Int])] = [
        ("linear", "half_pixel", [1, 5, 7, 3], [1, 10, 14, 3]),      // NHWC, spatial axes 1, 2
        ("linear", "align_corners", [2, 3, 9, 11], [2, 3, 5, 16]),   // NCHW, axes 2, 3
        ("cubic", "pytorch_half_pixel", [1, 6, 6, 4], [1, 15, 9, 4]),
        ("cubic", "half_pixel", [1, 4, 13, 8], [1, 4, 13, 3]),       // only the last axis
        ("linear", "asymmetric", [1, 8, 5, 2], [1, 8, 11, 2]),       // only axis 2 (a middle one)
        ("linear", "pytorch_half_pixel", [1, 3, 20, 20], [1, 3, 40, 40]), // u2net's 2× upsampling, NCHW
        // upsampling runs rows first (each input row resized along w once)
        ("linear", "half_pixel", [1, 10, 10, 1], [1, 320, 320, 1]),     // a U-Net side output, 32×
        ("linear", "align_corners", [2, 7, 9, 16], [2, 14, 18, 16]),    // NHWC, 16 channels
        ("cubic", "half_pixel", [1, 5, 6, 3], [1, 17, 13, 3]),          // four taps per output row
        ("linear", "asymmetric", [1, 9, 4, 5], [1, 9, 8, 5]),           // h kept: one tap per row
    ]

    @Test(arguments: cases)
    func kernelEqualsTheDefinition(_ mode: String, _ transform: String, _ inShape: [Int], _ outShape: [Int]) throws {
        let node = Node(name: "resize", opType: "Resize", inputs: [], outputs: [],
                        attributes: ["mode": .string(mode), "coordinate_transformation_mode": .string(transform)])
        let scales = zip(inShape, outShape).map { Float($1) / Float($0) }
        let p = try ResizeInterpolation(node, inShape: inShape, outShape: outShape, scales: scales, roi: nil)
        let s = try #require(SpatialResize(p))
        let count = inShape.reduce(1, *), outCount = outShape.reduce(1, *)
        let x = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ ($0 >> 3) &* 29) }
        for signed in [false, true] {
            var want = [UInt8](repeating: 0, count: outCount), got = want
            x.withUnsafeBufferPointer { xp in want.withUnsafeMutableBufferPointer { p.runCodes(xp.baseAddress!, $0.baseAddress!, signed: signed) } }
            var workspace = [UInt8](repeating: 0, count: dyd_resize_x8_2d_workspace_size(s.inW, s.outW, s.inner))
            x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBufferPointer { yp in workspace.withUnsafeMutableBytes { w in
                s.run(xp.baseAddress!, yp.baseAddress!, signed: signed, workspace: w.baseAddress!)
            } } }
            #expect(got == want, "\(mode) \(transform) \(inShape) → \(outShape) signed \(signed)")
        }
    }

    @Test(arguments: cases)
    func floatKernelEqualsTheDefinitionBitForBit(_ mode: String, _ transform: String, _ inShape: [Int], _ outShape: [Int]) throws {
        let node = Node(name: "resize", opType: "Resize", inputs: [], outputs: [],
                        attributes: ["mode": .string(mode), "coordinate_transformation_mode": .string(transform)])
        let scales = zip(inShape, outShape).map { Float($1) / Float($0) }
        let p = try ResizeInterpolation(node, inShape: inShape, outShape: outShape, scales: scales, roi: nil)
        let s = try #require(SpatialResize(p))
        let count = inShape.reduce(1, *), outCount = outShape.reduce(1, *)
        // Values of mixed magnitudes and signs, so the order of the additions shows.
        let x: [Float] = (0..<count).map { i in
            let magnitude: Float = i % 3 == 0 ? 1e-3 : 1.37
            return Float((i &* 7919) % 2003 - 1001) * magnitude
        }
        var want = [Float](repeating: 0, count: outCount), got = want
        x.withUnsafeBufferPointer { xp in want.withUnsafeMutableBufferPointer { p.run(xp.baseAddress!, $0.baseAddress!) } }
        var workspace = [UInt8](repeating: 0, count: dyd_resize_f32_2d_workspace_size(s.inW, s.inner))
        x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBufferPointer { yp in workspace.withUnsafeMutableBytes { w in
            s.run(xp.baseAddress!, yp.baseAddress!, workspace: w.baseAddress!)
        } } }
        #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "\(mode) \(transform) \(inShape) → \(outShape)")
    }
}
