import Foundation

/// com.microsoft operators that ONNX Runtime's transformer optimizer and quantizers
/// write (fused GELU and LayerNorm forms, Attention, the dynamic and 4-bit MatMuls),
/// with the semantics of ONNX Runtime's contrib operator documentation, in float32.
enum ContribReference {
    static let ops: Set<String> = [
        "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "SkipLayerNormalization", "EmbedLayerNormalization", "Attention",
        "FusedMatMul", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "MatMulNBits",
    ]

    static func evaluate(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
        let x = { (i: Int) throws -> Tensor in
            guard i < inputs.count, let t = inputs[i] else { throw node.invalid("input \(i) is required") }
            return t
        }
        let optional = { (i: Int) -> Tensor? in i < inputs.count ? inputs[i] : nil }
        switch node.opType {
        case "Gelu":
            try node.checkAttributes(known: [])
            return [try unary(node, x(0), bias: nil, erfGelu)]
        case "BiasGelu":
            try node.checkAttributes(known: [])
            return [try unary(node, x(0), bias: x(1), erfGelu)]
        case "FastGelu":
            try node.checkAttributes(known: [])
            return [try unary(node, x(0), bias: optional(1), tanhGelu)]
        case "QuickGelu":
            try node.checkAttributes(known: ["alpha"])
            let alpha = try node.float("alpha", default: 1.702)
            return [try unary(node, x(0), bias: nil) { $0 / (1 + Foundation.exp(-alpha * $0)) }]
        case "SkipLayerNormalization":
            return try skipLayerNormalization(node, x(0), x(1), x(2), optional(3), optional(4))
        case "EmbedLayerNormalization":
            return try embedLayerNormalization(node, inputs)
        case "Attention":
            return [try attention(node, inputs)]
        case "FusedMatMul":
            return [try fusedMatMul(node, x(0), x(1))]
        case "MatMulIntegerToFloat":
            try node.checkAttributes(known: [])
            return [try integerToFloat(node, x(0), x(1), aScale: x(2), bScale: x(3), aZeroPoint: optional(4), bZeroPoint: optional(5), bias: optional(6))]
        case "DynamicQuantizeMatMul":
            try node.checkAttributes(known: [])
            let q = try Quantization.dynamicQuantizeLinear(Node(name: node.name, opType: "DynamicQuantizeLinear", inputs: [], outputs: []), x(0))
            return [try integerToFloat(node, q[0], x(1), aScale: q[1], bScale: x(2), aZeroPoint: q[2], bZeroPoint: optional(3), bias: optional(4))]
        case "MatMulNBits":
            let w = try nbitsWeights(node, x(1), scales: x(2), zeroPoints: optional(3), groupIndex: optional(4))
            var y = try Convolution.matmulFloat(Node(name: node.name, opType: "MatMul", inputs: [], outputs: []), x(0), w)
            if let bias = optional(5) { y = try addLastAxis(node, y, bias) }
            return [y]
        default:
            throw node.unsupported("op")
        }
    }

    static let erfGelu: @Sendable (Float) -> Float = { 0.5 * $0 * (1 + Foundation.erf($0 / Float(2).squareRoot())) }
    static let tanhGelu: @Sendable (Float) -> Float = { x in
        0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }

    /// f(x + bias), the bias broadcast along the last axis.
    static func unary(_ node: Node, _ x: Tensor, bias: Tensor?, _ f: (Float) -> Float) throws -> Tensor {
        guard x.dtype == .float32 else { throw node.unsupported("element type \(x.dtype)") }
        let v = bias.map { try? addLastAxis(node, x, $0) } ?? x
        guard let v else { throw node.invalid("bias does not match the last axis of \(x.shape.shapeString)") }
        return Tensor(v.floats.map(f), shape: x.shape)
    }

