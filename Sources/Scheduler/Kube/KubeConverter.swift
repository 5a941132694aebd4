import ComposeModel
import Diagnostics

/// How `kube generate` converts, beyond the project itself.
public struct KubeOptions: Sendable {
    /// How published ports reach the outside: a Service of type NodePort (every cluster serves it) or
    /// LoadBalancer, or a `hostPort` on the container (a single-node runner such as `podman kube play`).
    public enum Publish: String, Sendable, CaseIterable {
        case nodePort = "nodeport"
        case loadBalancer = "loadbalancer"
        case hostPort = "hostport"
    }

    /// What the image store knows of an image (its `EXPOSE`d ports and `HEALTHCHECK`), when it has it.
    public struct ImageFacts: Sendable {
        public var exposedPorts: [String] = []
        public var healthcheck: HealthCheckConfig?
        public init(exposedPorts: [String] = [], healthcheck: HealthCheckConfig? = nil) {
            self.exposedPorts = exposedPorts
            self.healthcheck = healthcheck
        }
    }

    public var services: [String] = []
    public var namespace: String?
    public var publish: Publish = .nodePort
    /// Bind mounts as `hostPath` volumes (the path must exist on the node) instead of a warning.
    public var hostPath = false
    /// The size a named volume's claim asks for, unless its `x-kubernetes: {size: …}` says otherwise.
    public var volumeSize = "1Gi"
    /// The image of the init containers that wait for a dependency's port (needs `nc`).
    public var waitImage = "busybox:1.36"
    /// The image of the init containers that ask the API (needs `kubectl`).
    public var kubectlImage = "bitnami/kubectl:1.30"
    /// The reference to run for a service (a pushed image's `name@sha256:…`), instead of its image name.
    public var images: [String: String] = [:]
    public var imageFacts: @Sendable (String) -> ImageFacts? = { _ in nil }
    /// Reads a secret's or config's file.
    public var readFile: @Sendable (String) throws -> [UInt8] = { path in throw SwcomposeError(.notFound, "cannot read \(path)") }

    public init() {}
}

/// The manifests of a project and what could not be carried over.
public struct KubeManifests: Sendable {
    public var documents: [GoValue]
    /// Located warnings: settings without a faithful Kubernetes form (never silently dropped).
    public var warnings: [Diagnostic]

    /// `---`-separated YAML, in a stable order.
    public var yaml: String { documents.map(YAMLEmitter.emit).joined(separator: "---\n") }
}

/// A compose project as Kubernetes manifests, its meaning kept: Services named after services (DNS by
/// name as on a compose network), Deployments, StatefulSets for services owning named volumes, Jobs for
/// the one-shot services others wait to complete, `depends_on` conditions as init containers that wait,
/// healthchecks as probes, volumes as claims, secrets and configs as Secrets and ConfigMaps. Pure: a
/// project (and `KubeOptions`) in, manifest values and warnings out.
public struct KubeConverter {
    let project: Project
    let options: KubeOptions
    var warnings: [Diagnostic] = []
    /// The services converted (the selection and what it depends on).
    var selected: [String] = []
    /// Services others wait to complete: Jobs.
    var jobs: Set<String> = []
    /// Named volumes (by compose key) used by exactly one StatefulSet, as its claim templates.
    var templated: [String: String] = [:]
    var needsAPI = false
    /// What the store knows of each selected service's image, asked once.
    var facts: [String: KubeOptions.ImageFacts] = [:]

    public static func convert(_ project: Project, options: KubeOptions) throws(SwcomposeError) -> KubeManifests {
        var c = KubeConverter(project: project, options: options)
        return try c.run()
    }

    init(project: Project, options: KubeOptions) {
        self.project = project
        self.options = options
    }

    var partOf: String { project.name }
    var waitAccount: String { KubeNames.label(project.name + "-wait") }

    mutating func run() throws(SwcomposeError) -> KubeManifests {
        try select()
        try checkNames()
        plan()
        networkWarnings()
        var workloads: [GoValue] = []
        for name in selected {
            let s = project.services[name]!
            workloads += services(for: s)
            workloads.append(try workload(s))
        }
        var documents: [GoValue] = []
        if needsAPI { documents += rbac() }
        documents += try secretsAndConfigs()
        documents += claims()
        documents += workloads
        return KubeManifests(documents: documents, warnings: warnings.sorted { ($0.location ?? .init(file: "", line: 0, column: 0)) < ($1.location ?? .init(file: "", line: 0, column: 0)) })
    }

    // MARK: - Which services, as what

    /// The named services and, transitively, what they depend on (their init containers wait on them).
    mutating func select() throws(SwcomposeError) {
        for name in options.services where project.services[name] == nil {
            throw SwcomposeError(.notFound, "no such service: \(name)")
        }
        var chosen: Set<String> = []
        func add(_ n: String) {
            guard let s = project.services[n], chosen.insert(n).inserted else { return }
            for d in s.dependsOn.keys { add(d) }
        }
        for n in options.services.isEmpty ? Array(project.services.keys) : options.services { add(n) }
        selected = chosen.sorted()
    }

    /// Two services whose names map to the same Kubernetes name cannot both be there.
    func checkNames() throws(SwcomposeError) {
        var seen: [String: String] = [:]
        for n in selected {
            let k = KubeNames.label(n)
            if let other = seen[k] {
                throw SwcomposeError(.invalidArgument, "services \"\(other)\" and \"\(n)\" would both be named \(k) in Kubernetes; rename one",
                                     at: project.services[n]?.location)
            }
            seen[k] = n
        }
    }

