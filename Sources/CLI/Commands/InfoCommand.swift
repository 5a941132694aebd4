import ArgumentParser
import Engine

/// `info`, as `docker info` for a daemonless runtime: the kernel, cgroups, storage, seccomp and
/// firewall swcompose finds here, and what is missing for which feature.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Display what swcompose finds on this host (kernel, cgroups, overlay, seccomp, iptables).")

    @Option(name: [.short, .long], help: "Format the output (pretty, json).")
    var format: String = "pretty"

    func validate() throws {
        guard format == "pretty" || format == "json" else { throw ValidationError("unknown format \"\(format)\": use pretty or json") }
    }

    func run() throws {
        let report = HostReport.probe()
        let root = StateRoot(environment: Terminal.environment)
        if format == "json" {
            Terminal.write(json(report, root: root) + "\n")
            return
        }
        var out = "Client:\n Version:    \(SWCompose.version)\n Context:    daemonless (no server: each command runs the stack itself)\n\n"
        out += "Host:\n"
        out += " Kernel Version:     \(report.kernel)\n"
        out += " Operating System:   \(report.operatingSystem)\n"
        out += " Architecture:       \(report.machine)\n"
        out += " CPUs:               \(report.cpus)\n"
        out += " Total Memory:       \(Self.gibibytes(report.memory))\n"
        out += " Cgroup Version:     \(report.cgroupVersion)\n"
        out += " Cgroup Driver:      \(report.cgroupDriver)\n"
        out += " Cgroup Controllers: \(report.cgroupControllers.joined(separator: " "))"
        out += report.missingControllers.isEmpty ? "\n" : " (missing: \(report.missingControllers.joined(separator: " ")))\n"
        out += " Storage Driver:     \(report.overlay ? "overlay" : "none (overlayfs is not available)")\n"
        out += "  Layers:            \(report.overlayMethod == .layersByFsconfig ? "lowerdir+ (any number)" : "one option string with short links (about 200 at most)")\n"
        out += " Seccomp:            \(report.seccomp ? "yes" : "no") (libseccomp \(report.seccompLibrary)), profile: docker's default\n"
        switch report.firewall {
        case .success(let b): out += " Firewall:           iptables-\(b.rawValue)\n"
        case .failure: out += " Firewall:           none usable\n"
        }
        out += " State Root:         \(root.path)\n"
        out += " Runtime Helper:     \(Runtime.defaultHelper)\n"
        out += " Kernel Features:\n"
        let width = report.features.map(\.name.count).max() ?? 0
        for f in report.features {
            let pad = String(repeating: " ", count: width - f.name.count)
            out += "  \(f.name)\(pad)  \(f.available ? "yes" : "no ") (Linux \(f.since))\(f.available || f.without.isEmpty ? "" : ": \(f.without)")\n"
        }
        Terminal.write(out)
        let warnings = report.warnings
        if !warnings.isEmpty { Terminal.writeError(warnings.map { "WARNING: \($0)\n" }.joined()) }
    }

    /// docker's `23.54GiB`.
    static func gibibytes(_ bytes: Int64) -> String {
        let hundredths = Int((Double(bytes) / 1_073_741_824 * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)GiB"
    }

    func json(_ r: HostReport, root: StateRoot) -> String {
        func q(_ s: String) -> String { JSONString.quoted(s) }
        let features = r.features.map { "{\"Name\":\(q($0.name)),\"Available\":\($0.available),\"Since\":\(q($0.since)),\"Without\":\(q($0.without))}" }
        var firewall = "null"
        if case .success(let b) = r.firewall { firewall = q("iptables-" + b.rawValue) }
        let fields = [
            "\"Version\":\(q(SWCompose.version))", "\"KernelVersion\":\(q(r.kernel))", "\"OperatingSystem\":\(q(r.operatingSystem))",
            "\"Architecture\":\(q(r.machine))", "\"NCPU\":\(r.cpus)", "\"MemTotal\":\(r.memory)", "\"CgroupVersion\":\(q(String(r.cgroupVersion)))",
            "\"CgroupDriver\":\(q(r.cgroupDriver))", "\"CgroupControllers\":[\(r.cgroupControllers.map(q).joined(separator: ","))]",
            "\"MissingControllers\":[\(r.missingControllers.map(q).joined(separator: ","))]", "\"Overlay\":\(r.overlay)",
            "\"OverlayLayers\":\(q(r.overlayMethod == .layersByFsconfig ? "lowerdir+" : "option-string"))", "\"Seccomp\":\(r.seccomp)",
            "\"Firewall\":\(firewall)", "\"StateRoot\":\(q(root.path))", "\"Features\":[\(features.joined(separator: ","))]",
            "\"Warnings\":[\(r.warnings.map(q).joined(separator: ","))]",
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }
}
