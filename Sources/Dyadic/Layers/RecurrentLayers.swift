import DyadicKernels

/// Float32 LSTM with constant weights and the default activations (sigmoid, tanh,
/// tanh): every direction, both layouts, initial states, sequence_lens, peepholes and
/// clip, as ONNX defines them. Per direction the input projections of all time steps
/// are one packed GEMM with both biases folded in; each step adds one GEMM of the
/// hidden state and runs the gates on the vectorised exp-based sigmoid and tanh.
final class FloatLSTMLayer: Layer {
    let op = "LSTM"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly = false
    let kernel: String
    let workspaceSize: Int

    struct Direction {
        let input: KernelHandle      // X·Wᵀ + Wb + Rb
        let recurrent: KernelHandle  // h·Rᵀ
        let peephole: [Float]?       // [3H]: i, o, f
        let reverse: Bool
    }
    let directions: [Direction]
    let seq: Int, batch: Int, inputSize: Int, hidden: Int
    let batchMajor: Bool
    let clip: Float
    /// Input positions (nil when absent): sequence_lens (int32 or int64), initial_h, initial_c.
    let lengthsInput: Int?, initialH: Int?, initialC: Int?
    let lengthsAre64Bit: Bool
    /// Which of Y, Y_h, Y_c are written (their output positions, nil when absent).
    let yOutput: Int?, hOutput: Int?, cOutput: Int?
    var macs: Int { directions.count * seq * batch * 4 * hidden * (inputSize + hidden) }
    var details: String {
        "T \(seq) N \(batch) I \(inputSize) H \(hidden)" + (directions.count == 2 ? " bidirectional" : directions[0].reverse ? " reverse" : "")
    }

    struct Shape {
        var seq: Int, batch: Int, input: Int, hidden: Int
        var batchMajor: Bool
    }

    /// `w` [D][4H][I], `r` [D][4H][H], `bias` [D][8H] (Wb then Rb), `peephole` [D][3H] or nil.
    /// `inputs`: X, then the present optional inputs at the positions given.
    init(source: [String], inputs: [Int], lengths: (position: Int, is64Bit: Bool)?, initialH: Int?, initialC: Int?,
         outputs: [Int], y: Int?, h: Int?, c: Int?, shape: Shape, reverse: [Bool], w: [Float], r: [Float], bias: [Float],
         peephole: [Float]?, clip: Float, context: String) throws {
        sourceNodes = source
        self.inputs = inputs
        self.outputs = outputs
        (seq, batch, inputSize, hidden, batchMajor) = (shape.seq, shape.batch, shape.input, shape.hidden, shape.batchMajor)
        (lengthsInput, lengthsAre64Bit) = (lengths?.position, lengths?.is64Bit ?? false)
        (self.initialH, self.initialC, yOutput, hOutput, cOutput) = (initialH, initialC, y, h, c)
        self.clip = clip
        let (H, I, G) = (shape.hidden, shape.input, 4 * shape.hidden)
        func create(_ b: [Float], k: Int, bias: [Float]?) throws -> KernelHandle {
            var err = [CChar](repeating: 0, count: 256)
            let made: OpaquePointer? = b.withUnsafeBufferPointer { bp in
                (bias ?? []).withUnsafeBufferPointer { biasp in
                    var d = dyd_f32gemm_desc()
                    d.k = k
                    d.n = G
                    d.b = bp.baseAddress
                    d.bias = bias == nil ? nil : biasp.baseAddress
                    return dyd_f32gemm_create(&d, &err, err.count)
                }
            }
            guard let made else { throw DyadicError("\(context): \(kernelError(err))") }
            return KernelHandle(made, destroy: { dyd_f32gemm_destroy($0) })
        }
        directions = try reverse.indices.map { d in
            // Wᵀ and Rᵀ as the GEMM's [k][n] B; the two biases summed once.
            let wt = Lowering.transposed(Array(w[(d * G * I)..<((d + 1) * G * I)]), rows: G, columns: I)
            let rt = Lowering.transposed(Array(r[(d * G * H)..<((d + 1) * G * H)]), rows: G, columns: H)
            let b = (0..<G).map { bias[d * 2 * G + $0] + bias[d * 2 * G + G + $0] }
            return Direction(input: try create(wt, k: I, bias: b), recurrent: try create(rt, k: H, bias: nil),
                             peephole: peephole.map { Array($0[(d * 3 * H)..<((d + 1) * 3 * H)]) }, reverse: reverse[d])
        }
        kernel = String(cString: dyd_f32gemm_kernel_name(directions[0].input.op))
        let rows = shape.seq * shape.batch
        let gemmScratch = max(dyd_f32gemm_workspace_size(directions[0].input.op, rows),
                              dyd_f32gemm_workspace_size(directions[0].recurrent.op, shape.batch))
        // XW [T·N][4H], HR [N][4H], h and c [N][H], tanh(c) [H], then the GEMMs' scratch.
        workspaceSize = 4 * (rows * G + shape.batch * G + 2 * shape.batch * H + H) + 64 + gemmScratch
    }

