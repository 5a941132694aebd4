#if canImport(Glibc)
import Glibc
#endif

/// What this host's kernel offers the container core, and what it lacks for which feature: the
/// answers behind `swcompose info` and the fallbacks the core takes.
public struct HostReport: Sendable {
    /// One kernel feature: whether it is there, what the core does without it.
    public struct Feature: Sendable, Equatable {
        public var name: String
        public var available: Bool
        /// The kernel that brings it.
        public var since: String
        /// What happens without it (empty when nothing is lost).
        public var without: String
    }

    public var kernel: String
    public var machine: String
    public var operatingSystem: String
    public var cpus: Int
    public var memory: Int64
    public var cgroupVersion: Int
    public var cgroupDriver: String
    public var cgroupControllers: [String]
    /// Controllers swcompose uses that this host does not offer.
    public var missingControllers: [String]
    public var overlay: Bool
    public var overlayMethod: RootFilesystem.OverlayMethod
    public var seccomp: Bool
    public var seccompLibrary: String
    public var firewall: Result<Firewall.Backend, FirewallError>
    public var features: [Feature]

    /// The questions, asked now (each is harmless; see `Sys` probes).
    public static func probe() -> HostReport {
        let uname = Sys.kernel
        let h = CgroupHierarchies.detect()
        let controllers = h.isV2 ? h.unifiedControllers.sorted() : Set(h.v1.keys.filter { !$0.hasPrefix("name=") }).sorted()
        let wanted = h.isV2 ? CgroupV2.controllers : ["cpu", "cpuset", "blkio", "memory", "pids", "devices", "freezer"]
        let driver: String
        switch CgroupPlacement.hostMode {
        case .systemdScope: driver = "systemd (a delegated scope per project in \(CgroupPlacement.slice))"
        case .cgroupfs: driver = "cgroupfs (\(CgroupPlacement.cgroupfsParent)/ at the root of each hierarchy)"
        }
        let probe = Sys.probeOverlayLowerdirPlus()
        let overlay = probe != nil || ((try? Files.readText("/proc/filesystems")) ?? "").contains("\toverlay\n")
        let own = ownCgroupDirectory(h)
        let closeRange = Sys.probeCloseRangeCloexec()
        let setns = Sys.probePidfdSetns()
        let spawn = Sys.probeSpawn()
        var features: [Feature] = [
            Feature(name: "clone3 with CLONE_INTO_CGROUP", available: spawn == .clone3, since: "5.7",
                    without: "clone(2), the child joining its cgroup itself"),
            Feature(name: "pidfd_open", available: setns != ENOSYS, since: "5.3",
                    without: "containers cannot be supervised (swcompose needs Linux 5.3 or later)"),
            Feature(name: "setns on a pidfd", available: setns == 0, since: "5.8", without: "exec joins namespace by namespace"),
            Feature(name: "close_range(CLOSE_RANGE_CLOEXEC)", available: closeRange == 0, since: "5.11",
                    without: "descriptors marked close-on-exec one by one"),
            Feature(name: "overlay lowerdir+", available: probe == ENOENT, since: "6.8",
                    without: "layers named by short links in one page of mount options (about 200 layers at most)"),
        ]
        if h.isV2 {
            features.append(Feature(name: "cgroup.kill", available: own.map { Sys.exists($0 + "/cgroup.kill") } ?? false, since: "5.14",
                                    without: "a container's processes are frozen and killed one by one"))
            features.append(Feature(name: "memory.peak", available: own.map { Sys.exists($0 + "/memory.peak") } ?? false, since: "5.19",
                                    without: "no peak memory in stats"))
            features.append(Feature(name: "cgroup device filter (eBPF)", available: Sys.probeDeviceFilter() == 0, since: "4.15",
                                    without: "containers cannot start: cgroup v2 enforces the device allowlist only this way"))
        }
        return HostReport(kernel: uname.release, machine: uname.machine, operatingSystem: osRelease(), cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                          memory: Int64(sysconf(Int32(_SC_PHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE))),
                          cgroupVersion: h.isV2 ? 2 : 1, cgroupDriver: driver, cgroupControllers: controllers,
                          missingControllers: wanted.filter { !controllers.contains($0) },
                          overlay: overlay, overlayMethod: .decide(probe: probe),
                          seccomp: Sys.seccompActions.contains("errno"), seccompLibrary: SeccompFilter.libraryVersion,
                          firewall: Result { () throws(FirewallError) in try Firewall.selected() }, features: features)
    }

    /// The caller's own cgroup2 directory (or a child of the root: the root has no `cgroup.kill`).
    static func ownCgroupDirectory(_ h: CgroupHierarchies) -> String? {
        guard let root = h.unified else { return nil }
        let own = CgroupPlacement.ownUnifiedCgroup
        if own != "/" && !own.isEmpty { return root + own }
        return ((try? Sys.list(root)) ?? []).sorted().map { root + "/" + $0 }.first { Sys.exists($0 + "/cgroup.procs") }
    }

    /// `PRETTY_NAME` of /etc/os-release.
    static func osRelease() -> String {
        let text = (try? Files.readText("/etc/os-release")) ?? (try? Files.readText("/usr/lib/os-release")) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            return String(line.dropFirst("PRETTY_NAME=".count).trimming(while: { $0 == "\"" }))
        }
        return "Linux"
    }

    /// What the host lacks that users will notice, one line each.
    public var warnings: [String] {
        var w: [String] = []
        if !overlay { w.append("overlayfs is not available: containers cannot start (load the overlay module)") }
        if !seccomp { w.append("this kernel has no seccomp filters: containers run without docker's syscall filter") }
        if case .failure(let e) = firewall { w.append(e.description) }
        for c in missingControllers {
            switch c {
            case "cpuset": w.append("no cpuset controller: services with cpuset are refused")
            case "io", "blkio": w.append("no \(c) controller: services with blkio_config are refused")
            default: w.append("no \(c) controller: its limits cannot be enforced")
            }
        }
        for f in features where !f.available && f.without.hasPrefix("containers cannot") {
            w.append("\(f.name) (Linux \(f.since)) is missing: \(f.without)")
        }
        return w
    }
}
