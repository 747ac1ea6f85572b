import Foundation

/// A profile as Chrome trace-event JSON (opens in Perfetto and chrome://tracing):
/// one complete event ("ph": "X") per layer per run on the calling thread, one per
/// worker's share of a split layer, and one per whole run. Threads are numbered
/// 1, 2, … in order of first appearance and named in metadata events.
public enum ChromeTrace {
    struct Event: Encodable {
        var name: String
        var cat: String
        var ph: String
        var ts: Double
        var dur: Double?
        var pid: Int
        var tid: Int
        var args: [String: String]?
    }

    public static func json(plan: Plan, profiler: Profiler) throws -> Data {
        var threadNumbers: [UInt64: Int] = [:]
        func tid(_ thread: UInt64) -> Int {
            if let n = threadNumbers[thread] { return n }
            let n = threadNumbers.count + 1
            threadNumbers[thread] = n
            return n
        }
        func us(_ ns: UInt64) -> Double { Double(ns) / 1e3 }
        var events: [Event] = []
        for span in profiler.runSpans {
            events.append(Event(name: "run \(span.run)", cat: "run", ph: "X", ts: us(span.start), dur: us(span.end - span.start),
                                pid: 1, tid: tid(span.thread), args: nil))
        }
        for span in profiler.layerSpans {
            let layer = plan.layers[span.layer]
            events.append(Event(name: "\(layer.op) \(layer.sourceNodes.first ?? "")", cat: "layer", ph: "X", ts: us(span.start),
                                dur: us(span.end - span.start), pid: 1, tid: tid(span.thread),
                                args: ["layer": String(span.layer), "run": String(span.run), "kernel": layer.kernel,
                                       "precision": layer.precision, "macs": String(layer.macs)]))
        }
        for span in profiler.workerSpans {
            let layer = plan.layers[span.layer]
            events.append(Event(name: "\(layer.op) tiles", cat: "tiles", ph: "X", ts: us(span.start), dur: us(span.end - span.start),
                                pid: 1, tid: tid(span.thread), args: ["layer": String(span.layer), "run": String(span.run)]))
        }
        for (thread, n) in threadNumbers.sorted(by: { $0.value < $1.value }) {
            events.append(Event(name: "thread_name", cat: "__metadata", ph: "M", ts: 0, dur: nil, pid: 1, tid: n,
                                args: ["name": n == 1 ? "caller" : "worker \(n - 1) (\(thread))"]))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(["traceEvents": events])
    }
}
