/// Everything the Engine needs to run one container, fully resolved: the image's layers, the process
/// (entrypoint and command already merged with the image config), mounts, confinement, resources and
/// supervision policy. Recorded as `containers/<id>/config.json`; the supervisor and the container's
/// start helper work from it alone.
public struct ContainerSpec: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var image: ImageBinding
    public var process: ProcessSpec
    public var hostname: String
    public var domainname: String = ""
    public var mounts: [MountSpec] = []
    public var readOnlyRootfs = false
    public var security = SecuritySpec()
    public var sysctls: [String: String] = [:]
    public var rlimits: [ResourceLimit] = []
    public var resources = Resources()
    /// Host device nodes made inside the container (`devices:`; every host device when privileged).
    public var devices: [DeviceNode] = []
    /// The device cgroup allowlist on top of docker's defaults.
    public var deviceRules: [DeviceRule] = []
    public var shmSize: Int64 = 64 << 20
    /// Run a small reaping init as PID 1 (`init: true`).
    public var initProcess = false
    /// The pid, ipc, uts and cgroup namespaces: its own, the host's, or another container's.
    public var namespaces = NamespaceModes()
    public var stopSignal: Int32 = 15
    /// Nanoseconds to wait after the stop signal before SIGKILL.
    public var stopTimeout: Int64 = 10_000_000_000
    public var restartPolicy = RestartPolicy()
    public var healthcheck: HealthcheckSpec?
    public var labels: [String: String] = [:]
    /// The supervisor group the container belongs to (its caller's grouping: a compose project);
    /// empty is `default`.
    public var group: String = ""
    /// Notes the Engine keeps but does not read (the orchestrator's, e.g. what each setting hashed to).
    public var annotations: [String: String] = [:]
    public var network = NetworkAttachment.isolated
    /// Ports published on the host, forwarded to the container by its supervisor.
    public var ports: [PortBinding] = []
    public var logging = LogOptions()
    /// `/etc/hosts` entries in addition to localhost and the container's own name.
    public var extraHosts: [HostEntry] = []
    public var dns: DNSSettings = DNSSettings()
    /// Names only this container resolves to other containers (`links`, `external_links`): alias →
    /// container name.
    public var links: [String: String] = [:]
    /// Files written into the container's own filesystem before its first start (secrets and configs
    /// from the environment or inline content, as docker compose copies them in).
    public var files: [InjectedFile] = []
    /// OCI hooks (from CDI specs), run at their points of the start sequence.
    public var hooks: OCIHooks?
    /// The cgroup its own is made under instead of swcompose's (`cgroup_parent`): a path from each
    /// hierarchy's root, or a systemd slice name (`app.slice`).
    public var cgroupParent: String?
    public var created: String = ""

    public init(id: String, name: String, image: ImageBinding, process: ProcessSpec, hostname: String) {
        self.id = id
        self.name = name
        self.image = image
        self.process = process
        self.hostname = hostname
    }

    public var shortID: String { String(id.prefix(12)) }

    enum CodingKeys: String, CodingKey {
        case id, name, image, process, hostname, domainname, mounts, readOnlyRootfs, security, sysctls, rlimits
        case resources, devices, deviceRules, shmSize, initProcess, namespaces, stopSignal, stopTimeout, restartPolicy
        case healthcheck, labels, group, annotations, network, ports, logging, extraHosts, dns, links, files, hooks, cgroupParent, created
    }

    /// Fields a record written by an earlier version lacks take their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        image = try c.decode(ImageBinding.self, forKey: .image)
        process = try c.decode(ProcessSpec.self, forKey: .process)
        hostname = try c.decode(String.self, forKey: .hostname)
        domainname = try c.decodeIfPresent(String.self, forKey: .domainname) ?? ""
        mounts = try c.decodeIfPresent([MountSpec].self, forKey: .mounts) ?? []
        readOnlyRootfs = try c.decodeIfPresent(Bool.self, forKey: .readOnlyRootfs) ?? false
        security = try c.decodeIfPresent(SecuritySpec.self, forKey: .security) ?? SecuritySpec()
        sysctls = try c.decodeIfPresent([String: String].self, forKey: .sysctls) ?? [:]
        rlimits = try c.decodeIfPresent([ResourceLimit].self, forKey: .rlimits) ?? []
        resources = try c.decodeIfPresent(Resources.self, forKey: .resources) ?? Resources()
        devices = try c.decodeIfPresent([DeviceNode].self, forKey: .devices) ?? []
        deviceRules = try c.decodeIfPresent([DeviceRule].self, forKey: .deviceRules) ?? []
        shmSize = try c.decodeIfPresent(Int64.self, forKey: .shmSize) ?? 64 << 20
        initProcess = try c.decodeIfPresent(Bool.self, forKey: .initProcess) ?? false
        namespaces = try c.decodeIfPresent(NamespaceModes.self, forKey: .namespaces) ?? NamespaceModes()
        stopSignal = try c.decodeIfPresent(Int32.self, forKey: .stopSignal) ?? 15
        stopTimeout = try c.decodeIfPresent(Int64.self, forKey: .stopTimeout) ?? 10_000_000_000
        restartPolicy = try c.decodeIfPresent(RestartPolicy.self, forKey: .restartPolicy) ?? RestartPolicy()
        healthcheck = try c.decodeIfPresent(HealthcheckSpec.self, forKey: .healthcheck)
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        group = try c.decodeIfPresent(String.self, forKey: .group) ?? ""
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations) ?? [:]
        network = try c.decodeIfPresent(NetworkAttachment.self, forKey: .network) ?? .isolated
        ports = try c.decodeIfPresent([PortBinding].self, forKey: .ports) ?? []
        logging = try c.decodeIfPresent(LogOptions.self, forKey: .logging) ?? LogOptions()
        extraHosts = try c.decodeIfPresent([HostEntry].self, forKey: .extraHosts) ?? []
        dns = try c.decodeIfPresent(DNSSettings.self, forKey: .dns) ?? DNSSettings()
        links = try c.decodeIfPresent([String: String].self, forKey: .links) ?? [:]
        files = try c.decodeIfPresent([InjectedFile].self, forKey: .files) ?? []
        hooks = try c.decodeIfPresent(OCIHooks.self, forKey: .hooks)
        cgroupParent = try c.decodeIfPresent(String.self, forKey: .cgroupParent)
        created = try c.decodeIfPresent(String.self, forKey: .created) ?? ""
    }
}