    static func addLastAxis(_ node: Node, _ x: Tensor, _ bias: Tensor) throws -> Tensor {
        let n = x.shape.last ?? 1
        guard bias.count == n, bias.dtype == .float32 else { throw node.invalid("bias has \(bias.count) values for a last axis of \(n)") }
        let b = bias.floats
        var v = x.floats
        for i in 0..<v.count { v[i] += b[i % n] }
        return Tensor(v, shape: x.shape)
    }

    /// Layer normalization of rows of `hidden` values: (x − mean)/sqrt(var + ε)·γ + β.
    static func normalizeRows(_ v: [Float], hidden: Int, gamma: [Float], beta: [Float]?, epsilon: Float) -> (y: [Float], mean: [Float], invStd: [Float]) {
        let rows = v.count / max(hidden, 1)
        var y = [Float](repeating: 0, count: v.count), means = [Float](), invs = [Float]()
        for r in 0..<rows {
            let row = v[(r * hidden)..<((r + 1) * hidden)]
            let mean = row.reduce(0, +) / Float(hidden)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(hidden)
            let inv = 1 / (variance + epsilon).squareRoot()
            for (i, value) in row.enumerated() {
                y[r * hidden + i] = (value - mean) * inv * gamma[i] + (beta?[i] ?? 0)
            }
            means.append(mean)
            invs.append(inv)
        }
        return (y, means, invs)
    }

    /// SkipLayerNormalization: LN(input + skip + bias); outputs the normalized value,
    /// the mean and inverse standard deviation per row, and the sum itself.
    static func skipLayerNormalization(_ node: Node, _ input: Tensor, _ skip: Tensor, _ gamma: Tensor, _ beta: Tensor?, _ bias: Tensor?) throws -> [Tensor] {
        try node.checkAttributes(known: ["epsilon"])
        let hidden = input.shape.last ?? 0
        guard input.dtype == .float32, skip.dtype == .float32, gamma.count == hidden, beta.map({ $0.count == hidden }) ?? true else {
            throw node.invalid("input \(input.shape.shapeString), gamma \(gamma.shape.shapeString) and beta do not match")
        }
        // skip may be [B, S, H] or broadcast over the batch ([S, H] / [1, S, H]).
        guard skip.count > 0, input.count % skip.count == 0, skip.shape.last == hidden else {
            throw node.invalid("skip \(skip.shape.shapeString) does not broadcast to \(input.shape.shapeString)")
        }
        var sum = input.floats
        let s = skip.floats
        for i in 0..<sum.count { sum[i] += s[i % s.count] }
        if let bias {
            guard bias.count == hidden else { throw node.invalid("bias has \(bias.count) values for \(hidden)") }
            let b = bias.floats
            for i in 0..<sum.count { sum[i] += b[i % hidden] }
        }
        let (y, mean, inv) = normalizeRows(sum, hidden: hidden, gamma: gamma.floats, beta: beta?.floats,
                                           epsilon: try node.float("epsilon", default: 1e-12))
        let statShape = Array(input.shape.dropLast()) + [1]
        return [Tensor(y, shape: input.shape), Tensor(mean, shape: statShape), Tensor(inv, shape: statShape), Tensor(sum, shape: input.shape)]
    }

