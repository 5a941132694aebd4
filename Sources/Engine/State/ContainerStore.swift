import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials

/// What a container is doing, as recorded in `containers/<id>/state.json`.
public struct ContainerState: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case created, running, paused, restarting, exited, dead, removing
    }

    public var status: Status = .created
    /// The container's first process on the host (0 when not running).
    public var pid: Int32 = 0
    /// The process's start time (clock ticks after boot, /proc/<pid>/stat field 22): guards against pid reuse.
    public var pidStartTime: UInt64 = 0
    /// The supervisor process that watches it.
    public var supervisorPid: Int32 = 0
    public var startedAt: String = ""
    public var finishedAt: String = ""
    public var exitCode: Int32 = 0
    public var oomKilled = false
    /// Why the last start failed, or why the exit status is unknown.
    public var error: String = ""
    public var restartCount = 0
    /// Stopped on purpose (`stop`, `kill`, `down`): restart policies other than `always` leave it down.
    public var stoppedByUser = false
    public var health: HealthState?
    /// The container's cgroup, relative to each hierarchy's root (empty: `swcompose/<id>`).
    public var cgroup: String = ""
    /// Network name → its endpoint, while running.
    public var networks: [String: Endpoint] = [:]
    /// Host ports bound for it, while running.
    public var ports: [PublishedPort] = []
    /// The port its embedded resolver listens on at 127.0.0.11 in its network namespace (53, or the
    /// one its cgroup's DNS redirect sends port 53 to), while running; 0: none.
    public var resolverPort: UInt16 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case status, pid, pidStartTime, supervisorPid, startedAt, finishedAt, exitCode, oomKilled, error
        case restartCount, stoppedByUser, health, cgroup, networks, ports, resolverPort
    }

    /// Fields a record written by an earlier version lacks take their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.decodeIfPresent(Status.self, forKey: .status) ?? .created
        pid = try c.decodeIfPresent(Int32.self, forKey: .pid) ?? 0
        pidStartTime = try c.decodeIfPresent(UInt64.self, forKey: .pidStartTime) ?? 0
        supervisorPid = try c.decodeIfPresent(Int32.self, forKey: .supervisorPid) ?? 0
        startedAt = try c.decodeIfPresent(String.self, forKey: .startedAt) ?? ""
        finishedAt = try c.decodeIfPresent(String.self, forKey: .finishedAt) ?? ""
        exitCode = try c.decodeIfPresent(Int32.self, forKey: .exitCode) ?? 0
        oomKilled = try c.decodeIfPresent(Bool.self, forKey: .oomKilled) ?? false
        error = try c.decodeIfPresent(String.self, forKey: .error) ?? ""
        restartCount = try c.decodeIfPresent(Int.self, forKey: .restartCount) ?? 0
        stoppedByUser = try c.decodeIfPresent(Bool.self, forKey: .stoppedByUser) ?? false
        health = try c.decodeIfPresent(HealthState.self, forKey: .health)
        cgroup = try c.decodeIfPresent(String.self, forKey: .cgroup) ?? ""
        networks = try c.decodeIfPresent([String: Endpoint].self, forKey: .networks) ?? [:]
        ports = try c.decodeIfPresent([PublishedPort].self, forKey: .ports) ?? []
        resolverPort = try c.decodeIfPresent(UInt16.self, forKey: .resolverPort) ?? 0
    }

    /// Running or paused, and the recorded process is the one alive under that pid.
    public var isAlive: Bool {
        guard status == .running || status == .paused || status == .restarting, pid > 0 else { return false }
        return ProcessInfoReader.startTime(of: pid) == pidStartTime
    }
}

public struct HealthState: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case starting, healthy, unhealthy }

    public struct Probe: Codable, Sendable, Equatable {
        public var start: String
        public var end: String
        public var exitCode: Int32
        public var output: String

        public init(start: String, end: String, exitCode: Int32, output: String) {
            self.start = start
            self.end = end
            self.exitCode = exitCode
            self.output = output
        }
    }

    public var status: Status = .starting
    public var failingStreak = 0
    /// The last five probes, oldest first (as docker keeps them).
    public var log: [Probe] = []

    public init() {}
}

/// A container's spec and state together.
public struct ContainerRecord: Sendable {
    public var spec: ContainerSpec
    public var state: ContainerState
    public var id: String { spec.id }
    public var name: String { spec.name }

    public init(spec: ContainerSpec, state: ContainerState) {
        self.spec = spec
        self.state = state
    }
}

public enum ContainerStoreError: Error, Sendable, CustomStringConvertible {
    case notFound(String)
    case ambiguous(String, [String])
    case nameInUse(String, by: String)
    case running(String)
    case system(SystemError)
    case corrupt(String, String)

