// The parts of a service definition, in compose-go's field order (which is the order `config` prints).

public struct BuildConfig: Sendable, Equatable {
    public var context: String = ""
    public var dockerfile: String = ""
    public var dockerfileInline: String = ""
    public var entitlements: [String] = []
    public var args: [String: String?] = [:]
    public var provenance: String = ""
    public var sbom: String = ""
    public var ssh: [(id: String, path: String)] = []
    public var labels: [String: String] = [:]
    public var cacheFrom: [String] = []
    public var cacheTo: [String] = []
    public var noCache = false
    public var noCacheFilter: [String] = []
    public var additionalContexts: [String: String] = [:]
    public var pull = false
    public var extraHosts: [String: [String]] = [:]
    public var isolation: String = ""
    public var network: String = ""
    public var target: String = ""
    public var secrets: [FileReference] = []
    public var shmSize: Int64 = 0
    public var tags: [String] = []
    public var ulimits: [String: Ulimit] = [:]
    public var platforms: [String] = []
    public var privileged = false
    public var extensions: [String: Node] = [:]

    public init() {}

    public static func == (a: BuildConfig, b: BuildConfig) -> Bool {
        a.context == b.context && a.dockerfile == b.dockerfile && a.dockerfileInline == b.dockerfileInline && a.args == b.args
            && a.target == b.target && a.labels == b.labels && a.tags == b.tags && a.platforms == b.platforms
            && a.ssh.map(\.id) == b.ssh.map(\.id) && a.ssh.map(\.path) == b.ssh.map(\.path) && a.cacheFrom == b.cacheFrom
            && a.cacheTo == b.cacheTo && a.noCache == b.noCache && a.additionalContexts == b.additionalContexts
            && a.pull == b.pull && a.extraHosts == b.extraHosts && a.network == b.network && a.secrets == b.secrets
            && a.shmSize == b.shmSize && a.ulimits == b.ulimits && a.privileged == b.privileged && a.isolation == b.isolation
            && a.entitlements == b.entitlements && a.provenance == b.provenance && a.sbom == b.sbom && a.noCacheFilter == b.noCacheFilter
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        if case .string(let s) = node.kind { context = s; return }
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "context": context = v.text
            case "dockerfile": dockerfile = v.text
            case "dockerfile_inline": dockerfileInline = v.text
            case "entitlements": entitlements = v.stringList(ctx, p)
            case "args": args = v.optionalStringMap(ctx, p)
            case "provenance": provenance = v.text
            case "sbom": sbom = v.text
            case "ssh":
                switch v.kind {
                case .mapping(let entries): ssh = entries.map { ($0.key, $0.value.text) }
                default:
                    ssh = v.stringList(ctx, p).map { item in
                        if let i = item.firstIndex(of: "=") { return (String(item[..<i]), String(item[item.index(after: i)...])) }
                        return (item, "")
                    }
                }
            case "labels": labels = v.stringMap(ctx, p)
            case "cache_from": cacheFrom = v.stringList(ctx, p)
            case "cache_to": cacheTo = v.stringList(ctx, p)
            case "no_cache": noCache = v.bool(ctx, p)
            case "no_cache_filter": noCacheFilter = v.stringList(ctx, p)
            case "additional_contexts": additionalContexts = v.stringMap(ctx, p)
            case "pull": pull = v.bool(ctx, p)
            case "extra_hosts": extraHosts = HostList.decode(v, ctx, p)
            case "isolation": isolation = v.text
            case "network": network = v.text
            case "target": target = v.text
            case "secrets": secrets = (v.items ?? []).enumerated().map { FileReference($1, ctx, "\(p)[\($0)]") }
            case "shm_size": shmSize = v.bytes(ctx, p)
            case "tags": tags = v.stringList(ctx, p)
            case "ulimits": ulimits = Ulimit.decodeMap(v, ctx, p)
            case "platforms": platforms = v.stringList(ctx, p)
            case "privileged": privileged = v.bool(ctx, p)
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("context", context)
        s.string("dockerfile", dockerfile)
        s.string("dockerfile_inline", dockerfileInline)
        s.strings("entitlements", entitlements)
        s.collection("args", args.goValue)
        s.string("provenance", provenance)
        s.string("sbom", sbom)
        s.collection("ssh", .list(ssh.map { .string($0.path.isEmpty ? $0.id : "\($0.id): \($0.path)") }))
        s.stringMap("labels", labels)
        s.strings("cache_from", cacheFrom)
        s.strings("cache_to", cacheTo)
        s.bool("no_cache", noCache)
        s.strings("no_cache_filter", noCacheFilter)
        s.stringMap("additional_contexts", additionalContexts)
        s.bool("pull", pull)
        s.collection("extra_hosts", HostList.goValue(extraHosts))
        s.string("isolation", isolation)
        s.string("network", network)
        s.string("target", target)
        s.collection("secrets", .list(secrets.map { $0.goValue(f) }))
        if shmSize != 0 { s.always("shm_size", .string(String(shmSize))) }
        s.strings("tags", tags)
        s.collection("ulimits", .map(ulimits.mapValues { $0.goValue(f) }))
        s.strings("platforms", platforms)
        s.bool("privileged", privileged)
        s.extensions(extensions)
        return s.value
    }
}

