#if canImport(Glibc)
import Glibc
#endif

/// cgroup v1: a directory per controller hierarchy (and the unified one beside them on hybrid hosts,
/// where the container's first process is born and which systemd watches). Limits are written to the
/// controllers' own files; the device allowlist is the devices controller's.
struct CgroupV1: CgroupVersion {
    func prepare(_ c: Cgroup) throws(SystemError) {
        for dir in c.directories { try Sys.mkdirAll(dir) }
        if let cpuset = c.v1Directory("cpuset") {
            // A new cpuset group has no cpus or mems: copy them down from the first ancestor that has them.
            try initCpuset(c, cpuset)
        }
        if let devices = c.v1Directory("devices") {
            try c.write(devices, "devices.deny", "a")
            for rule in DeviceRule.dockerDefaults {
                try c.write(devices, "devices.allow", rule.description)
            }
        }
    }

    func initCpuset(_ c: Cgroup, _ dir: String) throws(SystemError) {
        guard let root = c.hierarchies.v1["cpuset"] else { return }
        // Walk from the root down, filling empty cpus/mems from the parent.
        var current = root
        for part in c.path.split(separator: "/") {
            let parent = current
            current += "/" + part
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let mine = c.read(current, file)?.trimmingWhitespace() ?? ""
                if mine.isEmpty, let value = c.read(parent, file)?.trimmingWhitespace(), !value.isEmpty {
                    try c.write(current, file, value)
                }
            }
        }
    }

    func apply(_ c: Cgroup, resources r: Resources, deviceRules: [DeviceRule]) throws(SystemError) {
        if let cpuset = c.v1Directory("cpuset") {
            if !r.cpusetCpus.isEmpty { try c.write(cpuset, "cpuset.cpus", r.cpusetCpus) }
            if !r.cpusetMems.isEmpty { try c.write(cpuset, "cpuset.mems", r.cpusetMems) }
        }
        if let mem = c.v1Directory("memory") {
            if r.memory > 0 { try c.write(mem, "memory.limit_in_bytes", String(r.memory)) }
            if r.memoryReservation > 0 { try c.write(mem, "memory.soft_limit_in_bytes", String(r.memoryReservation)) }
            if Sys.exists(mem + "/memory.memsw.limit_in_bytes") {
                // docker: with a memory limit and no swap limit, swap may equal the memory limit.
                var memsw = r.memorySwap
                if memsw == 0 && r.memory > 0 { memsw = r.memory * 2 }
                if memsw > 0 { try c.write(mem, "memory.memsw.limit_in_bytes", String(memsw)) }
            }
            if r.memorySwappiness >= 0 { try c.write(mem, "memory.swappiness", String(r.memorySwappiness)) }
            if r.oomKillDisable { try c.write(mem, "memory.oom_control", "1") }
        }
        if let cpu = c.v1Directory("cpu") {
            if r.cpuShares > 0 { try c.write(cpu, "cpu.shares", String(r.cpuShares)) }
            if r.cpuPeriod > 0 { try c.write(cpu, "cpu.cfs_period_us", String(r.cpuPeriod)) }
            if r.cpuQuota > 0 { try c.write(cpu, "cpu.cfs_quota_us", String(r.cpuQuota)) }
        }
        if let pids = c.v1Directory("pids"), r.pidsLimit > 0 {
            try c.write(pids, "pids.max", String(r.pidsLimit))
        }
        if let blkio = c.v1Directory("blkio"), r.blkioWeight > 0 {
            let file = Sys.exists(blkio + "/blkio.weight") ? "blkio.weight" : "blkio.bfq.weight"
            try c.write(blkio, file, String(r.blkioWeight))
        }
        if let io = r.io, !io.isEmpty {
            guard let blkio = c.v1Directory("blkio") else {
                throw SystemError("blkio_config needs the blkio cgroup controller, which this host does not offer (see `swcompose info`)", nil, code: ENOTSUP)
            }
            let weightFile = Sys.exists(blkio + "/blkio.weight_device") ? "blkio.weight_device" : "blkio.bfq.weight_device"
            for d in io.weights { try c.write(blkio, weightFile, "\(d.major):\(d.minor) \(d.value)") }
            for (file, list) in [("blkio.throttle.read_bps_device", io.readBps), ("blkio.throttle.write_bps_device", io.writeBps),
                                 ("blkio.throttle.read_iops_device", io.readIOps), ("blkio.throttle.write_iops_device", io.writeIOps)] {
                for d in list { try c.write(blkio, file, "\(d.major):\(d.minor) \(d.value)") }
            }
        }
        if let devices = c.v1Directory("devices") {
            for rule in deviceRules {
                try c.write(devices, rule.allow ? "devices.allow" : "devices.deny", rule.description)
            }
        }
    }

    func membershipDirectory(_ c: Cgroup) -> String? {
        c.v1Directory("pids") ?? c.v1Directory("memory") ?? c.unifiedDirectory
    }

    func freezer(_ c: Cgroup) -> (dir: String, file: String, frozen: String, thawed: String)? {
        c.v1Directory("freezer").map { ($0, "freezer.state", "FROZEN", "THAWED") }
    }

    func isFrozen(_ c: Cgroup, _ frozen: Bool) -> Bool {
        guard let f = c.v1Directory("freezer") else { return false }
        return c.read(f, "freezer.state")?.hasPrefix(frozen ? "FROZEN" : "THAWED") == true
    }

    var oomKillsFile: (directory: KeyPath<Cgroup, String?>, file: String) { (\.memoryDirectory, "memory.oom_control") }
    var memoryUsageFile: (directory: KeyPath<Cgroup, String?>, file: String) { (\.memoryDirectory, "memory.usage_in_bytes") }
}

extension Cgroup {
    var memoryDirectory: String? { v1Directory("memory") }
}
