public struct DeployConfig: Sendable, Equatable {
    public struct UpdateConfig: Sendable, Equatable {
        public var parallelism: Int64?
        public var delay: Duration = Duration(nanoseconds: 0)
        public var failureAction: String = ""
        public var monitor: Duration = Duration(nanoseconds: 0)
        public var maxFailureRatio: Float = 0
        public var order: String = ""

        init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
            node.forEachEntry(ctx, path) { key, v in
                let p = path + "." + key
                switch key {
                case "parallelism": parallelism = v.int64(ctx, p)
                case "delay": delay = v.duration(ctx, p) ?? delay
                case "failure_action": failureAction = v.text
                case "monitor": monitor = v.duration(ctx, p) ?? monitor
                case "max_failure_ratio": maxFailureRatio = Float(v.double(ctx, p))
                case "order": order = v.text
                default: break
                }
            }
        }

        func goValue(_ f: OutputFormat) -> GoValue {
            var s = StructEncoder(f)
            s.value("parallelism", parallelism.map(GoValue.int))
            if delay.nanoseconds != 0 { s.always("delay", .string(delay.description)) }
            s.string("failure_action", failureAction)
            if monitor.nanoseconds != 0 { s.always("monitor", .string(monitor.description)) }
            if maxFailureRatio != 0 { s.always("max_failure_ratio", .float32(maxFailureRatio)) }
            s.string("order", order)
            return s.value
        }
    }

    public struct Resource: Sendable, Equatable {
        public struct GenericResource: Sendable, Equatable {
            public var kind: String
            public var value: Int64
        }

        public var cpus: Float = 0
        public var memory: Int64 = 0
        public var pids: Int64 = 0
        public var devices: [DeviceRequest] = []
        public var genericResources: [GenericResource] = []

        init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
            node.forEachEntry(ctx, path) { key, v in
                let p = path + "." + key
                switch key {
                case "cpus": cpus = Float(v.double(ctx, p))
                case "memory": memory = v.bytes(ctx, p)
                case "pids": pids = v.int64(ctx, p)
                case "devices": devices = (v.items ?? []).enumerated().map { DeviceRequest($1, ctx, "\(p)[\($0)]") }
                case "generic_resources":
                    genericResources = (v.items ?? []).map { item in
                        let spec = item["discrete_resource_spec"]
                        return GenericResource(kind: spec?["kind"]?.text ?? "", value: spec?["value"]?.int64(ctx, p) ?? 0)
                    }
                default: break
                }
            }
        }

        func goValue(_ f: OutputFormat) -> GoValue {
            var s = StructEncoder(f)
            if cpus != 0 { s.always("cpus", .float32(cpus)) }
            if memory != 0 { s.always("memory", .string(String(memory))) }
            s.int("pids", pids)
            s.collection("devices", .list(devices.map { $0.goValue(f) }))
            s.collection("generic_resources", .list(genericResources.map {
                .object([("discrete_resource_spec", .object([("kind", .string($0.kind)), ("value", .int($0.value))]))])
            }))
            return s.value
        }
    }

    public struct RestartPolicy: Sendable, Equatable {
        public var condition: String = ""
        public var delay: Duration?
        public var maxAttempts: Int64?
        public var window: Duration?

        func goValue(_ f: OutputFormat) -> GoValue {
            var s = StructEncoder(f)
            s.string("condition", condition)
            s.value("delay", delay.map { .string($0.description) })
            s.value("max_attempts", maxAttempts.map(GoValue.int))
            s.value("window", window.map { .string($0.description) })
            return s.value
        }
    }

    public var mode: String = ""
    public var replicas: Int64?
    public var labels: [String: String] = [:]
    public var updateConfig: UpdateConfig?
    public var rollbackConfig: UpdateConfig?
    public var limits: Resource?
    public var reservations: Resource?
    public var restartPolicy: RestartPolicy?
    public var placementConstraints: [String] = []
    public var placementPreferences: [String] = []
    public var maxReplicasPerNode: Int64 = 0
    public var endpointMode: String = ""

    public init() {}

    init(_ node: Node, _ ctx: DecodeContext, _ path: String) {
        node.forEachEntry(ctx, path) { key, v in
            let p = path + "." + key
            switch key {
            case "mode": mode = v.text
            case "replicas": replicas = v.isNull ? nil : v.int64(ctx, p)
            case "labels": labels = v.stringMap(ctx, p)
            case "update_config": updateConfig = UpdateConfig(v, ctx, p)
            case "rollback_config": rollbackConfig = UpdateConfig(v, ctx, p)
            case "resources":
                if let l = v["limits"], !l.isNull { limits = Resource(l, ctx, p + ".limits") }
                if let r = v["reservations"], !r.isNull { reservations = Resource(r, ctx, p + ".reservations") }
            case "restart_policy":
                var r = RestartPolicy()
                v.forEachEntry(ctx, p) { k, x in
                    switch k {
                    case "condition": r.condition = x.text
                    case "delay": r.delay = x.duration(ctx, p + ".delay")
                    case "max_attempts": r.maxAttempts = x.int64(ctx, p + ".max_attempts")
                    case "window": r.window = x.duration(ctx, p + ".window")
                    default: break
                    }
                }
                restartPolicy = r
            case "placement":
                v.forEachEntry(ctx, p) { k, x in
                    switch k {
                    case "constraints": placementConstraints = x.stringList(ctx, p + ".constraints")
                    case "preferences": placementPreferences = (x.items ?? []).map { $0["spread"]?.text ?? "" }
                    case "max_replicas_per_node": maxReplicasPerNode = x.int64(ctx, p + ".max_replicas_per_node")
                    default: break
                    }
                }
            case "endpoint_mode": endpointMode = v.text
            default: break
            }
        }
    }

    func goValue(_ f: OutputFormat) -> GoValue {
        var s = StructEncoder(f)
        s.string("mode", mode)
        s.value("replicas", replicas.map(GoValue.int))
        s.stringMap("labels", labels)
        s.value("update_config", updateConfig?.goValue(f))
        s.value("rollback_config", rollbackConfig?.goValue(f))
        var resources = StructEncoder(f)
        resources.value("limits", limits?.goValue(f))
        resources.value("reservations", reservations?.goValue(f))
        s.embedded("resources", resources.value)
        s.value("restart_policy", restartPolicy?.goValue(f))
        var placement = StructEncoder(f)
        placement.strings("constraints", placementConstraints)
        placement.collection("preferences", .list(placementPreferences.map { .object([("spread", .string($0))]) }))
        placement.int("max_replicas_per_node", maxReplicasPerNode)
        s.embedded("placement", placement.value)
        s.string("endpoint_mode", endpointMode)
        return s.value
    }
}
