import DyadicKernels

/// Float32 ConvTranspose with constant weights, NCHW: per image and group one GEMM
/// gives every (output channel, tap) row for every input pixel, cols = Wᵀ·X, then
/// col2im adds each row into the output at the tap's stride-spaced positions. The
/// weights are transposed once at load ([M/group·kh·kw][C/group] per group). A tile is
/// one (image, group); it owns that group's output planes.
final class FloatConvTransposeLayer: TiledLayer {
    let op = "ConvTranspose"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel: String
    let macs: Int
    let details: String
    let tiles: Int
    let workspaceSize: Int
    private let g: TransposedConvolution.Geometry
    private let batch: Int, groups: Int, cpg: Int, mpg: Int
    private let inH: Int, inW: Int
    private let transposedWeights: [Float]
    private let bias: [Float]?

    init(source: [String], input: Int, output: Int, inputShape: [Int], weights: Tensor, bias: [Float]?,
         geometry: TransposedConvolution.Geometry, groups: Int) {
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        g = geometry
        batch = inputShape[0]
        self.groups = groups
        cpg = inputShape[1] / groups
        mpg = weights.shape[1]
        (inH, inW) = (inputShape[2], inputShape[3])
        self.bias = bias
        let taps = g.kernel.h * g.kernel.w, rows = mpg * taps
        let w = weights.floats
        var t = [Float](repeating: 0, count: groups * rows * cpg)
        for grp in 0..<groups {
            for ic in 0..<cpg {
                for r in 0..<rows { t[(grp * rows + r) * cpg + ic] = w[((grp * cpg + ic) * mpg) * taps + r] }
            }
        }
        transposedWeights = t
        tiles = batch * groups
        workspaceSize = rows * inH * inW * MemoryLayout<Float>.size
        macs = batch * groups * rows * cpg * inH * inW
        kernel = String(cString: dyd_f32_gemm_kernel_name(dyd_active_isa())) + "+col2im"
        details = "k\(g.kernel.h)x\(g.kernel.w) s\(g.stride.h) g\(groups) \(cpg * groups)→\(mpg * groups)"
    }

    func runTiles(_ start: Int, _ count: Int, worker: Int, _ context: ExecutionContext) {
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        let y = context.pointer(outputs[0]).assumingMemoryBound(to: Float.self)
        let cols = context.workspace(worker).assumingMemoryBound(to: Float.self)
        let taps = g.kernel.h * g.kernel.w, rows = mpg * taps, pixels = inH * inW
        let (oh, ow) = g.output
        for tile in start..<(start + count) {
            let image = tile / groups, grp = tile % groups
            let xg = x + (image * groups + grp) * cpg * pixels
            transposedWeights.withUnsafeBufferPointer { w in
                dyd_f32_gemm(rows, pixels, cpg, w.baseAddress! + grp * rows * cpg, cpg, xg, pixels, 0, cols, pixels)
            }
            for j in 0..<mpg {
                let plane = y + ((image * groups + grp) * mpg + j) * oh * ow
                let b = bias?[grp * mpg + j] ?? 0
                for i in 0..<(oh * ow) { plane[i] = b }
                for ky in 0..<g.kernel.h {
                    for kx in 0..<g.kernel.w {
                        let row = cols + ((j * g.kernel.h + ky) * g.kernel.w + kx) * pixels
                        // Input columns whose tap lands inside the output row.
                        let off = kx * g.dilation.w - g.pads.l
                        var ix0 = 0
                        while ix0 < inW && ix0 * g.stride.w + off < 0 { ix0 += 1 }
                        var ix1 = inW
                        while ix1 > ix0 && (ix1 - 1) * g.stride.w + off >= ow { ix1 -= 1 }
                        for iy in 0..<inH {
                            let oy = iy * g.stride.h - g.pads.t + ky * g.dilation.h
                            guard oy >= 0 && oy < oh else { continue }
                            let src = row + iy * inW, dst = plane + oy * ow + off
                            if g.stride.w == 1 {
                                for ix in ix0..<ix1 { dst[ix] += src[ix] }
                            } else {
                                for ix in ix0..<ix1 { dst[ix * g.stride.w] += src[ix] }
                            }
                        }
                    }
                }
            }
        }
    }
}
