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

    /// This process's hierarchies, read once: they are mounted at boot and stay as they are while a
    /// process runs, and re-reading /proc/self/mountinfo for every cgroup a supervisor names (each
    /// start, each probe) was a measurable part of its work.
    public static let current = detect()

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

/// What differs between the two cgroup versions for one container's cgroup (as youki's `libcgroups`
/// has a `v1` and a `v2` module behind one manager): making the directories, writing the limits,
/// finding the member processes, freezing, and the memory counters.
protocol CgroupVersion: Sendable {
    /// The directories with what every container gets (controllers enabled, cpusets, device rules).
    func prepare(_ cgroup: Cgroup) throws(SystemError)
    /// The container's own limits and device rules.
    func apply(_ cgroup: Cgroup, resources: Resources, deviceRules: [DeviceRule]) throws(SystemError)
    /// The directory whose `cgroup.procs` lists the members.
    func membershipDirectory(_ cgroup: Cgroup) -> String?
    /// The freezer: directory, file, and the values for frozen and thawed.
    func freezer(_ cgroup: Cgroup) -> (dir: String, file: String, frozen: String, thawed: String)?
    /// Whether the freezer reports the state asked for.
    func isFrozen(_ cgroup: Cgroup, _ frozen: Bool) -> Bool
    var oomKillsFile: (directory: KeyPath<Cgroup, String?>, file: String) { get }
    var memoryUsageFile: (directory: KeyPath<Cgroup, String?>, file: String) { get }
}

/// One container's cgroup: created with its limits before the container starts, joined by the
/// container's first process, emptied and removed when it is gone. cgroup v2 (`CgroupV2`) or v1
/// with or without a unified hierarchy beside it (`CgroupV1`).
public struct Cgroup: Sendable {
    public let hierarchies: CgroupHierarchies
    /// Relative to each hierarchy's root, e.g. `swcompose/<id>`.
    public let path: String

    public init(path: String, hierarchies: CgroupHierarchies = .current) {
        var p = path
        while p.hasPrefix("/") { p.removeFirst() }
        self.path = p
        self.hierarchies = hierarchies
    }

    var version: any CgroupVersion { hierarchies.isV2 ? CgroupV2() : CgroupV1() }

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
    public func prepare() throws(SystemError) { try version.prepare(self) }

    /// The container's own limits and device rules (on a prepared cgroup).
    public func apply(resources r: Resources, deviceRules: [DeviceRule]) throws(SystemError) {
        try version.apply(self, resources: r, deviceRules: deviceRules)
    }

    func write(_ dir: String, _ file: String, _ value: String) throws(SystemError) {
        let handle = try FileHandle(path: dir + "/" + file, flags: O_WRONLY)
        do {
            try handle.write(Array(value.utf8))
        } catch {
            throw SystemError("write \(file) \(value)", dir, code: error.code)
        }
    }

    /// A setting the service asks for needs a controller this host's cgroups lack: said so, naming
    /// both, instead of a failed write.
    func require(_ dir: String, _ file: String, controller: String, for setting: String) throws(SystemError) {
        guard !Sys.exists(dir + "/" + file) else { return }
        throw SystemError("\(setting) needs the \(controller) cgroup controller, which this host does not offer (see `swcompose info`)", nil, code: ENOTSUP)
    }

    func read(_ dir: String, _ file: String) -> String? {
        try? Files.readText(dir + "/" + file)
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
    /// The cgroup2 directory a process is in (`0::` of /proc/PID/cgroup), where the unified hierarchy is
    /// mounted.
    public static func unifiedDirectory(ofProcess pid: Int32, hierarchies: CgroupHierarchies = .current) -> String? {
        guard let unified = hierarchies.unified, let text = try? Files.readText("/proc/\(pid)/cgroup") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            return unified + String(line.dropFirst(3))
        }
        return nil
    }

    public func openUnified() -> Int32? {
        guard let u = unifiedDirectory else { return nil }
        return try? Sys.open(u, O_RDONLY | O_DIRECTORY)
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
        guard let dir = version.membershipDirectory(self), let text = read(dir, "cgroup.procs") else { return [] }
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
        let freezer = version.freezer(self)
        let frozen = freezer.map { (try? write($0.dir, $0.file, $0.frozen)) != nil } ?? false
        var signalled = Set<Int32>()
        for _ in 0..<20 {
            let fresh = processes().filter { !signalled.contains($0) }
            if fresh.isEmpty { break }
            for pid in fresh { Sys.signal(pid, SIGKILL) }
            signalled.formUnion(fresh)
        }
        if frozen, let freezer { try? write(freezer.dir, freezer.file, freezer.thawed) }
    }

    /// Removes cgroups under `parent` (e.g. `swcompose`) that hold no process, are not in `keep`, and are
    /// older than `minimumAge` seconds: what a killed supervisor's unused spare helper left behind.
    public static func sweep(parent: String, keep: Set<String>, minimumAge: Int = 10, hierarchies: CgroupHierarchies = .current) {
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
        guard let f = version.freezer(self) else { throw SystemError("freeze", path, code: ENOTSUP) }
        try write(f.dir, f.file, frozen ? f.frozen : f.thawed)
        try waitUntil("freeze", path) { version.isFrozen(self, frozen) }
    }

    /// Polls (up to 2 s) until `done`.
    func waitUntil(_ call: String, _ path: String, _ done: () -> Bool) throws(SystemError) {
        for _ in 0..<400 {
            if done() { return }
            Sys.sleep(microseconds: 5_000)
        }
        throw SystemError(call, path, code: ETIMEDOUT)
    }

    /// How many times the kernel's OOM killer killed a process of this cgroup.
    public var oomKills: Int {
        let (dir, file) = version.oomKillsFile
        guard let d = self[keyPath: dir] else { return 0 }
        return Self.field(read(d, file), "oom_kill") ?? 0
    }

    /// Memory in use, in bytes.
    public var memoryUsage: Int64? {
        let (dir, file) = version.memoryUsageFile
        return self[keyPath: dir].flatMap { read($0, file) }.flatMap { Int64($0.trimmingWhitespace()) }
    }

    static func field(_ text: String?, _ name: String) -> Int? {
        guard let text else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return Int(parts[1]) }
        }
        return nil
    }

    /// Removes the cgroup from every hierarchy (killing stragglers first), and `swcompose/` with the
    /// last of them. Missing is fine.
    public func destroy() throws(SystemError) {
        try destroyOwn()
        if path.split(separator: "/").dropLast().joined(separator: "/") == CgroupPlacement.cgroupfsParent {
            Cgroup.removeParentIfEmpty(hierarchies)
        }
    }

    /// `swcompose/` in every hierarchy, when nothing is in it any more (a concurrent start that made
    /// a cgroup there keeps it: rmdir refuses a directory with children).
    static func removeParentIfEmpty(_ hierarchies: CgroupHierarchies) {
        var seen: Set<String> = []
        for mount in Array(hierarchies.v1.values) + [hierarchies.unified].compactMap({ $0 }) where seen.insert(mount).inserted {
            try? Sys.removeDirectory(mount + "/" + CgroupPlacement.cgroupfsParent)
        }
    }

    func destroyOwn() throws(SystemError) {
        for dir in directories.reversed() where Sys.exists(dir) {
            var attempts = 0
            while true {
                do {
                    try Sys.removeDirectory(dir)
                    break
                } catch {
                    if error.code == ENOENT { break }
                    guard error.code == EBUSY, attempts < 200 else { throw error }
                    if attempts == 0 { killAll() }
                    attempts += 1
                    Sys.sleep(microseconds: 5_000)
                }
            }
        }
    }
}