    /// EmbedLayerNormalization: word + position (+ segment) embeddings, layer-normalized;
    /// mask_index is the number of mask ones per sequence.
    static func embedLayerNormalization(_ node: Node, _ inputs: [Tensor?]) throws -> [Tensor] {
        try node.checkAttributes(known: ["epsilon", "mask_index_type"])
        func input(_ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }
        guard let ids = input(0), let word = input(2), let position = input(3), let gamma = input(5), let beta = input(6) else {
            throw node.invalid("needs input_ids, word_embedding, position_embedding, gamma and beta")
        }
        guard ids.shape.count == 2, word.shape.count == 2, position.shape.count == 2 else {
            throw node.invalid("input_ids must be [batch, sequence] and the embeddings 2-D")
        }
        let (batch, sequence) = (ids.shape[0], ids.shape[1]), hidden = word.shape[1]
        guard position.shape[1] == hidden, gamma.count == hidden, beta.count == hidden else { throw node.invalid("embedding widths differ") }
        let tokens = ids.int64Values, segments = input(1)?.int64Values
        let positions = input(8)?.int64Values
        let (w, p, sEmb) = (word.floats, position.floats, input(4)?.floats)
        var sum = [Float](repeating: 0, count: batch * sequence * hidden)
        for b in 0..<batch {
            for t in 0..<sequence {
                let token = Int(tokens[b * sequence + t])
                let pos = positions.map { Int($0[$0.count == sequence ? t : b * sequence + t]) } ?? t
                guard token >= 0 && token < word.shape[0] else { throw node.invalid("token id \(token) is outside the vocabulary of \(word.shape[0])") }
                guard pos >= 0 && pos < position.shape[0] else { throw node.invalid("position \(pos) is outside the table of \(position.shape[0])") }
                let out = (b * sequence + t) * hidden
                for h in 0..<hidden { sum[out + h] = w[token * hidden + h] + p[pos * hidden + h] }
                if let segments, let sEmb {
                    let segment = Int(segments[b * sequence + t])
                    guard segment >= 0 && segment * hidden < sEmb.count else { throw node.invalid("segment id \(segment) is outside the table") }
                    for h in 0..<hidden { sum[out + h] += sEmb[segment * hidden + h] }
                }
            }
        }
        let (y, _, _) = normalizeRows(sum, hidden: hidden, gamma: gamma.floats, beta: beta.floats, epsilon: try node.float("epsilon", default: 1e-12))
        let mask = input(7)?.int64Values
        let maskIndex = (0..<batch).map { b in Int32(mask.map { m in (0..<sequence).filter { m[b * sequence + $0] != 0 }.count } ?? sequence) }
        return [Tensor(y, shape: [batch, sequence, hidden]), Tensor(maskIndex, shape: [batch]), Tensor(sum, shape: [batch, sequence, hidden])]
    }

