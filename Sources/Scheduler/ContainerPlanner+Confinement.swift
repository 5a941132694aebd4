#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// What confines a container: capabilities, seccomp and other security options, sysctls, rlimits,
/// cgroup resources and devices, as docker resolves them.
extension ContainerPlanner {
    func security(_ service: ServiceConfig) throws(PlanError) -> SecuritySpec {
        func at(_ key: String) -> SourceLocation? { service.locations[key] ?? service.location }
        var s = SecuritySpec()
        s.privileged = service.privileged
        do {
            s.capabilities = try Capabilities.resolve(add: service.capAdd, drop: service.capDrop, privileged: service.privileged)
        } catch {
            throw PlanError("service \"\(service.name)\": \(error)", at: at(service.capAdd.contains { Capabilities.number($0) == nil } ? "cap_add" : "cap_drop"))
        }
        var seccomp: SeccompProfile? = SeccompProfile.dockerDefault
        for option in service.securityOpt {
            let (key, value) = Self.splitOption(option)
            switch key {
            case "no-new-privileges":
                s.noNewPrivileges = value.isEmpty || value == "true"
                if !["", "true", "false"].contains(value) {
                    throw PlanError("invalid security_opt \"\(option)\": no-new-privileges takes true or false", at: at("security_opt"))
                }
            case "seccomp":
                if value == "unconfined" {
                    seccomp = nil
                } else {
                    let path = value.hasPrefix("/") ? value : project.workingDirectory + "/" + value
                    do {
                        seccomp = try SeccompProfile.parse(try Files.read(path))
                    } catch let error as SeccompError {
                        throw PlanError("security_opt seccomp=\(value): \(error)", at: at("security_opt"))
                    } catch {
                        throw PlanError("security_opt seccomp=\(value): cannot read \(path): \(error)", at: at("security_opt"))
                    }
                }
            case "apparmor", "label", "systempaths":
                if key == "systempaths" && value == "unconfined" {
                    s.maskedPaths = []
                    s.readonlyPaths = []
                }
                // AppArmor and SELinux labels are not applied: neither is active on the hosts swcompose runs on.
            default:
                throw PlanError("unknown security_opt \"\(option)\" (swcompose knows seccomp=, no-new-privileges, apparmor=, label=, systempaths=)", at: at("security_opt"))
            }
        }
        if service.privileged {
            s.maskedPaths = []
            s.readonlyPaths = []
            seccomp = nil
        }
        if let seccomp {
            do {
                s.seccomp = try seccomp.resolve(capabilities: s.capabilities)
            } catch {
                throw PlanError("service \"\(service.name)\": \(error)", at: at("security_opt"))
            }
        }
        return s
    }

    /// `pid`, `ipc`, `uts` and `cgroup` as dockerd takes them. `service:`/`container:` modes name a
    /// container the orchestrator resolves (`Orchestrator.resolveSharedNamespaces`); the cgroup
    /// namespace is the host's on cgroup v1 and a private one on cgroup v2 unless set, as dockerd's
    /// default.
    func namespaces(_ service: ServiceConfig) throws(PlanError) -> NamespaceModes {
        func at(_ key: String) -> SourceLocation? { service.locations[key] ?? service.location }
        var n = NamespaceModes()
        func shared(_ value: String, _ key: String, allowed: [String]) throws(PlanError) -> NamespaceModes.Sharing {
            switch value {
            case "", "private": return .own
            case "host": return .host
            default:
                if value.hasPrefix("service:") || value.hasPrefix("container:") { return .container(id: "") }
                if allowed.contains(value) { return .own }
                throw PlanError("invalid \(key) mode \"\(value)\" (\((["host", "private"] + allowed + ["service:NAME", "container:NAME"]).joined(separator: ", ")))",
                                at: at(key))
            }
        }
        n.pid = try shared(service.pid, "pid", allowed: [])
        n.ipc = try shared(service.ipc, "ipc", allowed: ["shareable", "none"])
        n.shareableIPC = service.ipc == "shareable"
        n.noShm = service.ipc == "none"
        switch service.uts {
        case "": n.uts = .own
        case "host": n.uts = .host
        default: throw PlanError("invalid uts mode \"\(service.uts)\" (host)", at: at("uts"))
        }
        switch service.cgroup {
        case "": n.cgroup = CgroupHierarchies.current.isV2 ? .own : .host
        case "host": n.cgroup = .host
        case "private": n.cgroup = .own
        default: throw PlanError("invalid cgroup mode \"\(service.cgroup)\" (host, private)", at: at("cgroup"))
        }
        if n.uts == .host && !service.hostname.isEmpty {
            throw PlanError("conflicting options: hostname and the UTS mode: a container with uts: host has the host's name", at: at("hostname"))
        }
        return n
    }