    mutating func plan() {
        for n in selected { facts[n] = options.imageFacts(image(project.services[n]!)) }
        for n in selected {
            for (dep, d) in project.services[n]!.dependsOn where d.condition == .completedSuccessfully && selected.contains(dep) { jobs.insert(dep) }
        }
        // A named volume only one long-running service mounts follows its replicas: a claim template.
        var users: [String: Set<String>] = [:]
        for n in selected {
            for v in project.services[n]!.volumes where v.type == "volume" && !v.source.isEmpty { users[v.source, default: []].insert(n) }
        }
        for n in selected where !jobs.contains(n) {
            let own = project.services[n]!.volumes.filter { $0.type == "volume" && !$0.source.isEmpty }.map(\.source)
            guard !own.isEmpty, own.allSatisfy({ users[$0] == [n] && project.volumes[$0]?.external != true }) else { continue }
            for v in own { templated[v] = n }
        }
    }

    mutating func warn(_ message: String, _ service: ServiceConfig, _ key: String) {
        warnings.append(.warning("service \"\(service.name)\": " + message, at: service.locations[key] ?? service.location))
    }

    /// Every pod shares the cluster's flat network: what compose networks separate is not separated.
    mutating func networkWarnings() {
        var used: Set<String> = []
        for n in selected { used.formUnion(project.services[n]!.networks.keys) }
        for name in used.sorted() {
            guard let net = project.networks[name] else { continue }
            if net.internal {
                warnings.append(.warning("network \"\(name)\" is internal: in the cluster its services can reach the outside (no NetworkPolicy is generated)", at: net.location))
            }
        }
        if used.count > 1 {
            let name = used.sorted()[1]
            warnings.append(.warning("services on different networks (\(used.sorted().joined(separator: ", "))) can all reach each other in the cluster (no NetworkPolicy is generated)",
                                     at: project.networks[name]?.location))
        }
    }

    // MARK: - Labels

    func selector(_ s: ServiceConfig) -> [String: String] {
        ["app.kubernetes.io/name": KubeNames.label(s.name), "app.kubernetes.io/part-of": KubeNames.label(partOf)]
    }

    /// The selector labels, docker compose's own (`com.docker.compose.project/service` as
    /// `app.kubernetes.io/*`) and the service's labels that are valid label keys and values; the rest
    /// as annotations.
    func metadata(_ name: String, _ s: ServiceConfig?, labels extra: [String: String] = [:]) -> Fields {
        var m = Fields()
        m.set("name", name)
        if let ns = options.namespace { m.set("namespace", ns) }
        var labels = ["app.kubernetes.io/part-of": KubeNames.label(partOf), "app.kubernetes.io/managed-by": "swcompose"]
        var annotations: [String: String] = [:]
        if let s {
            labels.merge(selector(s)) { a, _ in a }
            labels["app.kubernetes.io/component"] = KubeNames.label(s.name)
            for (k, v) in s.labels {
                if KubeNames.isLabelKey(k) && KubeNames.isLabelValue(v) { labels[k] = v } else { annotations[k] = v }
            }
            annotations.merge(s.annotations) { a, _ in a }
        }
        labels.merge(extra) { _, b in b }
        m.map("labels", labels)
        m.map("annotations", annotations)
        return m
    }

    // MARK: - Services (DNS by name, published ports)

    struct Port: Hashable {
        var port: Int64
        var proto: String
    }

    /// The ports a service is reached on: its `ports` targets, `expose` and the image's `EXPOSE`.
    func ports(_ s: ServiceConfig) -> [Port] {
        var out: [Port] = []
        func add(_ p: Port) { if !out.contains(p) { out.append(p) } }
        for p in s.ports where p.target > 0 { add(Port(port: p.target, proto: p.protocol.isEmpty ? "tcp" : p.protocol.lowercased())) }
        for e in s.expose + (facts[s.name]?.exposedPorts ?? []) {
            let parts = e.split(separator: "/")
            let proto = parts.count > 1 ? String(parts[1]).lowercased() : "tcp"
            let range = parts.first.map { $0.split(separator: "-").compactMap { Int64($0) } } ?? []
            if range.count == 1 { add(Port(port: range[0], proto: proto)) }
            if range.count == 2, range[0] <= range[1], range[1] - range[0] < 100 { for n in range[0]...range[1] { add(Port(port: n, proto: proto)) } }
        }
        return out.filter { $0.proto == "tcp" || $0.proto == "udp" || $0.proto == "sctp" }
    }

    func servicePorts(_ list: [Port], published: [(Port, Int64)] = []) -> [Fields] {
        var out: [Fields] = []
        if published.isEmpty {
            for p in list {
                var f = Fields()
                f.set("name", KubeNames.portName(p.proto, p.port))
                f.set("port", p.port)
                f.set("targetPort", p.port)
                f.set("protocol", p.proto.uppercased())
                out.append(f)
            }
        } else {
            for (p, host) in published {
                var f = Fields()
                f.set("name", KubeNames.portName(p.proto, host))
                f.set("port", host)
                f.set("targetPort", p.port)
                f.set("protocol", p.proto.uppercased())
                if options.publish == .nodePort, (30000...32767).contains(host) { f.set("nodePort", host) }
                out.append(f)
            }
        }
        return out
    }

