#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// A service attribute swcompose cannot honour, or a value the Engine refuses, with where it was written.
public struct PlanError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var location: SourceLocation?

    public init(_ message: String, at location: SourceLocation? = nil) {
        self.message = message
        self.location = location
    }

    public var description: String { message }
    public var diagnostic: Diagnostic { .error(message, at: location) }
}

/// Turns one replica of a compose service into the Engine's `ContainerSpec`, resolving everything
/// docker's daemon resolves at create time: the entrypoint and command against the image, the
/// environment, user and working directory, confinement, resources and mounts.
public struct ContainerPlanner {
    public let project: Project
    public let runtime: Runtime
    public let composeVersion = "2.40.3"

    public init(project: Project, runtime: Runtime) {
        self.project = project
        self.runtime = runtime
    }

    /// What a one-off (`run`) container overrides.
    public struct Overrides: Sendable {
        public var command: [String]?
        public var entrypoint: [String]?
        public var environment: [String: String] = [:]
        public var user: String?
        public var workingDir: String?
        public var tty: Bool?
        public var stdinOpen: Bool?
        public var name: String?
        public var labels: [String: String] = [:]
        public var volumes: [ServiceVolumeConfig] = []
        public var removeAfter = false
        /// `run --service-ports`: the service's published ports (a one-off publishes none otherwise).
        public var servicePorts = false
        /// `run --publish`: ports of the one-off's own.
        public var publish: [ServicePortConfig] = []

        public init() {}
    }

    /// docker compose's `com.docker.compose.config-hash`: the sha256 of the service's JSON (what
    /// `ServiceHash` hashes), so a change to the service's configuration, and only that, recreates it.
    public static func configHash(_ service: ServiceConfig) -> String {
        Digest.of(Array(service.hashInput.utf8)).hex
    }

    static let settingsAnnotation = "io.swcompose.service-settings"

    /// `key=<first 12 hex of its hash>,…` for each setting, to name what changed on recreation.
    static func settingHashes(_ service: ServiceConfig) -> String {
        service.hashInputFields.map { "\($0.0)=\(Digest.of(Array($0.1.utf8)).hex.prefix(12))" }.joined(separator: ",")
    }

