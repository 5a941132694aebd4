// The parts of a service definition, in compose-go's field order (which is the order `config` prints).

public struct HealthCheckConfig: Sendable, Equatable {
    public var test: [String]?
    public var timeout: Duration?
    public var interval: Duration?
    public var retries: Int64?
    public var startPeriod: Duration?
    public var startInterval: Duration?
    public var disable = false
    public var extensions: [String: Node] = [:]

    public init() {}

    public static func == (a: HealthCheckConfig, b: HealthCheckConfig) -> Bool {
        a.test == b.test && a.timeout == b.timeout && a.interval == b.interval && a.retries == b.retries
            && a.startPeriod == b.startPeriod && a.startInterval == b.startInterval && a.disable == b.disable
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "test":
                if case .string(let s) = v.kind { test = ["CMD-SHELL", s] } else { test = v.stringList(ctx, p) }
            case "timeout": timeout = v.duration(ctx, p)
            case "interval": interval = v.duration(ctx, p)
            case "retries": retries = v.isNull ? nil : v.int64(ctx, p)
            case "start_period": startPeriod = v.duration(ctx, p)
            case "start_interval": startInterval = v.duration(ctx, p)
            case "disable": disable = v.bool(ctx, p)
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.collection("test", test.map { $0.goValue })
        s.value("timeout", timeout.map { .string($0.description) })
        s.value("interval", interval.map { .string($0.description) })
        s.value("retries", retries.map(GoValue.int))
        s.value("start_period", startPeriod.map { .string($0.description) })
        s.value("start_interval", startInterval.map { .string($0.description) })
        s.bool("disable", disable)
        s.extensions(extensions)
        return s.value
    }
}

public struct LoggingConfig: Sendable, Equatable {
    public var driver: String = ""
    public var options: [String: String] = [:]

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("driver", driver)
        s.stringMap("options", options)
        return s.value
    }
}

public struct ServiceNetworkConfig: Sendable, Equatable {
    public var aliases: [String] = []
    public var driverOpts: [String: String] = [:]
    public var gatewayPriority: Int64 = 0
    public var interfaceName: String = ""
    public var ipv4Address: String = ""
    public var ipv6Address: String = ""
    public var linkLocalIPs: [String] = []
    public var macAddress: String = ""
    public var priority: Int64 = 0
    public var extensions: [String: Node] = [:]

    public init() {}

    public static func == (a: ServiceNetworkConfig, b: ServiceNetworkConfig) -> Bool {
        a.aliases == b.aliases && a.driverOpts == b.driverOpts && a.gatewayPriority == b.gatewayPriority
            && a.interfaceName == b.interfaceName && a.ipv4Address == b.ipv4Address && a.ipv6Address == b.ipv6Address
            && a.linkLocalIPs == b.linkLocalIPs && a.macAddress == b.macAddress && a.priority == b.priority
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "aliases": aliases = v.stringList(ctx, p)
            case "driver_opts": driverOpts = v.stringMap(ctx, p)
            case "gw_priority": gatewayPriority = v.int64(ctx, p)
            case "interface_name": interfaceName = v.text
            case "ipv4_address": ipv4Address = v.text
            case "ipv6_address": ipv6Address = v.text
            case "link_local_ips": linkLocalIPs = v.stringList(ctx, p)
            case "mac_address": macAddress = v.text
            case "priority": priority = v.int64(ctx, p)
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.strings("aliases", aliases)
        s.stringMap("driver_opts", driverOpts)
        s.int("gw_priority", gatewayPriority)
        s.string("interface_name", interfaceName)
        s.string("ipv4_address", ipv4Address)
        s.string("ipv6_address", ipv6Address)
        s.strings("link_local_ips", linkLocalIPs)
        s.string("mac_address", macAddress)
        s.int("priority", priority)
        s.extensions(extensions)
        return s.value
    }
}

public struct ServicePortConfig: Sendable, Equatable {
    public var name: String = ""
    public var mode: String = "ingress"
    public var hostIP: String = ""
    public var target: Int64 = 0
    public var published: String = ""
    public var `protocol`: String = "tcp"
    public var appProtocol: String = ""
    public var extensions: [String: Node] = [:]
    public var location: SourceLocation?

    public init() {}