    /// A ClusterIP Service named after the service (and one per network alias) over every port it is
    /// reached on; published ports in a `<service>-published` NodePort or LoadBalancer Service. A
    /// StatefulSet without ports gets a headless Service (its pods' DNS names).
    mutating func services(for s: ServiceConfig) -> [GoValue] {
        let name = KubeNames.label(s.name)
        let list = ports(s)
        var out: [GoValue] = []
        func service(_ serviceName: String, type: String?, ports: [Fields], headless: Bool = false) -> GoValue {
            var spec = Fields()
            if let type { spec.set("type", type) }
            if headless { spec.set("clusterIP", "None") }
            spec.map("selector", selector(s))
            spec.objects("ports", ports)
            return Fields([("apiVersion", .string("v1")), ("kind", .string("Service")), ("metadata", metadata(serviceName, s).value), ("spec", spec.value)]).value
        }
        if !list.isEmpty {
            out.append(service(name, type: nil, ports: servicePorts(list)))
            var aliases: Set<String> = []
            for (net, config) in s.networks.sorted(by: { $0.key < $1.key }) {
                for a in config?.aliases ?? [] where a != s.name {
                    let k = KubeNames.label(a)
                    if k != a { warn("network alias \(a) is named \(k) in the cluster (Service names are DNS labels)", s, "networks." + net) }
                    if k != name, aliases.insert(k).inserted { out.append(service(k, type: nil, ports: servicePorts(list))) }
                }
            }
        } else if templated.values.contains(s.name) {
            out.append(service(name, type: nil, ports: [], headless: true))
        }
        if options.publish != .hostPort {
            var published: [(Port, Int64)] = []
            for p in s.ports where p.target > 0 {
                let proto = p.protocol.isEmpty ? "tcp" : p.protocol.lowercased()
                switch p.hostPorts {
                case .range(let r): published.append((Port(port: p.target, proto: proto), Int64(r.lowerBound)))
                    if r.count > 1 { warn("published port range \(p.published) is published as its first port, \(r.lowerBound)", s, "ports") }
                case .ephemeral: published.append((Port(port: p.target, proto: proto), p.target))
                case .invalid: warn("published port \(p.published) is not a port; left out", s, "ports")
                }
                if !p.hostIP.isEmpty && p.hostIP != "0.0.0.0" && p.hostIP != "::" { warn("the host address \(p.hostIP) of a published port has no Service form: the port is published on every node address", s, "ports") }
            }
            if !published.isEmpty {
                out.append(service(name + "-published", type: options.publish == .loadBalancer ? "LoadBalancer" : "NodePort", ports: servicePorts([], published: published)))
            }
        }
        return out
    }

    // MARK: - Workloads

    func image(_ s: ServiceConfig) -> String {
        options.images[s.name] ?? (s.image.isEmpty ? "\(project.name)-\(s.name)" : s.image)
    }

    /// `$(NAME)` in a container's command, args and env values is the kubelet's expansion: written
    /// `$$(NAME)` it stays what compose passed.
    static func literal(_ s: String) -> String { s.replacingOccurrences(of: "$(", with: "$$(") }

    mutating func workload(_ s: ServiceConfig) throws(SwcomposeError) -> GoValue {
        let name = KubeNames.label(s.name)
        var pod = Fields()
        let initContainers = waits(s)
        if initContainers.contains(where: { $0.usesAPI }) { pod.set("serviceAccountName", waitAccount) }
        if !s.hostname.isEmpty { pod.set("hostname", KubeNames.label(s.hostname)) }
        if s.extraHosts.isEmpty == false {
            var aliases: [String: [String]] = [:]
            for (host, addresses) in s.extraHosts {
                for a in addresses {
                    if a == "host-gateway" { warn("extra_hosts \(host):host-gateway has no cluster form; left out", s, "extra_hosts"); continue }
                    aliases[a, default: []].append(host)
                }
            }
            pod.objects("hostAliases", aliases.sorted { $0.key < $1.key }.map { Fields([("ip", .string($0.key)), ("hostnames", .list($0.value.sorted().map(GoValue.string)))]) })
        }
        var dns = Fields()
        dns.strings("nameservers", s.dns)
        dns.strings("searches", s.dnsSearch)
        dns.objects("options", s.dnsOpts.map { o in
            let kv = o.split(separator: ":", maxSplits: 1)
            var f = Fields()
            f.set("name", String(kv[0]))
            if kv.count > 1 { f.set("value", String(kv[1])) }
            return f
        })
        pod.object("dnsConfig", dns)
        var security = Fields()
        if !s.sysctls.isEmpty {
            security.objects("sysctls", s.sysctls.sorted { $0.key < $1.key }.map { Fields([("name", .string($0.key)), ("value", .string($0.value))]) })
        }
        let groups = s.groupAdd.compactMap { Int64($0) }
        if !groups.isEmpty { security.set("supplementalGroups", .list(groups.map(GoValue.int))) }
        if groups.count < s.groupAdd.count { warn("group_add names groups; Kubernetes takes group ids only", s, "group_add") }
        pod.object("securityContext", security)
        let (mounts, volumes) = try self.volumes(s)
        pod.objects("initContainers", initContainers.map(\.fields))
        pod.objects("containers", [try container(s, mounts: mounts)])
        if let grace = s.stopGracePeriod { pod.set("terminationGracePeriodSeconds", KubeUnits.seconds(grace, default: 10, minimum: 0)) }
        pod.objects("volumes", volumes)
        unsupported(s)

        let replicas = Int64(s.replicaCount)
        if jobs.contains(s.name) {
            let (policy, backoff) = jobRestart(s)
            var podSpec = pod
            podSpec.set("restartPolicy", policy)
            var spec = Fields()
            spec.set("backoffLimit", backoff)
            if replicas != 1 { spec.set("completions", replicas); spec.set("parallelism", replicas) }
            spec.set("template", Fields([("metadata", Fields([("labels", .map(selector(s).mapValues(GoValue.string)))]).value), ("spec", podSpec.value)]).value)
            return Fields([("apiVersion", .string("batch/v1")), ("kind", .string("Job")), ("metadata", metadata(name, s).value), ("spec", spec.value)]).value
        }
        if s.restart == "no" || s.restart.hasPrefix("on-failure") {
            warn("restart: \(s.restart) has no form for a long-running service in Kubernetes (its pods are always restarted)", s, "restart")
        }
        var spec = Fields()
        spec.set("replicas", replicas)
        spec.set("selector", Fields([("matchLabels", .map(selector(s).mapValues(GoValue.string)))]).value)
        let isStateful = templated.values.contains(s.name)
        if isStateful { spec.set("serviceName", name) }
        spec.set("template", Fields([("metadata", Fields([("labels", .map(selector(s).mapValues(GoValue.string)))]).value), ("spec", pod.value)]).value)
        if isStateful {
            spec.objects("volumeClaimTemplates", templated.filter { $0.value == s.name }.keys.sorted().map { key in
                Fields([("metadata", Fields([("name", .string(volumeName(key)))]).value), ("spec", claimSpec(key, access: "ReadWriteOnce").value)])
            })
        }
        return Fields([("apiVersion", .string("apps/v1")), ("kind", .string(isStateful ? "StatefulSet" : "Deployment")),
                       ("metadata", metadata(name, s).value), ("spec", spec.value)]).value
    }