/// Which namespaces a container shares (docker's `--pid`, `--ipc`, `--uts`, `--cgroupns`).
public struct NamespaceModes: Codable, Sendable, Equatable {
    public enum Sharing: Codable, Sendable, Equatable {
        /// A namespace of its own.
        case own
        /// The host's (the supervisor's).
        case host
        /// Another container's.
        case container(id: String)
    }

    public var pid: Sharing = .own
    public var ipc: Sharing = .own
    public var uts: Sharing = .own
    public var cgroup: Sharing = .own
    /// `ipc: shareable`: its /dev/shm is a tmpfs outside its mount namespace (in its directory), so
    /// that a container joining its IPC namespace gets the same /dev/shm.
    public var shareableIPC = false
    /// `ipc: none`: no /dev/shm at all.
    public var noShm = false

    public init() {}

    /// Whether every namespace is the container's own (a pre-spawned start helper can be used).
    public var allOwn: Bool { pid == .own && ipc == .own && uts == .own && !shareableIPC }
}

/// A file the container gets in its own filesystem (not a mount): its path in the container, content,
/// mode and owner.
public struct InjectedFile: Codable, Sendable, Equatable {
    public var path: String
    public var content: String
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32

    public init(path: String, content: String, mode: UInt32, uid: UInt32, gid: UInt32) {
        self.path = path
        self.content = content
        self.mode = mode
        self.uid = uid
        self.gid = gid
    }
}

