import Dyadic
import DyadicKernels
import Foundation

/// One candidate precision of a layer, quantized.
public struct LayerCandidate: Sendable {
    public var label: String
    public var weights: LayerWeights
    /// Ω = Σ over groups of tr(H)/n · ‖Q(W) − W‖² (HAWQ's form) for the chosen method, and for round-to-nearest.
    public var omega: Double
    public var omegaRTN: Double
    /// Σ over groups and rows of Δw H Δwᵀ, for the chosen method and for round-to-nearest.
    public var quadratic: Double
    public var quadraticRTN: Double
    /// What the allocation minimises.
    public func objective(_ kind: QuantizerOptions.Objective) -> Double {
        switch kind {
        case .trace: omega
        case .quadratic: quadratic
        case .output: outputSQNR.map { $0.isFinite ? pow(10, -$0 / 10) : 0 } ?? quadratic
        }
    }
    /// The model output's SQNR (dB) against the float model when only this layer is quantized.
    public var outputSQNR: Double?
    /// The dequantized weight in the tensor's own layout.
    public var reconstructed: [Float]
}

/// Everything the quantizer decided and measured.
public struct QuantizationResult: Sendable {
    public var graph: Graph
    public var layers: [QuantizableLayer]
    public var candidates: [String: [LayerCandidate]]
    public var chosen: [String: String]
    public var allocation: BitAllocation?
    public var dimensions: [String]
    /// Per dimension: the all-INT8 total and the budget (nil when not constrained).
    public var int8Totals: [Double]
    public var budgets: [Double?]
    /// Latency of the layers the quantizer does not choose (from the first latency file).
    public var fixedLatency: Double
    public var activationCount: Int
    public var method: QuantizerOptions.Method
    public var objective: QuantizerOptions.Objective
}

/// Stages the quantizer reports progress for.
public enum QuantizerStage: String, Sendable {
    case calibration = "calibrating"
    case weights = "quantizing weights"
    case sensitivity = "measuring sensitivity"
    case report = "comparing with the float model"
}

public enum ModelQuantizer {
    /// The `latency` tool's precision name of each candidate.
    static let latencyNames = ["int8": "int8", "int4": "w4a8", "fp8": "w4a8-fp8"]
    /// E4M3 round trip (round to nearest even, saturating), as the engine converts.
    static let fp8: @Sendable (Float) -> Float = { dyd_fp8_e4m3_to_f32(dyd_fp8_e4m3_from_f32($0, 1)) }

