import Foundation

/// Pure data movement (Transpose, Slice, Split, Gather with constant indices, Tile,
/// Expand, nearest Resize) as a copy through a source map fixed at plan time. The map
/// comes from running the op once on a tensor of element indices, so each op's
/// semantics live in one place (the reference op) and every element type is served.
/// Consecutive elements that come from consecutive sources are copied as one run.
final class IndexedCopyLayer: TiledLayer {
    let op: String
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let kernel: String
    let details: String
    let tiles: Int
    private let elementSize: Int
    /// Runs: destination start, source start, length (elements); or, when runs are
    /// short, one source index per destination element.
    private let runs: [(dst: Int, src: Int, count: Int)]
    private let map: [Int32]
    private let count: Int
    private static let perTile = 32768

    init(op: String, source: [String], input: Int, output: Int, sourceIndex: [Int], elementSize: Int, isIntegerOnly: Bool) {
        self.op = op
        sourceNodes = source
        inputs = [input]
        outputs = [output]
        self.elementSize = elementSize
        self.isIntegerOnly = isIntegerOnly
        count = sourceIndex.count
        var r: [(dst: Int, src: Int, count: Int)] = []
        for (d, s) in sourceIndex.enumerated() {
            if let last = r.last, last.dst + last.count == d, last.src + last.count == s {
                r[r.count - 1].count += 1
            } else {
                r.append((d, s, 1))
            }
        }
        // Short runs cost more as runs than as a plain gather.
        if r.count * 8 > sourceIndex.count {
            runs = []
            map = sourceIndex.map { Int32($0) }
            kernel = "x\(elementSize * 8)_gather"
        } else {
            runs = r
            map = []
            kernel = "x\(elementSize * 8)_copy_runs"
        }
        tiles = Swift.max(1, ((runs.isEmpty ? count : runs.count * 64) + Self.perTile - 1) / Self.perTile)
        details = runs.isEmpty ? "\(count) elements" : "\(runs.count) runs"
    }

    func runTiles(_ start: Int, _ n: Int, worker: Int, _ context: ExecutionContext) {
        let x = UnsafeRawPointer(context.pointer(inputs[0]))
        let y = context.pointer(outputs[0])
        let size = elementSize
        if runs.isEmpty {
            let per = (count + tiles - 1) / tiles
            let first = start * per, last = Swift.min(count, (start + n) * per)
            guard last > first else { return }
            map.withUnsafeBufferPointer { m in
                switch size {
                case 4:
                    let xs = x.assumingMemoryBound(to: UInt32.self), ys = y.assumingMemoryBound(to: UInt32.self)
                    for i in first..<last { ys[i] = xs[Int(m[i])] }
                case 1:
                    let xs = x.assumingMemoryBound(to: UInt8.self), ys = y.assumingMemoryBound(to: UInt8.self)
                    for i in first..<last { ys[i] = xs[Int(m[i])] }
                case 8:
                    let xs = x.assumingMemoryBound(to: UInt64.self), ys = y.assumingMemoryBound(to: UInt64.self)
                    for i in first..<last { ys[i] = xs[Int(m[i])] }
                default:
                    for i in first..<last { (y + i * size).copyMemory(from: x + Int(m[i]) * size, byteCount: size) }
                }
            }
        } else {
            let per = (runs.count + tiles - 1) / tiles
            let first = start * per, last = Swift.min(runs.count, (start + n) * per)
            guard last > first else { return }
            for r in runs[first..<last] {
                (y + r.dst * size).copyMemory(from: x + r.src * size, byteCount: r.count * size)
            }
        }
    }
}

/// Gather with indices computed at run time (token embeddings): rows of `inner` bytes
/// copied straight from the data's memory, which is usually a constant table.
final class GatherLayer: Layer {
    let op = "Gather"
    let sourceNodes: [String]
    let inputs: [Int], outputs: [Int]
    let isIntegerOnly: Bool
    let kernel = "row_gather"
    let outer: Int, axisSize: Int, innerBytes: Int
    let indexCount: Int, indexIs64: Bool
    let label: String

    init(source: [String], data: Int, indices: Int, output: Int, outer: Int, axisSize: Int, innerBytes: Int,
         indexCount: Int, indexIs64: Bool, isIntegerOnly: Bool, label: String) {
        sourceNodes = source
        inputs = [data, indices]
        outputs = [output]
        self.outer = outer
        self.axisSize = axisSize
        self.innerBytes = innerBytes
        self.indexCount = indexCount
        self.indexIs64 = indexIs64
        self.isIntegerOnly = isIntegerOnly
        self.label = label
    }

    var details: String { "\(indexCount) indices into \(axisSize) rows of \(innerBytes) bytes" }

    func run(_ context: ExecutionContext) {
        guard context.failure == nil else { return }
        let data = UnsafeRawPointer(context.pointer(inputs[0]))
        let indices = UnsafeRawPointer(context.pointer(inputs[1]))
        let y = context.pointer(outputs[0])
        for p in 0..<indexCount {
            var i = indexIs64 ? Int(indices.load(fromByteOffset: p * 8, as: Int64.self))
                              : Int(indices.load(fromByteOffset: p * 4, as: Int32.self))
            if i < 0 { i += axisSize }
            guard i >= 0 && i < axisSize else {
                context.failure = DyadicError("\(label): index \(i < 0 ? i - axisSize : i) is out of range for an axis of \(axisSize)")
                return
            }
            for o in 0..<outer {
                (y + (o * indexCount + p) * innerBytes).copyMemory(from: data + (o * axisSize + i) * innerBytes, byteCount: innerBytes)
            }
        }
    }
}