public struct ImageBinding: Codable, Sendable, Equatable {
    /// As the user wrote it (`busybox`, `localhost:5000/app:1`).
    public var reference: String
    /// `sha256:…` of the image config.
    public var id: String
    /// Chain ids of the layers, bottom first.
    public var chainIDs: [String]

    public init(reference: String, id: String, chainIDs: [String]) {
        self.reference = reference
        self.id = id
        self.chainIDs = chainIDs
    }
}

public struct ProcessSpec: Codable, Sendable, Equatable {
    /// The final argv: entrypoint followed by command.
    public var args: [String]
    /// `KEY=value` entries: the image's, then the service's, with docker's additions.
    public var env: [String]
    public var workingDir: String
    /// As given: `name`, `uid`, `uid:gid`, `name:group`; empty is root.
    public var user: String
    /// `group_add`: names or gids.
    public var additionalGroups: [String] = []
    public var tty = false
    public var stdinOpen = false
    public var oomScoreAdj: Int?

    public init(args: [String], env: [String], workingDir: String = "/", user: String = "") {
        self.args = args
        self.env = env
        self.workingDir = workingDir
        self.user = user
    }
}

public struct MountSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case bind, volume, tmpfs
        /// An image's filesystem, read-only (`source` is the image's ID, `imageLayers` its layers).
        case image
    }

    public var kind: Kind
    /// Host path for binds, the volume's name for volumes; unused for tmpfs.
    public var source: String
    public var destination: String
    public var readOnly = false
    /// `rprivate` (docker's default), `private`, `rshared`, `shared`, `rslave`, `slave`.
    public var propagation = "rprivate"
    /// Bind recursively (docker's default).
    public var recursive = true
    /// Subdirectory of the source to mount.
    public var subpath: String = ""
    /// For volumes: do not fill a new volume from the image (`nocopy`).
    public var noCopy = false
    /// tmpfs size in bytes (0: the kernel's default of half the memory).
    public var tmpfsSize: Int64 = 0
    /// tmpfs mode (0: 1777 as docker).
    public var tmpfsMode: UInt32 = 0
    /// Extra tmpfs flags from the short syntax (`noexec`, `nosuid`, `nodev`, `exec`, `uid=`…).
    public var tmpfsOptions: [String] = []
    /// How a read-only bind treats the mounts under it (`bind.recursive`): nil tries to make them
    /// read-only too (docker's default since 25), `writable` leaves them writable, `readonly` requires
    /// them read-only (Linux 5.12).
    public var readOnlySubmounts: String?
    /// SELinux relabeling of a bind's source (`z`: shared, `Z`: this container's own), where SELinux is on.
    public var selinuxRelabel: String?
    /// Flags a bind is remounted with (`nosuid`, `nodev`, `noexec`: what CDI mounts ask for).
    public var bindFlags: [String]?
    /// An image mount's unpacked layer directories, bottom first.
    public var imageLayers: [String]?

    public init(kind: Kind, source: String, destination: String, readOnly: Bool = false) {
        self.kind = kind
        self.source = source
        self.destination = destination
        self.readOnly = readOnly
    }
}

public struct SecuritySpec: Codable, Sendable, Equatable {
    public var privileged = false
    /// The container's capability set (bounding, permitted and effective for root), as `CAP_*` names.
    public var capabilities: [String] = Capabilities.dockerDefault
    public var noNewPrivileges = false
    /// nil: unconfined.
    public var seccomp: SeccompFilter?
    public var maskedPaths: [String] = SecuritySpec.defaultMaskedPaths
    public var readonlyPaths: [String] = SecuritySpec.defaultReadonlyPaths

    public init() {}

    public static let defaultMaskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    public static let defaultReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
}

public struct ResourceLimit: Codable, Sendable, Equatable {
    /// `nofile`, `nproc`, `core`, … (compose's ulimit names).
    public var name: String
    public var soft: UInt64
    public var hard: UInt64

