import Dispatch
import DyadicKernels

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
    /// threads − 1 workers that split layers with the calling thread.
    let pool: OpaquePointer

    /// Throws when the operating system cannot start the worker threads.
    init(plan: Plan, threads: Int) throws {
        self.plan = plan
        self.threads = max(1, threads)
        // Before anything is allocated: a throwing init does not run deinit.
        guard let pool = dyd_pool_create(self.threads) else { throw DyadicError("cannot start \(self.threads) threads") }
        self.pool = pool
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
        dyd_pool_destroy(pool)
        arena.deallocate()
        workspace.deallocate()
    }

    // MARK: Running

    // The loops below index instead of using for-in: unoptimized builds allocate
    // an iterator box per element for arrays of existentials, and `run` must not
    // touch the heap in any build.

    /// Runs every layer once. The loop has no profiling hooks.
    public func run() {
        failure = nil
        let layers = plan.layers
        var i = 0
        while i < layers.count {
            layers[i].run(self)
            i += 1
        }
    }

    /// Runs every layer once, reporting each layer's span to `profiler` when one is given.
    public func run(profiler: Profiler?) {
        failure = nil
        self.profiler = profiler
        profiler?.beginRun()
        let layers = plan.layers
        var i = 0
        while i < layers.count {
            profiler?.beginLayer(i)
            layers[i].run(self)
            profiler?.endLayer()
            i += 1
        }
        profiler?.endRun()
        self.profiler = nil
    }

    /// Runs every layer once and calls `observe(i)` after layer i. Layer i's outputs can
    /// be read there (`tensor(_:)`): later layers may reuse their memory. For tools that
    /// look inside a run (calibration, per-layer accuracy); it may allocate.
    public func run(observing observe: (Int) throws -> Void) rethrows {
        failure = nil
        for (i, layer) in plan.layers.enumerated() {
            layer.run(self)
            try observe(i)
        }
    }

    // MARK: Inputs and outputs

    /// Copies `tensor` into the graph input `name`; its type and shape must be the plan's.
    public func setInput(_ name: String, _ tensor: Tensor) throws {
        var k = 0
        while k < plan.inputs.count && plan.inputs[k].name != name { k += 1 }
        guard k < plan.inputs.count else {
            throw DyadicError("input '\(name)' is not an input of the plan (inputs: \(plan.inputs.map(\.name).joined(separator: ", ")))")
        }
        let value = plan.inputs[k].value
        let v = plan.values[value]
        guard tensor.dtype == v.dtype, tensor.shape == v.shape else {
            throw DyadicError("input '\(name)' is \(tensor.dtype)\(tensor.shape.shapeString), the plan expects \(v.dtype)\(v.shape.shapeString)")
        }
        store(tensor, into: value)
    }

    /// The bytes of graph output `name` (as `tensor(_:)` lays them out), valid inside `body`.
    public func withOutput<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let value = try outputValue(name)
        return try body(UnsafeRawBufferPointer(start: pointer(value), count: plan.byteCounts[value]))
    }

    /// Graph output `name` as a tensor (a copy).
    public func output(_ name: String) throws -> Tensor { tensor(try outputValue(name)) }

    private func outputValue(_ name: String) throws -> Int {
        guard let value = plan.outputs.first(where: { $0.name == name })?.value else {
            throw DyadicError("'\(name)' is not an output of the plan")
        }
        return value
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
        let n = plan.byteCounts[value]
        precondition(tensor.bytes.count == n, "stored tensor size mismatch")
        if n == 0 { return }
        let destination = pointer(value)
        tensor.bytes.withUnsafeBufferPointer { destination.copyMemory(from: $0.baseAddress!, byteCount: n) }
    }

    /// Runs a layer's tiles split into at most `threads` contiguous ranges, range w
    /// on worker w (its scratch memory); with one thread, all on the calling thread.
    /// The split depends only on the tile count and `threads`, and tiles write
    /// disjoint memory, so results do not depend on which thread runs what.
    public func parallelFor(_ layer: TiledLayer) {
        let tiles = layer.tiles
        if tiles <= 0 { return }
        let workers = min(threads, tiles)
        if workers == 1 {
            layer.runTiles(0, tiles, worker: 0, self)
            return
        }
        // The job lives on this stack frame for the duration of the call; a C
        // function pointer and a context keep the call free of heap allocation.
        var job = ParallelJob(tiles: tiles, workers: workers, layer: layer, context: self, profiler: profiler)
        withUnsafeMutablePointer(to: &job) { dyd_pool_run(pool, workers, $0, ParallelJob.work) }
    }
}

/// What one parallelFor hands to each worker.
private struct ParallelJob {
    let tiles: Int, workers: Int
    unowned(unsafe) let layer: TiledLayer
    unowned(unsafe) let context: ExecutionContext
    let profiler: Profiler?

    static let work: @convention(c) (UnsafeMutableRawPointer?, Int) -> Void = { raw, w in
        let job = raw!.assumingMemoryBound(to: ParallelJob.self)
        let tiles = job.pointee.tiles, workers = job.pointee.workers
        let start = tiles * w / workers, end = tiles * (w + 1) / workers
        guard end > start else { return }
        if let profiler = job.pointee.profiler {
            let t0 = profiler.clock()
            job.pointee.layer.runTiles(start, end - start, worker: w, job.pointee.context)
            profiler.workerSpan(w, start: t0, end: profiler.clock())
        } else {
            job.pointee.layer.runTiles(start, end - start, worker: w, job.pointee.context)
        }
    }
}