    public static func quantize(_ graph: Graph, samples: [Tensor], options: QuantizerOptions,
                                progress: (QuantizerStage, Int, Int) -> Void = { _, _, _ in }) throws -> QuantizationResult {
        guard graph.opset >= 13 else {
            throw QuantizerError("the model uses opset \(graph.opset); quantize needs opset 13 or later (per-channel DequantizeLinear)")
        }
        guard graph.inputs.count == 1, graph.inputs[0].dtype == .float32 else {
            throw QuantizerError("quantize needs a model with one float input (this one has \(graph.inputs.map { "'\($0.name)' \($0.dtype)" }.joined(separator: ", ")))")
        }
        guard !samples.isEmpty else { throw QuantizerError("no calibration samples") }
        // Option conflicts fail before any calibration work.
        if options.latencyBudget != nil && options.latencyTable == nil {
            throw QuantizerError("--latency-budget needs --latency-table (the latency tool's per-layer CSV of each precision)")
        }
        if options.weights == .mixed && options.objective == .output && options.sensitivitySamples == 0 {
            throw QuantizerError("the output objective measures each layer on calibration samples: --sensitivity-samples must be at least 1")
        }
        let inputName = graph.inputs[0].name
        let layers = try QuantizableLayer.find(in: graph)
        guard !layers.isEmpty else { throw QuantizerError("the model has no Conv, Gemm or MatMul with constant float weights to quantize") }

        // Float values of the model, from its plan (every value kept, as calibration sees them).
        let session = try Session(graph: graph, options: SessionOptions(observable: true))
        _ = try session.run([inputName: samples[0]])
        guard let plan = session.plan else { throw QuantizerError("the float model has no plan") }
        let floatValues = Set(plan.values.filter { $0.dtype == .float32 && $0.constant == nil }.map(\.name))
        let points = QDQGraphBuilder.activationPoints(graph: graph, floatValues: floatValues)

        // 1. Calibration: ranges and Hessians.
        let pass = CalibrationPass(graph: graph, layers: layers, activations: Set(points), rowsPerSample: options.hessianRowsPerSample)
        let stats = try pass.run(samples: samples, inputName: inputName) { progress(.calibration, $0, samples.count) }
        let precisions: [String] = switch options.weights {
        case .int8: ["int8"]
        case .int4: ["int4"]
        case .mixed: options.mixedCandidates
        case .fp8: ["fp8"]
        }
        var activations: [String: ActivationQuantization] = [:], fp8Activations: [String: ActivationQuantization] = [:]
        for name in points {
            guard let observer = stats.ranges[name] else { continue }
            activations[name] = activationParameters(observer, options)
            if precisions.contains("fp8") { fp8Activations[name] = fp8Parameters(observer, options) }
        }

        // 2. Candidates per layer.
        var candidates: [String: [LayerCandidate]] = [:]
        for (i, layer) in layers.enumerated() {
            let w = graph.initializers[layer.weightName]!
            let matrices = layer.matrices(w)
            let hessians = stats.hessians[layer.name]!.map(\.hessian)
            let means = stats.hessians[layer.name]!.map(\.mean)
            candidates[layer.name] = try precisions.map { precision in
                var c = precision == "fp8" ? try dpqCandidate(layer, matrices: matrices, hessians: hessians, options: options)
                    : try candidate(layer, matrices: matrices, hessians: hessians, bits: precision == "int8" ? 8 : 4, options: options)
                if options.biasCorrection && layer.kind != .matmul {
                    c.weights.biasCorrection = biasCorrection(matrices, reconstructed: layer.matrices(Tensor(c.reconstructed, shape: layer.weightShape)), means: means)
                }
                return c
            }
            progress(.weights, i + 1, layers.count)
        }

        // 3. Allocation.
        var chosen: [String: String] = [:]
        var allocation: BitAllocation?
        let macs = layerMACs(plan: plan, layers: layers)
        let dimensions = ["weight bytes", "BOPS", "latency us"]
        var costs: [String: [String: [Double]]] = [:]
        var fixedLatency = 0.0
        if let table = options.latencyTable {
            let names = Set(layers.map(\.name))
            fixedLatency = table.firstFile.filter { !names.contains($0.name) }.reduce(0) { $0 + $1.microseconds }
        }
        for layer in layers {
            for c in candidates[layer.name]! {
                let bytes = storedBytes(layer, c.weights)
                // FP8 layers multiply 8-bit floats: counted as 8×8-bit operations.
                let bops = Double(macs[layer.name] ?? 0) * Double(c.weights.fp8Groups == nil ? c.weights.bits : 8) * 8
                var latency = 0.0
                if let table = options.latencyTable {
                    guard let us = table.layers[layer.name]?[latencyNames[c.label]!] else {
                        throw QuantizerError("the latency table has no \(latencyNames[c.label]!) row for layer '\(layer.name)'")
                    }
                    latency = us
                }
                costs[layer.name, default: [:]][c.label] = [bytes, bops, latency]
            }
        }
        // The all-INT8 model: one byte per weight, 8×8-bit MACs, the INT8 latency table.
        let int8Totals = [
            Double(layers.reduce(0) { $0 + $1.weightCount }),
            Double(layers.reduce(0) { $0 + (macs[$1.name] ?? 0) * 64 }),
            layers.reduce(fixedLatency) { $0 + (options.latencyTable?.layers[$1.name]?["int8"] ?? 0) },
        ]
        var budgets: [Double?] = [options.sizeBudget.map { $0 * int8Totals[0] }, options.bopsBudget.map { $0 * int8Totals[1] },
                                  options.latencyBudget.map { $0 * int8Totals[2] }]
        if options.weights == .mixed {
            if options.sensitivitySamples > 0 {
                try measureSensitivity(graph, layers: layers, candidates: &candidates,
                                       samples: Array(samples.prefix(options.sensitivitySamples)), inputName: inputName,
                                       progress: { progress(.sensitivity, $0, $1) })
            }
            let problem = try allocationProblem(graph: graph, layers: layers, candidates: candidates, costs: costs,
                                                budgets: budgets, fixedLatency: fixedLatency, options: options)
            do {
                let a = try BitAllocator.solve(problem)
                allocation = a
                for (layer, label) in zip(layers, a.labels) { chosen[layer.name] = label }
            } catch {
                throw QuantizerError(error.description)
            }
        } else {
            budgets = [nil, nil, nil]
            for layer in layers { chosen[layer.name] = precisions[0] }
        }

        // 4. The QDQ model.
        var weights: [String: LayerWeights] = [:]
        for layer in layers {
            weights[layer.name] = candidates[layer.name]!.first { $0.label == chosen[layer.name] }!.weights
        }
        var builder = QDQGraphBuilder(graph: graph, layers: layers, weights: weights, activations: activations,
                                      activationType: options.signedActivations ? .int8 : .uint8)
        builder.fp8Activations = fp8Activations
        return QuantizationResult(graph: try builder.build(), layers: layers, candidates: candidates, chosen: chosen,
                                  allocation: allocation, dimensions: dimensions, int8Totals: int8Totals, budgets: budgets,
                                  fixedLatency: fixedLatency, activationCount: activations.count, method: options.method,
                                  objective: options.objective)
    }

