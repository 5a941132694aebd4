#if canImport(Glibc)
import Glibc
#endif

/// cgroup v2: one directory in the unified hierarchy, the controllers enabled on the way down through
/// `cgroup.subtree_control`; the device allowlist is an eBPF program attached to it (cgroup2 has no
/// devices controller).
struct CgroupV2: CgroupVersion {
    static let controllers = ["cpu", "cpuset", "io", "memory", "pids"]

    func prepare(_ c: Cgroup) throws(SystemError) {
        do {
            try makeTree(c)
        } catch {
            // The last container's `destroy` removed `swcompose/` between our look and our mkdir:
            // once more, from the top (controllers enabled again on the way down).
            guard error.code == ENOENT else { throw error }
            try makeTree(c)
        }
    }

    func makeTree(_ c: Cgroup) throws(SystemError) {
        guard let root = c.hierarchies.unified else { return }
        // Enable the controllers on the way down.
        let wanted = Self.controllers.filter { c.hierarchies.unifiedControllers.contains($0) }
        var current = root
        for part in c.path.split(separator: "/") {
            if !wanted.isEmpty {
                let enabled = c.read(current, "cgroup.subtree_control") ?? ""
                let missing = wanted.filter { !enabled.split(separator: " ").contains(Substring($0)) && !enabled.contains($0 + "\n") }
                if !missing.isEmpty {
                    try? c.write(current, "cgroup.subtree_control", missing.map { "+" + $0 }.joined(separator: " "))
                }
            }
            current += "/" + part
            if !Sys.exists(current) {
                do { try Sys.mkdir(current, 0o755) } catch { if error.code != EEXIST { throw error } }
            }
        }
    }

    func apply(_ c: Cgroup, resources r: Resources, deviceRules: [DeviceRule]) throws(SystemError) {
        guard let dir = c.unifiedDirectory else { return }
        try DeviceFilter.attach(to: dir, rules: deviceRules)
        if r.memory > 0 { try c.write(dir, "memory.max", String(r.memory)) }
        if r.memoryReservation > 0 { try c.write(dir, "memory.low", String(r.memoryReservation)) }
        if Sys.exists(dir + "/memory.swap.max") {
            if r.memorySwap == -1 {
                try c.write(dir, "memory.swap.max", "max")
            } else if r.memorySwap > 0 && r.memory > 0 {
                try c.write(dir, "memory.swap.max", String(max(0, r.memorySwap - r.memory)))
            } else if r.memory > 0 {
                try c.write(dir, "memory.swap.max", String(r.memory))
            }
        }
        if r.cpuShares > 0 {
            // runc's conversion of v1 shares [2, 262144] to v2 weight [1, 10000].
            let weight = 1 + ((max(2, min(262_144, r.cpuShares)) - 2) * 9999) / 262_142
            try c.write(dir, "cpu.weight", String(weight))
        }
        if r.cpuQuota > 0 || r.cpuPeriod > 0 {
            let quota = r.cpuQuota > 0 ? String(r.cpuQuota) : "max"
            let period = r.cpuPeriod > 0 ? r.cpuPeriod : 100_000
            try c.write(dir, "cpu.max", "\(quota) \(period)")
        }
        if !r.cpusetCpus.isEmpty || !r.cpusetMems.isEmpty {
            try c.require(dir, "cpuset.cpus", controller: "cpuset", for: "cpuset")
            if !r.cpusetCpus.isEmpty { try c.write(dir, "cpuset.cpus", r.cpusetCpus) }
            if !r.cpusetMems.isEmpty { try c.write(dir, "cpuset.mems", r.cpusetMems) }
        }
        if r.pidsLimit > 0 { try c.write(dir, "pids.max", String(r.pidsLimit)) }
        if r.blkioWeight > 0, Sys.exists(dir + "/io.weight") {
            try c.write(dir, "io.weight", "default \(Self.ioWeight(Int64(r.blkioWeight)))")
        }
        if let io = r.io, !io.isEmpty {
            if !io.weights.isEmpty {
                try c.require(dir, "io.weight", controller: "io", for: "blkio_config.weight_device")
                for d in io.weights { try c.write(dir, "io.weight", "\(d.major):\(d.minor) \(Self.ioWeight(d.value))") }
            }
            let lines = io.ioMaxLines
            if !lines.isEmpty {
                try c.require(dir, "io.max", controller: "io", for: "blkio_config's device limits")
                for line in lines { try c.write(dir, "io.max", line) }
            }
        }
    }

    /// v1 weights [10, 1000] to v2's [1, 10000], as runc converts them.
    static func ioWeight(_ v1: Int64) -> Int64 { 1 + (max(10, min(1000, v1)) - 10) * 9999 / 990 }

    func membershipDirectory(_ c: Cgroup) -> String? { c.unifiedDirectory }

    func freezer(_ c: Cgroup) -> (dir: String, file: String, frozen: String, thawed: String)? {
        guard let u = c.unifiedDirectory, Sys.exists(u + "/cgroup.freeze") else { return nil }
        return (u, "cgroup.freeze", "1", "0")
    }

    func isFrozen(_ c: Cgroup, _ frozen: Bool) -> Bool {
        guard let u = c.unifiedDirectory else { return false }
        return (c.read(u, "cgroup.events") ?? "").contains(frozen ? "frozen 1" : "frozen 0")
    }

    var oomKillsFile: (directory: KeyPath<Cgroup, String?>, file: String) { (\.unifiedDirectory, "memory.events") }
    var memoryUsageFile: (directory: KeyPath<Cgroup, String?>, file: String) { (\.unifiedDirectory, "memory.current") }
}