    /// Multi-head self-attention: QKV = input·W + bias, softmax(Q·Kᵀ·scale + mask)·V per
    /// head. mask_index: [batch] valid lengths, [2·batch] end and start positions,
    /// [batch, total] or [batch, sequence, total] raw masks (0 = masked).
    static func attention(_ node: Node, _ inputs: [Tensor?]) throws -> Tensor {
        try node.checkAttributes(known: ["num_heads", "unidirectional", "qkv_hidden_sizes", "mask_filter_value", "scale", "do_rotary", "past_present_share_buffer"])
        func input(_ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }
        guard let x = input(0), let w = input(1) else { throw node.invalid("needs input and weights") }
        if input(4) != nil || input(5) != nil { throw node.unsupported("past state or relative position bias") }
        if node.outputs.count > 1, !node.outputs[1].isEmpty { throw node.unsupported("the present output") }
        if try node.int("do_rotary", default: 0) != 0 { throw node.unsupported("rotary embeddings") }
        guard x.shape.count == 3, w.shape.count == 2, w.shape[0] == x.shape[2] else {
            throw node.invalid("input \(x.shape.shapeString) and weights \(w.shape.shapeString) do not match")
        }
        let heads = try node.int("num_heads", default: 0)
        let sizes = try node.ints("qkv_hidden_sizes") ?? [w.shape[1] / 3, w.shape[1] / 3, w.shape[1] / 3]
        guard heads > 0, sizes.count == 3, sizes.reduce(0, +) == w.shape[1], sizes[0] == sizes[1], sizes[0] % heads == 0, sizes[2] % heads == 0 else {
            throw node.invalid("num_heads \(heads) and qkv_hidden_sizes \(sizes) do not split weights \(w.shape.shapeString)")
        }
        let (batch, sequence, width) = (x.shape[0], x.shape[1], w.shape[1])
        var qkv = try Convolution.matmulFloat(Node(name: node.name, opType: "MatMul", inputs: [], outputs: []), x, w)
        if let bias = input(2) { qkv = try addLastAxis(node, qkv, bias) }
        let p = qkv.floats
        let (headSize, valueSize) = (sizes[0] / heads, sizes[2] / heads)
        let scale = try node.float("scale", default: 1 / Float(headSize).squareRoot())
        let filter = try node.float("mask_filter_value", default: -10000)
        let unidirectional = try node.int("unidirectional", default: 0) != 0
        // Additive mask per (batch, query, key).
        let mask = input(3)
        let m = mask?.int64Values
        func masked(_ b: Int, _ i: Int, _ j: Int) throws -> Bool {
            if unidirectional && j > i { return true }
            guard let mask, let m else { return false }
            switch mask.shape.count {
            case 1 where mask.count == batch: return j >= Int(m[b])
            case 1 where mask.count == 2 * batch: return j >= Int(m[b]) || j < Int(m[batch + b])
            case 2 where mask.shape == [batch, sequence]: return m[b * sequence + j] == 0
            case 3 where mask.shape == [batch, sequence, sequence]: return m[(b * sequence + i) * sequence + j] == 0
            default: throw node.unsupported("mask_index of shape \(mask.shape.shapeString)")
            }
        }
        var out = [Float](repeating: 0, count: batch * sequence * sizes[2])
        var scores = [Float](repeating: 0, count: sequence)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<sequence {
                    let q = (b * sequence + i) * width + h * headSize
                    var largest = -Float.infinity
                    for j in 0..<sequence {
                        let k = (b * sequence + j) * width + sizes[0] + h * headSize
                        var dot: Float = 0
                        for d in 0..<headSize { dot += p[q + d] * p[k + d] }
                        scores[j] = dot * scale + (try masked(b, i, j) ? filter : 0)
                        largest = max(largest, scores[j])
                    }
                    var total: Float = 0
                    for j in 0..<sequence { scores[j] = Foundation.exp(scores[j] - largest); total += scores[j] }
                    let o = (b * sequence + i) * sizes[2] + h * valueSize
                    for j in 0..<sequence {
                        let weight = scores[j] / total
                        let v = (b * sequence + j) * width + sizes[0] + sizes[1] + h * valueSize
                        for d in 0..<valueSize { out[o + d] += weight * p[v + d] }
                    }
                }
            }
        }
        return Tensor(out, shape: [batch, sequence, sizes[2]])
    }

    /// FusedMatMul: alpha · op(A) · op(B), op transposing the last two axes on request.
    static func fusedMatMul(_ node: Node, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try node.checkAttributes(known: ["alpha", "transA", "transB", "transBatchA", "transBatchB"])
        if try node.int("transBatchA", default: 0) != 0 || node.int("transBatchB", default: 0) != 0 {
            throw node.unsupported("transBatchA/transBatchB")
        }
        func swapLast(_ t: Tensor) throws -> Tensor {
            let r = t.shape.count
            guard r >= 2 else { return t }
            var perm = Array(0..<r)
            perm.swapAt(r - 1, r - 2)
            return DataMovement.transpose(t, perm: perm)
        }
        let lhs = try node.int("transA", default: 0) != 0 ? try swapLast(a) : a
        let rhs = try node.int("transB", default: 0) != 0 ? try swapLast(b) : b
        let y = try Convolution.matmulFloat(Node(name: node.name, opType: "MatMul", inputs: [], outputs: []), lhs, rhs)
        let alpha = try node.float("alpha", default: 1)
        return alpha == 1 ? y : Tensor(y.floats.map { $0 * alpha }, shape: y.shape)
    }

    /// (A − a_zp)(B − b_zp) · a_scale · b_scale[n] + bias[n], in int32 then float.
    static func integerToFloat(_ node: Node, _ a: Tensor, _ b: Tensor, aScale: Tensor, bScale: Tensor, aZeroPoint: Tensor?,
                               bZeroPoint: Tensor?, bias: Tensor?) throws -> Tensor {
        guard aScale.count == 1 else { throw node.unsupported("a per-row scale for A") }
        let product = try Convolution.matmulInteger(Node(name: node.name, opType: "MatMulInteger", inputs: [], outputs: []), a, b, aZeroPoint, bZeroPoint)
        let n = product.shape.last ?? 1
        let sb = bScale.floats
        guard sb.count == 1 || sb.count == n else { throw node.invalid("b_scale has \(sb.count) values for \(n) columns") }
        let sa = aScale.floats[0]
        let acc = product.int32Values
        var y = (0..<acc.count).map { Float(acc[$0]) * (sa * sb[sb.count == 1 ? 0 : $0 % n]) }
        if let bias {
            guard bias.count == n else { throw node.invalid("bias has \(bias.count) values for \(n) columns") }
            let bv = bias.floats
            for i in 0..<y.count { y[i] += bv[i % n] }
        }
        return Tensor(y, shape: product.shape)
    }

    /// MatMulNBits' weights as a float [K, N] matrix: B holds, per output column n and
    /// block of `block_size` rows, the `bits`-bit codes packed low bits first; a code
    /// q means (q − zp)·scale, zp defaulting to 2^(bits−1).
    static func nbitsWeights(_ node: Node, _ b: Tensor, scales: Tensor, zeroPoints: Tensor?, groupIndex: Tensor?) throws -> Tensor {
        try node.checkAttributes(known: ["K", "N", "bits", "block_size", "accuracy_level"])
        if groupIndex != nil { throw node.unsupported("g_idx") }
        let k = try node.int("K", default: 0), n = try node.int("N", default: 0)
        let bits = try node.int("bits", default: 4), blockSize = try node.int("block_size", default: 0)
        guard [2, 4, 8].contains(bits) else { throw node.unsupported("\(bits)-bit weights") }
        guard k > 0, n > 0, blockSize >= 16, blockSize & (blockSize - 1) == 0 else {
            throw node.invalid("K \(k), N \(n) and block_size \(blockSize) must be positive (block_size a power of two ≥ 16)")
        }
        let blocks = (k + blockSize - 1) / blockSize, blob = blockSize * bits / 8
        guard b.dtype == .uint8, b.count == n * blocks * blob else {
            throw node.invalid("B has \(b.count) bytes, expected \(n)·\(blocks)·\(blob) for K \(k), N \(n), \(bits) bits, blocks of \(blockSize)")
        }
        let s = scales.floats
        guard s.count == n * blocks else { throw node.invalid("scales has \(s.count) values, expected \(n * blocks)") }
        let perByte = 8 / bits, mask = (1 << bits) - 1
        let zpRow = (blocks * bits + 7) / 8
        let zp: (Int, Int) throws -> Float
        if let zeroPoints {
            if zeroPoints.dtype == .uint8 {
                guard zeroPoints.count == n * zpRow else { throw node.invalid("zero_points has \(zeroPoints.count) bytes, expected \(n * zpRow)") }
                let z = zeroPoints.bytes
                zp = { col, block in Float((Int(z[col * zpRow + block / perByte]) >> ((block % perByte) * bits)) & mask) }
            } else {
                let z = zeroPoints.floats
                guard z.count == n * blocks else { throw node.invalid("zero_points has \(z.count) values, expected \(n * blocks)") }
                zp = { col, block in z[col * blocks + block] }
            }
        } else {
            let middle = Float(1 << (bits - 1))
            zp = { _, _ in middle }
        }
        let bytes = b.bytes
        var w = [Float](repeating: 0, count: k * n)
        for col in 0..<n {
            for block in 0..<blocks {
                let scale = s[col * blocks + block], zero = try zp(col, block)
                let base = (col * blocks + block) * blob
                for i in 0..<blockSize {
                    let row = block * blockSize + i
                    guard row < k else { break }
                    let code = (Int(bytes[base + i / perByte]) >> ((i % perByte) * bits)) & mask
                    w[row * n + col] = (Float(code) - zero) * scale
                }
            }
        }
        return Tensor(w, shape: [k, n])
    }
}
