import ArgumentParser
import Dyadic
import Foundation

extension ParsableCommand {
    /// Parses the command line and runs. Any error — a bad option or value included — is
    /// one `error:` line on standard error and exit status 1, as scripts expect of every
    /// failure; `--help` prints the help and exits 0. `cleanup` runs before an error is
    /// printed (e.g. to clear a progress bar).
    public static func mainReportingOneLine(cleanup: () -> Void = {}) {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            cleanup()
            // DyadicError's initializer escapes line breaks and control characters.
            let line = DyadicError((error as? DyadicError)?.message ?? message(for: error)).message
            FileHandle.standardError.write(Data("error: \(line)\n".utf8))
            Foundation.exit(1)
        }
    }
}
