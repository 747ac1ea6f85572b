/// Size arithmetic on dimensions that come from a model or an input: products checked
/// for overflow, so a huge declared size is an error rather than a trap.
extension Array where Element == Int {
    /// The product of the dimensions, or nil when one is negative or it overflows.
    var checkedProduct: Int? {
        var product = 1
        for d in self {
            guard d >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            product = next
        }
        return product
    }

    /// The bytes of a tensor of this shape with `elementSize`-byte elements, or nil when a
    /// dimension is negative or the size overflows.
    func checkedByteCount(elementSize: Int) -> Int? {
        guard let count = checkedProduct else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: elementSize)
        return overflow ? nil : bytes
    }
}