    static func activationParameters(_ o: RangeObserver, _ options: QuantizerOptions) -> ActivationQuantization {
        let signed = options.signedActivations
        let (lower, upper): (Float, Float)
        switch options.ranges {
        case .minmax: (lower, upper) = o.count > 0 ? (o.minimum, o.maximum) : (0, 0)
        case .percentile: (lower, upper) = o.percentileRange(options.percentile)
        case .mse: (lower, upper) = o.mseOptimalRange(bits: 8, signed: signed, symmetric: signed)
        }
        return .integer(lower: lower, upper: upper, bits: 8, signed: signed, symmetric: signed)
    }

    static func candidate(_ layer: QuantizableLayer, matrices: [WeightMatrix], hessians: [Hessian], bits: Int,
                          options: QuantizerOptions) throws -> LayerCandidate {
        try assemble(layer, label: bits == 8 ? "int8" : "int4", bits: bits, fp8GroupSize: nil,
                     matrices: matrices, hessians: hessians) { m, h in
            // Below 8 bits the scales are searched for the least rounding error (clipping).
            let rtn = try RoundToNearest.quantize(m, bits: bits, clipSearch: bits < 8)
            var q = rtn
            if options.method == .gptq, h.trace > 0 {
                var gptq = GPTQOptions(bits: bits, dampening: options.dampening)
                gptq.clipSearch = bits < 8
                q = try GPTQ.quantize(m, hessian: h, options: gptq)
            }
            return (rtn.reconstructed, GroupRounding(codes: q.codes, reconstructed: q.reconstructed, channelScales: q.scales, groupScales: []))
        }
    }

    /// One weight group's rounding: codes and reconstruction (row-major), and its scales.
    struct GroupRounding {
        var codes: [Int8]
        var reconstructed: [Float]
        var channelScales: [Float]
        var groupScales: [Float]
    }

