import Dispatch

/// Memory for running a plan: every value's bytes in one arena, plus per-worker
/// workspace.
///
/// A context is made once and reused. After the first run, `setInput`, `run` and
/// `withOutput` allocate nothing on the heap for an integer-only plan. One context
/// serves one run at a time; concurrent runs of a plan use one context each.
public final class ExecutionContext: @unchecked Sendable {
    public let plan: Plan
    let arena: UnsafeMutableRawPointer
    let workspace: UnsafeMutableRawPointer
    let workspaceStride: Int
    /// Upper bound on the threads a layer's tiles are spread over.
    public let threads: Int
    /// The first error of a reference layer in the current run (reference layers run on
    /// the calling thread, one after another).
    public var failure: DyadicError?
    /// Set only during a profiled run.
    private(set) var profiler: Profiler?

    init(plan: Plan, threads: Int) {
        self.plan = plan
        self.threads = max(1, threads)
        arena = UnsafeMutableRawPointer.allocate(byteCount: max(plan.arenaSize, 1), alignment: MemoryPlan.alignment)
        workspaceStride = (plan.maxWorkspace + 63) & ~63
        workspace = UnsafeMutableRawPointer.allocate(byteCount: max(workspaceStride * self.threads, 1), alignment: 64)
        for (i, value) in plan.values.enumerated() {
            if let c = value.constant, c.count > 0 {
                c.bytes.withUnsafeBytes { arena.advanced(by: plan.offsets[i]).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        }
    }

    deinit {
        arena.deallocate()
        workspace.deallocate()
    }

    // MARK: Running

    /// Runs every layer once. The loop has no profiling hooks.
    public func run() {
        failure = nil
        for layer in plan.layers { layer.run(self) }
    }

    /// Runs every layer once, reporting each layer's span to `profiler` when one is given.
    public func run(profiler: Profiler?) {
        failure = nil
        self.profiler = profiler
        profiler?.beginRun()
        for (i, layer) in plan.layers.enumerated() {
            profiler?.beginLayer(i)
            layer.run(self)
            profiler?.endLayer()
        }
        profiler?.endRun()
        self.profiler = nil
    }

    // MARK: Inputs and outputs

    /// Copies `tensor` into the graph input `name`; its type and shape must be the plan's.
    public func setInput(_ name: String, _ tensor: Tensor) throws {
        guard let value = plan.inputs.first(where: { $0.name == name })?.value else {
            throw DyadicError("input '\(name)' is not an input of the plan (inputs: \(plan.inputs.map(\.name).joined(separator: ", ")))")
        }
        let v = plan.values[value]
        guard tensor.dtype == v.dtype, tensor.shape == v.shape else {
            throw DyadicError("input '\(name)' is \(tensor.dtype)\(tensor.shape.shapeString), the plan expects \(v.dtype)\(v.shape.shapeString)")
        }
        store(tensor, into: value)
    }

    /// The bytes of graph output `name` (as `tensor(_:)` lays them out), valid inside `body`.
    public func withOutput<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let value = plan.outputs.first(where: { $0.name == name })?.value else {
            throw DyadicError("'\(name)' is not an output of the plan")
        }
        return try body(UnsafeRawBufferPointer(start: pointer(value), count: plan.values[value].byteCount))
    }

    /// Graph output `name` as a tensor (a copy).
    public func output(_ name: String) throws -> Tensor {
        guard let value = plan.outputs.first(where: { $0.name == name })?.value else {
            throw DyadicError("'\(name)' is not an output of the plan")
        }
        return tensor(value)
    }

    // MARK: For layers

    @inline(__always)
    public func pointer(_ value: Int) -> UnsafeMutableRawPointer { arena.advanced(by: plan.offsets[value]) }

    /// Scratch memory of worker `worker` (0 ..< threads).
    @inline(__always)
    public func workspace(_ worker: Int) -> UnsafeMutableRawPointer { workspace.advanced(by: worker * workspaceStride) }

    public func tensor(_ value: Int) -> Tensor {
        let v = plan.values[value]
        let bytes = [UInt8](UnsafeRawBufferPointer(start: pointer(value), count: v.byteCount))
        return Tensor(dtype: v.dtype, shape: v.physicalShape, bytes: bytes)
    }

    public func store(_ tensor: Tensor, into value: Int) {
        precondition(tensor.bytes.count == plan.values[value].byteCount, "stored tensor size mismatch")
        if tensor.bytes.isEmpty { return }
        tensor.bytes.withUnsafeBytes { pointer(value).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Runs `body(start, count, worker)` over `[0, tiles)` split into at most `threads`
    /// contiguous ranges; with one thread everything runs on the calling thread.
    /// The split depends only on `tiles` and `threads`, and tiles write disjoint
    /// memory, so results do not depend on which thread runs what.
    public func parallelFor(_ tiles: Int, _ body: (Int, Int, Int) -> Void) {
        if tiles <= 0 { return }
        let workers = min(threads, tiles)
        if workers == 1 { body(0, tiles, 0); return }
        let profiler = profiler
        withoutActuallyEscaping(body) { body in
            // The tiles write disjoint memory; the closure only reads shared state.
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let start = tiles * w / workers, end = tiles * (w + 1) / workers
                guard end > start else { return }
                if let profiler {
                    let t0 = profiler.clock()
                    work(start, end - start, w)
                    profiler.workerSpan(w, start: t0, end: profiler.clock())
                } else {
                    work(start, end - start, w)
                }
            }
        }
    }
}