/// `extra_hosts`: host names and the addresses they resolve to, printed as `host=address` lines.
public enum HostList {
    static func decode(_ node: Node, _ ctx: DecodeContext, _ path: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        switch node.kind {
        case .mapping(let entries):
            for e in entries {
                if let items = e.value.items {
                    result[e.key, default: []].append(contentsOf: items.map(\.text))
                } else {
                    result[e.key, default: []].append(e.value.text)
                }
            }
        case .sequence(let items):
            for item in items {
                let s = item.text
                // "host=ip" or the legacy "host:ip" (the address may itself contain colons).
                let separator = s.firstIndex(of: "=") ?? s.firstIndex(of: ":")
                guard let separator else {
                    ctx.error("\(path): '\(s)' is not HOST=ADDRESS", at: item)
                    continue
                }
                var address = String(s[s.index(after: separator)...])
                if address.hasPrefix("[") && address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
                result[String(s[..<separator]), default: []].append(address)
            }
        default:
            ctx.error("\(path) must be a mapping or a list", at: node)
        }
        return result
    }

    static func goValue(_ hosts: [String: [String]]) -> GoValue {
        var lines: [String] = []
        for (host, addresses) in hosts {
            for a in addresses { lines.append("\(host)=\(a)") }
        }
        lines.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return .list(lines.map(GoValue.string))
    }
}

public struct Ulimit: Sendable, Equatable {
    public var single: Int64 = 0
    public var soft: Int64 = 0
    public var hard: Int64 = 0

    public init(single: Int64 = 0, soft: Int64 = 0, hard: Int64 = 0) {
        self.single = single
        self.soft = soft
        self.hard = hard
    }

    static func decodeMap(_ node: Node, _ ctx: DecodeContext, _ path: String) -> [String: Ulimit] {
        var result: [String: Ulimit] = [:]
        node.forEachEntry(ctx, path) { name, v in
            let p = path + "." + name
            if v.isMapping {
                result[name] = Ulimit(soft: v["soft"]?.int64(ctx, p + ".soft") ?? 0, hard: v["hard"]?.int64(ctx, p + ".hard") ?? 0)
            } else {
                result[name] = Ulimit(single: v.int64(ctx, p))
            }
        }
        return result
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        if single != 0 { return .int(single) }
        switch f {
        case .yaml: return .object([("soft", .int(soft)), ("hard", .int(hard))])
        case .json:
            var s = StructEncoder(f)
            s.int("soft", soft)
            s.int("hard", hard)
            return s.value
        }
    }
}

/// A secret or config mounted into a service (or a build secret).
public struct FileReference: Sendable, Equatable {
    public var source: String = ""
    public var target: String = ""
    public var uid: String = ""
    public var gid: String = ""
    public var mode: Int64?
    public var extensions: [String: Node] = [:]
    public var location: SourceLocation?

    public init(source: String) { self.source = source }

    public static func == (a: FileReference, b: FileReference) -> Bool {
        a.source == b.source && a.target == b.target && a.uid == b.uid && a.gid == b.gid && a.mode == b.mode
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        if !node.isMapping { source = node.text; return }
        node.forEachEntry(ctx, path) { key, v in
            switch key {
            case "source": source = v.text
            case "target": target = v.text
            case "uid": uid = v.text
            case "gid": gid = v.text
            case "mode":
                switch v.kind {
                case .int(let i): mode = i
                default:
                    if let m = Int64(v.text, radix: 8) { mode = m } else {
                        ctx.error("\(path).mode must be an octal file mode such as 0440, not '\(v.text)'", at: v)
                    }
                }
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("source", source)
        s.string("target", target)
        s.string("uid", uid)
        s.string("gid", gid)
        if let mode { s.always("mode", .string("0" + String(mode, radix: 8))) }
        s.extensions(extensions)
        return s.value
    }
}

public struct BlkioConfig: Sendable, Equatable {
    public struct WeightDevice: Sendable, Equatable { public var path: String; public var weight: Int64 }
    public struct ThrottleDevice: Sendable, Equatable { public var path: String; public var rate: Int64 }

    public var weight: Int64 = 0
    public var weightDevice: [WeightDevice] = []
    public var deviceReadBps: [ThrottleDevice] = []
    public var deviceReadIOps: [ThrottleDevice] = []
    public var deviceWriteBps: [ThrottleDevice] = []
    public var deviceWriteIOps: [ThrottleDevice] = []

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        func throttles(_ v: Node, _ p: String) -> [ThrottleDevice] {
            (v.items ?? []).enumerated().map { i, item in
                ThrottleDevice(path: item["path"]?.text ?? "", rate: item["rate"]?.bytes(ctx, "\(p)[\(i)].rate") ?? 0)
            }
        }
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "weight": weight = v.int64(ctx, p)
            case "weight_device":
                weightDevice = (v.items ?? []).enumerated().map { i, item in
                    WeightDevice(path: item["path"]?.text ?? "", weight: item["weight"]?.int64(ctx, "\(p)[\(i)].weight") ?? 0)
                }
            case "device_read_bps": deviceReadBps = throttles(v, p)
            case "device_read_iops": deviceReadIOps = throttles(v, p)
            case "device_write_bps": deviceWriteBps = throttles(v, p)
            case "device_write_iops": deviceWriteIOps = throttles(v, p)
            default: break
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.int("weight", weight)
        // These Go structs have no json tags: encoding/json writes the field names as they are.
        let (pathKey, weightKey, rateKey) = f == .json ? ("Path", "Weight", "Rate") : ("path", "weight", "rate")
        s.collection("weight_device", .list(weightDevice.map { .object([(pathKey, .string($0.path)), (weightKey, .int($0.weight))]) }))
        func throttles(_ list: [ThrottleDevice]) -> GoValue {
            .list(list.map { .object([(pathKey, .string($0.path)), (rateKey, .string(String($0.rate)))]) })
        }
        s.collection("device_read_bps", throttles(deviceReadBps))
        s.collection("device_read_iops", throttles(deviceReadIOps))
        s.collection("device_write_bps", throttles(deviceWriteBps))
        s.collection("device_write_iops", throttles(deviceWriteIOps))
        return s.value
    }
}

public struct ServiceDependency: Sendable, Equatable {
    public enum Condition: String, Sendable {
        case started = "service_started"
        case healthy = "service_healthy"
        case completedSuccessfully = "service_completed_successfully"
    }