    /// The settings whose values differ between a container's recorded hashes and the service now.
    public static func changedSettings(_ spec: ContainerSpec, _ service: ServiceConfig) -> [String] {
        func parse(_ s: String) -> [String: String] {
            var d: [String: String] = [:]
            for item in s.split(separator: ",") {
                let kv = item.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { d[String(kv[0])] = String(kv[1]) }
            }
            return d
        }
        guard let recorded = spec.annotations[settingsAnnotation] else { return [] }
        let old = parse(recorded), new = parse(settingHashes(service))
        return Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }.sorted()
    }

    /// Docker's default PATH for Linux containers.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public func containerName(_ service: ServiceConfig, number: Int) -> String {
        if !service.containerName.isEmpty { return service.containerName }
        return "\(project.name)-\(service.name)-\(number)"
    }

    /// `checkOnly` plans to find what would be refused, changing nothing (no bind source is created).
    public func plan(_ service: ServiceConfig, number: Int, image: ImageRecord, id: String = ContainerStore.newID(),
                     oneOff: Overrides? = nil, checkOnly: Bool = false) throws(PlanError) -> ContainerSpec {
        func at(_ key: String) -> SourceLocation? { service.locations[key] ?? service.location }
        let imageConfig = image.configuration.config ?? ContainerConfig()

        // Entrypoint and command, exactly as the daemon merges them with the image.
        let entrypoint = oneOff?.entrypoint ?? service.entrypoint
        let command = oneOff?.command ?? service.command
        var args: [String]
        if let ep = entrypoint, !ep.isEmpty {
            args = ep + (command ?? [])
        } else {
            let e = entrypoint == nil ? (imageConfig.entrypoint ?? []) : []
            let c = (command ?? []).isEmpty ? (imageConfig.cmd ?? []) : command!
            args = e + c
        }
        guard !args.isEmpty else {
            throw PlanError("service \"\(service.name)\" has no command: neither the service nor its image \(service.image) sets one", at: at("command"))
        }

        // As dockerd: a container on the host's network is named as the host; one that joins another
        // container's network takes that one's name (`Orchestrator.resolveNetworkMode`).
        let hostname = !service.hostname.isEmpty ? service.hostname : service.networkMode == "host" ? Sys.hostname : String(id.prefix(12))
        let tty = oneOff?.tty ?? service.tty
        var env = environment(service, image: imageConfig, hostname: hostname, tty: tty, extra: oneOff?.environment ?? [:])
        if env.isEmpty { env = ["PATH=" + Self.defaultPath] }

        var process = ProcessSpec(args: args, env: env,
                                  workingDir: oneOff?.workingDir ?? (service.workingDir.isEmpty ? (imageConfig.workingDir ?? "") : service.workingDir),
                                  user: oneOff?.user ?? (service.user.isEmpty ? (imageConfig.user ?? "") : service.user))
        if process.workingDir.isEmpty { process.workingDir = "/" }
        guard process.workingDir.hasPrefix("/") else {
            throw PlanError("working_dir \"\(process.workingDir)\" of service \"\(service.name)\" must be an absolute path", at: at("working_dir"))
        }
        process.additionalGroups = service.groupAdd
        process.tty = tty
        process.stdinOpen = oneOff?.stdinOpen ?? service.stdinOpen
        if service.oomScoreAdj != 0 { process.oomScoreAdj = Int(service.oomScoreAdj) }

        let name = oneOff?.name ?? containerName(service, number: number)
        var spec = ContainerSpec(id: id, name: name,
                                 image: ImageBinding(reference: service.image.isEmpty ? "\(project.name)-\(service.name)" : service.image, id: image.id.description,
                                                     chainIDs: LayerStore.chainIDs(image.configuration.rootfs.diffIDs).map(\.description)),
                                 process: process, hostname: hostname)
        spec.domainname = service.domainName
        spec.readOnlyRootfs = service.readOnly
        spec.initProcess = service.initProcess ?? false
        spec.namespaces = try namespaces(service)
        spec.created = Timestamp.rfc3339()
        spec.security = try security(service)
        spec.sysctls = try sysctls(service)
        // dockerd's defaults for a container with a network namespace of its own: any user may bind
        // ports below 1024 and open ICMP echo sockets.
        let mode = service.networkMode
        if mode != "host" && !mode.hasPrefix("service:") && !mode.hasPrefix("container:") {
            var defaults = [("net.ipv4.ip_unprivileged_port_start", "0"), ("net.ipv4.ping_group_range", "0 2147483647")]
            // Without an IPv6 network, IPv6 is off in the container's namespace (its loopback has no ::1).
            if !usesIPv6(service), Self.kernelHasIPv6 { defaults.append(("net.ipv6.conf.all.disable_ipv6", "1")) }
            for (key, value) in defaults where spec.sysctls[key] == nil && spec.sysctls[key.replacing(".", with: "/")] == nil {
                spec.sysctls[key] = value
            }
        }
        if !service.cgroupParent.isEmpty {
            let parent = service.cgroupParent
            guard !parent.split(separator: "/").contains(".."), !parent.contains(where: { $0.isNewline || $0 == "\0" }) else {
                throw PlanError("cgroup_parent \"\(parent)\" must be a cgroup path without .. (or a systemd slice name)", at: at("cgroup_parent"))
            }
            spec.cgroupParent = parent
        }
        spec.rlimits = try rlimits(service)
        spec.resources = resources(service)
        spec.resources.io = try ioLimits(service)
        (spec.devices, spec.deviceRules) = try devices(service)
        if service.shmSize > 0 { spec.shmSize = service.shmSize }
        spec.stopSignal = try Self.signal(service.stopSignal.isEmpty ? (imageConfig.stopSignal ?? "SIGTERM") : service.stopSignal, at: at("stop_signal"))
        if let grace = service.stopGracePeriod { spec.stopTimeout = grace.nanoseconds }
        spec.restartPolicy = try restartPolicy(service, oneOff: oneOff != nil)
        spec.healthcheck = healthcheck(service, image: imageConfig)
        spec.network = try network(service, containerName: name, id: id)
        // A one-off container publishes only what `run` asks for, as docker compose: the service's
        // ports with --service-ports, its own with --publish.
        if let oneOff {
            var published = service
            published.ports = (oneOff.servicePorts ? service.ports : []) + oneOff.publish
            spec.ports = try ports(published)
        } else {
            spec.ports = try ports(service)
        }
        spec.extraHosts = service.extraHosts.keys.sorted().flatMap { host in
            (service.extraHosts[host] ?? []).map { HostEntry(name: host, address: $0) }
        }
        spec.dns.servers = service.dns
        spec.dns.search = service.dnsSearch
        spec.dns.options = service.dnsOpts
        spec.mounts = try mounts(service, extra: oneOff?.volumes ?? [], createHostPaths: !checkOnly)
        try applyDeviceRequests(service, to: &spec)

        var labels = imageConfig.labels ?? [:]
        for (k, v) in service.labels { labels[k] = v }
        labels[ComposeLabels.project] = project.name
        labels[ComposeLabels.service] = service.name
        labels[ComposeLabels.containerNumber] = String(number)
        labels[ComposeLabels.oneOff] = oneOff == nil ? "False" : "True"
        labels[ComposeLabels.workingDirectory] = project.workingDirectory
        labels[ComposeLabels.configFiles] = project.composeFiles.joined(separator: ",")
        labels[ComposeLabels.image] = image.id.description
        labels[ComposeLabels.configHash] = Self.configHash(service)
        // The service's annotations, as dockerd keeps them with the container (its runtime spec's).
        for (k, v) in service.annotations where k != Self.settingsAnnotation { spec.annotations[k] = v }
        spec.annotations[Self.settingsAnnotation] = Self.settingHashes(service)
        labels[ComposeLabels.version] = composeVersion
        labels[ComposeLabels.dependsOn] = service.dependsOn.keys.sorted().map { dep in
            let d = service.dependsOn[dep]!
            return "\(dep):\(d.condition.rawValue):\(d.restart)"
        }.joined(separator: ",")
        for (k, v) in oneOff?.labels ?? [:] { labels[k] = v }
        if oneOff?.removeAfter == true { labels["io.swcompose.remove-on-exit"] = "true" }
        spec.labels = labels
        spec.logging = try logging(service, spec: spec)
        // The project's containers share one supervisor.
        spec.group = project.name
        return spec
    }

    /// Whether the kernel has IPv6 at all (not booted with ipv6.disable=1).
    static let kernelHasIPv6 = Sys.exists("/proc/sys/net/ipv6/conf/all/disable_ipv6")

    /// Whether any of the service's networks has IPv6.
    func usesIPv6(_ service: ServiceConfig) -> Bool {
        let mode = service.networkMode
        guard mode.isEmpty || mode == "bridge" || mode == "default" || project.networks[mode] != nil else { return false }
        let keys = (mode.isEmpty || mode == "bridge" || mode == "default") ? networkKeys(service) : [mode]
        return keys.contains { project.networks[$0]?.enableIPv6 == true }
    }

    // MARK: - Environment

    /// docker's order: PATH and HOSTNAME (and TERM with a terminal) first, then the service's variables
    /// (sorted, replacing those defaults in place), then the image's not overridden.
    func environment(_ service: ServiceConfig, image: ContainerConfig, hostname: String, tty: Bool, extra: [String: String]) -> [String] {
        var user: [(String, String)] = []
        var values = service.environment
        for (k, v) in extra { values[k] = .some(v) }
        for key in values.keys.sorted() {
            guard let value = values[key] ?? nil else { continue }
            user.append((key, value))
        }
        var merged = user.map { "\($0.0)=\($0.1)" }
        let userKeys = Set(user.map(\.0))
        for entry in image.env ?? [] {
            let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            if !userKeys.contains(key) { merged.append(entry) }
        }
        var result = ["PATH=" + Self.defaultPath, "HOSTNAME=" + hostname]
        if tty { result.append("TERM=xterm") }
        for entry in merged {
            let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            if let i = result.firstIndex(where: { $0.hasPrefix(key + "=") }) {
                result[i] = entry
            } else {
                result.append(entry)
            }
        }
        return result
    }

    // MARK: - Lifecycle

    static let signals: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9, "USR1": 10,
        "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19,
        "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
        "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    /// `SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`.
    public static func signal(_ text: String, at location: SourceLocation? = nil) throws(PlanError) -> Int32 {
        let upper = text.uppercased()
        if let n = Int32(upper), n > 0, n < 65 { return n }
        let name = upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper
        if let n = signals[name] { return n }
        for (base, value, sign) in [("RTMIN", Int32(34), Int32(1)), ("RTMAX", Int32(64), Int32(-1))] where name.hasPrefix(base) {
            let rest = name.dropFirst(base.count)
            if rest.isEmpty { return value }
            if rest.first == (sign > 0 ? "+" : "-"), let off = Int32(rest.dropFirst()), off >= 0, off <= 30 { return value + sign * off }
        }
        throw PlanError("invalid signal \"\(text)\"", at: location)
    }

    /// `restart:`, overridden by `deploy.restart_policy` (as docker compose maps it: `none`/`no`,
    /// `on-failure`, `unless-stopped`, `any`/`always`, with `max_attempts`). The engine refuses a
    /// maximum retry count for any policy but on-failure, and so does this.
    func restartPolicy(_ service: ServiceConfig, oneOff: Bool) throws(PlanError) -> RestartPolicy {
        if oneOff { return RestartPolicy() }
        var policy = RestartPolicy()
        var location = service.locations["restart"]
        if !service.restart.isEmpty {
            let parts = service.restart.split(separator: ":", maxSplits: 1).map(String.init)
            guard let mode = Self.restartMode(parts[0]), parts.count == 1 || Int(parts[1]) != nil else {
                throw PlanError("invalid restart policy \"\(service.restart)\" (no, always, on-failure[:N], unless-stopped)", at: location)
            }
            policy = RestartPolicy(mode: mode, maximumRetries: parts.count > 1 ? Int(parts[1])! : 0)
        }
        if let rp = service.deploy?.restartPolicy {
            location = service.locations["deploy"]
            // No condition is no policy: docker compose passes the empty name on, which the engine reads as `no`.
            guard let mode = rp.condition.isEmpty ? .no : Self.restartMode(rp.condition) else {
                throw PlanError("invalid deploy.restart_policy.condition \"\(rp.condition)\" (none, on-failure, any)", at: location)
            }
            policy = RestartPolicy(mode: mode, maximumRetries: Int(rp.maxAttempts ?? 0))
        }
        if policy.maximumRetries != 0 && policy.mode != .onFailure {
            throw PlanError("maximum retry count cannot be used with restart policy '\(policy.mode.rawValue)'", at: location)
        }
        if policy.maximumRetries < 0 { throw PlanError("invalid restart policy: maximum retry count cannot be negative", at: location) }
        return policy
    }

    static func restartMode(_ name: String) -> RestartPolicy.Mode? {
        switch name {
        case "no", "none": return .no
        case "always", "any": return .always
        case "on-failure": return .onFailure
        case "unless-stopped": return .unlessStopped
        default: return nil
        }
    }

    /// The service's healthcheck merged field by field with the image's, as the daemon merges them.
    func healthcheck(_ service: ServiceConfig, image: ContainerConfig) -> HealthcheckSpec? {
        let h = service.healthCheck
        if h?.disable == true { return nil }
        let test = (h?.test).flatMap { $0.isEmpty ? nil : $0 } ?? image.healthcheck?.test
        guard let test, !test.isEmpty, test.first != "NONE" else { return nil }
        var spec = HealthcheckSpec(test: test)
        func pick(_ service: Duration?, _ image: Int64?) -> Int64? {
            if let s = service, s.nanoseconds > 0 { return s.nanoseconds }
            if let i = image, i > 0 { return i }
            return nil
        }
        if let v = pick(h?.interval, image.healthcheck?.interval) { spec.interval = v }
        if let v = pick(h?.timeout, image.healthcheck?.timeout) { spec.timeout = v }
        if let v = pick(h?.startPeriod, image.healthcheck?.startPeriod) { spec.startPeriod = v }
        if let v = pick(h?.startInterval, image.healthcheck?.startInterval) { spec.startInterval = v }
        if let r = h?.retries, r > 0 { spec.retries = Int(r) } else if let r = image.healthcheck?.retries, r > 0 { spec.retries = r }
        return spec
    }

    /// The logging driver and its options, as dockerd's drivers take them (an option a driver does not
    /// know is refused, as the daemon refuses it). `syslog` and `journald` send the output on and keep
    /// a local copy for `logs` (docker's dual logging: `cache-max-size`, `cache-max-file`).
    func logging(_ service: ServiceConfig, spec: ContainerSpec) throws(PlanError) -> LogOptions {
        let at = service.locations["logging"]
        var o = LogOptions()
        let driver = service.logging?.driver ?? ""
        let options = service.logging?.options ?? [:]
        let attributeKeys = ["labels", "labels-regex", "env", "env-regex", "tag"]
        let cacheKeys = ["cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"]
        let allowed: [String]
        switch driver {
        case "", "json-file": allowed = ["max-size", "max-file", "compress"] + attributeKeys
        case "local": allowed = ["max-size", "max-file", "compress"]
        case "none": allowed = []
        case "syslog":
            allowed = ["syslog-address", "syslog-facility", "syslog-format", "syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key",
                       "syslog-tls-skip-verify"] + attributeKeys + cacheKeys
        case "journald": allowed = attributeKeys + cacheKeys
        default:
            throw PlanError("logging driver \"\(driver)\" is not supported (json-file, local, syslog, journald, none)", at: at)
        }
        for key in options.keys.sorted() where !allowed.contains(key) {
            throw PlanError("unknown log opt '\(key)' for \(driver.isEmpty ? "json-file" : driver) log driver", at: at)
        }
        for key in ["labels-regex", "env-regex", "syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key", "syslog-tls-skip-verify"] where options[key] != nil {
            throw PlanError("log opt '\(key)' is not supported (\(key.hasPrefix("syslog-tls") ? "syslog over TLS" : "attributes chosen by a regular expression"); list them instead)", at: at)
        }
        for key in ["compress", "cache-compress"] {
            if let value = options[key], BridgeOptions.bool(value) == true {
                throw PlanError("log opt '\(key)': compressed rotated logs are not supported; remove it or set it to false", at: at)
            }
        }
        if options["cache-disabled"].flatMap(BridgeOptions.bool) == true {
            throw PlanError("log opt 'cache-disabled': swcompose keeps the local copy that logs and attach read; remove it", at: at)
        }
        o.driver = driver.isEmpty || driver == "local" ? "json-file" : driver
        for (sizeKey, countKey) in [("max-size", "max-file"), ("cache-max-size", "cache-max-file")] {
            if let size = options[sizeKey] {
                do { o.maxSize = try ByteSize.parse(size) } catch { throw PlanError("logging \(sizeKey): \(error)", at: at) }
            }
            if let files = options[countKey] {
                guard let n = Int(files), n > 0 else { throw PlanError("logging \(countKey) must be a positive number", at: at) }
                o.maxFiles = n
            }
        }
        if driver == "syslog" || driver == "journald" {
            // docker's local cache: 20 MB files, 5 of them, unless said otherwise.
            if options["cache-max-size"] == nil { o.maxSize = 20 << 20 }
            if options["cache-max-file"] == nil { o.maxFiles = 5 }
        }
        let tag = try logTag(options["tag"], spec: spec, at: at)
        var attributes: [String: String] = [:]
        for key in (options["labels"] ?? "").split(separator: ",").map(String.init) where spec.labels[key] != nil {
            attributes[key] = spec.labels[key]
        }
        for key in (options["env"] ?? "").split(separator: ",").map(String.init) {
            if let entry = spec.process.env.last(where: { $0.hasPrefix(key + "=") }) { attributes[key] = String(entry.dropFirst(key.count + 1)) }
        }
        switch o.driver {
        case "json-file":
            if options["tag"] != nil { attributes["tag"] = tag }
            o.attributes = attributes
        case "syslog":
            var f = LogForward(driver: .syslog, tag: tag)
            if let address = options["syslog-address"], !address.isEmpty {
                guard let scheme = address.range(of: "://"), ["udp", "tcp", "unix", "unixgram"].contains(String(address[..<scheme.lowerBound])) else {
                    throw PlanError("syslog-address should be in form proto://address (udp, tcp, unix, unixgram), got \(address)", at: at)
                }
                f.transport = String(address[..<scheme.lowerBound])
                f.address = String(address[scheme.upperBound...])
                if f.transport.hasPrefix("unix") && !Sys.exists(f.address) {
                    throw PlanError("syslog-address \(address): no such socket", at: at)
                }
            }
            if let facility = options["syslog-facility"] {
                guard let n = Self.syslogFacilities[facility] ?? Int(facility).flatMap({ (0...23).contains($0) ? $0 : nil }) else {
                    throw PlanError("invalid syslog facility \"\(facility)\"", at: at)
                }
                f.facility = n
            }
            if let format = options["syslog-format"] {
                guard ["", "rfc3164", "rfc5424", "rfc5424micro"].contains(format) else {
                    throw PlanError("invalid syslog format \"\(format)\" (rfc3164, rfc5424, rfc5424micro)", at: at)
                }
                f.format = format
            }
            o.forward = f
        case "journald":
            var f = LogForward(driver: .journald, tag: tag)
            f.fields = ["CONTAINER_ID": spec.shortID, "CONTAINER_ID_FULL": spec.id, "CONTAINER_NAME": spec.name,
                        "CONTAINER_TAG": tag, "IMAGE_NAME": spec.image.reference]
            for (key, value) in attributes { f.fields[Self.journalField(key)] = value }
            o.forward = f
        default:
            break
        }
        return o
    }

    static let syslogFacilities = ["kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
                                   "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18,
                                   "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23]

    /// A journal field name from a label or variable name: upper case, anything but letters, digits and
    /// `_` as `_`, no leading `_` (as dockerd's journald driver makes them).
    static func journalField(_ key: String) -> String {
        var out = String(key.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" ? $0 : "_" })
        while out.hasPrefix("_") { out.removeFirst() }
        return out
    }

    /// A log tag template (`{{.Name}}/{{.ID}}`) filled in; docker's default is the short ID.
    func logTag(_ template: String?, spec: ContainerSpec, at: SourceLocation?) throws(PlanError) -> String {
        guard let template, !template.isEmpty else { return spec.shortID }
        let imageID = spec.image.id.hasPrefix("sha256:") ? String(spec.image.id.dropFirst(7)) : spec.image.id
        let values = ["ID": spec.shortID, "FullID": spec.id, "Name": spec.name, "ImageID": String(imageID.prefix(12)),
                      "ImageFullID": spec.image.id, "ImageName": spec.image.reference, "DaemonName": "docker"]
        var out = ""
        var rest = template[...]
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw PlanError("invalid log tag \"\(template)\": unclosed {{", at: at)
            }
            let field = rest[open.upperBound..<close.lowerBound].trimmingWhitespace()
            guard field.hasPrefix("."), let value = values[String(field.dropFirst())] else {
                throw PlanError("log tag \"\(template)\": {{\(field)}} is not one of .ID, .FullID, .Name, .ImageID, .ImageFullID, .ImageName, .DaemonName", at: at)
            }
            out += value
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    /// The engine name of a compose network: its `name:`, else `<project>_<key>`.
    public func networkName(_ key: String) -> String {
        if let n = project.networks[key], !n.name.isEmpty { return n.name }
        return "\(project.name)_\(key)"
    }

    /// The service's networks in attach order (`eth0` first): docker compose's `networksByPriority`,
    /// or the project's default network.
    public func networkKeys(_ service: ServiceConfig) -> [String] {
        service.networks.isEmpty ? ["default"] : service.networksByPriority
    }

    func network(_ service: ServiceConfig, containerName: String, id: String) throws(PlanError) -> NetworkAttachment {
        let mode = service.networkMode
        switch mode {
        case "host": return .host
        case "none": return .isolated
        case "", "bridge", "default":
            break
        default:
            // service:X and container:X are resolved by the orchestrator to the other container.
            if mode.hasPrefix("service:") || mode.hasPrefix("container:") { return .isolated }
            // A named network as the mode (docker compose treats it as the one network).
            if project.networks[mode] == nil {
                throw PlanError("network_mode \"\(mode)\" is not supported (host, none, service:NAME, container:NAME)", at: service.locations["network_mode"])
            }
        }
        let byPriority = (mode.isEmpty || mode == "bridge" || mode == "default") ? networkKeys(service) : [mode]
        // docker compose creates the container on the highest-priority network (which takes the
        // service's mac_address); dockerd 20.10 then orders the interfaces, the default route and name
        // resolution as libnetwork's sandbox does: internal networks last, then by network name.
        let primary = byPriority.first
        let keys = byPriority.sorted { a, b in
            let ia = project.networks[a]?.internal ?? false, ib = project.networks[b]?.internal ?? false
            return ia != ib ? !ia : networkName(a) < networkName(b)
        }
        var endpoints: [NetworkEndpointSpec] = []
        for key in keys {
            guard project.networks[key] != nil || key == "default" else {
                throw PlanError("service \"\(service.name)\" refers to undefined network \(key)", at: service.locations["networks"])
            }
            let config = service.networks[key] ?? nil
            var names = [service.name, containerName, String(id.prefix(12))]
            if !service.hostname.isEmpty { names.append(service.hostname) }
            for alias in config?.aliases ?? [] where !names.contains(alias) { names.append(alias) }
            let address = config?.ipv4Address ?? ""
            if !address.isEmpty && IPv4Address(address) == nil {
                throw PlanError("invalid ipv4_address \"\(address)\"", at: service.locations["networks"])
            }
            // A per-network mac_address, else the service's for its first network (as docker compose).
            var mac = config?.macAddress ?? ""
            if mac.isEmpty && key == primary { mac = service.macAddress }
            if !mac.isEmpty && Netlink.parseMAC(mac) == nil {
                throw PlanError("invalid mac_address \"\(mac)\" (six hex pairs, as 02:42:ac:11:00:02)", at: service.locations["mac_address"] ?? service.locations["networks"])
            }
            var endpoint = NetworkEndpointSpec(network: networkName(key), names: names, ipv4Address: address.isEmpty ? nil : address,
                                               macAddress: mac.isEmpty ? nil : mac.lowercased())
            let at = service.locations["networks"]
            if let v6 = config?.ipv6Address, !v6.isEmpty {
                guard IPv6Address(v6) != nil else { throw PlanError("invalid ipv6_address \"\(v6)\"", at: at) }
                guard project.networks[key]?.enableIPv6 == true else {
                    throw PlanError("ipv6_address \(v6) on network \(key), which does not have IPv6 (set enable_ipv6: true on it)", at: at)
                }
                endpoint.ipv6Address = v6
            }
            for ip in config?.linkLocalIPs ?? [] where IPv4Address(ip) == nil && IPv6Address(ip) == nil {
                throw PlanError("invalid link_local_ips address \"\(ip)\"", at: at)
            }
            if let ips = config?.linkLocalIPs, !ips.isEmpty { endpoint.linkLocalAddresses = ips }
            if let p = config?.gatewayPriority, p != 0 { endpoint.gatewayPriority = Int(p) }
            // The interface's name: interface_name, or the endpoint option that means the same.
            var options = config?.driverOpts ?? [:]
            let ifnameOption = "com.docker.network.endpoint.ifname"
            if let name = config?.interfaceName, !name.isEmpty { options[ifnameOption] = name }
            if let name = options.removeValue(forKey: ifnameOption) {
                guard !name.isEmpty, name.utf8.count <= 15, !name.contains("/"), !name.contains(" "), name != "lo" else {
                    throw PlanError("invalid interface name \"\(name)\" (at most 15 characters, no / or spaces)", at: at)
                }
                endpoint.interfaceName = name
            }
            if let sysctls = options.removeValue(forKey: "com.docker.network.endpoint.sysctls") {
                var parsed: [String: String] = [:]
                for item in sysctls.split(separator: ",") {
                    let kv = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace() }
                    guard kv.count == 2, kv[0].hasPrefix("net.ipv4.conf.IFNAME.") || kv[0].hasPrefix("net.ipv6.conf.IFNAME.")
                            || kv[0].hasPrefix("net.mpls.conf.IFNAME.") else {
                        throw PlanError("endpoint sysctl \"\(item)\" must set net.ipv4.conf.IFNAME.*, net.ipv6.conf.IFNAME.* or net.mpls.conf.IFNAME.*", at: at)
                    }
                    parsed[kv[0]] = kv[1]
                }
                endpoint.sysctls = parsed
            }
            if let key = options.keys.sorted().first {
                throw PlanError("endpoint option \(key) is not supported (com.docker.network.endpoint.ifname, com.docker.network.endpoint.sysctls)", at: at)
            }
            endpoints.append(endpoint)
        }
        return .bridged(endpoints)
    }

    /// Published ports, one binding per container port (compose has already expanded ranges).
    func ports(_ service: ServiceConfig) throws(PlanError) -> [PortBinding] {
        var result: [PortBinding] = []
        if !service.ports.isEmpty, service.networkMode.isEmpty,
           let key = networkKeys(service).first(where: { ["macvlan", "ipvlan"].contains(project.networks[$0]?.driver ?? "") }) {
            // dockerd takes the bindings and publishes nothing: the host cannot reach its own macvlan children.
            throw PlanError("ports are published through a bridge; service \"\(service.name)\" is on the \(project.networks[key]!.driver) network \(key), where it has an address of its own on the link: reach it there and remove ports",
                            at: service.locations["ports"])
        }
        for p in service.ports {
            let loc = p.location ?? service.locations["ports"]
            guard p.target > 0, p.target < 65536 else { throw PlanError("invalid container port \(p.target)", at: loc) }
            guard p.protocol == "tcp" || p.protocol == "udp" else {
                throw PlanError("protocol \(p.protocol) is not supported for published ports (tcp, udp)", at: loc)
            }
            var low: UInt16 = 0, high: UInt16 = 0
            switch p.hostPorts {
            case .ephemeral: break
            case .range(let ports): (low, high) = (ports.lowerBound, ports.upperBound)
            case .invalid: throw PlanError("invalid published port \"\(p.published)\"", at: loc)
            }
            if !p.hostIP.isEmpty && SocketAddress(ip: p.hostIP, port: 0) == nil {
                throw PlanError("invalid host_ip \"\(p.hostIP)\"", at: loc)
            }
            // Without a host_ip, the network's default binding address (`host_binding_ipv4`).
            var hostIP = p.hostIP
            if hostIP.isEmpty, let key = networkKeys(service).first, service.networkMode.isEmpty || service.networkMode == key,
               let binding = project.networks[key]?.driverOpts[BridgeOptions.hostBindingIPv4] {
                hostIP = binding
            }
            result.append(PortBinding(hostIP: hostIP, hostPort: low, hostPortEnd: high, containerPort: UInt16(p.target), proto: p.protocol))
        }
        return result
    }

    // MARK: - Mounts

    func mounts(_ service: ServiceConfig, extra: [ServiceVolumeConfig], createHostPaths: Bool = true) throws(PlanError) -> [MountSpec] {
        var result: [MountSpec] = []
        for v in service.volumes + extra {
            let loc = v.location ?? service.locations["volumes"]
            switch v.type {
            case "bind":
                var m = MountSpec(kind: .bind, source: v.source, destination: v.target, readOnly: v.readOnly)
                if let p = v.bind?.propagation, !p.isEmpty { m.propagation = p }
                switch v.bind?.recursive ?? "" {
                case "", "enabled": break
                case "disabled": m.recursive = false
                case "writable", "readonly":
                    guard v.readOnly else {
                        throw PlanError("bind.recursive: \(v.bind!.recursive) applies to a read-only bind (set read_only: true)", at: loc)
                    }
                    if v.bind?.recursive == "readonly" && !Sys.hasRecursiveReadOnly {
                        throw PlanError("bind.recursive: readonly needs Linux 5.12 (mount_setattr), which this kernel lacks: use enabled (read-only where the kernel can) or writable", at: loc)
                    }
                    m.readOnlySubmounts = v.bind?.recursive
                default:
                    throw PlanError("invalid bind.recursive \"\(v.bind!.recursive)\" (enabled, disabled, writable, readonly)", at: loc)
                }
                switch v.bind?.selinux ?? "" {
                case "": break
                case "z", "Z": m.selinuxRelabel = v.bind?.selinux
                default: throw PlanError("invalid bind.selinux \"\(v.bind!.selinux)\" (z, Z)", at: loc)
                }
                if !Sys.exists(v.source) {
                    if v.bind?.createHostPath == true && !createHostPaths {
                        // Checking only: it is created when the container is.
                    } else if v.bind?.createHostPath == true {
                        do { try Sys.mkdirAll(v.source) } catch {
                            throw PlanError("cannot create bind source \(v.source): \(error)", at: loc)
                        }
                    } else {
                        throw PlanError("invalid mount config for type \"bind\": bind source path does not exist: \(v.source)", at: loc)
                    }
                }
                result.append(m)
            case "volume":
                let name = v.source.isEmpty ? "" : volumeName(v.source)
                var m = MountSpec(kind: .volume, source: name, destination: v.target, readOnly: v.readOnly)
                m.subpath = v.volume?.subpath ?? ""
                result.append(m)
            case "tmpfs":
                var m = MountSpec(kind: .tmpfs, source: "", destination: v.target, readOnly: v.readOnly)
                m.tmpfsSize = v.tmpfs?.size ?? 0
                m.tmpfsMode = UInt32(v.tmpfs?.mode ?? 0)
                result.append(m)
            case "image":
                // docker's image mounts (Engine 28): the image's filesystem, read-only.
                let store = ImageStore(root: runtime.root)
                guard let image = try? store.resolve(v.source) else {
                    throw PlanError("image \(v.source) of the image mount at \(v.target) is not in the image store (pull it, or let up pull it)", at: loc)
                }
                var m = MountSpec(kind: .image, source: image.id.description, destination: v.target, readOnly: true)
                do { m.imageLayers = try store.layers(of: image).map(\.directory) } catch {
                    throw PlanError("image \(v.source) of the image mount at \(v.target): \(error)", at: loc)
                }
                m.subpath = v.imageSubpath ?? ""
                guard !m.subpath.hasPrefix("/"), !m.subpath.split(separator: "/").contains("..") else {
                    throw PlanError("image.subpath \"\(m.subpath)\" must be a relative path inside the image", at: loc)
                }
                result.append(m)
            default:
                throw PlanError("volume type \"\(v.type)\" is not supported (bind, volume, tmpfs, image)", at: loc)
            }
        }
        for entry in service.tmpfs {
            let parts = entry.split(separator: ":", maxSplits: 1)
            var m = MountSpec(kind: .tmpfs, source: "", destination: String(parts[0]))
            if parts.count > 1 {
                for option in parts[1].split(separator: ",") {
                    let o = String(option)
                    if o.hasPrefix("size=") {
                        do { m.tmpfsSize = try ByteSize.parse(String(o.dropFirst(5))) } catch {
                            throw PlanError("tmpfs \(entry): \(error)", at: service.locations["tmpfs"])
                        }
                    } else if o.hasPrefix("mode="), let mode = UInt32(o.dropFirst(5), radix: 8) {
                        m.tmpfsMode = mode
                    } else {
                        m.tmpfsOptions.append(o)
                    }
                }
            }
            result.append(m)
        }
        var seen: [String: Int] = [:]
        for (i, m) in result.enumerated() {
            if let j = seen[m.destination] {
                _ = j
                throw PlanError("duplicate mount point \(m.destination) in service \"\(service.name)\"", at: service.locations["volumes"])
            }
            seen[m.destination] = i
            guard m.destination.hasPrefix("/") else {
                throw PlanError("mount point \"\(m.destination)\" must be an absolute path", at: service.locations["volumes"])
            }
        }
        return result
    }

    /// The engine name of a compose volume: its `name:`, else `<project>_<key>`.
    public func volumeName(_ key: String) -> String {
        if let v = project.volumes[key] {
            if !v.name.isEmpty { return v.name }
            return "\(project.name)_\(key)"
        }
        return key
    }
}

/// Names the Engine understands, shared with validation here.
enum ProcessSetupNames {
    static let rlimits: Set<String> = ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                                       "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]
}