    /// A Job's restartPolicy and backoffLimit from `restart`: `no` (compose's default) runs it once.
    mutating func jobRestart(_ s: ServiceConfig) -> (String, Int64) {
        if s.restart.hasPrefix("on-failure") {
            let n = s.restart.split(separator: ":").dropFirst().first.flatMap { Int64($0) } ?? 6
            return ("OnFailure", n)
        }
        if s.restart == "always" || s.restart == "unless-stopped" {
            warn("restart: \(s.restart) on a service others wait to complete: its Job retries it on failure only", s, "restart")
            return ("OnFailure", 6)
        }
        return ("Never", 0)
    }

    func container(_ s: ServiceConfig, mounts: [Fields]) throws(SwcomposeError) -> Fields {
        var c = Fields()
        c.set("name", KubeNames.label(s.name))
        c.set("image", image(s))
        switch s.pullPolicy {
        case "always": c.set("imagePullPolicy", "Always")
        case "never": c.set("imagePullPolicy", "Never")
        case "missing", "if_not_present", "build": c.set("imagePullPolicy", "IfNotPresent")
        default: if options.images[s.name] != nil { c.set("imagePullPolicy", "IfNotPresent") }
        }
        // docker's entrypoint is Kubernetes' command, its cmd the args.
        if let e = s.entrypoint { c.set("command", .list(e.map { .string(Self.literal($0)) })) }
        if let a = s.command { c.set("args", .list(a.map { .string(Self.literal($0)) })) }
        c.string("workingDir", s.workingDir)
        let env = s.environment.compactMap { k, v in v.map { (k, $0) } }.sorted { $0.0 < $1.0 }
        c.objects("env", env.map { Fields([("name", .string($0.0)), ("value", .string(Self.literal($0.1)))]) })
        var ports: [Fields] = []
        for p in self.ports(s) {
            var f = Fields()
            f.set("containerPort", p.port)
            f.set("protocol", p.proto.uppercased())
            if options.publish == .hostPort, let published = s.ports.first(where: { $0.target == p.port && ($0.protocol.isEmpty ? "tcp" : $0.protocol.lowercased()) == p.proto }) {
                if case .range(let r) = published.hostPorts { f.set("hostPort", Int64(r.lowerBound)) } else { f.set("hostPort", p.port) }
            }
            ports.append(f)
        }
        c.objects("ports", ports)
        c.object("resources", resources(s))
        c.object("securityContext", securityContext(s))
        if s.stdinOpen { c.set("stdin", true) }
        if s.tty { c.set("tty", true) }
        c.objects("volumeMounts", mounts)
        if let probe = probe(s) {
            c.set("readinessProbe", probe.value)
            // Swarm replaces an unhealthy task (deploy.restart_policy): a liveness probe, protected
            // during the start period by a startup probe.
            if s.deploy?.restartPolicy != nil {
                c.set("livenessProbe", probe.value)
                if let start = healthcheck(s)?.startPeriod, start.nanoseconds > 0 {
                    var startup = probe
                    let every = KubeUnits.seconds(healthcheck(s)?.startInterval, default: 5)
                    startup.list.removeAll { $0.0 == "periodSeconds" || $0.0 == "failureThreshold" }
                    startup.set("periodSeconds", every)
                    startup.set("failureThreshold", max(1, (KubeUnits.seconds(start, default: 0) + every - 1) / every))
                    c.set("startupProbe", startup.value)
                }
            }
        }
        var lifecycle = Fields()
        if let hook = s.postStart.first, let command = hook.command { lifecycle.set("postStart", Fields([("exec", Fields([("command", .list(command.map(GoValue.string)))]).value)]).value) }
        if let hook = s.preStop.first, let command = hook.command { lifecycle.set("preStop", Fields([("exec", Fields([("command", .list(command.map(GoValue.string)))]).value)]).value) }
        c.object("lifecycle", lifecycle)
        return c
    }