    /// `key=value` or `key:value` (docker accepts both in security_opt).
    static func splitOption(_ option: String) -> (String, String) {
        if let i = option.firstIndex(where: { $0 == "=" || $0 == ":" }) {
            return (String(option[..<i]), String(option[option.index(after: i)...]))
        }
        return (option, "")
    }

    /// Namespaced sysctls only, as docker allows: IPC ones, and net.* in the container's own network.
    func sysctls(_ service: ServiceConfig) throws(PlanError) -> [String: String] {
        let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                   "kernel.shmmni", "kernel.shm_rmid_forced"]
        for key in service.sysctls.keys.sorted() {
            let k = key.replacing("/", with: ".")
            let ok = ipc.contains(k) || k.hasPrefix("fs.mqueue.") || (k.hasPrefix("net.") && service.networkMode != "host")
                || k == "kernel.domainname" || k == "kernel.hostname"
            if !ok {
                throw PlanError("sysctl \"\(key)\" is not allowed: only namespaced sysctls (IPC, fs.mqueue.*, net.* outside the host network) can be set per container", at: service.locations["sysctls"])
            }
        }
        return service.sysctls
    }

    func rlimits(_ service: ServiceConfig) throws(PlanError) -> [ResourceLimit] {
        try Self.rlimits(service.ulimits, at: service.locations["ulimits"])
    }

    /// `ulimits:` of a service or of its build section, as the runtime sets them.
    static func rlimits(_ ulimits: [String: Ulimit], at location: SourceLocation?) throws(PlanError) -> [ResourceLimit] {
        var result: [ResourceLimit] = []
        for name in ulimits.keys.sorted() {
            let u = ulimits[name]!
            guard ProcessSetupNames.rlimits.contains(name) else {
                throw PlanError("unknown ulimit \"\(name)\"", at: location)
            }
            let soft = u.single != 0 ? u.single : u.soft
            let hard = u.single != 0 ? u.single : u.hard
            func value(_ v: Int64) -> UInt64 { v < 0 ? UInt64.max : UInt64(v) }
            guard soft <= hard || hard < 0 else {
                throw PlanError("ulimit \"\(name)\": soft limit \(soft) is above the hard limit \(hard)", at: location)
            }
            result.append(ResourceLimit(name: name, soft: value(soft), hard: value(hard)))
        }
        return result
    }

    func resources(_ service: ServiceConfig) -> Resources {
        var r = Resources()
        r.memory = service.memLimit
        if let m = service.deploy?.limits?.memory, m > 0 { r.memory = m }
        r.memoryReservation = service.memReservation
        if let m = service.deploy?.reservations?.memory, m > 0 { r.memoryReservation = m }
        r.memorySwap = service.memSwapLimit
        if service.memSwappiness != 0 { r.memorySwappiness = service.memSwappiness }
        r.oomKillDisable = service.oomKillDisable
        r.cpuShares = service.cpuShares
        r.cpuPeriod = service.cpuPeriod
        r.cpuQuota = service.cpuQuota
        var cpus = service.cpus
        if let c = service.deploy?.limits?.cpus, c > 0 { cpus = c }
        if cpus > 0 {
            // docker's NanoCPUs: a 100 ms period and the matching quota.
            r.cpuPeriod = 100_000
            r.cpuQuota = Int64((Double(cpus) * 100_000).rounded())
        }
        r.cpusetCpus = service.cpuset
        r.pidsLimit = service.pidsLimit
        if let p = service.deploy?.limits?.pids, p > 0 { r.pidsLimit = p }
        if let w = service.blkioConfig?.weight, w > 0 { r.blkioWeight = UInt16(clamping: w) }
        return r
    }

    /// `blkio_config`'s per-device settings, the paths resolved to device numbers as docker's daemon
    /// resolves them (a path that is not a block device is refused, naming it).
    func ioLimits(_ service: ServiceConfig) throws(PlanError) -> IOLimits? {
        guard let b = service.blkioConfig else { return nil }
        let at = service.locations["blkio_config"] ?? service.location
        func device(_ path: String, _ value: Int64, _ key: String) throws(PlanError) -> IOLimits.Device {
            guard let st = try? Sys.fileStatus(path), st.st_mode & S_IFMT == S_IFBLK else {
                throw PlanError("blkio_config.\(key): \(path) is not a block device on this host", at: at)
            }
            return IOLimits.Device(major: Sys.major(st.st_rdev), minor: Sys.minor(st.st_rdev), value: value)
        }
        var io = IOLimits()
        for w in b.weightDevice { io.weights.append(try device(w.path, w.weight, "weight_device")) }
        for t in b.deviceReadBps { io.readBps.append(try device(t.path, t.rate, "device_read_bps")) }
        for t in b.deviceWriteBps { io.writeBps.append(try device(t.path, t.rate, "device_write_bps")) }
        for t in b.deviceReadIOps { io.readIOps.append(try device(t.path, t.rate, "device_read_iops")) }
        for t in b.deviceWriteIOps { io.writeIOps.append(try device(t.path, t.rate, "device_write_iops")) }
        return io.isEmpty ? nil : io
    }

    func devices(_ service: ServiceConfig) throws(PlanError) -> ([DeviceNode], [DeviceRule]) {
        var nodes: [DeviceNode] = []
        var rules: [DeviceRule] = []
        if service.privileged {
            rules.append(DeviceRule(allow: true, type: "a", major: -1, minor: -1, access: "rwm"))
        }
        // CDI names (`vendor.com/class=name`) are device requests, as docker compose makes them: `applyDeviceRequests`.
        for d in service.devices where !(d.source == d.target && CDIRegistry.isQualifiedName(d.source)) {
            let permissions = d.permissions.isEmpty ? "rwm" : d.permissions
            guard let st = try? Sys.fileStatus(d.source, follow: true) else {
                throw PlanError("device \(d.source) of service \"\(service.name)\" does not exist on this host", at: service.locations["devices"])
            }
            let kind = st.st_mode & S_IFMT
            if kind == S_IFDIR {
                throw PlanError("device \(d.source): directories of devices are not supported; list the devices", at: service.locations["devices"])
            }
            guard kind == S_IFCHR || kind == S_IFBLK else {
                throw PlanError("\(d.source) is not a device", at: service.locations["devices"])
            }
            nodes.append(DeviceNode(hostPath: d.source, containerPath: d.target.isEmpty ? d.source : d.target, permissions: permissions))
            rules.append(DeviceRule(allow: true, type: kind == S_IFCHR ? "c" : "b", major: Int64(Sys.major(st.st_rdev)),
                                    minor: Int64(Sys.minor(st.st_rdev)), access: permissions))
        }
        for text in service.deviceCgroupRules {
            guard let rule = DeviceRule.parse(text) else {
                throw PlanError("invalid device_cgroup_rule \"\(text)\" (expected e.g. \"c 1:3 mr\" or \"a 7:* rwm\")", at: service.locations["device_cgroup_rules"])
            }
            rules.append(rule)
        }
        return (nodes, rules)
    }
}