    /// A candidate from rounding each weight group: `round` gives round-to-nearest's
    /// reconstruction (for Ω and E of RTN) and the chosen method's rounding.
    static func assemble(_ layer: QuantizableLayer, label: String, bits: Int, fp8GroupSize: Int?,
                         matrices: [WeightMatrix], hessians: [Hessian],
                         round: (WeightMatrix, Hessian) throws -> (rtn: [Float], chosen: GroupRounding)) throws -> LayerCandidate {
        var codes: [[Float]] = [], recon: [[Float]] = [], channelScales: [Float] = [], groupScales: [Float] = []
        var omega = 0.0, omegaRTN = 0.0, quadratic = 0.0, quadraticRTN = 0.0
        for (m, h) in zip(matrices, hessians) {
            let (rtn, q) = try round(m, h)
            omegaRTN += Sensitivity.omega(hessian: h, original: m, quantized: rtn)
            quadraticRTN += Sensitivity.quadraticError(hessian: h, original: m, quantized: rtn)
            omega += Sensitivity.omega(hessian: h, original: m, quantized: q.reconstructed)
            quadratic += Sensitivity.quadraticError(hessian: h, original: m, quantized: q.reconstructed)
            codes.append(q.codes.map(Float.init))
            recon.append(q.reconstructed)
            channelScales += q.channelScales
            groupScales += q.groupScales
        }
        let weights = LayerWeights(bits: bits, codes: layer.tensorOrder(codes).map { Int8($0) }, scales: channelScales,
                                   fp8Groups: fp8GroupSize.map { ($0, groupScales) })
        return LayerCandidate(label: label, weights: weights, omega: omega, omegaRTN: omegaRTN, quadratic: quadratic,
                              quadraticRTN: quadraticRTN, outputSQNR: nil, reconstructed: layer.tensorOrder(recon))
    }

    /// Bytes Dyadic stores for a layer's weights: the codes (4-bit ones two per byte), and for
    /// FP8 layers a 16-byte table per group of each channel.
    public static func storedBytes(_ layer: QuantizableLayer, _ w: LayerWeights) -> Double {
        guard let groups = w.fp8Groups else { return Double(layer.weightCount * w.bits) / 8 }
        let k = layer.columnsPerGroup, perRow = (k + groups.size - 1) / groups.size
        return Double(layer.outputChannels * ((k + 1) / 2 + 16 * perRow))
    }

    /// FP8 activations: per tensor, scale = clip / 448, the clip by the range method.
    static func fp8Parameters(_ o: RangeObserver, _ options: QuantizerOptions) -> ActivationQuantization {
        let clip: Float = switch options.ranges {
        case .minmax: o.count > 0 ? max(abs(o.minimum), abs(o.maximum)) : 0
        case .percentile: o.absolutePercentile(options.percentile)
        case .mse: o.mseOptimalFP8Clip(fp8: fp8)
        }
        return .fp8(clip: clip)
    }

    /// W4A8-FP8: DPQ (or its round-to-nearest) with groups of 32 inputs where the weight's
    /// input axis holds a channel's inputs (1×1 convolutions, matrix products), else per channel.
    static func dpqCandidate(_ layer: QuantizableLayer, matrices: [WeightMatrix], hessians: [Hessian],
                             options: QuantizerOptions) throws -> LayerCandidate {
        let k = layer.columnsPerGroup
        let spatial = layer.kind == .conv ? layer.weightShape[2] * layer.weightShape[3] : 1
        let groupSize = spatial == 1 && layer.groups == 1 && k % 32 == 0 && k > 32 ? 32 : k
        return try assemble(layer, label: "fp8", bits: 4, fp8GroupSize: groupSize, matrices: matrices, hessians: hessians) { m, h in
            let rtn = try DPQ.roundToNearest(m, groupSize: groupSize, fp8: fp8)
            var q = rtn
            if options.method != .rtn, h.trace > 0 {  // dpq, or gptq in a mixed model
                q = try DPQ.quantize(m, hessian: h, groupSize: groupSize, dampening: options.dampening, fp8: fp8)
            }
            return (rtn.reconstructed, GroupRounding(codes: q.codes, reconstructed: q.reconstructed,
                                                     channelScales: q.channelScales, groupScales: q.groupScales))
        }
    }

    /// −ΔW·E[x] per output channel: the change of the layer's mean output that quantizing
    /// its weights causes on the calibration data, to be added to the bias.
    static func biasCorrection(_ original: [WeightMatrix], reconstructed: [WeightMatrix], means: [[Double]]) -> [Float] {
        var out: [Float] = []
        for (m, (q, mu)) in zip(original, zip(reconstructed, means)) {
            for r in 0..<m.rows {
                var shift = 0.0
                for c in 0..<m.columns { shift += (Double(q[r, c]) - Double(m[r, c])) * mu[c] }
                out.append(Float(-shift))
            }
        }
        return out
    }

