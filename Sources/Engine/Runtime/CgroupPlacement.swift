#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where swcompose's cgroups live. On a host whose cgroups systemd manages (systemd as init, cgroup
/// v2), a project's supervisor runs in a transient scope of its own (`system.slice/
/// swcompose-<project>-<n>.scope`, `Delegate=yes`, started through `systemd-run`), moves itself into
/// the leaf `supervisor` below it, and puts the containers beside that leaf: the subtree is
/// delegated to it, systemd leaves it alone, and removes it once it is empty — where docker's
/// systemd cgroup driver keeps its `docker-<id>.scope`s. (A slice of swcompose's own would outlive
/// its last scope: systemd keeps an implicit slice active.) Elsewhere the containers go under
/// `swcompose/` at the root of each hierarchy, which goes when the last of them does.
public enum CgroupPlacement {
    /// The default parent (cgroupfs placement).
    public static let cgroupfsParent = "swcompose"
    public static let slice = "system.slice"

    /// How the supervisor is started, from what the host has.
    public enum Mode: Sendable, Equatable {
        /// In a delegated transient scope, through `systemd-run` at this path.
        case systemdScope(systemdRun: String)
        case cgroupfs
    }

    /// systemd owns the cgroup tree when it is PID 1 (`/run/systemd/system`) and limits live in the
    /// unified hierarchy; the scope is made with `systemd-run` where it is installed.
    public static func mode(systemdRunning: Bool, cgroupV2: Bool, systemdRun: String?) -> Mode {
        guard systemdRunning, cgroupV2, let systemdRun else { return .cgroupfs }
        return .systemdScope(systemdRun: systemdRun)
    }

    public static var hostMode: Mode {
        mode(systemdRunning: Sys.exists("/run/systemd/system"), cgroupV2: CgroupHierarchies.current.isV2,
             systemdRun: ["/usr/bin/systemd-run", "/bin/systemd-run"].first(where: Sys.isExecutable))
    }

    /// The scope's unit name for a supervisor of `group` (unit names take `[A-Za-z0-9:_.-]`).
    public static func unitName(group: String, nonce: UInt32) -> String {
        let safe = String(group.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") ? $0 : "_" })
        return "swcompose-\(safe)-\(String(nonce, radix: 16)).scope"
    }

    /// The command that starts a supervisor: the helper itself, or `systemd-run` making its scope and
    /// then executing it (the same process: its descriptors are kept).
    public static func supervisorCommand(_ mode: Mode, helper: String, arguments: [String], group: String, nonce: UInt32) -> (path: String, argv: [String]) {
        switch mode {
        case .cgroupfs:
            return (helper, ["swcompose"] + arguments)
        case .systemdScope(let systemdRun):
            return (systemdRun, ["systemd-run", "--scope", "--quiet", "--collect", "--slice=\(slice)",
                                 "--unit=\(unitName(group: group, nonce: nonce))", "--property=Delegate=yes",
                                 "--description=swcompose supervisor of \(group)", "--", helper] + arguments)
        }
    }

    /// The delegated scope a process runs in, from its `/proc/self/cgroup` line `0::/…`: a
    /// `swcompose-*.scope` under `system.slice` (or already its `supervisor` leaf).
    public static func delegatedScope(ownCgroup: String) -> String? {
        var path = ownCgroup
        while path.hasPrefix("/") { path.removeFirst() }
        if path.hasSuffix("/supervisor") { path.removeLast("/supervisor".count) }
        let parts = path.split(separator: "/")
        guard parts.count >= 2, parts[parts.count - 2] == Substring(slice), let last = parts.last,
              last.hasPrefix("swcompose-"), last.hasSuffix(".scope") else { return nil }
        return path
    }

    /// A container's cgroup under a parent of the user's (`cgroup_parent`), as docker's runtime places
    /// it: an absolute path from the hierarchies' roots; a relative one beneath the engine's own cgroup
    /// (`ownCgroup`: on cgroup v1 the supervisor's own, on v2 its parent, which holds no processes) —
    /// the container's id under either; a systemd slice (`app-web.slice`, expanded to
    /// `app.slice/app-web.slice` as systemd nests slices) holds a `swcompose-<id>.scope`.
    public static func path(parent: String, id: String, ownCgroup: String = CgroupPlacement.engineCgroup) -> String {
        var p = parent
        let absolute = p.hasPrefix("/")
        while p.hasPrefix("/") { p.removeFirst() }
        while p.hasSuffix("/") { p.removeLast() }
        guard p.hasSuffix(".slice"), !p.contains("/") else {
            var base = ownCgroup
            while base.hasPrefix("/") { base.removeFirst() }
            let under = absolute || base.isEmpty ? p : base + (p.isEmpty ? "" : "/" + p)
            return under.isEmpty ? id : under + "/" + id
        }
        let name = String(p.dropLast(".slice".count))
        var parts: [String] = []
        var prefix = ""
        for piece in name.split(separator: "-") {
            prefix += (prefix.isEmpty ? "" : "-") + piece
            parts.append(prefix + ".slice")
        }
        return (parts + ["swcompose-\(id).scope"]).joined(separator: "/")
    }

    /// Where a relative `cgroup_parent` hangs: this process's own cgroup on v1 (its memory hierarchy's),
    /// the parent of its cgroup2 one on v2, as runc resolves a relative cgroups path.
    public static var engineCgroup: String {
        let text = (try? Files.readText("/proc/self/cgroup")) ?? ""
        if CgroupHierarchies.current.isV2 {
            let own = ownUnifiedCgroup
            guard let slash = own.lastIndex(of: "/") else { return "" }
            return String(own[..<slash])
        }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if fields.count == 3, fields[1].split(separator: ",").contains("memory") { return String(fields[2]) }
        }
        return ""
    }

    /// This process's cgroup2 path (relative to the unified root).
    static var ownUnifiedCgroup: String {
        let text = (try? Files.readText("/proc/self/cgroup")) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("0::") { return String(line.dropFirst(3)) }
        return ""
    }

    /// Where this process puts new containers' cgroups: its delegated scope once `enterDelegation`
    /// moved it to the leaf, else `swcompose`.
    public static var parent: String { current.withLock { $0 } }
    static let current = Mutex(cgroupfsParent)

    /// Run by the supervisor first: in a delegated scope, move into its `supervisor` leaf (cgroup v2
    /// keeps processes out of cgroups whose children have controllers), enable the controllers for
    /// the containers beside it, and make the scope their parent. Elsewhere nothing changes.
    public static func enterDelegation(hierarchies: CgroupHierarchies = .current) throws(SystemError) {
        guard hierarchies.isV2, let root = hierarchies.unified, let scope = delegatedScope(ownCgroup: ownUnifiedCgroup) else { return }
        let dir = root + "/" + scope
        let leaf = dir + "/supervisor"
        if !Sys.exists(leaf) { try Sys.mkdir(leaf, 0o755) }
        try FileHandle(path: leaf + "/cgroup.procs", flags: O_WRONLY).write(Array("0".utf8))
        let offered = Set(((try? Files.readText(dir + "/cgroup.controllers")) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        let wanted = CgroupV2.controllers.filter(offered.contains)
        if !wanted.isEmpty {
            try? FileHandle(path: dir + "/cgroup.subtree_control", flags: O_WRONLY).write(Array(wanted.map { "+" + $0 }.joined(separator: " ").utf8))
        }
        current.withLock { $0 = scope }
    }
}
