/// One service of a compose project, with every attribute of the compose specification in its long
/// form.
public struct ServiceConfig: Sendable {
    public var name: String
    public var profiles: [String] = []
    public var annotations: [String: String] = [:]
    public var attach: Bool?
    public var build: BuildConfig?
    public var develop: DevelopConfig?
    public var blkioConfig: BlkioConfig?
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var cgroupParent: String = ""
    public var cgroup: String = ""
    public var cpuCount: Int64 = 0
    public var cpuPercent: Float = 0
    public var cpuPeriod: Int64 = 0
    public var cpuQuota: Int64 = 0
    public var cpuRTPeriod: Int64 = 0
    public var cpuRTRuntime: Int64 = 0
    public var cpus: Float = 0
    public var cpuset: String = ""
    public var cpuShares: Int64 = 0
    /// nil: use the image's; empty: clear it.
    public var command: [String]?
    public var configs: [FileReference] = []
    public var containerName: String = ""
    public var credentialSpec: [String: String]?
    public var dependsOn: [String: ServiceDependency] = [:]
    public var deploy: DeployConfig?
    public var deviceCgroupRules: [String] = []
    public var devices: [DeviceMapping] = []
    public var dns: [String] = []
    public var dnsOpts: [String] = []
    public var dnsSearch: [String] = []
    public var dockerfile: String = ""
    public var domainName: String = ""
    public var entrypoint: [String]?
    public var provider: ServiceProvider?
    /// Variables with a nil value are declared but unset.
    public var environment: [String: String?] = [:]
    public var envFiles: [EnvFile] = []
    public var expose: [String] = []
    public var extends: Node?
    public var externalLinks: [String] = []
    public var extraHosts: [String: [String]] = [:]
    public var groupAdd: [String] = []
    public var gpus: [DeviceRequest] = []
    public var hostname: String = ""
    public var healthCheck: HealthCheckConfig?
    public var image: String = ""
    public var initProcess: Bool?
    public var ipc: String = ""
    public var isolation: String = ""
    public var labels: [String: String] = [:]
    public var labelFiles: [String] = []
    public var links: [String] = []
    public var logging: LoggingConfig?
    public var logDriver: String = ""
    public var logOpt: [String: String] = [:]
    public var memLimit: Int64 = 0
    public var memReservation: Int64 = 0
    public var memSwapLimit: Int64 = 0
    public var memSwappiness: Int64 = 0
    public var macAddress: String = ""
    public var models: [String: String?] = [:]
    public var net: String = ""
    public var networkMode: String = ""
    /// Network key → attachment settings (nil: defaults).
    public var networks: [String: ServiceNetworkConfig?] = [:]
    public var oomKillDisable = false
    public var oomScoreAdj: Int64 = 0
    public var pid: String = ""
    public var pidsLimit: Int64 = 0
    public var platform: String = ""
    public var ports: [ServicePortConfig] = []
    public var privileged = false
    public var pullPolicy: String = ""
    public var pullRefreshAfter: String = ""
    public var readOnly = false
    public var restart: String = ""
    public var runtime: String = ""
    public var scale: Int64?
    public var secrets: [FileReference] = []
    public var securityOpt: [String] = []
    public var shmSize: Int64 = 0
    public var stdinOpen = false
    public var stopGracePeriod: Duration?
    public var stopSignal: String = ""
    public var storageOpt: [String: String] = [:]
    public var sysctls: [String: String] = [:]
    public var tmpfs: [String] = []
    public var tty = false
    public var ulimits: [String: Ulimit] = [:]
    public var useAPISocket = false
    public var user: String = ""
    public var usernsMode: String = ""
    public var uts: String = ""
    public var volumeDriver: String = ""
    public var volumes: [ServiceVolumeConfig] = []
    public var volumesFrom: [String] = []
    public var workingDir: String = ""
    public var preStart: [ServiceHook] = []
    public var postStart: [ServiceHook] = []
    public var preStop: [ServiceHook] = []
    public var extensions: [String: Node] = [:]