    func healthcheck(_ s: ServiceConfig) -> HealthCheckConfig? {
        var hc = facts[s.name]?.healthcheck
        if let own = s.healthCheck {
            // The service's settings over the image's, as docker merges them.
            if own.disable { return nil }
            var merged = hc ?? HealthCheckConfig()
            if let t = own.test { merged.test = t }
            if let v = own.interval { merged.interval = v }
            if let v = own.timeout { merged.timeout = v }
            if let v = own.retries { merged.retries = v }
            if let v = own.startPeriod { merged.startPeriod = v }
            if let v = own.startInterval { merged.startInterval = v }
            hc = merged
        }
        return hc
    }

    /// A healthcheck as an exec probe: CMD runs its words, CMD-SHELL a shell; docker's defaults (30 s
    /// interval and timeout, 3 retries). The start period needs nothing for readiness: failing probes
    /// then mean "starting", not ready, as docker's dependents see it.
    func probe(_ s: ServiceConfig) -> Fields? {
        guard let hc = healthcheck(s), let test = hc.test, let kind = test.first, kind != "NONE" else { return nil }
        let command: [String]
        switch kind {
        case "CMD": command = Array(test.dropFirst())
        case "CMD-SHELL": command = ["/bin/sh", "-c", test.dropFirst().joined(separator: " ")]
        default: command = ["/bin/sh", "-c", test.joined(separator: " ")]
        }
        guard !command.isEmpty else { return nil }
        var p = Fields()
        p.set("exec", Fields([("command", .list(command.map(GoValue.string)))]).value)
        p.set("periodSeconds", KubeUnits.seconds(hc.interval, default: 30))
        p.set("timeoutSeconds", KubeUnits.seconds(hc.timeout, default: 30))
        p.set("failureThreshold", max(1, hc.retries ?? 3))
        return p
    }

    func resources(_ s: ServiceConfig) -> Fields {
        var limits: [String: String] = [:]
        var requests: [String: String] = [:]
        let l = s.deploy?.limits
        let r = s.deploy?.reservations
        if let cpus = l?.cpus, cpus > 0 { limits["cpu"] = KubeUnits.cpus(cpus) } else if s.cpus > 0 { limits["cpu"] = KubeUnits.cpus(s.cpus) }
        if let m = l?.memory, m > 0 { limits["memory"] = KubeUnits.bytes(m) } else if s.memLimit > 0 { limits["memory"] = KubeUnits.bytes(s.memLimit) }
        if let cpus = r?.cpus, cpus > 0 { requests["cpu"] = KubeUnits.cpus(cpus) }
        if let m = r?.memory, m > 0 { requests["memory"] = KubeUnits.bytes(m) } else if s.memReservation > 0 { requests["memory"] = KubeUnits.bytes(s.memReservation) }
        var f = Fields()
        f.map("limits", limits)
        f.map("requests", requests)
        return f
    }

    func securityContext(_ s: ServiceConfig) -> Fields {
        var f = Fields()
        if s.privileged { f.set("privileged", true) }
        if s.readOnly { f.set("readOnlyRootFilesystem", true) }
        let ids = s.user.split(separator: ":", maxSplits: 1)
        if let u = ids.first.flatMap({ Int64($0) }) { f.set("runAsUser", u) }
        if ids.count > 1, let g = Int64(ids[1]) { f.set("runAsGroup", g) }
        var caps = Fields()
        func name(_ c: String) -> String { c.uppercased().hasPrefix("CAP_") ? String(c.dropFirst(4)).uppercased() : c.uppercased() }
        caps.strings("add", s.capAdd.map(name))
        caps.strings("drop", s.capDrop.map(name))
        f.object("capabilities", caps)
        return f
    }

    // MARK: - depends_on

    struct Wait {
        var fields: Fields
        var usesAPI: Bool
    }

    /// An init container per dependency, waiting as compose's condition asks: `service_healthy` for
    /// the dependency's Service to accept connections (only ready pods are its endpoints, readiness
    /// being its healthcheck) — or, without a port, for its pods to be Ready; `service_started` for a
    /// pod of it to be running; `service_completed_successfully` for its Job to complete.
    mutating func waits(_ s: ServiceConfig) -> [Wait] {
        var out: [Wait] = []
        for (dep, d) in s.dependsOn.sorted(by: { $0.key < $1.key }) {
            guard let other = project.services[dep], selected.contains(dep) else { continue }
            let target = KubeNames.label(dep)
            let labels = selector(other).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            let script: String
            var api = true
            switch d.condition {
            case .healthy:
                if let port = ports(other).first(where: { $0.proto == "tcp" }) {
                    api = false
                    script = "until nc -z -w 2 \(target) \(port.port); do echo waiting for \(dep) to be healthy; sleep 2; done"
                } else {
                    script = "until kubectl wait --for=condition=Ready pod -l \(labels) --timeout=60s; do echo waiting for \(dep) to be healthy; sleep 2; done"
                }
            case .started:
                script = "until kubectl wait --for=jsonpath='{.status.phase}'=Running pod -l \(labels) --timeout=60s; do echo waiting for \(dep) to start; sleep 2; done"
            case .completedSuccessfully:
                if !jobs.contains(dep) { continue }
                script = "until kubectl wait --for=condition=complete job/\(target) --timeout=60s; do echo waiting for \(dep) to complete; sleep 2; done"
            }
            if api { needsAPI = true }
            var c = Fields()
            c.set("name", KubeNames.label("wait-for-" + dep))
            c.set("image", api ? options.kubectlImage : options.waitImage)
            c.set("command", .list([.string("/bin/sh"), .string("-c"), .string(script)]))
            out.append(Wait(fields: c, usesAPI: api))
        }
        return out
    }

