import Dispatch

/// Memory for one run of a plan: every value's bytes in one arena, plus workspace.
///
/// A context is created once and reused; running a plan in it allocates nothing
/// in the integer layers. Concurrent runs use one context each.
public final class ExecutionContext: @unchecked Sendable {
    let plan: Plan
    let arena: UnsafeMutableRawPointer
    let workspace: UnsafeMutableRawPointer
    let workspaceStride: Int
    public let threads: Int
    /// The first error of a reference layer in the current run (reference layers run on
    /// the calling thread, one after another).
    public var failure: DyadicError?

    init(plan: Plan, threads: Int) {
        self.plan = plan
        self.threads = max(1, threads)
        arena = UnsafeMutableRawPointer.allocate(byteCount: max(plan.arenaSize, 1), alignment: 64)
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
    public func parallelFor(_ tiles: Int, _ body: (Int, Int, Int) -> Void) {
        if tiles <= 0 { return }
        let workers = min(threads, tiles)
        if workers == 1 { body(0, tiles, 0); return }
        withoutActuallyEscaping(body) { body in
            // The tiles write disjoint memory; the closure only reads shared state.
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let start = tiles * w / workers, end = tiles * (w + 1) / workers
                if end > start { work(start, end - start, w) }
            }
        }
    }
}
