import Foundation

/// Resize with mode linear or cubic (ONNX opsets 11–19): separable interpolation
/// whose per-axis taps (source index and weight) are computed once from the node, so
/// the reference op and the float layer share one implementation.
///
/// Along an axis, output index o maps to the input coordinate x the
/// `coordinate_transformation_mode` defines; linear mixes floor(x) and floor(x) + 1,
/// cubic the four neighbours with Keys' kernel (`cubic_coeff_a`). Neighbours beyond
/// the edge repeat the edge value, or with `exclude_outside` get weight 0 and the rest
/// are renormalised. With tf_crop_and_resize a coordinate outside the input yields
/// `extrapolation_value`.
struct ResizeInterpolation: Sendable {
    struct Taps: Sendable {
        /// Per output index: the first tap's position in `index`/`weight`.
        var start: [Int]
        var index: [Int]
        var weight: [Float]
        /// The weights rounded to Q11 for `runCodes`, computed once.
        var integerWeight: [Int32] = []
        /// Output indices whose coordinate falls outside the input (tf_crop_and_resize).
        var outside: [Bool]
        var isIdentity: Bool
    }

    let inShape: [Int], outShape: [Int]
    let axes: [Taps]
    let extrapolation: Float

    init(_ node: Node, inShape: [Int], outShape: [Int], scales: [Float], roi: [Float]?) throws {
        let mode = try node.string("mode", default: "nearest")
        guard mode == "linear" || mode == "cubic" else { throw node.unsupported("resize mode '\(mode)'") }
        if try node.int("antialias", default: 0) != 0 { throw node.unsupported("antialias") }
        let policy = try node.string("keep_aspect_ratio_policy", default: "stretch")
        guard policy == "stretch" else { throw node.unsupported("keep_aspect_ratio_policy '\(policy)'") }
        let ct = try node.string("coordinate_transformation_mode", default: "half_pixel")
        let a = try node.float("cubic_coeff_a", default: -0.75)
        let excludeOutside = try node.int("exclude_outside", default: 0) != 0
        extrapolation = try node.float("extrapolation_value", default: 0)
        let rank = inShape.count
        guard outShape.count == rank, scales.count == rank else { throw node.invalid("scales or sizes do not match rank \(rank)") }
        if ct == "tf_crop_and_resize" {
            guard let roi, roi.count == 2 * rank else { throw node.invalid("tf_crop_and_resize needs roi with \(2 * rank) values") }
        }
        self.inShape = inShape
        self.outShape = outShape
        var axes: [Taps] = []
        for d in 0..<rank {
            let (inSize, outSize, scale) = (inShape[d], outShape[d], scales[d])
            guard inSize > 0, scale > 0, scale.isFinite else { throw node.invalid("axis \(d): scale \(scale) for size \(inSize)") }
            var taps = Taps(start: [], index: [], weight: [], outside: [], isIdentity: inSize == outSize && ct != "tf_crop_and_resize")
            if taps.isIdentity && scale == 1 {
                taps.start = Array(0...outSize)
                taps.index = Array(0..<outSize)
                taps.weight = Array(repeating: 1, count: outSize)
                taps.outside = Array(repeating: false, count: outSize)
                axes.append(taps)
                continue
            }
            taps.isIdentity = false
            for o in 0..<outSize {
                let x = try ResizeInterpolation.coordinate(ct, node: node, o: o, inSize: inSize, outSize: outSize, scale: scale,
                                                           roi: ct == "tf_crop_and_resize" ? roi.map { ($0[d], $0[d + rank]) } : nil)
                taps.start.append(taps.index.count)
                taps.outside.append(ct == "tf_crop_and_resize" && (x < 0 || x > Double(inSize - 1)))
                let i0 = Int(x.rounded(.down))
                let r = Float(x - Double(i0))
                let neighbours: [(Int, Float)]
                if mode == "linear" {
                    neighbours = [(i0, 1 - r), (i0 + 1, r)]
                } else {
                    let c0 = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a
                    let c1 = ((a + 2) * r - (a + 3)) * r * r + 1
                    let c2 = ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1
                    let c3 = ((a * (2 - r) - 5 * a) * (2 - r) + 8 * a) * (2 - r) - 4 * a
                    neighbours = [(i0 - 1, c0), (i0, c1), (i0 + 1, c2), (i0 + 2, c3)]
                }
                var kept = neighbours
                if excludeOutside {
                    kept = neighbours.filter { $0.0 >= 0 && $0.0 < inSize }
                    let sum = kept.map(\.1).reduce(0, +)
                    if sum != 0 { kept = kept.map { ($0.0, $0.1 / sum) } }
                }
                for (i, w) in kept {
                    taps.index.append(min(max(i, 0), inSize - 1))
                    taps.weight.append(w)
                }
            }
            taps.start.append(taps.index.count)
            let one = Float(1 << ResizeInterpolation.weightBits)
            taps.integerWeight = taps.weight.map { Int32(($0 * one).rounded()) }
            axes.append(taps)
        }
        self.axes = axes
    }