    /// The account the API-asking init containers run as: it may read pods and jobs, nothing else.
    func rbac() -> [GoValue] {
        let ns = options.namespace ?? "default"
        let account = Fields([("apiVersion", .string("v1")), ("kind", .string("ServiceAccount")), ("metadata", metadata(waitAccount, nil).value)])
        var rules: [Fields] = []
        rules.append(Fields([("apiGroups", .list([.string("")])), ("resources", .list([.string("pods")])), ("verbs", .list(["get", "list", "watch"].map(GoValue.string)))]))
        rules.append(Fields([("apiGroups", .list([.string("batch")])), ("resources", .list([.string("jobs")])), ("verbs", .list(["get", "list", "watch"].map(GoValue.string)))]))
        var role = Fields([("apiVersion", .string("rbac.authorization.k8s.io/v1")), ("kind", .string("Role")), ("metadata", metadata(waitAccount, nil).value)])
        role.objects("rules", rules)
        var binding = Fields([("apiVersion", .string("rbac.authorization.k8s.io/v1")), ("kind", .string("RoleBinding")), ("metadata", metadata(waitAccount, nil).value)])
        binding.set("roleRef", Fields([("apiGroup", .string("rbac.authorization.k8s.io")), ("kind", .string("Role")), ("name", .string(waitAccount))]).value)
        binding.objects("subjects", [Fields([("kind", .string("ServiceAccount")), ("name", .string(waitAccount)), ("namespace", .string(ns))])])
        return [account.value, role.value, binding.value]
    }

    // MARK: - Volumes, secrets, configs

    func volumeName(_ key: String) -> String { KubeNames.label("vol-" + key) }

    func claimName(_ key: String) -> String {
        let v = project.volumes[key]
        if v?.external == true { return KubeNames.label(v?.name.isEmpty == false ? v!.name : key) }
        return KubeNames.label(v?.name.isEmpty == false ? v!.name : "\(project.name)_\(key)")
    }

    func claimSpec(_ key: String, access: String) -> Fields {
        let ext = project.volumes[key]?.extensions["x-kubernetes"]
        var spec = Fields()
        spec.set("accessModes", .list([.string(access)]))
        if let sc = ext?["storage_class"]?.scalarText ?? ext?["storageClassName"]?.scalarText { spec.set("storageClassName", sc) }
        let size = ext?["size"]?.scalarText ?? options.volumeSize
        spec.set("resources", Fields([("requests", .map(["storage": .string(size)]))]).value)
        return spec
    }

    /// PersistentVolumeClaims of the named volumes that are not a StatefulSet's own: shared by several
    /// services (ReadWriteMany), or a Deployment's or Job's.
    func claims() -> [GoValue] {
        var users: [String: Int] = [:]
        for n in selected {
            for v in Set(project.services[n]!.volumes.filter { $0.type == "volume" && !$0.source.isEmpty }.map(\.source)) { users[v, default: 0] += 1 }
        }
        return users.keys.sorted().compactMap { key in
            guard templated[key] == nil, project.volumes[key]?.external != true else { return nil }
            var meta = metadata(claimName(key), nil)
            if let labels = project.volumes[key]?.labels, !labels.isEmpty {
                meta.list.removeAll { $0.0 == "annotations" }
                meta.map("annotations", labels)
            }
            return Fields([("apiVersion", .string("v1")), ("kind", .string("PersistentVolumeClaim")), ("metadata", meta.value),
                           ("spec", claimSpec(key, access: users[key]! > 1 ? "ReadWriteMany" : "ReadWriteOnce").value)]).value
        }
    }

