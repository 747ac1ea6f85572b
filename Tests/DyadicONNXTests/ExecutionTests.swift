import AllocationCounter
import Dyadic
import DyadicONNX
import Foundation
import Testing

/// After its first run, a context runs an integer-only plan without touching the heap.
/// Counted on the calling thread, which runs every layer and, with several threads,
/// a share of every split layer's tiles (other tests run in parallel, so a
/// process-wide count would see their allocations).
@Suite(.serialized) struct AllocationTests {
    static let counting = allocation_counter_available() == 1

    @Test func counterWorksWhereExpected() {
        #expect(allocation_counter_available() == allocation_counter_expected(),
                "the counting allocator should be active in glibc builds without sanitizers")
    }

    @Test(.enabled(if: counting, "needs the counting allocator (glibc, no sanitizer)"), arguments: [1, 2])
    func runsAllocateNothing(threads: Int) throws {
        let session = try Session(onnxPath: EfficientNetFixture.model("qdq"))
        let context = try session.makeContext(threads: threads)
        let input = try NumpyFile.read(path: Repo.path("models/efficientnet-lite0-int8/chelsea.npy"))
        try context.setInput("input", input)
        context.run()
        allocation_counter_start()
        for _ in 0..<5 {
            try context.setInput("input", input)
            context.run()
        }
        let count = allocation_counter_stop()
        // The counter must see an allocation the same thread makes.
        allocation_counter_start()
        _ = try session.run(["input": input])
        #expect(allocation_counter_stop() > 0)
        #expect(count == 0, "\(count) heap allocations in 5 runs with \(threads) thread(s)")
        // The same context still computes what the session computes.
        let want = try session.run(["input": input])["logits"]!
        #expect(try context.output("logits").bytes == want.bytes)
    }

    @Test func arenaIsSharedByLiveness() throws {
        let plan = try #require(try Session(onnxPath: EfficientNetFixture.model("qop")).plan)
        #expect(plan.arenaSize < plan.unsharedSize / 2, "arena \(plan.arenaSize) of \(plan.unsharedSize) bytes")
        #expect(plan.describe().contains("arena: \(plan.arenaSize) bytes"))
    }
}

/// Tiles write disjoint outputs and the split depends only on the tile count, so
/// every thread count gives the same bytes.
@Suite(.serialized) struct ThreadCountTests {
    @Test(arguments: ["qdq", "qop"])
    func efficientNetIdenticalForAnyThreadCount(_ variant: String) throws {
        for numerics in [NumericsProfile.dyadic, .onnxruntime] {
            let input = try EfficientNetFixture.photo("astronaut")
            var reference: [UInt8]?
            for threads in [1, 2, 3, 8] {
                let session = try Session(onnxPath: EfficientNetFixture.model(variant),
                                          options: SessionOptions(numerics: numerics, threads: threads))
                let bytes = try #require(try session.run(["input": input])["logits"]).bytes
                if let reference {
                    #expect(bytes == reference, "\(variant) \(numerics): \(threads) threads differ from 1")
                } else {
                    reference = bytes
                }
            }
        }
    }

    @Test func testModelsIdenticalForAnyThreadCount() throws {
        let entries = try ManifestEntry.load("models/tests/manifest.json").filter { $0.variant != "float" }
        #expect(entries.count > 100)
        var failing = 0
        for entry in entries {
            let one: [String: Tensor]
            do { one = try entry.run(.dyadic, threads: 1) } catch {
                // A case that must fail (tested for its message elsewhere) fails the same way with any thread count.
                failing += 1
                for threads in [3, 8] {
                    #expect(throws: DyadicError.self, "\(entry.label) fails with 1 thread but not with \(threads)") {
                        try entry.run(.dyadic, threads: threads)
                    }
                }
                continue
            }
            for threads in [3, 8] {
                let many = try entry.run(.dyadic, threads: threads)
                for (name, t) in one { #expect(many[name]?.bytes == t.bytes, "\(entry.label) output \(name): \(threads) threads differ") }
            }
        }
        #expect(failing * 10 < entries.count, "\(failing) of \(entries.count) cases fail: the comparison covers too few")
    }
}

/// One loaded model run from 8 tasks at once; each result must equal the serial one.
/// CI also runs this suite under the thread sanitizer.
@Suite(.serialized) struct ConcurrencyTests {
    @Test
    func eightConcurrentRunsOfOneSession() async throws {
        let session = try Session(onnxPath: EfficientNetFixture.model("qop"), options: SessionOptions(threads: 2))
        let inputs = try EfficientNetFixture.photos.map { try EfficientNetFixture.photo($0) }
        let expected = try inputs.map { try #require(try session.run(["input": $0])["logits"]).bytes }
        let results = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for task in 0..<8 {
                group.addTask {
                    let k = task % inputs.count
                    let out = try session.run(["input": inputs[k]])
                    return (k, out["logits"]?.bytes ?? [])
                }
            }
            var all: [(Int, [UInt8])] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(results.count == 8)
        for (k, bytes) in results { #expect(bytes == expected[k], "photo \(EfficientNetFixture.photos[k]) differs when run concurrently") }
    }

    @Test
    func contextsOfOnePlanRunConcurrently() async throws {
        let session = try Session(onnxPath: EfficientNetFixture.model("qdq"))
        let inputs = try EfficientNetFixture.photos.map { try EfficientNetFixture.photo($0) }
        let expected = try inputs.map { try #require(try session.run(["input": $0])["logits"]).bytes }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let context = try session.makeContext()
                    let k = task % inputs.count
                    try context.setInput("input", inputs[k])
                    context.run()
                    #expect(try context.output("logits").bytes == expected[k])
                }
            }
            try await group.waitForAll()
        }
    }
}
