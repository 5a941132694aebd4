#if canImport(Glibc)
import Glibc
#endif

/// The host's cgroup hierarchies: cgroup v2 alone (unified), or v1 controllers with (hybrid) or
/// without a v2 hierarchy beside them.
public struct CgroupHierarchies: Sendable, Equatable {
    /// v1 controller (or `name=systemd`) → mount point. Comounted controllers share a mount point.
    public var v1: [String: String]
    /// The cgroup2 mount point, if any.
    public var unified: String?
    /// Controllers the cgroup2 hierarchy offers (from its root's `cgroup.controllers`).
    public var unifiedControllers: Set<String>

    /// True when resource limits live in the v2 hierarchy.
    public var isV2: Bool { v1.filter { $0.key != "name=systemd" }.isEmpty && unified != nil }

    public init(v1: [String: String], unified: String?, unifiedControllers: Set<String>) {
        self.v1 = v1
        self.unified = unified
        self.unifiedControllers = unifiedControllers
    }

    /// Read from /proc/self/mountinfo.
    public static func detect() -> CgroupHierarchies {
        var v1: [String: String] = [:]
        var unified: String?
        let text = (try? Files.readText("/proc/self/mountinfo")) ?? ""
        for line in text.split(separator: "\n") {
            guard let dash = line.range(of: " - ") else { continue }
            let before = line[..<dash.lowerBound].split(separator: " ")
            let after = line[dash.upperBound...].split(separator: " ")
            guard before.count >= 5, after.count >= 3 else { continue }
            let mountPoint = unescapeMountPath(String(before[4]))
            switch after[0] {
            case "cgroup2":
                if unified == nil { unified = mountPoint }
            case "cgroup":
                for option in after[2].split(separator: ",") {
                    let o = String(option)
                    if knownV1.contains(o) || o.hasPrefix("name=") { v1[o] = mountPoint }
                }
            default: continue
            }
        }
        var controllers: Set<String> = []
        if let unified, let text = try? Files.readText(unified + "/cgroup.controllers") {
            controllers = Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        }
        return CgroupHierarchies(v1: v1, unified: unified, unifiedControllers: controllers)
    }

