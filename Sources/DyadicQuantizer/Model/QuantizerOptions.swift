/// What `ModelQuantizer` does; the defaults are the `quantize` tool's.
public struct QuantizerOptions: Sendable {
    /// fp8: W4A8-FP8 on every layer (4-bit weights through FP8 tables, FP8 activations).
    public enum Weights: String, Sendable, CaseIterable { case int8, int4, mixed, fp8 }
    /// gptq for integer weights, dpq for fp8; rtn for either.
    public enum Method: String, Sendable, CaseIterable { case rtn, gptq, dpq }
    public enum RangeMethod: String, Sendable, CaseIterable { case minmax, percentile, mse }
    /// The sensitivity the allocation minimises: HAWQ's tr(H)/n·‖ΔW‖²; the full quadratic form
    /// Σ ΔwHΔwᵀ (GPTQ moves error into directions the trace form over-counts); or the measured
    /// model-output noise power with only that layer quantized (10^(−SQNR/10), the default:
    /// it weighs each layer by how much the rest of the network amplifies its error, which
    /// neither layer-local form sees).
    public enum Objective: String, Sendable, CaseIterable { case trace, quadratic, output }

    /// uint8 asymmetric (ONNX Runtime's default) or int8 symmetric activations.
    public var signedActivations = false
    public var weights = Weights.int8
    public var method = Method.gptq
    public var ranges = RangeMethod.percentile
    public var objective = Objective.output
    /// For `RangeMethod.percentile`: the share of values kept inside the range.
    public var percentile = 99.99
    /// Budgets as ratios to the all-INT8 model (mixed precision only).
    public var sizeBudget: Double?
    public var bopsBudget: Double?
    public var latencyBudget: Double?
    public var latencyTable: LatencyTable?
    /// Layers (ONNX node names) kept at 8 bits, besides the first and last when `pinFirstLast`.
    public var keep8Bit: [String] = []
    /// Layers (ONNX node names) given a precision outright (mixed precision).
    public var pins: [String: String] = [:]
    /// The precisions `Weights.mixed` chooses from: "int8", "int4", "fp8".
    public var mixedCandidates = ["int8", "int4"]
    public var pinFirstLast = true
    /// Layers whose outputs meet at one Add (a residual block's paths) share a precision.
    public var tieResiduals = true
    /// Input rows per sample and layer that go into its Hessian.
    public var hessianRowsPerSample = 512
    /// Calibration samples used to measure each layer's output SQNR alone and for the report.
    public var sensitivitySamples = 4
    public var reportSamples = 8
    public var dampening = 0.01
    /// Adds −ΔW·E[x] to each layer's bias (E[x] from calibration), cancelling the mean shift
    /// that rounding the weights causes.
    public var biasCorrection = true

    public init() {}
}