    /// Where each attribute was written (the value's location), for messages about this service.
    public var locations: [String: SourceLocation] = [:]
    /// Where the service itself was declared.
    public var location: SourceLocation?

    public init(name: String) { self.name = name }

    /// The number of containers the service runs (`scale`, else `deploy.replicas`, else 1).
    public var replicaCount: Int {
        if let scale { return Int(scale) }
        if let r = deploy?.replicas { return Int(r) }
        return 1
    }

    /// Networks ordered as docker compose attaches them: highest `priority` first, then by name.
    public var networksByPriority: [String] {
        networks.keys.sorted { a, b in
            let pa = networks[a]??.priority ?? 0, pb = networks[b]??.priority ?? 0
            return pa == pb ? a < b : pa > pb
        }
    }

    static func shellCommand(_ node: Node, _ ctx: DecodeContext, _ path: String) -> [String]? {
        switch node.kind {
        case .null: return nil
        case .sequence(let items): return items.map(\.text)
        default:
            do {
                return try ShellWords.split(node.text)
            } catch {
                ctx.error("\(path): \(error)", at: node)
                return nil
            }
        }
    }

    init(name: String, node: Node, _ ctx: DecodeContext) {
        self.name = name
        location = node.location
        let path = "services." + name
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            locations[key] = v.location
            switch key {
            case "profiles": profiles = v.stringList(ctx, p)
            case "annotations": annotations = v.stringMap(ctx, p)
            case "attach": attach = v.bool(ctx, p)
            case "build": build = BuildConfig(v, ctx, p)
            case "develop": develop = DevelopConfig(v, ctx, p)
            case "blkio_config": blkioConfig = BlkioConfig(v, ctx, p)
            case "cap_add": capAdd = v.stringList(ctx, p)
            case "cap_drop": capDrop = v.stringList(ctx, p)
            case "cgroup_parent": cgroupParent = v.text
            case "cgroup": cgroup = v.text
            case "cpu_count": cpuCount = v.int64(ctx, p)
            case "cpu_percent": cpuPercent = Float(v.double(ctx, p))
            case "cpu_period": cpuPeriod = v.int64(ctx, p)
            case "cpu_quota": cpuQuota = v.int64(ctx, p)
            case "cpu_rt_period": cpuRTPeriod = v.int64(ctx, p)
            case "cpu_rt_runtime": cpuRTRuntime = v.int64(ctx, p)
            case "cpus": cpus = Float(v.double(ctx, p))
            case "cpuset": cpuset = v.text
            case "cpu_shares": cpuShares = v.int64(ctx, p)
            case "command": command = Self.shellCommand(v, ctx, p)
            case "configs": configs = (v.items ?? []).enumerated().map { FileReference($1, ctx, "\(p)[\($0)]") }
            case "container_name": containerName = v.text
            case "credential_spec": credentialSpec = v.stringMap(ctx, p)
            case "depends_on":
                v.forEachEntry(ctx, p) { dep, d in
                    var sd = ServiceDependency()
                    sd.location = d.location
                    d.forEachEntry(ctx, p + "." + dep) { k, x in
                        switch k {
                        case "condition":
                            if let c = ServiceDependency.Condition(rawValue: x.text) { sd.condition = c } else {
                                ctx.error("\(p).\(dep).condition must be service_started, service_healthy or service_completed_successfully, not '\(x.text)'", at: x)
                            }
                        case "restart": sd.restart = x.bool(ctx, p + "." + dep + ".restart")
                        case "required": sd.required = x.bool(ctx, p + "." + dep + ".required")
                        default: if k.hasPrefix("x-") { sd.extensions[k] = x }
                        }
                    }
                    dependsOn[dep] = sd
                }
            case "deploy": deploy = v.isNull ? nil : DeployConfig(v, ctx, p)
            case "device_cgroup_rules": deviceCgroupRules = v.stringList(ctx, p)
            case "devices":
                devices = (v.items ?? []).map { d in
                    DeviceMapping(source: d["source"]?.text ?? "", target: d["target"]?.text ?? "", permissions: d["permissions"]?.text ?? "")
                }
            case "dns": dns = v.stringList(ctx, p)
            case "dns_opt": dnsOpts = v.stringList(ctx, p)
            case "dns_search": dnsSearch = v.stringList(ctx, p)
            case "dockerfile": dockerfile = v.text
            case "domainname": domainName = v.text
            case "entrypoint": entrypoint = Self.shellCommand(v, ctx, p)
            case "provider": provider = ServiceProvider(v, ctx, p)
            case "environment": environment = v.optionalStringMap(ctx, p)
            case "env_file":
                envFiles = (v.items ?? []).map { e in
                    EnvFile(path: e["path"]?.text ?? e.text, required: e["required"].map { $0.bool(ctx, p) } ?? true,
                            format: e["format"]?.text ?? "")
                }
            case "expose": expose = v.stringList(ctx, p)
            case "extends": extends = v
            case "external_links": externalLinks = v.stringList(ctx, p)
            case "extra_hosts": extraHosts = HostList.decode(v, ctx, p)
            case "group_add": groupAdd = v.stringList(ctx, p)
            case "gpus":
                if case .string(let s) = v.kind, s.lowercased() == "all" {
                    var all = DeviceRequest(count: -1)
                    all.location = v.location
                    gpus = [all]
                } else {
                    gpus = (v.items ?? []).enumerated().map { DeviceRequest($1, ctx, "\(p)[\($0)]") }
                }
            case "hostname": hostname = v.text
            case "healthcheck": healthCheck = HealthCheckConfig(v, ctx, p)
            case "image": image = v.text
            case "init": initProcess = v.bool(ctx, p)
            case "ipc": ipc = v.text
            case "isolation": isolation = v.text
            case "labels": labels = v.stringMap(ctx, p)
            case "label_file": labelFiles = v.stringList(ctx, p)
            case "links": links = v.stringList(ctx, p)
            case "logging":
                var l = LoggingConfig()
                v.forEachEntry(ctx, p) { k, x in
                    switch k {
                    case "driver": l.driver = x.text
                    case "options": l.options = x.stringMap(ctx, p + ".options")
                    default: break
                    }
                }
                logging = l
            case "log_driver": logDriver = v.text
            case "log_opt": logOpt = v.stringMap(ctx, p)
            case "mem_limit": memLimit = v.bytes(ctx, p)
            case "mem_reservation": memReservation = v.bytes(ctx, p)
            case "memswap_limit": memSwapLimit = v.bytes(ctx, p)
            case "mem_swappiness": memSwappiness = v.bytes(ctx, p)
            case "mac_address": macAddress = v.text
            case "models":
                switch v.kind {
                case .sequence(let items): for i in items { models[i.text] = .some(nil) }
                default: v.forEachEntry(ctx, p) { k, x in models[k] = .some(x["endpoint_var"]?.text) }
                }
            case "net": net = v.text
            case "network_mode": networkMode = v.text
            case "networks":
                for e in v.entries ?? [] { locations["networks." + e.key] = e.keyLocation }
                v.forEachEntry(ctx, p) { net, n in
                    networks[net] = n.isNull ? .some(nil) : .some(ServiceNetworkConfig(n, ctx, p + "." + net))
                }
            case "oom_kill_disable": oomKillDisable = v.bool(ctx, p)
            case "oom_score_adj": oomScoreAdj = v.int64(ctx, p)
            case "pid": pid = v.text
            case "pids_limit": pidsLimit = v.int64(ctx, p)
            case "platform": platform = v.text
            case "ports": ports = (v.items ?? []).enumerated().map { ServicePortConfig($1, ctx, "\(p)[\($0)]") }
            case "privileged": privileged = v.bool(ctx, p)
            case "pull_policy": pullPolicy = v.text
            case "pull_refresh_after": pullRefreshAfter = v.text
            case "read_only": readOnly = v.bool(ctx, p)
            case "restart": restart = v.text
            case "runtime": runtime = v.text
            case "scale": scale = v.isNull ? nil : v.int64(ctx, p)
            case "secrets": secrets = (v.items ?? []).enumerated().map { FileReference($1, ctx, "\(p)[\($0)]") }
            case "security_opt": securityOpt = v.stringList(ctx, p)
            case "shm_size": shmSize = v.bytes(ctx, p)
            case "stdin_open": stdinOpen = v.bool(ctx, p)
            case "stop_grace_period": stopGracePeriod = v.duration(ctx, p)
            case "stop_signal": stopSignal = v.text
            case "storage_opt": storageOpt = v.stringMap(ctx, p)
            case "sysctls": sysctls = v.stringMap(ctx, p)
            case "tmpfs": tmpfs = v.stringList(ctx, p)
            case "tty": tty = v.bool(ctx, p)
            case "ulimits": ulimits = Ulimit.decodeMap(v, ctx, p)
            case "use_api_socket": useAPISocket = v.bool(ctx, p)
            case "user": user = v.text
            case "userns_mode": usernsMode = v.text
            case "uts": uts = v.text
            case "volume_driver": volumeDriver = v.text
            case "volumes": volumes = (v.items ?? []).enumerated().map { ServiceVolumeConfig($1, ctx, "\(p)[\($0)]") }
            case "volumes_from": volumesFrom = v.stringList(ctx, p)
            case "working_dir": workingDir = v.text
            case "pre_start": preStart = (v.items ?? []).enumerated().map { ServiceHook($1, ctx, "\(p)[\($0)]") }
            case "post_start": postStart = (v.items ?? []).enumerated().map { ServiceHook($1, ctx, "\(p)[\($0)]") }
            case "pre_stop": preStop = (v.items ?? []).enumerated().map { ServiceHook($1, ctx, "\(p)[\($0)]") }
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    /// What docker compose hashes into `com.docker.compose.config-hash`: the service as `json.Marshal`
    /// writes it, without build, pull_policy, scale, deploy.replicas, depends_on and profiles.
    public var hashInput: String { JSONEmitter.emitCompact(hashedForm) }

    /// Each top-level setting of the hashed form, as compact JSON (to say what changed between two
    /// versions of a service).
    public var hashInputFields: [(String, String)] {
        guard case .object(let fields) = hashedForm else { return [] }
        return fields.map { ($0.0, JSONEmitter.emitCompact($0.1)) }
    }

    private var hashedForm: GoValue {
        var s = self
        s.build = nil
        s.pullPolicy = ""
        s.scale = nil
        s.deploy?.replicas = nil
        s.dependsOn = [:]
        s.profiles = []
        return s.goValue(.json)
    }

    public func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.strings("profiles", profiles)
        s.stringMap("annotations", annotations)
        s.bool("attach", attach)
        s.value("build", build?.goValue(f))
        s.value("develop", develop?.goValue(f))
        s.value("blkio_config", blkioConfig?.goValue(f))
        s.strings("cap_add", capAdd)
        s.strings("cap_drop", capDrop)
        s.string("cgroup_parent", cgroupParent)
        s.string("cgroup", cgroup)
        s.int("cpu_count", cpuCount)
        if cpuPercent != 0 { s.always("cpu_percent", .float32(cpuPercent)) }
        s.int("cpu_period", cpuPeriod)
        s.int("cpu_quota", cpuQuota)
        s.int("cpu_rt_period", cpuRTPeriod)
        s.int("cpu_rt_runtime", cpuRTRuntime)
        if cpus != 0 { s.always("cpus", .float32(cpus)) }
        s.string("cpuset", cpuset)
        s.int("cpu_shares", cpuShares)
        s.command("command", command.map { $0.goValue })
        s.collection("configs", .list(configs.map { $0.goValue(f) }))
        s.string("container_name", containerName)
        if let credentialSpec {
            var c = StructEncoder(f)
            c.string("config", credentialSpec["config"])
            c.string("file", credentialSpec["file"])
            c.string("registry", credentialSpec["registry"])
            s.always("credential_spec", c.value)
        }
        s.collection("depends_on", .map(dependsOn.mapValues { $0.goValue(f) }))
        s.value("deploy", deploy?.goValue(f))
        s.strings("device_cgroup_rules", deviceCgroupRules)
        s.collection("devices", .list(devices.map { $0.goValue(f) }))
        s.strings("dns", dns)
        s.strings("dns_opt", dnsOpts)
        s.strings("dns_search", dnsSearch)
        s.string("dockerfile", dockerfile)
        s.string("domainname", domainName)
        s.command("entrypoint", entrypoint.map { $0.goValue })
        s.value("provider", provider?.goValue(f))
        s.collection("environment", environment.goValue)
        s.collection("env_file", .list(envFiles.map { $0.goValue(f) }))
        s.strings("expose", expose)
        s.value("extends", extends.map(GoValue.init))
        s.strings("external_links", externalLinks)
        s.collection("extra_hosts", HostList.goValue(extraHosts))
        s.strings("group_add", groupAdd)
        s.collection("gpus", .list(gpus.map { $0.goValue(f) }))
        s.string("hostname", hostname)
        s.value("healthcheck", healthCheck?.goValue(f))
        s.string("image", image)
        s.bool("init", initProcess)
        s.string("ipc", ipc)
        s.string("isolation", isolation)
        s.stringMap("labels", labels)
        s.strings("label_file", labelFiles)
        s.strings("links", links)
        s.value("logging", logging?.goValue(f))
        s.string("log_driver", logDriver)
        s.stringMap("log_opt", logOpt)
        if memLimit != 0 { s.always("mem_limit", .string(String(memLimit))) }
        if memReservation != 0 { s.always("mem_reservation", .string(String(memReservation))) }
        if memSwapLimit != 0 { s.always("memswap_limit", .string(String(memSwapLimit))) }
        if memSwappiness != 0 { s.always("mem_swappiness", .string(String(memSwappiness))) }
        s.string("mac_address", macAddress)
        s.collection("models", .map(models.mapValues { v in
            var m = StructEncoder(f)
            m.string("endpoint_var", v ?? nil)
            return m.value
        }))
        s.string("net", net)
        s.string("network_mode", networkMode)
        s.collection("networks", .map(networks.mapValues { $0?.goValue(f) ?? .null }))
        s.bool("oom_kill_disable", oomKillDisable)
        s.int("oom_score_adj", oomScoreAdj)
        s.string("pid", pid)
        s.int("pids_limit", pidsLimit)
        s.string("platform", platform)
        s.collection("ports", .list(ports.map { $0.goValue(f) }))
        s.bool("privileged", privileged)
        s.string("pull_policy", pullPolicy)
        s.string("pull_refresh_after", pullRefreshAfter)
        s.bool("read_only", readOnly)
        s.string("restart", restart)
        s.string("runtime", runtime)
        s.value("scale", scale.map(GoValue.int))
        s.collection("secrets", .list(secrets.map { $0.goValue(f) }))
        s.strings("security_opt", securityOpt)
        if shmSize != 0 { s.always("shm_size", .string(String(shmSize))) }
        s.bool("stdin_open", stdinOpen)
        s.value("stop_grace_period", stopGracePeriod.map { .string($0.description) })
        s.string("stop_signal", stopSignal)
        s.stringMap("storage_opt", storageOpt)
        s.stringMap("sysctls", sysctls)
        s.strings("tmpfs", tmpfs)
        s.bool("tty", tty)
        s.collection("ulimits", .map(ulimits.mapValues { $0.goValue(f) }))
        s.bool("use_api_socket", useAPISocket)
        s.string("user", user)
        s.string("userns_mode", usernsMode)
        s.string("uts", uts)
        s.string("volume_driver", volumeDriver)
        s.collection("volumes", .list(volumes.map { $0.goValue(f) }))
        s.strings("volumes_from", volumesFrom)
        s.string("working_dir", workingDir)
        s.collection("pre_start", .list(preStart.map { $0.goValue(f) }))
        s.collection("post_start", .list(postStart.map { $0.goValue(f) }))
        s.collection("pre_stop", .list(preStop.map { $0.goValue(f) }))
        s.extensions(extensions)
        return s.value
    }
}