    /// What `published` asks for on the host.
    public enum HostPorts: Sendable, Equatable {
        /// No published port: the kernel picks one.
        case ephemeral
        /// One port (`8080`: `8080...8080`) or a range (`8080-8085`) to bind.
        case range(ClosedRange<UInt16>)
        /// Not a port or a range of ports.
        case invalid
    }

    /// `published` read as ports, in the one place that reads it.
    public var hostPorts: HostPorts {
        if published.isEmpty { return .ephemeral }
        let parts = published.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count <= 2, let low = UInt16(parts[0]), let high = parts.count == 2 ? UInt16(parts[1]) : low, low <= high else {
            return .invalid
        }
        return .range(low...high)
    }

    public static func == (a: ServicePortConfig, b: ServicePortConfig) -> Bool {
        a.name == b.name && a.mode == b.mode && a.hostIP == b.hostIP && a.target == b.target && a.published == b.published
            && a.protocol == b.protocol && a.appProtocol == b.appProtocol
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "name": name = v.text
            case "mode": mode = v.text
            case "host_ip": hostIP = v.text
            case "target": target = v.int64(ctx, p)
            case "published": published = v.text
            case "protocol": `protocol` = v.text
            case "app_protocol": appProtocol = v.text
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("name", name)
        s.string("mode", mode)
        s.string("host_ip", hostIP)
        s.int("target", target)
        s.string("published", published)
        s.string("protocol", `protocol`)
        s.string("app_protocol", appProtocol)
        s.extensions(extensions)
        return s.value
    }
}

public struct ServiceVolumeConfig: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case bind, volume, tmpfs, npipe, cluster, image
    }

    public struct Bind: Sendable, Equatable {
        public var selinux: String = ""
        public var propagation: String = ""
        public var createHostPath = false
        public var recursive: String = ""

        public init() {}
    }

    public struct VolumeOptions: Sendable, Equatable {
        public var labels: [String: String] = [:]
        public var noCopy = false
        public var subpath: String = ""

        public init() {}
    }

    public struct Tmpfs: Sendable, Equatable {
        public var size: Int64 = 0
        public var mode: Int64 = 0

        public init() {}
    }

    public var type: String = ""
    public var source: String = ""
    public var target: String = ""
    public var readOnly = false
    public var consistency: String = ""
    public var bind: Bind?
    public var volume: VolumeOptions?
    public var tmpfs: Tmpfs?
    public var imageSubpath: String?
    public var extensions: [String: Node] = [:]
    public var location: SourceLocation?

    public init() {}

    public static func == (a: ServiceVolumeConfig, b: ServiceVolumeConfig) -> Bool {
        a.type == b.type && a.source == b.source && a.target == b.target && a.readOnly == b.readOnly
            && a.consistency == b.consistency && a.bind == b.bind && a.volume == b.volume && a.tmpfs == b.tmpfs
            && a.imageSubpath == b.imageSubpath
    }

    public var kind: Kind? { Kind(rawValue: type) }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "type": type = v.text
            case "source": source = v.text
            case "target": target = v.text
            case "read_only": readOnly = v.bool(ctx, p)
            case "consistency": consistency = v.text
            case "bind":
                var b = Bind()
                var sawCreate = false
                v.forEachEntry(ctx, p) { k, x in
                    switch k {
                    case "selinux": b.selinux = x.text
                    case "propagation": b.propagation = x.text
                    case "create_host_path": b.createHostPath = x.bool(ctx, p + "." + k); sawCreate = true
                    case "recursive": b.recursive = x.text
                    default: break
                    }
                }
                _ = sawCreate
                bind = b
            case "volume":
                var o = VolumeOptions()
                v.forEachEntry(ctx, p) { k, x in
                    switch k {
                    case "labels": o.labels = x.stringMap(ctx, p + "." + k)
                    case "nocopy": o.noCopy = x.bool(ctx, p + "." + k)
                    case "subpath": o.subpath = x.text
                    default: break
                    }
                }
                volume = o
            case "tmpfs":
                var t = Tmpfs()
                v.forEachEntry(ctx, p) { k, x in
                    switch k {
                    case "size": t.size = x.bytes(ctx, p + "." + k)
                    case "mode": t.mode = x.int64(ctx, p + "." + k)
                    default: break
                    }
                }
                tmpfs = t
            case "image":
                imageSubpath = v["subpath"]?.text ?? ""
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("type", type)
        s.string("source", source)
        s.string("target", target)
        s.bool("read_only", readOnly)
        s.string("consistency", consistency)
        if let bind {
            var b = StructEncoder(f)
            b.string("selinux", bind.selinux)
            b.string("propagation", bind.propagation)
            // create_host_path is an opt-out: written only when true (go-yaml's IsZero, json's omitzero).
            if bind.createHostPath { b.always("create_host_path", .bool(true)) }
            b.string("recursive", bind.recursive)
            s.always("bind", b.value)
        }
        if let volume {
            var v = StructEncoder(f)
            v.stringMap("labels", volume.labels)
            v.bool("nocopy", volume.noCopy)
            v.string("subpath", volume.subpath)
            s.always("volume", v.value)
        }
        if let tmpfs {
            var t = StructEncoder(f)
            if tmpfs.size != 0 { t.always("size", .string(String(tmpfs.size))) }
            t.int("mode", tmpfs.mode)
            s.always("tmpfs", t.value)
        }
        if let imageSubpath {
            var i = StructEncoder(f)
            i.string("subpath", imageSubpath)
            s.always("image", i.value)
        }
        s.extensions(extensions)
        return s.value
    }
}

