/// Exact integer division by a divisor fixed for many numerators (a row's sum or
/// square root), without a 64-bit hardware division per element: a double multiply by
/// 1/d lands within one of the quotient for |numerator| < 2^52 and 0 < d < 2^52, and one
/// integer comparison corrects it. Truncates toward zero, as `/` does.
struct ReciprocalDivisor {
    let divisor: Int64
    let reciprocal: Double

    init(_ divisor: Int64) {
        self.divisor = divisor
        reciprocal = 1 / Double(divisor)
    }

    /// Signed conversions only: each is one instruction on x86-64, unsigned ones are not.
    @inline(__always)
    func quotient(_ numerator: Int64) -> Int64 {
        let magnitude = numerator < 0 ? 0 &- numerator : numerator
        var q = Int64(Double(magnitude) * reciprocal)
        let product = q &* divisor
        if product > magnitude { q &-= 1 } else if magnitude &- product >= divisor { q &+= 1 }
        return numerator < 0 ? 0 &- q : q
    }
}
