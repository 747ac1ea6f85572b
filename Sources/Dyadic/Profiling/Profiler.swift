import Dispatch
#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#endif

/// Records when each layer of a plan runs, and on which threads its tiles ran.
///
/// Attach one to `ExecutionContext.run(profiler:)`; without one, the run loop has
/// no hooks at all (`ExecutionContext.run()` is a separate, hook-free loop). A
/// profiler belongs to one context: it is not shared between concurrent runs.
public final class Profiler: @unchecked Sendable {
    /// One span of work: a layer on the calling thread, or a range of its tiles on a worker.
    public struct Span: Sendable {
        public var run: Int
        public var layer: Int
        /// Nanoseconds since the profiler was made.
        public var start: UInt64
        public var end: UInt64
        public var thread: UInt64
    }

    public let layerCount: Int
    let origin: UInt64
    /// Per run, per layer: the whole layer on the calling thread.
    public private(set) var layerSpans: [Span] = []
    /// Per run: the whole plan.
    public private(set) var runSpans: [Span] = []
    /// Tile ranges run by workers (only when a layer is split across threads).
    public private(set) var workerSpans: [Span] = []

    private var run = -1
    private var layer = 0
    private var runStart: UInt64 = 0
    private var layerStart: UInt64 = 0
    /// Worker spans of the current layer, one slot per worker, written concurrently.
    private let slots: UnsafeMutablePointer<Span>
    private let slotCount: Int

    public init(layerCount: Int, maxThreads: Int) {
        self.layerCount = layerCount
        origin = DispatchTime.now().uptimeNanoseconds
        slotCount = max(1, maxThreads)
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: Span(run: -1, layer: -1, start: 0, end: 0, thread: 0), count: slotCount)
    }

    deinit { slots.deallocate() }

    /// Drops what was recorded (after warm-up runs, say).
    public func reset() {
        layerSpans.removeAll(keepingCapacity: true)
        runSpans.removeAll(keepingCapacity: true)
        workerSpans.removeAll(keepingCapacity: true)
        run = -1
    }

    public var runCount: Int { runSpans.count }

    @inline(__always) func clock() -> UInt64 { DispatchTime.now().uptimeNanoseconds - origin }

    func beginRun() {
        run += 1
        runStart = clock()
    }

    func endRun() {
        runSpans.append(Span(run: run, layer: -1, start: runStart, end: clock(), thread: Profiler.threadID()))
    }

    func beginLayer(_ index: Int) {
        layer = index
        for i in 0..<slotCount { slots[i].run = -1 }
        layerStart = clock()
    }

    func endLayer() {
        let end = clock()
        layerSpans.append(Span(run: run, layer: layer, start: layerStart, end: end, thread: Profiler.threadID()))
        for i in 0..<slotCount where slots[i].run == run { workerSpans.append(slots[i]) }
    }

    /// Called by worker `worker` around its share of the current layer's tiles.
    func workerSpan(_ worker: Int, start: UInt64, end: UInt64) {
        guard worker < slotCount else { return }
        slots[worker] = Span(run: run, layer: layer, start: start, end: end, thread: Profiler.threadID())
    }

    /// A number identifying the calling thread within this process.
    static func threadID() -> UInt64 {
        #if canImport(Darwin)
        var id: UInt64 = 0
        pthread_threadid_np(nil, &id)
        return id
        #else
        return UInt64(pthread_self())
        #endif
    }
}
