import DyadicKernels
import Foundation

/// What the C kernels chose for this process, and the CPU they run on.
public enum KernelInfo {
    /// The instruction-set level of the kernel bundles: detected, capped by `DYADIC_ISA`.
    public static var activeISA: String { String(cString: dyd_isa_name(dyd_active_isa())) }
    /// The best level this CPU supports.
    public static var detectedISA: String { String(cString: dyd_isa_name(dyd_detected_isa())) }

    /// The CPU's model as the operating system names it, with the x86 family and model
    /// numbers or the ARM part number (a bare "AMD EPYC" names several generations), so
    /// that every figure can name the CPU it was measured on; "unknown CPU" otherwise.
    public static let cpuModel: String = {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            if fields[key] == nil { fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        var name = fields["model name"] ?? fields["Model"] ?? fields["Hardware"] ?? "unknown CPU"
        if let family = fields["cpu family"], let model = fields["model"] {
            name += " (family \(family) model \(model))"
        } else if let implementer = fields["CPU implementer"], let part = fields["CPU part"] {
            name += " (implementer \(implementer) part \(part))"
        }
        return name
        #elseif canImport(Darwin)
        var size = 0
        guard sysctlbyname("machdep.cpu.brand_string", nil, &size, nil, 0) == 0, size > 1 else { return "unknown CPU" }
        var bytes = [CChar](repeating: 0, count: size)
        guard sysctlbyname("machdep.cpu.brand_string", &bytes, &size, nil, 0) == 0 else { return "unknown CPU" }
        return String(cString: bytes)
        #else
        return "unknown CPU"
        #endif
    }()
}
