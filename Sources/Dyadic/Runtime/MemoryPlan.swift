/// Where every value of a plan lives in a context's arena.
///
/// Intermediate values share memory when their lifetimes do not overlap: a value
/// lives from the layer that writes it to the last layer that reads it. Graph
/// inputs and constants live for ever (inputs stay readable so that a context
/// can run again on the same inputs; constants are copied in once, when a
/// context is made), graph outputs to the end. A layer that may write
/// its output over an input (element-wise ops, where output i depends on input i
/// only) does so when that input dies at the layer.
///
/// Buffers that live for the whole run (inputs, constants) come first, one after
/// another. The others are placed greedily, largest first, each at the lowest
/// 64-byte-aligned offset above those that overlaps no live buffer already placed —
/// the "greedy by size" strategy, within a few percent of optimal on CNNs. Lifetimes
/// are indexed in buckets of layers, so planning stays near linear in the graph's size.
struct MemoryPlan {
    let offsets: [Int]
    let arenaSize: Int
    /// What one slot per value would take.
    let unsharedSize: Int

    static let alignment = 64

    private static func aligned(_ n: Int) -> Int { (n + alignment - 1) & ~(alignment - 1) }

    init(values: [PlanValue], layers: [Layer], inputs: [Int], outputs: [Int]) {
        let end = layers.count
        var first = [Int](repeating: Int.max, count: values.count)
        var last = [Int](repeating: -1, count: values.count)
        for v in inputs { first[v] = -1 }
        for (i, layer) in layers.enumerated() {
            for v in layer.outputs { first[v] = min(first[v], i) }
            for v in layer.inputs { last[v] = max(last[v], i) }
        }
        for v in inputs { last[v] = end }
        for v in outputs { last[v] = end }
        for (v, value) in values.enumerated() where value.constant != nil {
            first[v] = -1
            last[v] = end
        }
        // Values never read still get written: keep them alive at their writer.
        for v in values.indices where first[v] != Int.max { last[v] = max(last[v], first[v]) }
        for v in values.indices where first[v] == Int.max { first[v] = -1; last[v] = max(last[v], -1) }

        // Buffers: each value is its own buffer unless written in place over an input.
        var buffer = Array(values.indices)
        // The last layer that reads any value of a buffer, per root.
        var rootLast = last
        let pinned = Set(inputs).union(outputs)
        for (i, layer) in layers.enumerated() {
            guard let inPlace = layer.inPlaceInputs, let out = layer.outputs.first, layer.outputs.count == 1,
                  !pinned.contains(out), values[out].constant == nil else { continue }
            for position in inPlace {
                let v = layer.inputs[position]
                let root = buffer[v]
                guard last[v] == i, !pinned.contains(v), values[v].constant == nil,
                      values[v].byteCount == values[out].byteCount,
                      layer.inputs.filter({ $0 == v }).count == 1,
                      // The buffer must not already be extended past this layer by another alias.
                      rootLast[root] <= i else { continue }
                buffer[out] = root
                rootLast[root] = max(rootLast[root], last[out])
                break
            }
        }
        // Lifetime and size per buffer root.
        var start = [Int: Int](), stop = [Int: Int](), size = [Int: Int]()
        for v in values.indices {
            let r = buffer[v]
            start[r] = min(start[r] ?? Int.max, first[v])
            stop[r] = max(stop[r] ?? Int.min, last[v])
            size[r] = max(size[r] ?? 0, MemoryPlan.aligned(values[v].byteCount))
        }
        var rootOffset = [Int: Int]()
        var total = 0
        // Whole-run buffers overlap every other: stacked at the bottom.
        let forever = size.keys.filter { start[$0]! <= -1 && stop[$0]! >= end }.sorted()
        for r in forever {
            rootOffset[r] = total
            total += size[r]!
        }
        let base = total
        let roots = size.keys.filter { rootOffset[$0] == nil }.sorted { (size[$0]!, $1) > (size[$1]!, $0) }
        // Placed buffers by the buckets of `bucketWidth` layers their lifetimes touch.
        let bucketWidth = 64
        func bucket(_ layer: Int) -> Int { (max(layer, -1) + 1) / bucketWidth }
        var buckets = [[Int]](repeating: [], count: bucket(end) + 1)
        var placed: [(offset: Int, size: Int, start: Int, stop: Int)] = []
        for r in roots {
            let (s, a, b) = (size[r]!, start[r]!, stop[r]!)
            var seen = Set<Int>()
            var conflicts: [(offset: Int, size: Int)] = []
            for k in bucket(a)...bucket(b) {
                for p in buckets[k] where seen.insert(p).inserted {
                    let c = placed[p]
                    if c.start <= b && a <= c.stop && c.size > 0 { conflicts.append((c.offset, c.size)) }
                }
            }
            conflicts.sort { $0.offset < $1.offset }
            var offset = base
            for c in conflicts {
                if offset + s <= c.offset { break }
                offset = max(offset, c.offset + c.size)
            }
            for k in bucket(a)...bucket(b) { buckets[k].append(placed.count) }
            placed.append((offset, s, a, b))
            rootOffset[r] = offset
            total = max(total, offset + s)
        }
        offsets = values.indices.map { rootOffset[buffer[$0]]! }
        arenaSize = total
        unsharedSize = values.reduce(0) { $0 + MemoryPlan.aligned($1.byteCount) }
    }
}