    public var condition: Condition = .started
    public var restart = false
    public var required = true
    public var extensions: [String: Node] = [:]
    /// Where the dependency is declared, for messages.
    public var location: SourceLocation?

    public init(condition: Condition = .started, restart: Bool = false, required: Bool = true) {
        self.condition = condition
        self.restart = restart
        self.required = required
    }

    public static func == (a: ServiceDependency, b: ServiceDependency) -> Bool {
        a.condition == b.condition && a.restart == b.restart && a.required == b.required
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("condition", condition.rawValue)
        s.bool("restart", restart)
        s.extensions(extensions)
        s.always("required", .bool(required))
        return s.value
    }
}

public struct DeviceMapping: Sendable, Equatable {
    public var source: String
    public var target: String
    public var permissions: String

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("source", source)
        s.string("target", target)
        s.string("permissions", permissions)
        return s.value
    }
}

public struct DeviceRequest: Sendable, Equatable {
    public var capabilities: [String] = []
    public var driver: String = ""
    /// -1 means all devices.
    public var count: Int64 = 0
    public var deviceIDs: [String] = []
    public var options: [String: String] = [:]
    /// Where the request was written (not part of its value).
    public var location: SourceLocation?

    public static func == (a: DeviceRequest, b: DeviceRequest) -> Bool {
        a.capabilities == b.capabilities && a.driver == b.driver && a.count == b.count && a.deviceIDs == b.deviceIDs && a.options == b.options
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        var countSet = false
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "capabilities": capabilities = v.stringList(ctx, p)
            case "driver": driver = v.text
            case "count":
                countSet = true
                if case .string(let s) = v.kind, s.lowercased() == "all" { count = -1 } else { count = v.int64(ctx, p) }
            case "device_ids": deviceIDs = v.stringList(ctx, p)
            case "options": options = v.stringMap(ctx, p)
            default: break
            }
        }
        if countSet && !deviceIDs.isEmpty {
            ctx.error("\(path): \"count\" and \"device_ids\" attributes are exclusive", at: node)
        }
        if !countSet && deviceIDs.isEmpty { count = -1 }
    }

    public init(count: Int64) { self.count = count }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.strings("capabilities", capabilities)
        s.string("driver", driver)
        s.int("count", count)
        s.strings("device_ids", deviceIDs)
        s.stringMap("options", options)
        return s.value
    }
}

public struct EnvFile: Sendable, Equatable {
    public var path: String
    public var required: Bool = true
    public var format: String = ""

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.always("path", .string(path))
        if f == .json || !required { s.always("required", .bool(required)) }
        s.string("format", format)
        return s.value
    }
}

/// A service run by a provider plugin instead of as a container (`provider: {type, options}`):
/// compose-go's `ServiceProviderConfig`, whose options are lists (a scalar is a list of one).
public struct ServiceProvider: Sendable, Equatable {
    public var type: String = ""
    public var options: [String: [String]] = [:]
    public var extensions: [String: Node] = [:]
    public var location: SourceLocation?

    public static func == (a: ServiceProvider, b: ServiceProvider) -> Bool {
        a.type == b.type && a.options == b.options
    }

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        location = node.location
        node.forEachEntry(ctx, path) { key, v in
            switch key {
            case "type": type = v.text
            case "options":
                for entry in v.entries ?? [] {
                    if let items = entry.value.items {
                        options[entry.key] = items.map { $0.scalarText ?? "" }
                    } else {
                        options[entry.key] = [entry.value.scalarText ?? ""]
                    }
                }
            default: if key.hasPrefix("x-") { extensions[key] = v }
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("type", type)
        s.collection("options", .map(options.mapValues { .list($0.map(GoValue.string)) }))
        s.extensions(extensions)
        return s.value
    }
}