    public init(name: String, soft: UInt64, hard: UInt64) {
        self.name = name
        self.soft = soft
        self.hard = hard
    }
}

public struct Resources: Codable, Sendable, Equatable {
    /// Bytes; 0 is unlimited.
    public var memory: Int64 = 0
    public var memoryReservation: Int64 = 0
    /// Memory plus swap in bytes (docker's `memswap_limit`); 0 is unset, -1 unlimited.
    public var memorySwap: Int64 = 0
    /// -1 is unset.
    public var memorySwappiness: Int64 = -1
    public var oomKillDisable = false
    public var cpuShares: Int64 = 0
    public var cpuQuota: Int64 = 0
    public var cpuPeriod: Int64 = 0
    public var cpusetCpus: String = ""
    public var cpusetMems: String = ""
    /// 0 is unlimited (as is -1).
    public var pidsLimit: Int64 = 0
    public var blkioWeight: UInt16 = 0
    /// Per-device weights and throttles (`blkio_config`); nil when there are none.
    public var io: IOLimits?

    public init() {}
}

/// `blkio_config`'s per-device settings, by device number.
public struct IOLimits: Codable, Sendable, Equatable {
    public struct Device: Codable, Sendable, Equatable {
        public var major: UInt32
        public var minor: UInt32
        public var value: Int64

        public init(major: UInt32, minor: UInt32, value: Int64) {
            self.major = major
            self.minor = minor
            self.value = value
        }
    }

    public var weights: [Device] = []
    public var readBps: [Device] = []
    public var writeBps: [Device] = []
    public var readIOps: [Device] = []
    public var writeIOps: [Device] = []

    public init() {}

    public var isEmpty: Bool { weights.isEmpty && readBps.isEmpty && writeBps.isEmpty && readIOps.isEmpty && writeIOps.isEmpty }

    /// cgroup v2 `io.max` lines: one per device, `MAJ:MIN rbps=… wbps=… riops=… wiops=…`.
    public var ioMaxLines: [String] {
        var keys: [(UInt32, UInt32)] = []
        for d in readBps + writeBps + readIOps + writeIOps where !keys.contains(where: { $0 == (d.major, d.minor) }) { keys.append((d.major, d.minor)) }
        return keys.map { key in
            var parts = ["\(key.0):\(key.1)"]
            for (name, list) in [("rbps", readBps), ("wbps", writeBps), ("riops", readIOps), ("wiops", writeIOps)] {
                if let d = list.last(where: { ($0.major, $0.minor) == key }) { parts.append("\(name)=\(d.value)") }
            }
            return parts.joined(separator: " ")
        }
    }
}

public struct DeviceNode: Codable, Sendable, Equatable {
    public var hostPath: String
    public var containerPath: String
    /// `rwm` subset.
    public var permissions: String
    /// The node's mode bits and owner in the container (nil: the host node's, as `devices:` gives them);
    /// CDI specs may set them.
    public var fileMode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?

    public init(hostPath: String, containerPath: String, permissions: String = "rwm",
                fileMode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil) {
        self.hostPath = hostPath
        self.containerPath = containerPath
        self.permissions = permissions
        self.fileMode = fileMode
        self.uid = uid
        self.gid = gid
    }
}

/// One device cgroup rule: `c 1:3 rwm`, `b *:* m`, `a`.
public struct DeviceRule: Codable, Sendable, Equatable, CustomStringConvertible {
    public var allow: Bool
    /// `a`, `c` or `b`.
    public var type: Character
    /// -1 is `*`.
    public var major: Int64
    public var minor: Int64
    public var access: String

    public init(allow: Bool, type: Character, major: Int64, minor: Int64, access: String) {
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
    }

    public var description: String {
        if type == "a" { return "a *:* \(access)" }
        let ma = major < 0 ? "*" : String(major)
        let mi = minor < 0 ? "*" : String(minor)
        return "\(type) \(ma):\(mi) \(access)"
    }