    public var description: String {
        switch self {
        case .notFound(let s): return "no such container: \(s)"
        case .ambiguous(let s, let ids): return "\(s) names several containers (\(ids.joined(separator: ", ")))"
        case .nameInUse(let n, let id): return "the container name \"\(n)\" is already in use by container \(id.prefix(12))"
        case .running(let n): return "container \(n) is running: stop it first"
        case .system(let e): return e.description
        case .corrupt(let id, let why): return "container \(id.prefix(12)): unreadable record: \(why)"
        }
    }
}

/// The containers under `$SWCOMPOSE_ROOT/containers`, one directory each.
public struct ContainerStore: Sendable {
    public let runtime: Runtime
    /// The specs this store has read: a container's config.json is written once, when it is made, so
    /// a listing reads each only once however often a command lists (it would otherwise read every
    /// container's record for every service of a stack: the square of the stack).
    let specs = SpecCache()

    public init(runtime: Runtime) { self.runtime = runtime }

    final class SpecCache: Sendable {
        let byID = Mutex<[String: ContainerSpec]>([:])

        func spec(_ id: String, read: () throws(ContainerStoreError) -> ContainerSpec) throws(ContainerStoreError) -> ContainerSpec {
            if let known = byID.withLock({ $0[id] }) { return known }
            let spec = try read()
            byID.withLock { $0[id] = spec }
            return spec
        }
    }

    /// `containers/.names/<name>` holds the id of the container with that name: made with O_EXCL, it
    /// keeps names unique without reading every record.
    var namesDirectory: String { runtime.root.containers + "/.names" }

