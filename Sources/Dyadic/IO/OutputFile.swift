import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every file Dyadic's tools write goes through here, so that an output path never costs
/// the user data: only a missing path or a regular file (or a symbolic link to one) is
/// replaced; directories, FIFOs, devices and sockets are refused before any work starts;
/// the bytes go to a unique temporary file in the target's folder and are renamed over
/// the target only once all of them are written; on any error nothing is left behind.
public enum OutputFile {
    /// Throws unless `path` can receive an output: its folder exists and the path is
    /// absent or names a regular file. Call it before long work, so a bad path fails first.
    public static func checkReplaceable(_ path: String) throws {
        _ = try resolvedTarget(path)
    }

    /// Writes one file: all of it or nothing.
    public static func write(_ bytes: Data, to path: String) throws {
        try writeAll([(path, bytes)])
    }

    /// Writes several files together: every target is checked and every temporary file
    /// written before the first rename, so a failure (a bad path, a full disk) leaves
    /// none of them changed. The renames themselves do not fail on a checked path.
    public static func writeAll(_ files: [(path: String, bytes: Data)]) throws {
        let targets = try files.map { try resolvedTarget($0.path) }
        var staged: [String] = []
        do {
            for (file, target) in zip(files, targets) {
                staged.append(try stage(file.bytes, beside: target, reportedAs: file.path))
            }
            for (i, (temporary, target)) in zip(staged, targets).enumerated() where rename(temporary, target) != 0 {
                let why = String(cString: strerror(errno))
                for t in staged[i...] { unlink(t) }
                throw DyadicError("cannot write '\(escaped(files[i].path))': \(why)")
            }
        } catch {
            for t in staged { unlink(t) }
            throw error
        }
    }

    /// The file a write to `path` replaces: `path` itself, or the regular file a symbolic
    /// link at `path` points to (so the link survives).
    static func resolvedTarget(_ path: String) throws -> String {
        let shown = escaped(path)
        guard !path.isEmpty else { throw DyadicError("an output path is empty") }
        var info = stat()
        if lstat(path, &info) == 0 {
            var target = path
            if info.st_mode & S_IFMT == S_IFLNK {
                guard stat(path, &info) == 0, let real = realpath(path, nil) else {
                    throw DyadicError("cannot write '\(shown)': it is a symbolic link to nothing")
                }
                target = String(cString: real)
                free(real)
            }
            switch info.st_mode & S_IFMT {
            case S_IFREG: return target
            case S_IFDIR: throw DyadicError("cannot write '\(shown)': it is a directory (give a file name; nothing was changed)")
            case S_IFIFO: throw DyadicError("cannot write '\(shown)': it is a FIFO, not a regular file")
            case S_IFCHR, S_IFBLK: throw DyadicError("cannot write '\(shown)': it is a device, not a regular file")
            default: throw DyadicError("cannot write '\(shown)': it is not a regular file")
            }
        }
        guard errno == ENOENT else {
            throw DyadicError("cannot write '\(shown)': \(String(cString: strerror(errno)))")
        }
        let folder = (path as NSString).deletingLastPathComponent
        guard stat(folder.isEmpty ? "." : folder, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw DyadicError("cannot write '\(shown)': the directory does not exist")
        }
        return path
    }

    /// Writes `bytes` to a new unique file in `target`'s folder and returns its path. The
    /// file gets the target's permissions if it exists, else the usual 0666 less umask.
    static func stage(_ bytes: Data, beside target: String, reportedAs path: String) throws -> String {
        let folder = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        var template = Array(((folder.isEmpty ? "" : folder + "/") + ".\(name).XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw DyadicError("cannot write '\(escaped(path))': \(String(cString: strerror(errno)))") }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var info = stat()
        let mode: mode_t
        if stat(target, &info) == 0 {
            mode = info.st_mode & 0o7777
        } else {
            let mask = umask(0)
            umask(mask)
            mode = 0o666 & ~mask
        }
        var failure: String?
        if fchmod(fd, mode) != 0 { failure = String(cString: strerror(errno)) }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while failure == nil, offset < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                } else {
                    offset += n
                }
            }
        }
        if close(fd) != 0, failure == nil { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw DyadicError("cannot write '\(escaped(path))': \(failure)")
        }
        return temporary
    }

    private static func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(fd, bytes, count)
        #else
        Darwin.write(fd, bytes, count)
        #endif
    }

    /// A path as one printable line: control characters become escapes.
    public static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                out += scalar.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
