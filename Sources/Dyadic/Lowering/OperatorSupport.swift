/// The operators Dyadic imports, as `domain.op` for non-default domains.
public enum OperatorSupport {
    public static var all: [String] {
        var ops = ReferenceOps.supported
        ops.formUnion(["QLinearConv", "QLinearMatMul"])
        ops.formUnion(Lowering.contribOps.map { "com.microsoft.\($0)" })
        return ops.sorted()
    }
}