    /// A service's mounts and pod volumes: named volumes (claims or claim templates), anonymous ones
    /// (emptyDir), tmpfs (emptyDir in memory), binds (hostPath with `hostPath`, else a warning),
    /// secrets at /run/secrets/<name> and configs at /<name> (or their targets), /dev/shm for shm_size.
    mutating func volumes(_ s: ServiceConfig) throws(SwcomposeError) -> ([Fields], [Fields]) {
        var mounts: [Fields] = []
        var volumes: [Fields] = []
        var names: Set<String> = []
        func mount(_ name: String, _ path: String, readOnly: Bool = false, subPath: String? = nil) {
            var m = Fields()
            m.set("name", name)
            m.set("mountPath", path)
            if readOnly { m.set("readOnly", true) }
            m.string("subPath", subPath)
            mounts.append(m)
        }
        func volume(_ name: String, _ key: String, _ source: GoValue) {
            guard names.insert(name).inserted else { return }
            volumes.append(Fields([("name", .string(name)), (key, source)]))
        }
        for (i, v) in s.volumes.enumerated() {
            let at = v.location ?? s.locations["volumes"] ?? s.location
            switch v.type {
            case "volume" where !v.source.isEmpty:
                let name = volumeName(v.source)
                if templated[v.source] == nil {
                    volume(name, "persistentVolumeClaim", Fields([("claimName", .string(claimName(v.source)))]).value)
                }
                mount(name, v.target, readOnly: v.readOnly, subPath: v.volume?.subpath.isEmpty == false ? v.volume!.subpath : nil)
            case "volume":
                let name = "anon-\(i)"
                volume(name, "emptyDir", .object([]))
                mount(name, v.target, readOnly: v.readOnly)
            case "tmpfs":
                let name = "tmpfs-\(i)"
                var e = Fields([("medium", .string("Memory"))])
                if let size = v.tmpfs?.size, size > 0 { e.set("sizeLimit", KubeUnits.bytes(size)) }
                volume(name, "emptyDir", e.value)
                mount(name, v.target)
            case "bind":
                if options.hostPath {
                    let name = "host-\(i)"
                    volume(name, "hostPath", Fields([("path", .string(v.source))]).value)
                    mount(name, v.target, readOnly: v.readOnly)
                } else {
                    let dir = project.workingDirectory
                    let shown = v.source.hasPrefix(dir + "/") ? "./" + v.source.dropFirst(dir.count + 1) : v.source
                    warnings.append(.warning("service \"\(s.name)\": bind mount \(shown):\(v.target) has no Kubernetes form (the node has no such directory); left out — use a named volume, or --host-path to mount it from the node", at: at))
                }
            case "image":
                warnings.append(.warning("service \"\(s.name)\": the image mount of \(v.source) at \(v.target) is left out: Kubernetes' image volumes need 1.31 or later with the ImageVolume feature gate", at: at))
            default:
                warnings.append(.warning("service \"\(s.name)\": a \(v.type) mount (\(v.target)) has no Kubernetes form; left out", at: at))
            }
        }
        for (i, t) in s.tmpfs.enumerated() {
            let name = "tmpfs-list-\(i)"
            volume(name, "emptyDir", Fields([("medium", .string("Memory"))]).value)
            mount(name, String(t.split(separator: ":").first ?? Substring(t)))
        }
        if s.shmSize > 0 {
            volume("dshm", "emptyDir", Fields([("medium", .string("Memory")), ("sizeLimit", .string(KubeUnits.bytes(s.shmSize)))]).value)
            mount("dshm", "/dev/shm")
        }
        for (kind, refs) in [("secret", s.secrets), ("config", s.configs)] {
            for ref in refs {
                let defined = kind == "secret" ? project.secrets[ref.source] : project.configs[ref.source]
                guard let def = defined else {
                    throw SwcomposeError(.notFound, "service \"\(s.name)\" refers to undefined \(kind) \(ref.source)", at: ref.location ?? s.locations[kind + "s"])
                }
                let object = objectName(kind, ref.source, def)
                let name = KubeNames.label("\(kind)-\(ref.source)")
                let key = KubeNames.dataKey(ref.source)
                var item = Fields([("key", .string(key)), ("path", .string(key))])
                if let mode = ref.mode { item.set("mode", mode) }
                let source = kind == "secret"
                    ? Fields([("secretName", .string(object)), ("items", .list([item.value]))]).value
                    : Fields([("name", .string(object)), ("items", .list([item.value]))]).value
                volume(name + (ref.mode.map { "-\(String($0, radix: 8))" } ?? ""), kind == "secret" ? "secret" : "configMap", source)
                let target = ref.target.isEmpty ? ref.source : ref.target
                let path = target.hasPrefix("/") ? target : (kind == "secret" ? "/run/secrets/" : "/") + target
                mount(name + (ref.mode.map { "-\(String($0, radix: 8))" } ?? ""), path, readOnly: true, subPath: key)
                if !ref.uid.isEmpty || !ref.gid.isEmpty {
                    warn("the owner (uid/gid) of \(kind) \(ref.source) has no Kubernetes form; the file belongs to root", s, kind + "s")
                }
            }
        }
        return (mounts, volumes)
    }

    func objectName(_ kind: String, _ key: String, _ def: FileObjectConfig) -> String {
        KubeNames.label(def.external ? (def.name.isEmpty ? key : def.name) : "\(project.name)-\(key)")
    }

    /// Secrets and ConfigMaps of the secrets and configs the services use, with their content (files
    /// read, environment values, inline content); external ones are expected to exist.
    func secretsAndConfigs() throws(SwcomposeError) -> [GoValue] {
        var out: [GoValue] = []
        for kind in ["secret", "config"] {
            var used: Set<String> = []
            for n in selected { used.formUnion((kind == "secret" ? project.services[n]!.secrets : project.services[n]!.configs).map(\.source)) }
            for key in used.sorted() {
                guard let def = kind == "secret" ? project.secrets[key] : project.configs[key], !def.external else { continue }
                var content: [UInt8]
                if !def.file.isEmpty {
                    do { content = try options.readFile(def.file) } catch {
                        throw SwcomposeError(.notFound, "\(kind) \(key): cannot read \(def.file): \(error)", at: def.location)
                    }
                } else if !def.environment.isEmpty {
                    content = Array((project.environment[def.environment] ?? "").utf8)
                } else {
                    content = Array(def.content.utf8)
                }
                var meta = metadata(objectName(kind, key, def), nil)
                if !def.labels.isEmpty { meta.map("annotations", def.labels) }
                var doc = Fields([("apiVersion", .string("v1")), ("kind", .string(kind == "secret" ? "Secret" : "ConfigMap")), ("metadata", meta.value)])
                let dataKey = KubeNames.dataKey(key)
                if kind == "secret" {
                    doc.set("type", "Opaque")
                    doc.set("data", .map([dataKey: .string(Base64.encode(content))]))
                } else if let text = String(validating: content, as: UTF8.self) {
                    doc.set("data", .map([dataKey: .string(text)]))
                } else {
                    doc.set("binaryData", .map([dataKey: .string(Base64.encode(content))]))
                }
                out.append(doc.value)
            }
        }
        return out
    }

    // MARK: - What has no Kubernetes form