    /// Parses docker's `device_cgroup_rules` syntax (`c 1:3 mr`, `a 7:* rwm`).
    public static func parse(_ text: String) -> DeviceRule? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, let t = parts[0].first, parts[0].count == 1, "acb".contains(t) else { return nil }
        let nums = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard nums.count == 2 else { return nil }
        func number(_ s: Substring) -> Int64? { s == "*" ? -1 : Int64(s) }
        guard let major = number(nums[0]), let minor = number(nums[1]) else { return nil }
        let access = String(parts[2])
        guard !access.isEmpty, access.allSatisfy({ "rwm".contains($0) }) else { return nil }
        return DeviceRule(allow: true, type: t, major: major, minor: minor, access: access)
    }

    /// runc's allowlist under docker: mknod of anything, and the standard devices.
    public static let dockerDefaults: [DeviceRule] = [
        DeviceRule(allow: true, type: "c", major: -1, minor: -1, access: "m"),
        DeviceRule(allow: true, type: "b", major: -1, minor: -1, access: "m"),
        DeviceRule(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 1, minor: 8, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 1, minor: 7, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 5, minor: 0, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 1, minor: 5, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 1, minor: 9, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 5, minor: 1, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 136, minor: -1, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 5, minor: 2, access: "rwm"),
        DeviceRule(allow: true, type: "c", major: 10, minor: 200, access: "rwm"),
    ]

    enum CodingKeys: String, CodingKey { case allow, type, major, minor, access }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        allow = try c.decode(Bool.self, forKey: .allow)
        type = try c.decode(String.self, forKey: .type).first ?? "a"
        major = try c.decode(Int64.self, forKey: .major)
        minor = try c.decode(Int64.self, forKey: .minor)
        access = try c.decode(String.self, forKey: .access)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(allow, forKey: .allow)
        try c.encode(String(type), forKey: .type)
        try c.encode(major, forKey: .major)
        try c.encode(minor, forKey: .minor)
        try c.encode(access, forKey: .access)
    }
}

public struct RestartPolicy: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        case no, always, onFailure = "on-failure", unlessStopped = "unless-stopped"
    }

    public var mode: Mode = .no
    /// For on-failure: 0 is unlimited.
    public var maximumRetries: Int = 0

    public init(mode: Mode = .no, maximumRetries: Int = 0) {
        self.mode = mode
        self.maximumRetries = maximumRetries
    }

    /// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    public static func parse(_ text: String) -> RestartPolicy? {
        if text.isEmpty || text == "no" { return RestartPolicy() }
        if text == "always" { return RestartPolicy(mode: .always) }
        if text == "unless-stopped" { return RestartPolicy(mode: .unlessStopped) }
        if text == "on-failure" { return RestartPolicy(mode: .onFailure) }
        if text.hasPrefix("on-failure:"), let n = Int(text.dropFirst("on-failure:".count)), n >= 0 {
            return RestartPolicy(mode: .onFailure, maximumRetries: n)
        }
        return nil
    }
}

public struct HealthcheckSpec: Codable, Sendable, Equatable {
    /// `["CMD", …]` or `["CMD-SHELL", "…"]`.
    public var test: [String]
    public var interval: Int64 = 30_000_000_000
    public var timeout: Int64 = 30_000_000_000
    public var startPeriod: Int64 = 0
    public var startInterval: Int64 = 5_000_000_000
    public var retries: Int = 3

    public init(test: [String]) { self.test = test }
}

/// How the container is connected.
public enum NetworkAttachment: Codable, Sendable, Equatable {
    /// Its own network namespace with only loopback (`network_mode: none`).
    case isolated
    /// The host's network namespace.
    case host
    /// Another container's network namespace (`network_mode: service:x` / `container:x`).
    case container(id: String)
    /// Its own network namespace with an interface on each network, in order (eth0, eth1…).
    case bridged([NetworkEndpointSpec])
}