    /// MACs per quantizable layer from the float plan's layers.
    static func layerMACs(plan: Plan, layers: [QuantizableLayer]) -> [String: Int] {
        var macs: [String: Int] = [:]
        for l in plan.layers { for s in l.sourceNodes { macs[s, default: 0] += l.macs } }
        return macs
    }

    /// The float model's output SQNR with one layer's weight replaced by each candidate's.
    static func measureSensitivity(_ graph: Graph, layers: [QuantizableLayer], candidates: inout [String: [LayerCandidate]],
                                   samples: [Tensor], inputName: String, progress: (Int, Int) -> Void) throws {
        let reference = try Session(graph: graph)
        let wanted = try samples.map { try reference.run([inputName: $0]) }
        let total = layers.reduce(0) { $0 + candidates[$1.name]!.count }
        var done = 0
        for layer in layers {
            for (ci, c) in candidates[layer.name]!.enumerated() {
                var g = graph
                g.initializers[layer.weightName] = Tensor(c.reconstructed, shape: layer.weightShape)
                let session = try Session(graph: g)
                var signal = 0.0, noise = 0.0
                for (sample, want) in zip(samples, wanted) {
                    let got = try session.run([inputName: sample])
                    for (name, w) in want {
                        for (a, b) in zip(w.floats, got[name]!.floats) {
                            signal += Double(a) * Double(a)
                            noise += Double(a - b) * Double(a - b)
                        }
                    }
                }
                candidates[layer.name]![ci].outputSQNR = noise > 0 ? 10 * log10(signal / noise) : .infinity
                done += 1
                progress(done, total)
            }
        }
    }

    static func allocationProblem(graph: Graph, layers: [QuantizableLayer], candidates: [String: [LayerCandidate]],
                                  costs: [String: [String: [Double]]], budgets: [Double?], fixedLatency: Double,
                                  options: QuantizerOptions) throws -> BitAllocationProblem {
        let allocationLayers = layers.map { l in
            AllocationLayer(name: l.name, options: candidates[l.name]!.map {
                PrecisionOption(label: $0.label, omega: $0.objective(options.objective), cost: costs[l.name]![$0.label]!)
            })
        }
        var pins: [Int: String] = [:]
        if options.pinFirstLast { pins[0] = "int8"; pins[layers.count - 1] = "int8" }
        for (name, label) in options.keep8Bit.map({ ($0, "int8") }) + options.pins.sorted(by: { $0.key < $1.key }) {
            guard let i = layers.firstIndex(where: { $0.name == name }) else {
                throw QuantizerError("pinned layer '\(name)' is not a Conv, Gemm or MatMul with constant weights (layers: \(layers.prefix(5).map(\.name).joined(separator: ", "))…)")
            }
            guard options.mixedCandidates.contains(label) else {
                throw QuantizerError("layer '\(name)' is pinned to \(label), which is not a candidate (\(options.mixedCandidates.joined(separator: ", ")))")
            }
            pins[i] = label
        }
        var b = budgets
        if let latency = b[2] { b[2] = latency - fixedLatency }
        return BitAllocationProblem(dimensions: ["weight bytes", "BOPS", "latency us"], budgets: b, layers: allocationLayers,
                                    ties: options.tieResiduals ? residualTies(graph: graph, layers: layers) : [], pins: pins)
    }

    /// Layers whose (activated) outputs are operands of the same Add, following chains of Adds:
    /// a residual block's main path and the block it skips around.
    static func residualTies(graph: Graph, layers: [QuantizableLayer]) -> [[Int]] {
        var producerOf: [String: Int] = [:]
        for (i, l) in layers.enumerated() { producerOf[l.quantizedOutput] = i }
        var addOperands: [String: [String]] = [:]
        for node in graph.nodes where node.opType == "Add" { addOperands[node.outputs[0]] = node.inputs }
        func sources(_ t: String) -> [Int] {
            if let i = producerOf[t] { return [i] }
            if let operands = addOperands[t] { return operands.flatMap(sources) }
            return []
        }
        return graph.nodes.filter { $0.opType == "Add" }.map { sources($0.outputs[0]) }.filter { $0.count > 1 }
    }
}
