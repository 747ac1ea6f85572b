/// 1-D windows (Conv, ConvTranspose, pooling over [N, C, L]) run as 2-D ones over
/// [N, C, 1, L]: the shape gains a unit height and every window attribute a leading
/// entry that leaves it unchanged.
enum OneDimensional {
    static func shape(_ s: [Int]) -> [Int] { [s[0], s[1], 1, s[2]] }

    static func node(_ node: Node) throws -> Node {
        var n = node
        for key in ["kernel_shape", "strides", "dilations", "output_padding"] {
            guard let v = try node.ints(key) else { continue }
            guard v.count == 1 else { throw node.invalid("\(key) has \(v.count) values for a 1-D window") }
            n.attributes[key] = .ints([key == "kernel_shape" || key == "strides" || key == "dilations" ? 1 : 0, Int64(v[0])])
        }
        if let p = try node.ints("pads") {
            guard p.count == 2 else { throw node.invalid("pads has \(p.count) values for a 1-D window") }
            n.attributes["pads"] = .ints([0, Int64(p[0]), 0, Int64(p[1])])
        }
        if let o = try node.ints("output_shape") {
            n.attributes["output_shape"] = .ints([1] + o.suffix(1).map(Int64.init))
        }
        return n
    }
}