public struct NetworkEndpointSpec: Codable, Sendable, Equatable {
    /// The network's engine name (`demo_default`).
    public var network: String
    /// Names other containers on this network find it by (service, container name, aliases…).
    public var names: [String]
    public var ipv4Address: String?
    /// `mac_address`; nil: derived from the address, as docker does.
    public var macAddress: String?
    /// `ipv6_address` on a network with IPv6.
    public var ipv6Address: String?
    /// `interface_name` (or the endpoint option `com.docker.network.endpoint.ifname`): its name in the
    /// container instead of eth<n>.
    public var interfaceName: String?
    /// `link_local_ips`: more addresses on the interface.
    public var linkLocalAddresses: [String]?
    /// `gw_priority`: the network with the highest gives the default route (ties: the first).
    public var gatewayPriority: Int?
    /// Sysctls of the interface (`com.docker.network.endpoint.sysctls`), `IFNAME` standing for its name.
    public var sysctls: [String: String]?

    public init(network: String, names: [String], ipv4Address: String? = nil, macAddress: String? = nil) {
        self.network = network
        self.names = names
        self.ipv4Address = ipv4Address
        self.macAddress = macAddress
    }
}

/// A published port: `host_ip:host_port -> container_port/protocol`. Port 0 is an ephemeral port;
/// `hostPortEnd` > `hostPort` is a range to pick a free one from.
public struct PortBinding: Codable, Sendable, Equatable, Hashable {
    public var hostIP: String
    public var hostPort: UInt16
    public var hostPortEnd: UInt16
    public var containerPort: UInt16
    public var proto: String

    public init(hostIP: String = "", hostPort: UInt16, hostPortEnd: UInt16? = nil, containerPort: UInt16, proto: String = "tcp") {
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.hostPortEnd = hostPortEnd ?? hostPort
        self.containerPort = containerPort
        self.proto = proto
    }
}

/// A port as bound on the host while the container runs.
public struct PublishedPort: Codable, Sendable, Equatable, Hashable {
    public var hostIP: String
    public var hostPort: UInt16
    public var containerPort: UInt16
    public var proto: String

    public init(hostIP: String, hostPort: UInt16, containerPort: UInt16, proto: String) {
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.proto = proto
    }

    /// docker's form: `0.0.0.0:8080->80/tcp`, `[::]:8080->80/tcp`.
    public var description: String {
        let ip = hostIP.contains(":") ? "[\(hostIP)]" : hostIP
        return "\(ip):\(hostPort)->\(containerPort)/\(proto)"
    }
}

public struct LogOptions: Codable, Sendable, Equatable {
    /// Rotate the json log at this size (0: never), keeping `maxFiles` files.
    public var maxSize: Int64 = 0
    public var maxFiles: Int = 1
    /// `json-file` (or `local`) keeps logs; `none` discards them; `syslog` and `journald` send them
    /// on (`forward`) and keep a local copy, as docker's dual logging does.
    public var driver: String = "json-file"
    /// Attributes every json log entry carries (`tag`, `labels`, `env` of the json-file driver).
    public var attributes: [String: String] = [:]
    public var forward: LogForward?

    public init() {}

    enum CodingKeys: String, CodingKey { case maxSize, maxFiles, driver, attributes, forward }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxSize = try c.decodeIfPresent(Int64.self, forKey: .maxSize) ?? 0
        maxFiles = try c.decodeIfPresent(Int.self, forKey: .maxFiles) ?? 1
        driver = try c.decodeIfPresent(String.self, forKey: .driver) ?? "json-file"
        attributes = try c.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
        forward = try c.decodeIfPresent(LogForward.self, forKey: .forward)
    }
}

public struct HostEntry: Codable, Sendable, Equatable {
    public var name: String
    public var address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }
}

public struct DNSSettings: Codable, Sendable, Equatable {
    public var servers: [String] = []
    public var search: [String] = []
    public var options: [String] = []

    public init() {}
}
