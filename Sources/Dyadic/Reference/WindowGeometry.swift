/// The 2-D window geometry shared by Conv, pooling and their quantized forms:
/// kernel, strides, dilations and padding resolved from ONNX attributes
/// (explicit `pads` or `auto_pad`) for a given input size.
public struct WindowGeometry: Sendable, Equatable {
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    public var dilation: (h: Int, w: Int)
    /// top, left, bottom, right
    public var pads: (t: Int, l: Int, b: Int, r: Int)
    public var input: (h: Int, w: Int)
    public var output: (h: Int, w: Int)

    public static func == (a: WindowGeometry, b: WindowGeometry) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.dilation == b.dilation
            && a.pads == b.pads && a.input == b.input && a.output == b.output
    }

    /// - Parameters:
    ///   - kernelShape: from the weight tensor (conv) or `kernel_shape` (pooling).
    ///   - ceilMode: pooling's `ceil_mode`.
    public init(node: Node, inputH: Int, inputW: Int, kernelShape: [Int], ceilMode: Bool = false) throws {
        guard kernelShape.count == 2 else { throw node.unsupported("a \(kernelShape.count)-D window (only 2-D)") }
        // Every size below stays under 2^31, so the window arithmetic cannot overflow.
        let limit = Int(Int32.max)
        guard kernelShape.allSatisfy({ $0 >= 1 && $0 <= limit }) else {
            throw node.invalid("kernel shape \(kernelShape) must hold two sizes from 1 to 2^31 - 1")
        }
        guard inputH >= 0, inputH <= limit, inputW >= 0, inputW <= limit else {
            throw node.unsupported("a \(inputH)x\(inputW) input plane (at most 2^31 - 1 per side)")
        }
        if let k = try node.ints("kernel_shape"), k != kernelShape {
            throw node.invalid("kernel_shape \(k) does not match the weights \(kernelShape)")
        }
        let strides = try node.ints("strides") ?? [1, 1]
        let dilations = try node.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dilations.count == 2, (strides + dilations).allSatisfy({ $0 >= 1 && $0 <= limit }) else {
            throw node.invalid("strides \(strides) and dilations \(dilations) must be two values from 1 to 2^31 - 1")
        }
        kernel = (kernelShape[0], kernelShape[1])
        stride = (strides[0], strides[1])
        dilation = (dilations[0], dilations[1])
        input = (inputH, inputW)
        // Below 2^62: each factor is under 2^31.
        let effectiveH = (kernel.h - 1) * dilation.h + 1, effectiveW = (kernel.w - 1) * dilation.w + 1
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        switch autoPad {
        case "NOTSET":
            let p = try node.ints("pads") ?? [0, 0, 0, 0]
            guard p.count == 4, p.allSatisfy({ $0 >= 0 && $0 <= limit }) else {
                throw node.invalid("pads \(p) must be four values from 0 to 2^31 - 1")
            }
            pads = (p[0], p[1], p[2], p[3])
        case "VALID":
            pads = (0, 0, 0, 0)
        case "SAME_UPPER", "SAME_LOWER":
            func same(_ size: Int, _ s: Int, _ k: Int) -> (Int, Int) {
                let out = (size + s - 1) / s
                let total = max(0, (out - 1) * s + k - size)
                return autoPad == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let (t, b) = same(inputH, stride.h, effectiveH), (l, r) = same(inputW, stride.w, effectiveW)
            pads = (t, l, b, r)
        default:
            throw node.invalid("auto_pad '\(autoPad)' is not valid")
        }
        func outSize(_ size: Int, _ p0: Int, _ p1: Int, _ k: Int, _ s: Int) -> Int {
            let span = size + p0 + p1 - k
            if span < 0 { return 0 }
            if ceilMode {
                var o = (span + s - 1) / s + 1
                // The last window must start inside the input or the left padding.
                if (o - 1) * s >= size + p0 { o -= 1 }
                return o
            }
            return span / s + 1
        }
        output = (outSize(inputH, pads.t, pads.b, effectiveH, stride.h), outSize(inputW, pads.l, pads.r, effectiveW, stride.w))
        guard output.h > 0, output.w > 0 else {
            throw node.invalid("window \(kernel.h)x\(kernel.w) does not fit the \(inputH)x\(inputW) input")
        }
    }
}
