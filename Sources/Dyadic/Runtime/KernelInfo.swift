import DyadicKernels

/// What the C kernels chose for this process.
public enum KernelInfo {
    /// The instruction-set level of the kernel bundles: detected, capped by `DYADIC_ISA`.
    public static var activeISA: String { String(cString: dyd_isa_name(dyd_active_isa())) }
    /// The best level this CPU supports.
    public static var detectedISA: String { String(cString: dyd_isa_name(dyd_detected_isa())) }
}
