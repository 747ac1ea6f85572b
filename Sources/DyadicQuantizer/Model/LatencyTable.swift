import Foundation

/// Per-layer latencies from the `latency` tool's CSV (`latency MODEL --csv FILE`), one file
/// per candidate precision of the same model: rows are keyed by node name and precision.
public struct LatencyTable: Sendable {
    /// name → precision ("int8", "w4a8", …) → median microseconds.
    public var layers: [String: [String: Double]] = [:]
    /// The first file's rows in order (for the layers the quantizer does not choose).
    public var firstFile: [(name: String, microseconds: Double)] = []

    public init(files: [String]) throws {
        for (f, path) in files.enumerated() {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw QuantizerError("cannot read the latency table '\(path)'")
            }
            let lines = text.split(whereSeparator: \.isNewline).map(String.init)
            guard let header = lines.first.map(Self.fields) else { throw QuantizerError("\(path): empty latency table") }
            guard let n = header.firstIndex(of: "name"), let p = header.firstIndex(of: "precision"),
                  let t = header.firstIndex(of: "median_us") else {
                throw QuantizerError("\(path): not a latency CSV (needs the columns name, precision and median_us)")
            }
            for (i, line) in lines.dropFirst().enumerated() {
                let row = Self.fields(line)
                guard row.count == header.count, let us = Double(row[t]) else {
                    throw QuantizerError("\(path): line \(i + 2) is not a row of \(header.count) fields with a number in median_us")
                }
                if layers[row[n]]?[row[p]] == nil { layers[row[n], default: [:]][row[p]] = us }
                if f == 0 { firstFile.append((row[n], us)) }
            }
        }
    }

    /// RFC 4180 fields (quotes around fields that hold commas).
    static func fields(_ line: String) -> [String] {
        var out: [String] = [], field = "", quoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" { quoted = false } else { field.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                out.append(field); field = ""
            } else {
                field.append(c)
            }
        }
        out.append(field)
        return out
    }
}