    func run(_ context: ExecutionContext) {
        guard context.failure == nil else { return }
        let (T, N, H, G, D) = (seq, batch, hidden, 4 * hidden, directions.count)
        let scratch = context.workspace(0)
        let floats = scratch.assumingMemoryBound(to: Float.self)
        let xw = floats, hr = xw + T * N * G, h = hr + N * G, c = h + N * H, tanhC = c + N * H
        let gemmScratch = UnsafeMutableRawPointer(tanhC + H) + 64 - (Int(bitPattern: UnsafeMutableRawPointer(tanhC + H)) & 63)
        let x = context.pointer(inputs[0]).assumingMemoryBound(to: Float.self)
        var lengths = [Int](repeating: T, count: N)
        if let p = lengthsInput {
            let raw = UnsafeRawPointer(context.pointer(inputs[p]))
            for b in 0..<N {
                let v = lengthsAre64Bit ? Int(raw.load(fromByteOffset: b * 8, as: Int64.self)) : Int(raw.load(fromByteOffset: b * 4, as: Int32.self))
                guard v >= 0 && v <= T else {
                    context.failure = DyadicError("\(sourceNodes[0]): sequence_lens[\(b)] = \(v) is outside 0...\(T)")
                    return
                }
                lengths[b] = v
            }
        }
        let y = yOutput.map { context.pointer(outputs[$0]).assumingMemoryBound(to: Float.self) }
        if let y { y.initialize(repeating: 0, count: T * D * N * H) }
        // Row of (time t, batch b) in X and XW; element offset of Y[t][d][b] (or [b][t][d]).
        func row(_ t: Int, _ b: Int) -> Int { batchMajor ? b * T + t : t * N + b }
        func yOffset(_ t: Int, _ d: Int, _ b: Int) -> Int { (batchMajor ? (b * T + t) * D + d : (t * D + d) * N + b) * H }
        func stateOffset(_ d: Int, _ b: Int) -> Int { (batchMajor ? b * D + d : d * N + b) * H }
        for (d, direction) in directions.enumerated() {
            dyd_f32gemm_run(direction.input.op, T * N, x, inputSize, xw, G, 0, dyd_f32gemm_tile_count(direction.input.op, T * N), gemmScratch)
            for b in 0..<N {
                for (state, position) in [(h, initialH), (c, initialC)] {
                    if let position {
                        let s = context.pointer(inputs[position]).assumingMemoryBound(to: Float.self)
                        (state + b * H).update(from: s + stateOffset(d, b), count: H)
                    } else {
                        (state + b * H).initialize(repeating: 0, count: H)
                    }
                }
            }
            for step in 0..<T {
                dyd_f32gemm_run(direction.recurrent.op, N, h, H, hr, G, 0, dyd_f32gemm_tile_count(direction.recurrent.op, N), gemmScratch)
                for b in 0..<N where step < lengths[b] {
                    let t = direction.reverse ? lengths[b] - 1 - step : step
                    gates(hr + b * G, xw + row(t, b) * G, c: c + b * H, h: h + b * H, tanhC: tanhC, peephole: direction.peephole)
                    if let y { (y + yOffset(t, d, b)).update(from: h + b * H, count: H) }
                }
            }
            for b in 0..<N {
                if let o = hOutput { (context.pointer(outputs[o]).assumingMemoryBound(to: Float.self) + stateOffset(d, b)).update(from: h + b * H, count: H) }
                if let o = cOutput { (context.pointer(outputs[o]).assumingMemoryBound(to: Float.self) + stateOffset(d, b)).update(from: c + b * H, count: H) }
            }
        }
    }

    /// One batch row's step: g = HR + XW (gate order i, o, f, c), clipped; then
    /// c' = σ(f)·c + σ(i)·tanh(g_c) and h' = σ(o)·tanh(c'), peepholes added before the
    /// sigmoids (o's from c').
    private func gates(_ g: UnsafeMutablePointer<Float>, _ xw: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                       h: UnsafeMutablePointer<Float>, tanhC: UnsafeMutablePointer<Float>, peephole: [Float]?) {
        let H = hidden
        for j in 0..<4 * H { g[j] += xw[j] }
        if clip.isFinite { for j in 0..<4 * H { g[j] = min(max(g[j], -clip), clip) } }
        let (i, o, f, cand) = (g, g + H, g + 2 * H, g + 3 * H)
        if let p = peephole {
            for j in 0..<H {
                i[j] += p[j] * c[j]
                f[j] += p[2 * H + j] * c[j]
            }
            dyd_f32_map(DYD_F32_SIGMOID, i, i, H)
            dyd_f32_map(DYD_F32_SIGMOID, f, f, H)
        } else {
            dyd_f32_map(DYD_F32_SIGMOID, g, g, 3 * H)  // i, o and f in one call
        }
        dyd_f32_map(DYD_F32_TANH, cand, cand, H)
        for j in 0..<H { c[j] = f[j] * c[j] + i[j] * cand[j] }
        if let p = peephole {
            for j in 0..<H { o[j] += p[H + j] * c[j] }
            dyd_f32_map(DYD_F32_SIGMOID, o, o, H)
        }
        dyd_f32_map(DYD_F32_TANH, c, tanhC, H)
        for j in 0..<H { h[j] = o[j] * tanhC[j] }
    }
}
