import DyadicKernels
import Foundation

/// LSTM and GRU (ONNX semantics: forward, reverse, bidirectional; initial states;
/// sequence_lens; peepholes; clip; both layouts). The input projections of all time
/// steps are one float32 GEMM; each step adds one GEMM of the hidden state.
enum Recurrent {
    struct Activation {
        let apply: (Float) -> Float
    }

    static func activation(_ node: Node, _ name: String, alpha: Float?, beta: Float?) throws -> Activation {
        switch name.lowercased() {
        case "sigmoid": return Activation(apply: Elementwise.sigmoid)
        case "tanh": return Activation(apply: { Foundation.tanh($0) })
        case "relu": return Activation(apply: { max($0, 0) })
        case "hardsigmoid":
            let a = alpha ?? 0.2, b = beta ?? 0.5
            return Activation(apply: { max(0, min(1, a * $0 + b)) })
        case "leakyrelu":
            let a = alpha ?? 0.01
            return Activation(apply: { $0 >= 0 ? $0 : a * $0 })
        case "affine":
            let a = alpha ?? 1, b = beta ?? 0
            return Activation(apply: { a * $0 + b })
        case "scaledtanh":
            let a = alpha ?? 1, b = beta ?? 1
            return Activation(apply: { a * Foundation.tanh(b * $0) })
        case "softsign": return Activation(apply: { $0 / (1 + abs($0)) })
        case "softplus": return Activation(apply: { Foundation.log1p(Foundation.exp($0)) })
        default: throw node.unsupported("activation '\(name)'")
        }
    }

    /// The activations of each direction (`perDirection` per direction, defaults filled in).
    static func activations(_ node: Node, directions: Int, defaults: [String]) throws -> [[Activation]] {
        let names: [String]
        if case .strings(let list)? = node.attributes["activations"] { names = list } else { names = [] }
        let alphas = try node.floats("activation_alpha") ?? [], betas = try node.floats("activation_beta") ?? []
        let k = defaults.count
        if !names.isEmpty, names.count != k * directions {
            throw node.invalid("activations lists \(names.count) functions, \(k * directions) expected")
        }
        // Alphas and betas are consumed in order by the functions that take them.
        var ai = 0, bi = 0
        return try (0..<directions).map { d in
            try (0..<k).map { j in
                let name = names.isEmpty ? defaults[j] : names[d * k + j]
                let takesAlpha = ["hardsigmoid", "leakyrelu", "affine", "scaledtanh", "thresholdedrelu", "elu"].contains(name.lowercased())
                let takesBeta = ["hardsigmoid", "affine", "scaledtanh"].contains(name.lowercased())
                let a: Float? = takesAlpha && ai < alphas.count ? alphas[ai] : nil
                let b: Float? = takesBeta && bi < betas.count ? betas[bi] : nil
                if takesAlpha && !names.isEmpty { ai += 1 }
                if takesBeta && !names.isEmpty { bi += 1 }
                return try activation(node, name, alpha: a, beta: b)
            }
        }
    }

    struct Dimensions {
        var seq: Int, batch: Int, input: Int, hidden: Int, directions: Int, layout: Int
    }

    static func dimensions(_ node: Node, x: [Int], w: [Int], gates: Int) throws -> Dimensions {
        let layout = try node.int("layout", default: 0)
        guard x.count == 3, w.count == 3 else { throw node.invalid("X and W must have rank 3") }
        let direction = try node.string("direction", default: "forward")
        guard ["forward", "reverse", "bidirectional"].contains(direction) else { throw node.invalid("direction '\(direction)' is not valid") }
        let dirs = direction == "bidirectional" ? 2 : 1
        let hidden = try node.int("hidden_size", default: w[1] / gates)
        guard w[0] == dirs, w[1] == gates * hidden, w[2] == x[2], hidden > 0 else {
            throw node.invalid("W \(w.shapeString) does not fit X \(x.shapeString), \(dirs) direction(s) and hidden size \(hidden)")
        }
        return Dimensions(seq: layout == 0 ? x[0] : x[1], batch: layout == 0 ? x[1] : x[0], input: x[2], hidden: hidden,
                          directions: dirs, layout: layout)
    }

    static func outputShapes(_ node: Node, x: [Int], w: [Int]) throws -> [[Int]] {
        let d = try dimensions(node, x: x, w: w, gates: node.opType == "LSTM" ? 4 : 3)
        let y = d.layout == 0 ? [d.seq, d.directions, d.batch, d.hidden] : [d.batch, d.seq, d.directions, d.hidden]
        let state = d.layout == 0 ? [d.directions, d.batch, d.hidden] : [d.batch, d.directions, d.hidden]
        return [y, state, state]
    }