    static let knownV1: Set<String> = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                                       "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"]

    /// Octal escapes (`\040`) in mountinfo paths.
    static func unescapeMountPath(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// One container's cgroup: created with its limits before the container starts, joined by the
/// container's first process, emptied and removed when it is gone.
public struct Cgroup: Sendable {
    public let hierarchies: CgroupHierarchies
    /// Relative to each hierarchy's root, e.g. `swcompose/<id>`.
    public let path: String

    public init(path: String, hierarchies: CgroupHierarchies = .detect()) {
        var p = path
        while p.hasPrefix("/") { p.removeFirst() }
        self.path = p
        self.hierarchies = hierarchies
    }

    /// Every directory of this cgroup, one per hierarchy (comounted controllers once).
    public var directories: [String] {
        var seen: Set<String> = []
        var dirs: [String] = []
        for mount in hierarchies.v1.values.sorted() where seen.insert(mount).inserted {
            dirs.append(mount + "/" + path)
        }
        if let u = hierarchies.unified { dirs.append(u + "/" + path) }
        return dirs
    }

    func v1Directory(_ controller: String) -> String? {
        hierarchies.v1[controller].map { $0 + "/" + path }
    }

    var unifiedDirectory: String? { hierarchies.unified.map { $0 + "/" + path } }

    // MARK: Creation

    /// Creates the cgroup in every hierarchy and applies the limits.
    public func create(resources: Resources, deviceRules: [DeviceRule]) throws(SystemError) {
        try prepare()
        try apply(resources: resources, deviceRules: deviceRules)
    }

    /// The directories, with what every container gets: controllers enabled down the cgroup2 tree,
    /// cpus and memory nodes for v1 cpuset, and docker's device allowlist.
    public func prepare() throws(SystemError) {
        if hierarchies.isV2 {
            try prepareV2()
            return
        }
        for dir in directories { try Sys.mkdirAll(dir) }
        if let cpuset = v1Directory("cpuset") {
            // A new cpuset group has no cpus or mems: copy them down from the first ancestor that has them.
            try initCpuset(cpuset)
        }
        if let devices = v1Directory("devices") {
            try write(devices, "devices.deny", "a")
            for rule in DeviceRule.dockerDefaults {
                try write(devices, "devices.allow", rule.description)
            }
        }
    }

    func write(_ dir: String, _ file: String, _ value: String) throws(SystemError) {
        let handle = try FileHandle(path: dir + "/" + file, flags: O_WRONLY)
        do {
            try handle.write(Array(value.utf8))
        } catch {
            throw SystemError("write \(file) \(value)", dir, code: error.code)
        }
    }

    func read(_ dir: String, _ file: String) -> String? {
        try? Files.readText(dir + "/" + file)
    }

    /// The container's own limits and device rules (on a prepared cgroup).
    public func apply(resources r: Resources, deviceRules: [DeviceRule]) throws(SystemError) {
        if hierarchies.isV2 {
            try applyV2(resources: r, deviceRules: deviceRules)
            return
        }
        if let cpuset = v1Directory("cpuset") {
            if !r.cpusetCpus.isEmpty { try write(cpuset, "cpuset.cpus", r.cpusetCpus) }
            if !r.cpusetMems.isEmpty { try write(cpuset, "cpuset.mems", r.cpusetMems) }
        }
        if let mem = v1Directory("memory") {
            if r.memory > 0 { try write(mem, "memory.limit_in_bytes", String(r.memory)) }
            if r.memoryReservation > 0 { try write(mem, "memory.soft_limit_in_bytes", String(r.memoryReservation)) }
            let swapFile = mem + "/memory.memsw.limit_in_bytes"
            if Sys.exists(swapFile) {
                // docker: with a memory limit and no swap limit, swap may equal the memory limit.
                var memsw = r.memorySwap
                if memsw == 0 && r.memory > 0 { memsw = r.memory * 2 }
                if memsw > 0 { try write(mem, "memory.memsw.limit_in_bytes", String(memsw)) }
            }
            if r.memorySwappiness >= 0 { try write(mem, "memory.swappiness", String(r.memorySwappiness)) }
            if r.oomKillDisable { try write(mem, "memory.oom_control", "1") }
        }
        if let cpu = v1Directory("cpu") {
            if r.cpuShares > 0 { try write(cpu, "cpu.shares", String(r.cpuShares)) }
            if r.cpuPeriod > 0 { try write(cpu, "cpu.cfs_period_us", String(r.cpuPeriod)) }
            if r.cpuQuota > 0 { try write(cpu, "cpu.cfs_quota_us", String(r.cpuQuota)) }
        }
        if let pids = v1Directory("pids"), r.pidsLimit > 0 {
            try write(pids, "pids.max", String(r.pidsLimit))
        }
        if let blkio = v1Directory("blkio"), r.blkioWeight > 0 {
            let file = Sys.exists(blkio + "/blkio.weight") ? "blkio.weight" : "blkio.bfq.weight"
            try write(blkio, file, String(r.blkioWeight))
        }
        if let devices = v1Directory("devices") {
            for rule in deviceRules {
                try write(devices, rule.allow ? "devices.allow" : "devices.deny", rule.description)
            }
        }
    }

    func initCpuset(_ dir: String) throws(SystemError) {
        guard let root = hierarchies.v1["cpuset"] else { return }
        // Walk from the root down, filling empty cpus/mems from the parent.
        var current = root
        for part in path.split(separator: "/") {
            let parent = current
            current += "/" + part
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let mine = read(current, file)?.trimming(" \n") ?? ""
                if mine.isEmpty, let value = read(parent, file)?.trimming(" \n"), !value.isEmpty {
                    try write(current, file, value)
                }
            }
        }
    }

    func prepareV2() throws(SystemError) {
        guard let root = hierarchies.unified else { return }
        // Enable the controllers on the way down.
        let wanted = ["cpu", "cpuset", "io", "memory", "pids"].filter { hierarchies.unifiedControllers.contains($0) }
        var current = root
        for part in path.split(separator: "/") {
            if !wanted.isEmpty {
                let enabled = read(current, "cgroup.subtree_control") ?? ""
                let missing = wanted.filter { !enabled.split(separator: " ").contains(Substring($0)) && !enabled.contains($0 + "\n") }
                if !missing.isEmpty {
                    try? write(current, "cgroup.subtree_control", missing.map { "+" + $0 }.joined(separator: " "))
                }
            }
            current += "/" + part
            if !Sys.exists(current) { try Sys.mkdir(current, 0o755) }
        }
    }

    func applyV2(resources r: Resources, deviceRules: [DeviceRule]) throws(SystemError) {
        guard let dir = unifiedDirectory else { return }
        // No devices controller in cgroup2: the allowlist is an eBPF program on the cgroup.
        try DeviceFilter.attach(to: dir, rules: deviceRules)
        if r.memory > 0 { try write(dir, "memory.max", String(r.memory)) }
        if r.memoryReservation > 0 { try write(dir, "memory.low", String(r.memoryReservation)) }
        if Sys.exists(dir + "/memory.swap.max") {
            if r.memorySwap == -1 {
                try write(dir, "memory.swap.max", "max")
            } else if r.memorySwap > 0 && r.memory > 0 {
                try write(dir, "memory.swap.max", String(max(0, r.memorySwap - r.memory)))
            } else if r.memory > 0 {
                try write(dir, "memory.swap.max", String(r.memory))
            }
        }
        if r.cpuShares > 0 {
            // runc's conversion of v1 shares [2, 262144] to v2 weight [1, 10000].
            let weight = 1 + ((max(2, min(262_144, r.cpuShares)) - 2) * 9999) / 262_142
            try write(dir, "cpu.weight", String(weight))
        }
        if r.cpuQuota > 0 || r.cpuPeriod > 0 {
            let quota = r.cpuQuota > 0 ? String(r.cpuQuota) : "max"
            let period = r.cpuPeriod > 0 ? r.cpuPeriod : 100_000
            try write(dir, "cpu.max", "\(quota) \(period)")
        }
        if !r.cpusetCpus.isEmpty { try write(dir, "cpuset.cpus", r.cpusetCpus) }
        if !r.cpusetMems.isEmpty { try write(dir, "cpuset.mems", r.cpusetMems) }
        if r.pidsLimit > 0 { try write(dir, "pids.max", String(r.pidsLimit)) }
        if r.blkioWeight > 0, Sys.exists(dir + "/io.weight") {
            // v1 weight [10, 1000] to v2 [1, 10000], as runc converts it.
            let w = 1 + (Int(r.blkioWeight) - 10) * 9999 / 990
            try write(dir, "io.weight", "default \(w)")
        }
    }

    // MARK: Membership

    /// The `tasks` files of the v1 hierarchies: a single-threaded process writing "0" there moves
    /// itself, which the kernel does without the global lock a `cgroup.procs` write takes (that one
    /// waits for an RCU grace period, ~10 ms).
    public var v1TaskFiles: [String] {
        var seen: Set<String> = []
        var files: [String] = []
        for mount in hierarchies.v1.values.sorted() where seen.insert(mount).inserted {
            files.append(mount + "/" + path + "/tasks")
        }
        return files
    }

    /// A descriptor of the cgroup2 directory, for clone3's CLONE_INTO_CGROUP (born inside it).
    public func openUnified() -> Int32? {
        guard let u = unifiedDirectory else { return nil }
        let fd = open(u, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    /// Moves the calling single-threaded process into the v1 hierarchies.
    static func joinSelf(taskFiles: [String]) throws(SystemError) {
        for file in taskFiles where Sys.exists(file) {
            let handle = try FileHandle(path: file, flags: O_WRONLY)
            do {
                try handle.write(Array("0".utf8))
            } catch {
                throw SystemError("join cgroup", file, code: error.code)
            }
        }
    }

    /// Moves a process into this cgroup in every hierarchy.
    public func join(pid: Int32) throws(SystemError) {
        for dir in directories where Sys.exists(dir) {
            try write(dir, "cgroup.procs", String(pid))
        }
    }

    /// The processes in the cgroup.
    public func processes() -> [Int32] {
        let dir = hierarchies.isV2 ? unifiedDirectory : (v1Directory("pids") ?? v1Directory("memory") ?? unifiedDirectory)
        guard let dir, let text = read(dir, "cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    public var exists: Bool { directories.contains { Sys.exists($0) } }

    /// SIGKILLs everything in the cgroup: `cgroup.kill` where the kernel has it (5.14+), else freeze,
    /// kill every listed process, thaw. A process with SIGKILL pending cannot fork any more, so passes
    /// repeat only while processes not yet signalled appear (a fork that was already under way); the
    /// killed stay listed until they exit, which frozen ones do when thawed. (Thawing and re-freezing
    /// between passes instead would keep the dying frozen and the list from ever emptying.)
    public func killAll() {
        if let u = unifiedDirectory, Sys.exists(u + "/cgroup.kill"), (try? write(u, "cgroup.kill", "1")) != nil {
            return
        }
        let freezer: (dir: String, file: String, frozen: String, thawed: String)?
        if hierarchies.isV2, let u = unifiedDirectory, Sys.exists(u + "/cgroup.freeze") {
            freezer = (u, "cgroup.freeze", "1", "0")
        } else if let f = v1Directory("freezer") {
            freezer = (f, "freezer.state", "FROZEN", "THAWED")
        } else {
            freezer = nil
        }
        let frozen = freezer.map { (try? write($0.dir, $0.file, $0.frozen)) != nil } ?? false
        var signalled = Set<Int32>()
        for _ in 0..<20 {
            let fresh = processes().filter { !signalled.contains($0) }
            if fresh.isEmpty { break }
            for pid in fresh { kill(pid, SIGKILL) }
            signalled.formUnion(fresh)
        }
        if frozen, let freezer { try? write(freezer.dir, freezer.file, freezer.thawed) }
    }

    /// Removes cgroups under `parent` (e.g. `swcompose`) that hold no process, are not in `keep`, and are
    /// older than `minimumAge` seconds: what a killed supervisor's unused spare helper left behind.
    public static func sweep(parent: String, keep: Set<String>, minimumAge: Int = 10, hierarchies: CgroupHierarchies = .detect()) {
        let probe = hierarchies.unified ?? hierarchies.v1["pids"] ?? hierarchies.v1.values.first
        guard let probe, let names = try? Sys.list(probe + "/" + parent) else { return }
        let now = Int(Timestamp.now().tv_sec)
        for name in names where name.count == 64 && !keep.contains(parent + "/" + name) {
            let cgroup = Cgroup(path: parent + "/" + name, hierarchies: hierarchies)
            guard let st = try? Sys.fileStatus(probe + "/" + parent + "/" + name), now - Int(st.st_mtim.tv_sec) >= minimumAge,
                  cgroup.processes().isEmpty else { continue }
            try? cgroup.destroy()
        }
    }

    /// Suspends or resumes every process (`pause`/`unpause`), returning once the kernel reports it done.
    public func setFrozen(_ frozen: Bool) throws(SystemError) {
        if hierarchies.isV2, let u = unifiedDirectory {
            try write(u, "cgroup.freeze", frozen ? "1" : "0")
            try waitUntil("freeze", path) { (read(u, "cgroup.events") ?? "").contains(frozen ? "frozen 1" : "frozen 0") }
        } else if let f = v1Directory("freezer") {
            try write(f, "freezer.state", frozen ? "FROZEN" : "THAWED")
            try waitUntil("freeze", path) { read(f, "freezer.state")?.hasPrefix(frozen ? "FROZEN" : "THAWED") == true }
        } else {
            throw SystemError("freeze", path, code: ENOTSUP)
        }
    }

    /// Polls (up to 2 s) until `done`.
    func waitUntil(_ call: String, _ path: String, _ done: () -> Bool) throws(SystemError) {
        for _ in 0..<400 {
            if done() { return }
            usleep(5_000)
        }
        throw SystemError(call, path, code: ETIMEDOUT)
    }

    /// How many times the kernel's OOM killer killed a process of this cgroup.
    public var oomKills: Int {
        if hierarchies.isV2, let u = unifiedDirectory {
            return Self.field(read(u, "memory.events"), "oom_kill") ?? 0
        }
        if let mem = v1Directory("memory") {
            return Self.field(read(mem, "memory.oom_control"), "oom_kill") ?? 0
        }
        return 0
    }

    /// Memory in use, in bytes.
    public var memoryUsage: Int64? {
        if hierarchies.isV2, let u = unifiedDirectory { return read(u, "memory.current").flatMap { Int64($0.trimming(" \n")) } }
        return v1Directory("memory").flatMap { read($0, "memory.usage_in_bytes") }.flatMap { Int64($0.trimming(" \n")) }
    }

    static func field(_ text: String?, _ name: String) -> Int? {
        guard let text else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return Int(parts[1]) }
        }
        return nil
    }

    /// Removes the cgroup from every hierarchy (killing stragglers first). Missing is fine.
    public func destroy() throws(SystemError) {
        for dir in directories.reversed() where Sys.exists(dir) {
            var attempts = 0
            while rmdir(dir) != 0 {
                if errno == ENOENT { break }
                guard errno == EBUSY, attempts < 200 else { throw SystemError("rmdir", dir) }
                if attempts == 0 { killAll() }
                attempts += 1
                usleep(5_000)
            }
        }
    }
}
