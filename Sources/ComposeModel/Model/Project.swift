public struct NetworkConfig: Sendable, Equatable {
    public struct IPAMPool: Sendable, Equatable {
        public var subnet: String = ""
        public var gateway: String = ""
        public var ipRange: String = ""
        public var auxAddresses: [String: String] = [:]
    }

    public var name: String = ""
    public var driver: String = ""
    public var driverOpts: [String: String] = [:]
    public var ipamDriver: String = ""
    public var ipamConfig: [IPAMPool] = []
    public var ipamOptions: [String: String] = [:]
    public var external = false
    public var `internal` = false
    public var attachable = false
    public var labels: [String: String] = [:]
    public var enableIPv4: Bool?
    public var enableIPv6: Bool?
    public var extensions: [String: Node] = [:]
    public var location: SourceLocation?

    public init() {}

    public static func == (a: NetworkConfig, b: NetworkConfig) -> Bool {
        a.name == b.name && a.driver == b.driver && a.driverOpts == b.driverOpts && a.ipamDriver == b.ipamDriver
            && a.ipamConfig == b.ipamConfig && a.ipamOptions == b.ipamOptions && a.external == b.external
            && a.internal == b.internal && a.attachable == b.attachable && a.labels == b.labels
            && a.enableIPv4 == b.enableIPv4 && a.enableIPv6 == b.enableIPv6
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "name": name = v.text
            case "driver": driver = v.text
            case "driver_opts": driverOpts = v.stringMap(ctx, p)
            case "ipam":
                v.forEachEntry(ctx, p) { k, x in
                    switch k {
                    case "driver": ipamDriver = x.text
                    case "options": ipamOptions = x.stringMap(ctx, p + ".options")
                    case "config":
                        ipamConfig = (x.items ?? []).map { c in
                            IPAMPool(subnet: c["subnet"]?.text ?? "", gateway: c["gateway"]?.text ?? "",
                                     ipRange: c["ip_range"]?.text ?? "", auxAddresses: c["aux_addresses"]?.stringMap(ctx, p) ?? [:])
                        }
                    default: break
                    }
                }
            case "external": external = v.isMapping ? true : v.bool(ctx, p)
            case "internal": `internal` = v.bool(ctx, p)
            case "attachable": attachable = v.bool(ctx, p)
            case "labels": labels = v.stringMap(ctx, p)
            case "enable_ipv4": enableIPv4 = v.bool(ctx, p)
            case "enable_ipv6": enableIPv6 = v.bool(ctx, p)
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("name", name)
        s.string("driver", driver)
        s.stringMap("driver_opts", driverOpts)
        var ipam = StructEncoder(f)
        ipam.string("driver", ipamDriver)
        ipam.collection("config", .list(ipamConfig.map { pool in
            var p = StructEncoder(f)
            p.string("subnet", pool.subnet)
            p.string("gateway", pool.gateway)
            p.string("ip_range", pool.ipRange)
            p.stringMap("aux_addresses", pool.auxAddresses)
            return p.value
        }))
        s.embedded("ipam", ipam.value)
        s.bool("external", external)
        s.bool("internal", `internal`)
        s.bool("attachable", attachable)
        s.stringMap("labels", labels)
        s.bool("enable_ipv4", enableIPv4)
        s.bool("enable_ipv6", enableIPv6)
        s.extensions(extensions)
        return s.value
    }
}

public struct VolumeConfig: Sendable, Equatable {
    public var name: String = ""
    public var driver: String = ""
    public var driverOpts: [String: String] = [:]
    public var external = false
    public var labels: [String: String] = [:]
    public var extensions: [String: Node] = [:]
    public var location: SourceLocation?

    public init() {}

    public static func == (a: VolumeConfig, b: VolumeConfig) -> Bool {
        a.name == b.name && a.driver == b.driver && a.driverOpts == b.driverOpts && a.external == b.external && a.labels == b.labels
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "name": name = v.text
            case "driver": driver = v.text
            case "driver_opts": driverOpts = v.stringMap(ctx, p)
            case "external": external = v.isMapping ? true : v.bool(ctx, p)
            case "labels": labels = v.stringMap(ctx, p)
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("name", name)
        s.string("driver", driver)
        s.stringMap("driver_opts", driverOpts)
        s.bool("external", external)
        s.stringMap("labels", labels)
        s.extensions(extensions)
        return s.value
    }
}

/// A top-level secret or config.
public struct FileObjectConfig: Sendable, Equatable {
    public var name: String = ""
    public var file: String = ""
    public var environment: String = ""
    public var content: String = ""
    public var external = false
    public var labels: [String: String] = [:]
    public var driver: String = ""
    public var driverOpts: [String: String] = [:]
    public var templateDriver: String = ""
    public var extensions: [String: Node] = [:]
    public var location: SourceLocation?