public struct ServiceHook: Sendable, Equatable {
    public var command: [String]?
    /// pre_start: the image of the hook's container (else the service's).
    public var image: String = ""
    public var user: String = ""
    public var privileged = false
    public var workingDir: String = ""
    public var environment: [String: String?] = [:]
    /// pre_start: once for every replica (with its volumes) rather than once for the service.
    public var perReplica = false
    public var location: SourceLocation?

    public static func == (a: ServiceHook, b: ServiceHook) -> Bool {
        a.command == b.command && a.image == b.image && a.user == b.user && a.privileged == b.privileged
            && a.workingDir == b.workingDir && a.environment == b.environment && a.perReplica == b.perReplica
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "command": command = ServiceConfig.shellCommand(v, ctx, p)
            case "image": image = v.text
            case "per_replica": perReplica = v.bool(ctx, p)
            case "user": user = v.text
            case "privileged": privileged = v.bool(ctx, p)
            case "working_dir": workingDir = v.text
            case "environment": environment = v.optionalStringMap(ctx, p)
            default: break
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.command("command", command.map { $0.goValue })
        s.string("image", image)
        s.string("user", user)
        s.bool("privileged", privileged)
        s.string("working_dir", workingDir)
        s.collection("environment", environment.goValue)
        s.bool("per_replica", perReplica)
        return s.value
    }
}

public struct DevelopConfig: Sendable, Equatable {
    public struct Trigger: Sendable, Equatable {
        public var path: String = ""
        public var action: String = ""
        public var target: String = ""
        public var exec: ServiceHook?
        public var ignore: [String] = []
        public var include: [String] = []
        public var initialSync = false
    }

    public var watch: [Trigger] = []

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        for (i, item) in (node["watch"]?.items ?? []).enumerated() {
            var t = Trigger()
            let p = "\(path).watch[\(i)]"
            item.forEachEntry(ctx, p) { key, v in
                switch key {
                case "path": t.path = v.text
                case "action": t.action = v.text
                case "target": t.target = v.text
                case "exec": t.exec = ServiceHook(v, ctx, p + ".exec")
                case "ignore": t.ignore = v.stringList(ctx, p + ".ignore")
                case "include": t.include = v.stringList(ctx, p + ".include")
                case "initial_sync": t.initialSync = v.bool(ctx, p + ".initial_sync")
                default: break
                }
            }
            watch.append(t)
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.collection("watch", .list(watch.map { t in
            var w = StructEncoder(f)
            w.always("path", .string(t.path))
            w.always("action", .string(t.action))
            w.string("target", t.target)
            if let exec = t.exec { w.embedded("exec", exec.goValue(f)) } else if f == .json { w.always("exec", ServiceHook.empty(f)) }
            w.strings("ignore", t.ignore)
            w.strings("include", t.include)
            w.bool("initial_sync", t.initialSync)
            return w.value
        }))
        return s.value
    }
}

extension ServiceHook {
    static func empty(_ f: OutputFormat) -> GoValue {
        .object([("command", .null)])
    }
}