    /// 64 random hex digits, like docker's container IDs.
    public static func newID() -> String {
        var rng = SystemRandomNumberGenerator()
        var s = ""
        for _ in 0..<4 {
            let v = rng.next() as UInt64
            let hex = String(v, radix: 16)
            s += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return s
    }

    /// Records a new container: its directory, config.json, state.json and /etc files. They are made
    /// in `containers/.creating-<pid>-<id>` and renamed into place whole, so a command killed halfway
    /// leaves either a complete container or a staging directory `removeIncomplete` takes away.
    public func create(_ spec: ContainerSpec) throws(ContainerStoreError) {
        let staging = runtime.root.containers + "/.creating-\(Sys.pid)-\(spec.id)"
        do {
            // The staging directory first: while it exists, the name claimed next is not stale.
            try runtime.root.ensure(staging)
            try claimName(spec.name, id: spec.id)
            try writeEtcFiles(spec, in: staging)
            try Files.writeAtomically(staging + "/config.json", try JSON.encode(spec), durable: false)
            try write(ContainerState(), to: staging)
            try Sys.rename(staging, runtime.containerDirectory(spec.id))
            EventJournal(root: runtime.root).record("create", spec)
        } catch let error as ContainerStoreError {
            throw error
        } catch let error as SystemError {
            try? Sys.removeAll(staging)
            releaseName(spec.name, id: spec.id)
            throw .system(error)
        } catch {
            try? Sys.removeAll(staging)
            releaseName(spec.name, id: spec.id)
            throw .corrupt(spec.id, "\(error)")
        }
    }

    /// Removes what creations killed halfway left: staging directories of processes that are gone, and
    /// the names they had claimed.
    public func removeIncomplete() {
        let entries = (try? Sys.list(runtime.root.containers)) ?? []
        var creating: Set<String> = []
        for name in entries where name.hasPrefix(".creating-") {
            let parts = name.dropFirst(10).split(separator: "-")
            let pid = parts.first.flatMap { Int32($0) } ?? 0
            if pid > 0 && Sys.processExists(pid) {
                if let id = parts.last { creating.insert(String(id)) }
                continue
            }
            try? Sys.removeAll(runtime.root.containers + "/" + name)
        }
        for name in (try? Sys.list(namesDirectory)) ?? [] {
            let path = namesDirectory + "/" + name
            if name.hasPrefix(".") {
                // A claim (or its temporary file) of a command that is gone.
                let pid = name.split(separator: "-").dropFirst().first.flatMap { Int32($0) } ?? 0
                if pid <= 0 || !Sys.processExists(pid) { try? Sys.unlink(path) }
                continue
            }
            let holder = (try? Files.readText(path)) ?? ""
            if creating.contains(holder) || (!holder.isEmpty && Sys.exists(runtime.containerDirectory(holder))) { continue }
            try? Sys.unlink(path)
        }
    }

    func claimName(_ name: String, id: String) throws {
        guard VolumeStore.isValidName(name) else {
            throw ContainerStoreError.corrupt(id, "invalid container name \"\(name)\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
        try runtime.root.ensure(namesDirectory)
        let path = namesDirectory + "/" + name
        // The claim is written whole, then linked into place (link fails if the name is taken): a name
        // file always names its holder, even when the command is killed halfway.
        let claim = namesDirectory + "/.claim-\(Sys.pid)-\(id)"
        try Files.writeAtomically(claim, Array(id.utf8), durable: false)
        defer { try? Sys.unlink(claim) }
        for _ in 0..<3 {
            do {
                try Sys.link(claim, fromDir: Sys.cwd, path, toDir: Sys.cwd)
                return
            } catch {
                guard error.code == EEXIST else { throw error }
            }
            let holder = (try? Files.readText(path)) ?? ""
            if !holder.isEmpty && (Sys.exists(runtime.containerDirectory(holder) + "/config.json") || isBeingCreated(holder)) {
                throw ContainerStoreError.nameInUse(name, by: holder)
            }
            // A name left by a container that is gone.
            try? Sys.unlink(path)
        }
        throw ContainerStoreError.nameInUse(name, by: (try? Files.readText(path)) ?? "another container")
    }

    /// Whether a live command is creating the container `id` right now.
    func isBeingCreated(_ id: String) -> Bool {
        ((try? Sys.list(runtime.root.containers)) ?? []).contains { name in
            guard name.hasPrefix(".creating-"), name.hasSuffix("-" + id) else { return false }
            let pid = name.dropFirst(10).split(separator: "-").first.flatMap { Int32($0) } ?? 0
            return pid > 0 && Sys.processExists(pid)
        }
    }

    func releaseName(_ name: String, id: String) {
        let path = namesDirectory + "/" + name
        if (try? Files.readText(path)) == id { try? Sys.unlink(path) }
    }

    /// /etc/hostname, /etc/hosts and /etc/resolv.conf as docker writes them for the container. On the
    /// host's network they are copies of the host's own files (resolv.conf as it is unless the service
    /// sets DNS options); a container that joins another's network uses that one's (nothing written).
    func writeEtcFiles(_ spec: ContainerSpec, in dir: String) throws(SystemError) {
        if case .container = spec.network { return }
        try Files.writeAtomically(dir + "/hostname", spec.hostname + "\n", mode: 0o644, durable: false)
        var hosts: String
        var resolv = ResolvConf.forContainer(spec.dns)
        if case .host = spec.network {
            hosts = (try? Files.readText("/etc/hosts")) ?? EtcHosts.defaults
            if !hosts.isEmpty && hosts.utf8.last != 0x0a { hosts += "\n" }
            if spec.dns == DNSSettings(), let host = try? Files.readText("/etc/resolv.conf") { resolv = host }
        } else {
            hosts = EtcHosts.defaults
        }
        for entry in spec.extraHosts { hosts += "\(entry.address)\t\(entry.name)\n" }
        // Bind-mounted into the container, where any user reads them (the tree above stays private).
        try Files.writeAtomically(dir + "/hosts", hosts, mode: 0o644, durable: false)
        try Files.writeAtomically(dir + "/resolv.conf", resolv, mode: 0o644, durable: false)
    }

    public func write(_ state: ContainerState, id: String) throws(SystemError) {
        try write(state, to: runtime.containerDirectory(id))
    }

    func write(_ state: ContainerState, to directory: String) throws(SystemError) {
        let bytes: [UInt8]
        do { bytes = try JSON.encode(state) } catch { throw SystemError("encode state", directory, code: EINVAL) }
        try Files.writeAtomically(directory + "/state.json", bytes, durable: false)
    }

    public func spec(_ id: String) throws(ContainerStoreError) -> ContainerSpec {
        let path = runtime.containerDirectory(id) + "/config.json"
        do {
            return try JSON.decode(ContainerSpec.self, try Files.read(path))
        } catch let error as SystemError where error.code == ENOENT {
            throw .notFound(id)
        } catch {
            throw .corrupt(id, "\(error)")
        }
    }

    public func state(_ id: String) -> ContainerState {
        guard let bytes = try? Files.read(runtime.containerDirectory(id) + "/state.json"),
              let state = try? JSON.decode(ContainerState.self, bytes) else { return ContainerState() }
        return state
    }

    public func record(_ id: String) throws(ContainerStoreError) -> ContainerRecord {
        ContainerRecord(spec: try spec(id), state: state(id))
    }

    /// Every container with a readable record.
    public func list() -> [ContainerRecord] {
        list(labels: [:])
    }

    /// Containers carrying every one of `labels` (only their states are read: specs are known).
    public func list(labels: [String: String]) -> [ContainerRecord] {
        var result: [ContainerRecord] = []
        for id in (try? Sys.list(runtime.root.containers)) ?? [] where id.count == 64 {
            guard let spec = try? specs.spec(id, read: { () throws(ContainerStoreError) in try self.spec(id) }),
                  labels.allSatisfy({ spec.labels[$0.key] == $0.value }) else { continue }
            result.append(ContainerRecord(spec: spec, state: state(id)))
        }
        return result
    }

    /// By exact name, full ID, or unique ID prefix.
    public func find(_ text: String) throws(ContainerStoreError) -> ContainerRecord {
        let all = list()
        if let r = all.first(where: { $0.name == text || $0.id == text }) { return r }
        let matches = all.filter { $0.id.hasPrefix(text) }
        if matches.count == 1 { return matches[0] }
        if matches.count > 1 { throw .ambiguous(text, matches.map { String($0.id.prefix(12)) }) }
        throw .notFound(text)
    }

    /// Removes a stopped container: its cgroup, root filesystem changes, logs and record.
    public func remove(_ id: String) throws(ContainerStoreError) {
        let st = state(id)
        if st.isAlive { throw .running((try? spec(id).name) ?? id) }
        let dir = runtime.containerDirectory(id)
        let removed = try? spec(id)
        if let name = removed?.name { releaseName(name, id: id) }
        do {
            try runtime.cgroup(id: id, state: st).destroy()
            try RootFilesystem(directory: dir).remove()
            try Sys.removeAll(dir)
            if let removed { EventJournal(root: runtime.root).record("destroy", removed) }
        } catch {
            throw .system(error)
        }
    }
}

/// A container's /etc/hosts as dockerd writes it.
public enum EtcHosts {
    public static let defaults = """
        127.0.0.1\tlocalhost
        ::1\tlocalhost ip6-localhost ip6-loopback
        fe00::0\tip6-localnet
        ff00::0\tip6-mcastprefix
        ff02::1\tip6-allnodes
        ff02::2\tip6-allrouters

        """

    /// The container's own line: its address, then its fully qualified name and, when that has a dot,
    /// the first label (`172.18.0.2\tapi.corp.example api`; a bare `c0ffee123456` stays alone).
    public static func ownRecord(address: String, hostname: String, domainname: String) -> String {
        let fqdn = domainname.isEmpty ? hostname : hostname + "." + domainname
        guard let dot = fqdn.firstIndex(of: ".") else { return "\(address)\t\(fqdn)\n" }
        return "\(address)\t\(fqdn) \(fqdn[..<dot])\n"
    }
}

/// /etc/resolv.conf for a container: the host's nameservers (without loopback ones, which are
/// unreachable from a container's namespace), or the ones the service sets.
public enum ResolvConf {
    public static func forContainer(_ dns: DNSSettings, host: String? = try? Files.readText("/etc/resolv.conf")) -> String {
        var servers: [String] = []
        var search: [String] = []
        var options: [String] = []
        for line in (host ?? "").split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let key = fields.first else { continue }
            switch key {
            case "nameserver" where fields.count > 1:
                let a = fields[1]
                if !(a.hasPrefix("127.") || a == "::1") { servers.append(a) }
            case "search", "domain": search = Array(fields.dropFirst())
            case "options": options += fields.dropFirst()
            default: continue
            }
        }
        if servers.isEmpty { servers = ["8.8.8.8", "8.8.4.4"] }
        if !dns.servers.isEmpty { servers = dns.servers }
        if !dns.search.isEmpty { search = dns.search }
        if !dns.options.isEmpty { options = dns.options }
        var out = ""
        for s in servers { out += "nameserver \(s)\n" }
        if !search.isEmpty { out += "search \(search.joined(separator: " "))\n" }
        if !options.isEmpty { out += "options \(options.joined(separator: " "))\n" }
        return out
    }
}

/// Facts about host processes from /proc.
public enum ProcessInfoReader {
    /// Field 22 of /proc/<pid>/stat (the start time), nil when the process is gone.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let text = try? Files.readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, so start time (22) is index 19.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// The signal masks of a process (`SigBlk`, `SigIgn`, `SigCgt`).
    public static func signalMasks(of pid: Int32) -> (blocked: UInt64, ignored: UInt64, caught: UInt64)? {
        guard let text = try? Files.readText("/proc/\(pid)/status") else { return nil }
        var b: UInt64?, i: UInt64?, c: UInt64?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = UInt64(parts[1].trimmingWhitespace(), radix: 16)
            switch parts[0] {
            case "SigBlk": b = value
            case "SigIgn": i = value
            case "SigCgt": c = value
            default: continue
            }
        }
        guard let b, let i, let c else { return nil }
        return (b, i, c)
    }

    /// Whether `signal` sent to a pid-namespace init would reach it: the kernel drops signals an init
    /// neither catches nor blocks (SIGKILL from an ancestor namespace always lands).
    public static func initWouldReceive(_ signal: Int32, pid: Int32) -> Bool {
        if signal == SIGKILL || signal == SIGSTOP { return true }
        guard let masks = signalMasks(of: pid) else { return false }
        let bit: UInt64 = 1 << UInt64(signal - 1)
        if masks.ignored & bit != 0 && masks.blocked & bit == 0 { return false }
        return (masks.caught | masks.blocked) & bit != 0
    }
}