    /// C = A·Bᵀ (A m×k, B n×k), float32: through the engine's GEMM kernel, or for a
    /// few rows (a recurrent step of a small batch) as dot products, which read B once
    /// instead of packing it first.
    static func multiplyTransposed(_ a: UnsafePointer<Float>, m: Int, k: Int, _ b: UnsafePointer<Float>, n: Int, into c: UnsafeMutablePointer<Float>) {
        guard m <= 4 else {
            dyd_f32_gemm(m, n, k, a, k, b, k, 1, c, n)
            return
        }
        for i in 0..<m {
            for j in 0..<n { c[i * n + j] = dot(a + i * k, b + j * k, k) }
        }
    }

    /// Σ x[i]·y[i] with eight partial sums.
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ k: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= k {
            acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var sum = acc.sum()
        while i < k { sum += x[i] * y[i]; i += 1 }
        return sum
    }

    /// Runs LSTM or GRU; inputs as ONNX orders them (nil where omitted).
    static func run(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
        let isLSTM = node.opType == "LSTM"
        let known: Set<String> = ["activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout",
                                  isLSTM ? "input_forget" : "linear_before_reset"]
        try node.checkAttributes(known: known)
        let gates = isLSTM ? 4 : 3
        guard inputs.count >= 3, let x = inputs[0], let w = inputs[1], let r = inputs[2] else { throw node.invalid("X, W and R are required") }
        guard x.dtype == .float32, w.dtype == .float32, r.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        func optional(_ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }
        let d = try dimensions(node, x: x.shape, w: w.shape, gates: gates)
        let (T, N, I, H, D) = (d.seq, d.batch, d.input, d.hidden, d.directions)
        guard r.shape == [D, gates * H, H] else { throw node.invalid("R must be \([D, gates * H, H].shapeString), not \(r.shape.shapeString)") }
        if isLSTM, try node.int("input_forget", default: 0) != 0 { throw node.unsupported("input_forget") }
        let linearBeforeReset = try !isLSTM && node.int("linear_before_reset", default: 0) != 0
        let clip = try node.float("clip", default: .infinity)
        let acts = try activations(node, directions: D, defaults: isLSTM ? ["Sigmoid", "Tanh", "Tanh"] : ["Sigmoid", "Tanh"])
        let bias = optional(3)?.floats ?? [Float](repeating: 0, count: D * 2 * gates * H)
        guard bias.count == D * 2 * gates * H else { throw node.invalid("B must have \(D * 2 * gates * H) values") }
        let lengths: [Int] = try optional(4).map { t in
            let v = t.int64Values.map { Int($0) }
            guard v.count == N, v.allSatisfy({ $0 >= 0 && $0 <= T }) else { throw node.invalid("sequence_lens must be \(N) lengths within 0...\(T)") }
            return v
        } ?? Array(repeating: T, count: N)
        // States and X in layout 0 ([dir][batch][H], [T][N][I]).
        func layout0State(_ t: Tensor?, _ what: String) throws -> [Float] {
            guard let t else { return [Float](repeating: 0, count: D * N * H) }
            guard t.count == D * N * H, t.dtype == .float32 else { throw node.invalid("\(what) must have \(D * N * H) float values") }
            return d.layout == 0 ? t.floats : DataMovement.transpose(t, perm: [1, 0, 2]).floats
        }
        let h0 = try layout0State(optional(5), "initial_h")
        let c0 = isLSTM ? try layout0State(optional(6), "initial_c") : []
        let peep = isLSTM ? optional(7)?.floats : nil
        if let peep, peep.count != D * 3 * H { throw node.invalid("P must have \(D * 3 * H) values") }
        let xs = d.layout == 0 ? x.floats : DataMovement.transpose(x, perm: [1, 0, 2]).floats
        let wv = w.floats, rv = r.floats

        var y = [Float](repeating: 0, count: T * D * N * H)
        var yh = [Float](repeating: 0, count: D * N * H), yc = yh
        let reverseOnly = try node.string("direction", default: "forward") == "reverse"
        for dir in 0..<D {
            let reverse = reverseOnly || dir == 1
            let fx = acts[dir][0].apply, gx = acts[dir][1].apply, hx = isLSTM ? acts[dir][2].apply : gx
            // All time steps' input projections at once: [T·N, G·H].
            var xw = [Float](repeating: 0, count: T * N * gates * H)
            if T * N > 0 {
                xs.withUnsafeBufferPointer { a in
                    wv.withUnsafeBufferPointer { b in
                        xw.withUnsafeMutableBufferPointer { c in
                            multiplyTransposed(a.baseAddress!, m: T * N, k: I, b.baseAddress! + dir * gates * H * I, n: gates * H, into: c.baseAddress!)
                        }
                    }
                }
            }
            let p = peep.map { Array($0[(dir * 3 * H)..<((dir + 1) * 3 * H)]) }
            let wb = Array(bias[(dir * 2 * gates * H)..<(dir * 2 * gates * H + gates * H)])
            let rb = Array(bias[(dir * 2 * gates * H + gates * H)..<((dir + 1) * 2 * gates * H)])
            var h = Array(h0[(dir * N * H)..<((dir + 1) * N * H)])
            var c = isLSTM ? Array(c0[(dir * N * H)..<((dir + 1) * N * H)]) : []
            var hr = [Float](repeating: 0, count: N * gates * H)
            for step in 0..<T {
                h.withUnsafeBufferPointer { a in
                    rv.withUnsafeBufferPointer { b in
                        hr.withUnsafeMutableBufferPointer { out in
                            multiplyTransposed(a.baseAddress!, m: N, k: H, b.baseAddress! + dir * gates * H * H, n: gates * H, into: out.baseAddress!)
                        }
                    }
                }
                for b in 0..<N {
                    let len = lengths[b]
                    guard step < len else { continue }
                    let t = reverse ? len - 1 - step : step
                    let xrow = (t * N + b) * gates * H, hrow = b * gates * H
                    func pre(_ gate: Int, _ j: Int) -> Float {
                        let v = xw[xrow + gate * H + j] + wb[gate * H + j] + hr[hrow + gate * H + j] + rb[gate * H + j]
                        return clip.isFinite ? min(max(v, -clip), clip) : v
                    }
                    var newH = [Float](repeating: 0, count: H)
                    if isLSTM {
                        for j in 0..<H {
                            let cPrev = c[b * H + j]
                            var iv = pre(0, j), fv = pre(2, j)
                            if let p { iv += p[j] * cPrev; fv += p[2 * H + j] * cPrev }
                            let ig = fx(iv), fg = fx(fv), cand = gx(pre(3, j))
                            let cNew = fg * cPrev + ig * cand
                            var ov = pre(1, j)
                            if let p { ov += p[H + j] * cNew }
                            c[b * H + j] = cNew
                            newH[j] = fx(ov) * hx(cNew)
                        }
                    } else {
                        let z = (0..<H).map { fx(pre(0, $0)) }, reset = (0..<H).map { fx(pre(1, $0)) }
                        // Without linear_before_reset the candidate multiplies (r ⊙ h) by Rh.
                        let resetH = (0..<H).map { reset[$0] * h[b * H + $0] }
                        let rh = dir * gates * H * H + 2 * H * H
                        for j in 0..<H {
                            var candidate = xw[xrow + 2 * H + j] + wb[2 * H + j]
                            if linearBeforeReset {
                                candidate += reset[j] * (hr[hrow + 2 * H + j] + rb[2 * H + j])
                            } else {
                                var acc: Float = 0
                                for k in 0..<H { acc += resetH[k] * rv[rh + j * H + k] }
                                candidate += acc + rb[2 * H + j]
                            }
                            if clip.isFinite { candidate = min(max(candidate, -clip), clip) }
                            newH[j] = (1 - z[j]) * gx(candidate) + z[j] * h[b * H + j]
                        }
                    }
                    for j in 0..<H {
                        h[b * H + j] = newH[j]
                        y[((t * D + dir) * N + b) * H + j] = newH[j]
                    }
                }
            }
            for i in 0..<(N * H) {
                yh[dir * N * H + i] = h[i]
                if isLSTM { yc[dir * N * H + i] = c[i] }
            }
        }
        var yT = Tensor(y, shape: [T, D, N, H])
        var hT = Tensor(yh, shape: [D, N, H]), cT = Tensor(yc, shape: [D, N, H])
        if d.layout != 0 {
            yT = DataMovement.transpose(yT, perm: [2, 0, 1, 3])
            hT = DataMovement.transpose(hT, perm: [1, 0, 2])
            cT = DataMovement.transpose(cT, perm: [1, 0, 2])
        }
        return isLSTM ? [yT, hT, cT] : [yT, hT]
    }
}