    mutating func unsupported(_ s: ServiceConfig) {
        var checks: [(String, Bool, String)] = [
            ("network_mode", !s.networkMode.isEmpty && s.networkMode != "bridge" && s.networkMode != "default",
             "network_mode: \(s.networkMode) has no Kubernetes form: the pod gets the cluster's network"),
            ("pid", !s.pid.isEmpty, "pid: \(s.pid) has no Kubernetes form"),
            ("ipc", !s.ipc.isEmpty && s.ipc != "private" && s.ipc != "shareable", "ipc: \(s.ipc) has no Kubernetes form"),
            ("uts", !s.uts.isEmpty, "uts: \(s.uts) has no Kubernetes form"),
            ("userns_mode", !s.usernsMode.isEmpty, "userns_mode has no Kubernetes form"),
            ("devices", !s.devices.isEmpty, "devices have no Kubernetes form (a device plugin exposes devices)"),
            ("device_cgroup_rules", !s.deviceCgroupRules.isEmpty, "device_cgroup_rules have no Kubernetes form"),
            ("gpus", !s.gpus.isEmpty, "gpus have no portable Kubernetes form (ask for the vendor's resource, e.g. nvidia.com/gpu)"),
            ("cgroup_parent", !s.cgroupParent.isEmpty, "cgroup_parent has no Kubernetes form"),
            ("cgroup", !s.cgroup.isEmpty, "cgroup: \(s.cgroup) has no Kubernetes form"),
            ("security_opt", !s.securityOpt.isEmpty, "security_opt has no Kubernetes form here (seccompProfile/appArmorProfile are set per cluster)"),
            ("volumes_from", !s.volumesFrom.isEmpty, "volumes_from has no Kubernetes form (share a named volume instead)"),
            ("external_links", !s.externalLinks.isEmpty, "external_links have no Kubernetes form"),
            ("links", s.links.contains { $0.contains(":") }, "link aliases have no Kubernetes form (the service is reached by its name)"),
            ("mac_address", !s.macAddress.isEmpty, "mac_address has no Kubernetes form"),
            ("oom_kill_disable", s.oomKillDisable, "oom_kill_disable has no Kubernetes form"),
            ("oom_score_adj", s.oomScoreAdj != 0, "oom_score_adj has no Kubernetes form"),
            ("pids_limit", s.pidsLimit != 0 || (s.deploy?.limits?.pids ?? 0) != 0, "a pids limit has no per-pod Kubernetes form (the kubelet's --pod-max-pids sets it per node)"),
            ("cpu_shares", s.cpuShares != 0, "cpu_shares has no Kubernetes form (use deploy.resources.reservations.cpus)"),
            ("cpu_quota", s.cpuQuota != 0 || s.cpuPeriod != 0, "cpu_quota/cpu_period have no Kubernetes form (use cpus)"),
            ("cpuset", !s.cpuset.isEmpty, "cpuset has no Kubernetes form"),
            ("cpu_rt_runtime", s.cpuRTRuntime != 0 || s.cpuRTPeriod != 0, "realtime CPU settings have no Kubernetes form"),
            ("cpu_count", s.cpuCount != 0 || s.cpuPercent != 0, "cpu_count/cpu_percent have no Kubernetes form"),
            ("blkio_config", s.blkioConfig != nil, "blkio_config has no Kubernetes form"),
            ("memswap_limit", s.memSwapLimit != 0 || s.memSwappiness != 0, "swap settings have no per-pod Kubernetes form"),
            ("storage_opt", !s.storageOpt.isEmpty, "storage_opt has no Kubernetes form"),
            ("ulimits", !s.ulimits.isEmpty, "ulimits have no Kubernetes form"),
            ("init", s.initProcess == true, "init: true has no Kubernetes form (the image's entrypoint must reap)"),
            ("runtime", !s.runtime.isEmpty, "runtime has no portable form here (a RuntimeClass names it in the cluster)"),
            ("isolation", !s.isolation.isEmpty, "isolation has no Kubernetes form"),
            ("domainname", !s.domainName.isEmpty, "domainname has no Kubernetes form"),
            ("stop_signal", !s.stopSignal.isEmpty && !["SIGTERM", "TERM", "15"].contains(s.stopSignal.uppercased()), "stop_signal \(s.stopSignal): Kubernetes stops containers with SIGTERM"),
            ("logging", s.logging.map { !$0.driver.isEmpty && $0.driver != "json-file" && $0.driver != "local" } ?? false, "the logging driver has no Kubernetes form (the cluster collects logs)"),
            ("credential_spec", s.credentialSpec != nil, "credential_spec has no Kubernetes form"),
            ("provider", s.provider != nil, "a provider service has no Kubernetes form"),
            ("use_api_socket", s.useAPISocket, "use_api_socket has no Kubernetes form"),
            ("models", !s.models.isEmpty, "models have no Kubernetes form"),
            ("post_start", s.postStart.count > 1, "only the first post_start hook is kept (Kubernetes has one)"),
            ("pre_stop", s.preStop.count > 1, "only the first pre_stop hook is kept (Kubernetes has one)"),
        ]
        if s.deploy?.mode == "global" { checks.append(("deploy", true, "deploy.mode: global would be a DaemonSet; it is a Deployment of one replica here")) }
        if !(s.deploy?.placementConstraints.isEmpty ?? true) { checks.append(("deploy", true, "deploy.placement has no form here (use nodeSelector or affinity in the cluster)")) }
        let ids = s.user.split(separator: ":", maxSplits: 1)
        if !s.user.isEmpty && (ids.first.flatMap { Int64($0) } == nil || (ids.count > 1 && Int64(ids[1]) == nil)) {
            checks.append(("user", true, "user \(s.user): Kubernetes takes numeric ids only (runAsUser/runAsGroup); the image's user is used"))
        }
        for (key, isSet, message) in checks where isSet { warn(message, s, key) }
    }
}
