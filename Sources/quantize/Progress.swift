import Foundation

/// A one-line progress bar on standard error when it is a terminal; nothing otherwise.
enum Progress {
    static let isTerminal = isatty(2) != 0

    static func show(_ stage: String, _ done: Int, _ total: Int) {
        guard isTerminal, total > 0 else { return }
        let width = 30, filled = width * min(done, total) / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(stage) \(bar) \(done)/\(total)".utf8))
    }

    static func clear() {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }

    /// A status line on standard error when it is a terminal (kept apart from any bar).
    /// Elsewhere standard error carries nothing but a failure's one `error:` line; results
    /// go to standard output.
    static func status(_ line: String) {
        guard isTerminal else { return }
        clear()
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