    public init() {}

    public static func == (a: FileObjectConfig, b: FileObjectConfig) -> Bool {
        a.name == b.name && a.file == b.file && a.environment == b.environment && a.content == b.content
            && a.external == b.external && a.labels == b.labels && a.driver == b.driver && a.driverOpts == b.driverOpts
            && a.templateDriver == b.templateDriver
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "name": name = v.text
            case "file": file = v.text
            case "environment": environment = v.text
            case "content": content = v.text
            case "external": external = v.isMapping ? true : v.bool(ctx, p)
            case "labels": labels = v.stringMap(ctx, p)
            case "driver": driver = v.text
            case "driver_opts": driverOpts = v.stringMap(ctx, p)
            case "template_driver": templateDriver = v.text
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    /// Secrets never print their content; configs print inline content but not content read from
    /// the environment.
    func goValue(_ f: OutputFormat, showContent: Bool) -> GoValue {
        var s = StructEncoder(f)
        s.string("name", name)
        s.string("file", file)
        s.string("environment", environment)
        if showContent { s.string("content", content) }
        s.bool("external", external)
        s.stringMap("labels", labels)
        s.string("driver", driver)
        s.stringMap("driver_opts", driverOpts)
        s.string("template_driver", templateDriver)
        s.extensions(extensions)
        return s.value
    }
}

public struct ModelConfig: Sendable, Equatable {
    public var name: String = ""
    public var model: String = ""
    public var contextSize: Int64 = 0
    public var runtimeFlags: [String] = []

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        node.forEachEntry(ctx, path) { key, v in
            switch key {
            case "name": name = v.text
            case "model": model = v.text
            case "context_size": contextSize = v.int64(ctx, path + "." + key)
            case "runtime_flags": runtimeFlags = v.stringList(ctx, path + "." + key)
            default: break
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("name", name)
        s.string("model", model)
        s.int("context_size", contextSize)
        s.strings("runtime_flags", runtimeFlags)
        return s.value
    }
}

/// A loaded compose project: what `swcompose config` prints and what `up` runs.
public struct Project: Sendable {
    public var name: String
    /// The project directory: relative paths in the compose files are resolved against it.
    public var workingDirectory: String
    public var services: [String: ServiceConfig] = [:]
    /// Services left out because none of their profiles is enabled.
    public var disabledServices: [String: ServiceConfig] = [:]
    public var networks: [String: NetworkConfig] = [:]
    public var volumes: [String: VolumeConfig] = [:]
    public var secrets: [String: FileObjectConfig] = [:]
    public var configs: [String: FileObjectConfig] = [:]
    public var models: [String: ModelConfig] = [:]
    public var extensions: [String: Node] = [:]
    /// The compose files, in the order they were merged.
    public var composeFiles: [String] = []
    /// The variables available for interpolation (shell environment and `.env`).
    public var environment: [String: String] = [:]
    public var profiles: [String] = []

    public init(name: String, workingDirectory: String) {
        self.name = name
        self.workingDirectory = workingDirectory
    }

    public var serviceNames: [String] { services.keys.sorted() }

    public func goValue(_ f: OutputFormat) -> GoValue {
        let servicesValue = GoValue.map(services.mapValues { $0.goValue(f) })
        let networksValue = GoValue.map(networks.mapValues { $0.goValue(f) })
        let volumesValue = GoValue.map(volumes.mapValues { $0.goValue(f) })
        let secretsValue = GoValue.map(secrets.mapValues { $0.goValue(f, showContent: false) })
        let configsValue = GoValue.map(configs.mapValues { $0.goValue(f, showContent: $0.environment.isEmpty) })
        let modelsValue = GoValue.map(models.mapValues { $0.goValue(f) })
        switch f {
        case .yaml:
            var s = StructEncoder(f)
            s.string("name", name)
            s.always("services", servicesValue)
            s.collection("networks", networksValue)
            s.collection("volumes", volumesValue)
            s.collection("secrets", secretsValue)
            s.collection("configs", configsValue)
            s.collection("models", modelsValue)
            s.extensions(extensions)
            return s.value
        case .json:
            var m: [String: GoValue] = ["name": .string(name), "services": servicesValue]
            if !networks.isEmpty { m["networks"] = networksValue }
            if !volumes.isEmpty { m["volumes"] = volumesValue }
            if !secrets.isEmpty { m["secrets"] = secretsValue }
            if !configs.isEmpty { m["configs"] = configsValue }
            if !models.isEmpty { m["models"] = modelsValue }
            for (k, v) in extensions { m[k] = GoValue(v) }
            return .map(m)
        }
    }
}