    /// The input coordinate of output index `o` along one axis.
    static func coordinate(_ ct: String, node: Node, o: Int, inSize: Int, outSize: Int, scale: Float,
                           roi: (Float, Float)?) throws -> Double {
        // ONNX measures the resized length as scale · length (not rounded) here.
        let of = Double(o), s = Double(scale), inD = Double(inSize), outD = s * inD
        switch ct {
        case "half_pixel": return (of + 0.5) / s - 0.5
        case "half_pixel_symmetric":
            let adjustment = Double(outSize) / outD
            let offset = inD / 2 * (1 - adjustment)
            return offset + (of + 0.5) / s - 0.5
        case "pytorch_half_pixel": return outD == 1 ? -0.5 : (of + 0.5) / s - 0.5
        case "align_corners": return outD == 1 ? 0 : of * (inD - 1) / (outD - 1)
        case "asymmetric": return of / s
        case "tf_half_pixel_for_nn": return (of + 0.5) / s
        case "tf_crop_and_resize":
            let (start, end) = (Double(roi!.0), Double(roi!.1))
            let count = Double(outSize)
            return outSize > 1 ? start * (inD - 1) + of * (end - start) * (inD - 1) / (count - 1) : 0.5 * (start + end) * (inD - 1)
        default: throw node.unsupported("coordinate_transformation_mode '\(ct)'")
        }
    }

    /// y = resize(x), both row-major float32 of `inShape` / `outShape`. The scaled axes
    /// are interpolated one after another (separable), through `scratch`.
    func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        // Apply the axes in turn, from the input to the output, each into a fresh buffer.
        var current = Array(UnsafeBufferPointer(start: x, count: inShape.reduce(1, *)))
        var shape = inShape
        for (d, taps) in axes.enumerated() where !taps.isIdentity {
            let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *)
            let (inSize, outSize) = (shape[d], outShape[d])
            var next = [Float](repeating: 0, count: outer * outSize * inner)
            current.withUnsafeBufferPointer { src in
                next.withUnsafeMutableBufferPointer { dst in
                    for o in 0..<outer {
                        let s = src.baseAddress! + o * inSize * inner
                        let t = dst.baseAddress! + o * outSize * inner
                        for j in 0..<outSize {
                            let row = t + j * inner
                            if taps.outside[j] {
                                row.update(repeating: extrapolation, count: inner)
                                continue
                            }
                            row.update(repeating: 0, count: inner)
                            for k in taps.start[j]..<taps.start[j + 1] {
                                let w = taps.weight[k], from = s + taps.index[k] * inner
                                for i in 0..<inner { row[i] += w * from[i] }
                            }
                        }
                    }
                }
            }
            current = next
            shape[d] = outSize
        }
        current.withUnsafeBufferPointer { y.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// Fraction bits of the integer weights.
    static let weightBits = 11

    /// Whether `runCodes` can run it: int32 sums hold at most two interpolated axes.
    var fitsIntegers: Bool { axes.filter { !$0.isIdentity }.count <= 2 && axes.allSatisfy { !$0.outside.contains(true) } }

    /// The interpolation on 8-bit codes in integers (a Resize of a quantized tensor with
    /// the same scale in and out): weights rounded to Q11, int32 sums across the axes,
    /// one rounding (half up) at the end, clamped to the type's range.
    func runCodes(_ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<UInt8>, signed: Bool) {
        let count = inShape.reduce(1, *)
        var current = (0..<count).map { signed ? Int32(Int8(bitPattern: x[$0])) : Int32(x[$0]) }
        var shape = inShape
        var passes = 0
        for (d, taps) in axes.enumerated() where !taps.isIdentity {
            let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *)
            let (inSize, outSize) = (shape[d], outShape[d])
            let weights = taps.integerWeight
            var next = [Int32](repeating: 0, count: outer * outSize * inner)
            current.withUnsafeBufferPointer { src in
                next.withUnsafeMutableBufferPointer { dst in
                    for o in 0..<outer {
                        let s = src.baseAddress! + o * inSize * inner
                        let t = dst.baseAddress! + o * outSize * inner
                        for j in 0..<outSize {
                            let row = t + j * inner
                            for k in taps.start[j]..<taps.start[j + 1] {
                                let w = weights[k], from = s + taps.index[k] * inner
                                for i in 0..<inner { row[i] &+= w &* from[i] }
                            }
                        }
                    }
                }
            }
            current = next
            shape[d] = outSize
            passes += 1
        }
        let shift = Int32(passes * ResizeInterpolation.weightBits)
        let (low, high): (Int32, Int32) = signed ? (-128, 127) : (0, 255)
        for i in 0..<current.count {
            let rounded = shift == 0 ? current[i] : (current[i] &+ (1 << (shift - 1))) >> shift
            let v = min(max(rounded, low), high)
            y[i] = signed ? UInt8(bitPattern: Int8(v)) : UInt8(v)
        }
    }
}
