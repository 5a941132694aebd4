#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// Where progress goes: docker compose's `Container demo-web-1  Started` events.
public protocol ProgressReporter: AnyObject {
    func event(_ kind: String, _ name: String, _ status: String)
    func warning(_ text: String)
}

public struct OrchestrationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var diagnostics: [Diagnostic]

    public init(_ message: String, diagnostics: [Diagnostic] = []) {
        self.message = message
        self.diagnostics = diagnostics
    }

    public init(_ error: PlanError) {
        message = error.message
        diagnostics = [error.diagnostic]
    }

    public var description: String { message }
}

/// Drives the Engine for one compose project: which containers exist for which service and replica,
/// creating and starting them in dependency order (independent ones in parallel), stopping and
/// removing them in reverse order.
public final class Orchestrator {
    public let project: Project
    public let runtime: Runtime
    public let store: ContainerStore
    public let images: ImageStore
    public let planner: ContainerPlanner
    public let graph: ServiceGraph
    let progress: ProgressReporter
    /// `--dry-run`: say what would be done, with reasons, and do nothing.
    public let dryRun: Bool
    /// The project's environment (shell and .env), for environment-based secrets.
    public var environment: [String: String] = [:]
    /// swcompose's own environment (`HOME`, `DOCKER_CONFIG`, `PATH` for credential helpers).
    public var processEnvironment: [String: String] = [:]

    public init(project: Project, runtime: Runtime, progress: ProgressReporter, dryRun: Bool = false) throws(OrchestrationError) {
        self.project = project
        self.runtime = runtime
        self.progress = progress
        self.dryRun = dryRun
        store = ContainerStore(runtime: runtime)
        images = ImageStore(root: runtime.root)
        planner = ContainerPlanner(project: project, runtime: runtime)
        do {
            graph = try ServiceGraph(project)
        } catch {
            throw OrchestrationError(error.description, diagnostics: [error.diagnostic])
        }
    }

    public var group: String { project.name }

    public func progressEvent(_ kind: String, _ name: String, _ status: String) { progress.event(kind, name, status) }

    func client() throws(OrchestrationError) -> SupervisorClient {
        do {
            return try SupervisorClient.connect(runtime: runtime, group: group)
        } catch {
            throw OrchestrationError(error.description)
        }
    }

    // MARK: - Recovery

    /// When the project's supervisor died, its containers kept running unwatched: start a new one (it
    /// adopts them, and records those that ended meanwhile). Returns how many were left running.
    @discardableResult
    public func recover() -> Int {
        let orphaned = containers(oneOff: nil).filter { r in
            let s = r.state
            guard [.running, .paused, .restarting].contains(s.status) else { return false }
            return s.supervisorPid <= 0 || !Sys.processExists(s.supervisorPid) || !isSupervisor(s.supervisorPid)
        }
        guard !orphaned.isEmpty else { return 0 }
        let alive = orphaned.filter { $0.state.isAlive }.count
        _ = try? client()
        progress.warning("supervisor of project \(project.name) was not running: started a new one, which adopted \(alive) running container\(alive == 1 ? "" : "s")")
        return alive
    }

    func isSupervisor(_ pid: Int32) -> Bool {
        guard let cmd = try? Files.read("/proc/\(pid)/cmdline") else { return false }
        return cmd.split(separator: 0).dropFirst().first.map { String(decoding: $0, as: UTF8.self) } == "__supervise"
    }

    // MARK: - Queries

    /// The project's containers, by service and number; one-off (`run`) containers only when asked.
    public func containers(services: [String] = [], oneOff: Bool? = false) -> [ContainerRecord] {
        store.list(labels: ["com.docker.compose.project": project.name]).filter { r in
            let service = r.spec.labels["com.docker.compose.service"] ?? ""
            let isOneOff = r.spec.labels["com.docker.compose.oneoff"] == "True"
            if let oneOff, oneOff != isOneOff { return false }
            return services.isEmpty || services.contains(service)
        }.sorted { a, b in
            let sa = a.spec.labels["com.docker.compose.service"] ?? "", sb = b.spec.labels["com.docker.compose.service"] ?? ""
            if sa != sb { return sa < sb }
            return Int(a.spec.labels["com.docker.compose.container-number"] ?? "") ?? 0 < Int(b.spec.labels["com.docker.compose.container-number"] ?? "") ?? 0
        }
    }

    public static func serviceName(_ r: ContainerRecord) -> String { r.spec.labels["com.docker.compose.service"] ?? "" }
    public static func number(_ r: ContainerRecord) -> Int { Int(r.spec.labels["com.docker.compose.container-number"] ?? "") ?? 0 }

    /// Services named on the command line must exist.
    public func checkServices(_ names: [String]) throws(OrchestrationError) {
        for name in names where project.services[name] == nil {
            if project.disabledServices[name] != nil {
                throw OrchestrationError("service \"\(name)\" is not enabled by the active profiles")
            }
            throw OrchestrationError("no such service: \(name)")
        }
    }

    // MARK: - Images

    /// The image a service runs: found in the store by its reference.
    public func image(for service: ServiceConfig) throws(OrchestrationError) -> ImageRecord {
        var reference = service.image
        if reference.isEmpty {
            guard service.build != nil else {
                throw OrchestrationError("service \"\(service.name)\" has neither an image nor a build section",
                                         diagnostics: [.error("service \"\(service.name)\" has neither an image nor a build section", at: service.location)])
            }
            reference = "\(project.name)-\(service.name)"
        }
        do {
            return try images.resolve(reference)
        } catch ImageStoreError.notFound {
            let message = service.image.isEmpty
                ? "service \"\(service.name)\" needs image \(reference), which is built from its build section; swcompose does not build images yet: build it elsewhere and load it with `swcompose image load`"
                : "image \(reference) of service \"\(service.name)\" is not in the local image store: pull it (swcompose pull \(service.name)) or load it (swcompose image load -i FILE)"
            throw OrchestrationError(message, diagnostics: [.error(message, at: service.locations["image"] ?? service.location)])
        } catch {
            throw OrchestrationError("image \(reference): \(error)")
        }
    }

    // MARK: - Creating and starting

    public struct UpOptions: Sendable {
        public var services: [String] = []
        public var noDeps = false
        public var noStart = false
        public var forceRecreate = false
        public var noRecreate = false
        public var removeOrphans = false
        public var scale: [String: Int] = [:]
        /// Stop timeout for recreations (nil: each service's own).
        public var timeout: Int64?

        public init() {}
    }

    /// The services `up` works on: those named (plus their dependencies unless `noDeps`), or all.
    public func selection(_ names: [String], withDependencies: Bool) -> [String] {
        if names.isEmpty { return project.services.keys.sorted() }
        if !withDependencies { return names }
        return graph.closure(of: names).filter { project.services[$0] != nil }.sorted()
    }

    /// Creates missing containers and starts them level by level, each level in parallel once its
    /// dependencies' conditions hold.
    public func up(_ options: UpOptions) throws(OrchestrationError) {
        try checkServices(options.services)
        try checkOwnership()
        let selected = Set(selection(options.services, withDependencies: !options.noDeps))
        if !options.noStart && !dryRun { try checkPorts(services: selected.sorted()) }
        if options.removeOrphans { try removeOrphans() } else { warnAboutOrphans() }
        try createNetworks(for: selected.sorted())
        var planned: [String: [ContainerRecord]] = [:]
        var recreatedServices: Set<String> = []
        for level in graph.startLevels {
            for name in level where selected.contains(name) {
                guard let service = project.services[name] else { continue }
                let (records, recreated) = try ensureContainers(service, count: options.scale[name] ?? service.replicaCount, options: options)
                planned[name] = records
                if recreated { recreatedServices.insert(name) }
            }
        }
        if options.noStart || dryRun { return }
        // depends_on with `restart: true`: dependents of a recreated service restart after it.
        let toRestart = Set(recreatedServices.flatMap { dep in
            (graph.dependents[dep] ?? []).filter { s in graph.dependencies[s]?.contains { $0.dependency == dep && $0.restart } == true }
        }).subtracting(recreatedServices)
        for name in toRestart.sorted() {
            let running = containers(services: [name]).filter { store.state($0.id).isAlive }
            if !running.isEmpty {
                for r in running { progress.event("Container", r.name, "Restarting") }
                try stop(running, timeout: options.timeout)
            }
        }
        for level in graph.startLevels {
            let names = level.filter { selected.contains($0) && project.services[$0] != nil }
            guard !names.isEmpty else { continue }
            for name in names { try waitForDependencies(of: name, selected: selected) }
            try startAll(names.flatMap { planned[$0] ?? [] })
        }
    }

    /// What `up` does with an existing container, and why.
    public enum Decision: Equatable {
        case keep
        case recreate(String)
    }

    /// docker compose's rules: recreate when the service's configuration hash or its image changed (or
    /// when forced), keep otherwise. The reason names the settings that changed.
    public func decide(_ r: ContainerRecord, service: ServiceConfig, image: ImageRecord?, options: UpOptions) -> Decision {
        if options.noRecreate { return .keep }
        if options.forceRecreate { return .recreate("--force-recreate") }
        if r.spec.labels["com.docker.compose.config-hash"] != ContainerPlanner.configHash(service) {
            let changed = ContainerPlanner.changedSettings(r.spec, service)
            return .recreate(changed.isEmpty ? "configuration changed" : "changed: " + changed.joined(separator: ", "))
        }
        if let image, r.spec.labels["com.docker.compose.image"] != image.id.description {
            return .recreate("image \(service.image) changed (now \(image.id.short))")
        }
        return .keep
    }

    /// The service's containers numbered 1…count: created where missing, recreated where their
    /// configuration or image changed; extra replicas removed. Returns the containers and whether any
    /// was recreated.
    func ensureContainers(_ service: ServiceConfig, count: Int, options: UpOptions) throws(OrchestrationError) -> ([ContainerRecord], Bool) {
        let existing = containers(services: [service.name])
        var result: [ContainerRecord] = []
        var recreated = false
        var image: ImageRecord?
        func resolvedImage() throws(OrchestrationError) -> ImageRecord {
            if let image { return image }
            let found = try self.image(for: service)
            image = found
            return found
        }
        for number in 1...max(count, 1) where count > 0 {
            if let r = existing.first(where: { Self.number($0) == number }) {
                let current = try? resolvedImage()
                switch decide(r, service: service, image: current, options: options) {
                case .keep:
                    if dryRun { progress.event("Container", r.name, store.state(r.id).isAlive ? "Running" : "Start (stopped)") }
                    result.append(r)
                case .recreate(let reason):
                    if dryRun {
                        progress.event("Container", r.name, "Recreate (\(reason))")
                        result.append(r)
                        continue
                    }
                    progress.event("Container", r.name, "Recreate")
                    try stop([r], timeout: options.timeout)
                    try remove([r], removeVolumes: false, quiet: true)
                    let fresh = try create(service, number: number, image: try resolvedImage(), quiet: true)
                    progress.event("Container", r.name, "Recreated")
                    result.append(fresh)
                    recreated = true
                }
                continue
            }
            let img = try resolvedImage()
            if dryRun {
                progress.event("Container", planner.containerName(service, number: number), "Create")
                continue
            }
            result.append(try create(service, number: number, image: img))
        }
        // Scaled down: the highest numbers go.
        for r in existing where Self.number(r) > count {
            if dryRun { progress.event("Container", r.name, "Remove (scaled down to \(count))"); continue }
            try stopAndRemove([r], timeout: nil, removeVolumes: false)
        }
        return (result, recreated)
    }

    func create(_ service: ServiceConfig, number: Int, image: ImageRecord, overrides: ContainerPlanner.Overrides? = nil,
                quiet: Bool = false) throws(OrchestrationError) -> ContainerRecord {
        var spec: ContainerSpec
        do {
            spec = try planner.plan(service, number: number, image: image, oneOff: overrides)
        } catch {
            throw OrchestrationError(error)
        }
        try createVolumes(for: &spec, service: service)
        try resolveNetworkMode(&spec, service: service)
        let files = try secretsAndConfigs(&spec, service: service)
        if !quiet { progress.event("Container", spec.name, "Creating") }
        do {
            try store.create(spec)
        } catch {
            throw OrchestrationError("cannot create container \(spec.name): \(error)")
        }
        do {
            for f in files { try store.writeFile(spec.id, f.path, f.content, mode: f.mode, uid: f.uid, gid: f.gid) }
        } catch {
            try? store.remove(spec.id)
            throw OrchestrationError("cannot write the secrets and configs of container \(spec.name): \(error)")
        }
        if !quiet { progress.event("Container", spec.name, "Created") }
        return ContainerRecord(spec: spec, state: store.state(spec.id))
    }

    /// Named volumes exist before the container (with docker compose's labels); anonymous ones get a
    /// random name.
    func createVolumes(for spec: inout ContainerSpec, service: ServiceConfig) throws(OrchestrationError) {
        let volumes = VolumeStore(root: runtime.root)
        for i in spec.mounts.indices where spec.mounts[i].kind == .volume {
            if spec.mounts[i].source.isEmpty {
                spec.mounts[i].source = ContainerStore.newID()
                do {
                    try volumes.create(spec.mounts[i].source, labels: ["com.docker.compose.project": project.name,
                                                                      "com.docker.compose.volume": "",
                                                                      "com.docker.compose.anonymous": "true"], anonymous: true)
                } catch {
                    throw OrchestrationError(error.description)
                }
                continue
            }
            let name = spec.mounts[i].source
            let key = project.volumes.first { planner.volumeName($0.key) == name }?.key
            if let key, project.volumes[key]?.external == true {
                guard volumes.exists(name) else {
                    throw OrchestrationError("external volume \"\(name)\" not found",
                                             diagnostics: [.error("external volume \"\(name)\" not found", at: project.volumes[key]?.location)])
                }
                continue
            }
            if !volumes.exists(name) {
                progress.event("Volume", name, "Creating")
                var labels = project.volumes[key ?? ""]?.labels ?? [:]
                labels["com.docker.compose.project"] = project.name
                labels["com.docker.compose.volume"] = key ?? name
                labels["com.docker.compose.version"] = planner.composeVersion
                do { try volumes.create(name, labels: labels) } catch { throw OrchestrationError(error.description) }
                progress.event("Volume", name, "Created")
            }
        }
        for (i, v) in service.volumes.enumerated() where v.type == "volume" && v.volume?.noCopy == true {
            if let j = spec.mounts.firstIndex(where: { $0.destination == v.target }) { _ = i; spec.mounts[j].noCopy = true }
        }
    }

    /// Starts containers in parallel (one supervisor connection each) and waits for every start.
    func startAll(_ records: [ContainerRecord]) throws(OrchestrationError) {
        if dryRun {
            for r in records where !store.state(r.id).isAlive { progress.event("Container", r.name, "Start") }
            return
        }
        var inFlight: [(ContainerRecord, SupervisorClient)] = []
        for r in records {
            if store.state(r.id).isAlive { continue }
            progress.event("Container", r.name, "Starting")
            let c = try client()
            do { try c.send(.start(id: r.id, attach: false)) } catch { throw OrchestrationError(error.description) }
            inFlight.append((r, c))
        }
        var failure: OrchestrationError?
        for (r, c) in inFlight {
            do {
                let (reply, _) = try c.receive()
                switch reply {
                case .started: progress.event("Container", r.name, "Started")
                case .failed(let message):
                    progress.event("Container", r.name, "Error")
                    failure = failure ?? OrchestrationError("failed to start container \(r.name): \(message)")
                default:
                    failure = failure ?? OrchestrationError("unexpected reply starting \(r.name): \(reply)")
                }
            } catch {
                failure = failure ?? OrchestrationError(error.description)
            }
        }
        if let failure { throw failure }
    }

    /// Blocks until every dependency of `service` satisfies its `depends_on` condition.
    func waitForDependencies(of service: String, selected: Set<String>) throws(OrchestrationError) {
        for edge in graph.dependencies[service] ?? [] {
            let deps = containers(services: [edge.dependency])
            if deps.isEmpty {
                if !edge.required { continue }
                if !selected.contains(edge.dependency) && project.services[edge.dependency] == nil { continue }
            }
            switch edge.condition {
            case .started:
                continue
            case .completedSuccessfully:
                for r in deps {
                    progress.event("Container", r.name, "Waiting")
                    let c = try client()
                    let reply: SupervisorReply
                    do { reply = try c.request(.wait(id: r.id)).0 } catch { throw OrchestrationError(error.description) }
                    if case .exited(let code, _) = reply, code != 0 {
                        if !edge.required { progress.warning("optional dependency \"\(edge.dependency)\" failed"); continue }
                        throw OrchestrationError("service \"\(edge.dependency)\" didn't complete successfully: exit \(code)")
                    }
                    progress.event("Container", r.name, "Exited")
                }
            case .healthy:
                for r in deps {
                    progress.event("Container", r.name, "Waiting")
                    do {
                        try waitHealthy(r)
                        progress.event("Container", r.name, "Healthy")
                    } catch {
                        if !edge.required { progress.warning("optional dependency \"\(edge.dependency)\" is not healthy"); continue }
                        progress.event("Container", r.name, "Error")
                        throw error
                    }
                }
            }
        }
    }

    /// Waits until the container's healthcheck reports healthy (fails when it turns unhealthy or exits).
    public func waitHealthy(_ r: ContainerRecord, timeout: Double? = nil) throws(OrchestrationError) {
        guard r.spec.healthcheck != nil else {
            throw OrchestrationError("container \(r.name) has no healthcheck")
        }
        let start = MonotonicClock.now()
        // The supervisor persists state.json by rename: wake on that rather than polling.
        let watch = DirectoryWatch(store.runtime.containerDirectory(r.id))
        while true {
            let state = store.state(r.id)
            if state.health?.status == .healthy { return }
            if state.health?.status == .unhealthy {
                throw OrchestrationError("dependency failed to start: container \(r.name) is unhealthy")
            }
            if !state.isAlive && state.status != .restarting && state.status != .created {
                throw OrchestrationError("dependency failed to start: container \(r.name) exited (\(state.exitCode))")
            }
            if let timeout, MonotonicClock.now() - start > timeout {
                throw OrchestrationError("container \(r.name) did not become healthy within \(Int(timeout))s")
            }
            watch.wait(0.5)
        }
    }

    /// A project name already used by a stack from another directory is reported before anything is
    /// touched (docker compose would quietly take the other stack over: docker/compose#2120).
    public func checkOwnership() throws(OrchestrationError) {
        let others = containers(oneOff: nil).compactMap { $0.spec.labels["com.docker.compose.project.working_dir"] }
            .filter { $0 != project.workingDirectory }
        if let other = Set(others).sorted().first {
            throw OrchestrationError("project name \"\(project.name)\" is already used by the stack in \(other); give this one another name with -p or `name:`, or take that one down first (swcompose -p \(project.name) down)")
        }
    }

    // MARK: - Secrets and configs

    struct ContainerFile {
        var path: String
        var content: [UInt8]
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
    }

    /// File-, environment- and content-based secrets (at /run/secrets/<name>) and configs (at /<name> or
    /// their target), copied into the container's directory with their mode and owner, and mounted
    /// read-only.
    func secretsAndConfigs(_ spec: inout ContainerSpec, service: ServiceConfig) throws(OrchestrationError) -> [ContainerFile] {
        var files: [ContainerFile] = []
        for (kind, refs, definitions) in [("secret", service.secrets, project.secrets), ("config", service.configs, project.configs)] {
            for ref in refs {
                let loc = ref.location ?? service.locations[kind + "s"]
                guard let def = definitions[ref.source] else {
                    let message = "service \"\(service.name)\" refers to undefined \(kind) \(ref.source)"
                    throw OrchestrationError(message, diagnostics: [.error(message, at: loc)])
                }
                if def.external {
                    let message = "external \(kind)s (\(ref.source)) need a swarm; use a file, environment or content \(kind)"
                    throw OrchestrationError(message, diagnostics: [.error(message, at: def.location ?? loc)])
                }
                var content: [UInt8]
                if !def.file.isEmpty {
                    do { content = try Files.read(def.file) } catch {
                        let message = "\(kind) \(ref.source): cannot read \(def.file): \(error.message)"
                        throw OrchestrationError(message, diagnostics: [.error(message, at: def.location ?? loc)])
                    }
                } else if !def.environment.isEmpty {
                    guard let value = environment[def.environment] else {
                        let message = "\(kind) \(ref.source): environment variable \(def.environment) is not set"
                        throw OrchestrationError(message, diagnostics: [.error(message, at: def.location ?? loc)])
                    }
                    content = Array(value.utf8)
                } else {
                    content = Array(def.content.utf8)
                }
                var target = ref.target.isEmpty ? ref.source : ref.target
                if kind == "secret" && !target.hasPrefix("/") { target = "/run/secrets/" + target }
                if kind == "config" && !target.hasPrefix("/") { target = "/" + target }
                let stored = "\(kind)s/" + String(Digest.of(Array(target.utf8)).hex.prefix(16))
                let mode = UInt32(ref.mode ?? 0o444)
                files.append(ContainerFile(path: stored, content: content, mode: mode,
                                           uid: UInt32(ref.uid) ?? 0, gid: UInt32(ref.gid) ?? 0))
                spec.mounts.append(MountSpec(kind: .bind, source: runtime.containerDirectory(spec.id) + "/" + stored,
                                             destination: target, readOnly: true))
            }
        }
        return files
    }

    // MARK: - Networks

    /// The compose networks the services use (their keys), bridged ones only.
    func networkKeys(for services: [String]) -> [String] {
        var keys: Set<String> = []
        for name in services {
            guard let s = project.services[name] else { continue }
            let mode = s.networkMode
            if mode == "host" || mode == "none" || mode.hasPrefix("service:") || mode.hasPrefix("container:") { continue }
            if !mode.isEmpty && mode != "bridge" && mode != "default" { keys.insert(mode); continue }
            keys.formUnion(planner.networkKeys(s))
        }
        return keys.sorted()
    }

    func networkSpec(_ key: String) -> NetworkSpec {
        let config = project.networks[key]
        var spec = NetworkSpec(name: planner.networkName(key))
        spec.labels = config?.labels ?? [:]
        spec.labels["com.docker.compose.network"] = key
        spec.labels["com.docker.compose.project"] = project.name
        spec.labels["com.docker.compose.version"] = planner.composeVersion
        spec.internal = config?.internal ?? false
        if let pool = config?.ipamConfig.first {
            spec.subnet = IPv4Network(pool.subnet)
            spec.gateway = IPv4Address(pool.gateway)
            spec.ipRange = IPv4Network(pool.ipRange)
        }
        if let mtu = config?.driverOpts["com.docker.network.driver.mtu"].flatMap(UInt32.init) { spec.mtu = mtu }
        return spec
    }

    /// Creates the project's networks the services need (external ones must exist).
    func createNetworks(for services: [String]) throws(OrchestrationError) {
        let store = NetworkStore(root: runtime.root)
        for key in networkKeys(for: services) {
            let config = project.networks[key]
            let name = planner.networkName(key)
            if config?.external == true {
                guard (try? store.inspect(name)) != nil else {
                    let message = "network \(name) declared as external, but could not be found"
                    throw OrchestrationError(message, diagnostics: [.error(message, at: config?.location)])
                }
                continue
            }
            if let driver = config?.driver, !driver.isEmpty, driver != "bridge" {
                let message = "network \(key): driver \"\(driver)\" is not supported (bridge)"
                throw OrchestrationError(message, diagnostics: [.error(message, at: config?.location)])
            }
            if config?.enableIPv6 == true {
                let message = "network \(key): IPv6 networks are not supported yet"
                throw OrchestrationError(message, diagnostics: [.error(message, at: config?.location)])
            }
            if dryRun {
                if (try? store.inspect(name)) == nil { progress.event("Network", name, "Create") }
                continue
            }
            let spec = networkSpec(key)
            if let pool = config?.ipamConfig.first, !pool.subnet.isEmpty, spec.subnet == nil {
                let message = "network \(key): invalid subnet \(pool.subnet) (IPv4 CIDR expected)"
                throw OrchestrationError(message, diagnostics: [.error(message, at: config?.location)])
            }
            let exists = (try? store.inspect(name)) != nil
            if !exists { progress.event("Network", name, "Creating") }
            do {
                try store.create(spec)
            } catch {
                if !exists { progress.event("Network", name, "Error") }
                throw OrchestrationError("failed to create network \(name): \(error)",
                                         diagnostics: config?.location.map { [.error("failed to create network \(name): \(error)", at: $0)] } ?? [])
            }
            if !exists { progress.event("Network", name, "Created") }
        }
    }

    /// Removes the project's networks (never external ones); ones other projects still use stay.
    func removeNetworks() throws(OrchestrationError) {
        let store = NetworkStore(root: runtime.root)
        var keys = Set(project.networks.keys)
        keys.insert("default")
        for key in keys.sorted() where project.networks[key]?.external != true {
            let name = planner.networkName(key)
            guard let record = try? store.inspect(name), record.labels["com.docker.compose.project"] == project.name || record.labels.isEmpty else { continue }
            if dryRun { progress.event("Network", name, "Remove"); continue }
            progress.event("Network", name, "Removing")
            do {
                try store.remove(name) { id in ContainerStore(runtime: runtime).state(id).isAlive }
            } catch NetworkError.inUse(_, let holders) {
                // Something outside the project still uses it: the rest of the project goes anyway, and
                // the network stays for them (docker compose fails the whole `down`: docker/compose#12770).
                progress.event("Network", name, "Kept")
                progress.warning("network \(name) was left in place: still used by \(holders.joined(separator: ", ")), which \(holders.count == 1 ? "is" : "are") not part of project \(project.name); it goes with the last of them (swcompose network rm \(name))")
                continue
            } catch {
                progress.event("Network", name, "Error")
                throw OrchestrationError(error.description)
            }
            progress.event("Network", name, "Removed")
        }
    }

    /// `network_mode: service:X` and `container:X` join the other container's network namespace.
    func resolveNetworkMode(_ spec: inout ContainerSpec, service: ServiceConfig) throws(OrchestrationError) {
        let mode = service.networkMode
        if mode.hasPrefix("service:") {
            let other = String(mode.dropFirst(8))
            guard let target = containers(services: [other]).first(where: { Self.number($0) == 1 }) else {
                throw OrchestrationError("service \"\(service.name)\" uses the network of service \"\(other)\", which has no container",
                                         diagnostics: [.error("service \"\(service.name)\" uses the network of service \"\(other)\", which has no container", at: service.locations["network_mode"])])
            }
            spec.network = .container(id: target.id)
        } else if mode.hasPrefix("container:") {
            let other = String(mode.dropFirst(10))
            guard let target = try? store.find(other) else {
                throw OrchestrationError("no such container: \(other)", diagnostics: [.error("no such container: \(other)", at: service.locations["network_mode"])])
            }
            spec.network = .container(id: target.id)
        }
    }

    /// A published port another process holds fails `up` before anything is created or started, naming
    /// that process (docker/compose#4950). Services whose containers already run keep their ports.
    public func checkPorts(services: [String]) throws(OrchestrationError) {
        var wanted: [String: String] = [:]
        for name in services {
            guard let service = project.services[name] else { continue }
            let mode = service.networkMode
            if mode == "host" || mode == "none" || mode.hasPrefix("service:") || mode.hasPrefix("container:") { continue }
            if containers(services: [name]).contains(where: { store.state($0.id).isAlive }) { continue }
            for p in service.ports where !p.published.isEmpty && !p.published.contains("-") {
                guard let port = UInt16(p.published) else { continue }
                let ip = p.hostIP.isEmpty ? "0.0.0.0" : p.hostIP
                let shown = ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
                let key = "\(ip)|\(port)|\(p.protocol)"
                if let other = wanted[key] {
                    let message = "Bind for \(shown) failed: port is published by both services \"\(other)\" and \"\(name)\""
                    throw OrchestrationError(message, diagnostics: [.error(message, at: p.location ?? service.locations["ports"])])
                }
                wanted[key] = name
                if let holder = PortProbe.inUse(hostIP: p.hostIP, port: port, udp: p.protocol == "udp") {
                    let message = "Bind for \(shown) failed: port is already allocated (held by \(holder)); service \"\(name)\" publishes it"
                    throw OrchestrationError(message, diagnostics: [.error(message, at: p.location ?? service.locations["ports"])])
                }
            }
        }
    }

    // MARK: - Orphans

    /// Containers of the project whose service is no longer in the compose file.
    public func orphans() -> [ContainerRecord] {
        containers(oneOff: nil).filter { project.services[Self.serviceName($0)] == nil && project.disabledServices[Self.serviceName($0)] == nil }
    }

    func warnAboutOrphans() {
        let o = orphans()
        guard !o.isEmpty else { return }
        progress.warning("Found orphan containers (\(o.map(\.name).joined(separator: ", "))) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.")
    }

    func removeOrphans() throws(OrchestrationError) {
        let o = orphans()
        if dryRun {
            for r in o { progress.event("Container", r.name, "Remove (orphan)") }
            return
        }
        if !o.isEmpty { try stopAndRemove(o, timeout: nil, removeVolumes: false) }
    }

    // MARK: - Stopping and removing

    /// Stops containers in reverse dependency order, each level in parallel.
    public func stop(_ records: [ContainerRecord], timeout: Int64?) throws(OrchestrationError) {
        for level in graph.stopLevels + [[]] {
            let batch = level.isEmpty
                ? records.filter { project.services[Self.serviceName($0)] == nil }
                : records.filter { level.contains(Self.serviceName($0)) }
            try stopBatch(batch, timeout: timeout)
        }
    }

    func stopBatch(_ records: [ContainerRecord], timeout: Int64?) throws(OrchestrationError) {
        if dryRun {
            for r in records where store.state(r.id).isAlive { progress.event("Container", r.name, "Stop") }
            return
        }
        var inFlight: [(ContainerRecord, SupervisorClient)] = []
        // A container recorded as created may be starting right now (for a command that was killed
        // meanwhile): while the supervisor runs, it is asked to stop those too, which aborts the start.
        var supervisorRunning: Bool?
        for r in records {
            let state = store.state(r.id)
            if state.status == .created {
                if supervisorRunning == nil { supervisorRunning = SupervisorClient.connectIfRunning(runtime: runtime, group: group) != nil }
                guard supervisorRunning == true else { continue }
                let c = try client()
                do { try c.send(.stop(id: r.id, signal: nil, timeout: timeout)) } catch { throw OrchestrationError(error.description) }
                inFlight.append((r, c))
                continue
            }
            guard state.isAlive || state.status == .restarting else { continue }
            progress.event("Container", r.name, "Stopping")
            let c = try client()
            do { try c.send(.stop(id: r.id, signal: nil, timeout: timeout)) } catch { throw OrchestrationError(error.description) }
            inFlight.append((r, c))
        }
        for (r, c) in inFlight {
            do {
                _ = try c.receive()
                if store.state(r.id).status != .created { progress.event("Container", r.name, "Stopped") }
            } catch {
                throw OrchestrationError(error.description)
            }
        }
    }

    public func remove(_ records: [ContainerRecord], removeVolumes: Bool, quiet: Bool = false) throws(OrchestrationError) {
        if dryRun {
            for r in records { progress.event("Container", r.name, "Remove") }
            return
        }
        for r in records {
            if !quiet { progress.event("Container", r.name, "Removing") }
            do {
                try store.remove(r.id)
            } catch {
                throw OrchestrationError("cannot remove container \(r.name): \(error)")
            }
            if removeVolumes { try removeAnonymousVolumes(of: r) }
            if !quiet { progress.event("Container", r.name, "Removed") }
        }
    }

    func removeAnonymousVolumes(of r: ContainerRecord) throws(OrchestrationError) {
        let volumes = VolumeStore(root: runtime.root)
        for m in r.spec.mounts where m.kind == .volume {
            guard let v = try? volumes.inspect(m.source), v.anonymous else { continue }
            if volumes.users(m.source, containers: store).isEmpty {
                do { try volumes.remove(m.source, containers: store) } catch { throw OrchestrationError(error.description) }
            }
        }
    }

    func stopAndRemove(_ records: [ContainerRecord], timeout: Int64?, removeVolumes: Bool) throws(OrchestrationError) {
        try stop(records, timeout: timeout)
        try remove(records, removeVolumes: removeVolumes)
    }

    public struct DownOptions: Sendable {
        /// `--rmi local|all`: remove the services' images (local: only those without a custom tag).
        public var removeImages: String?
        public var removeVolumes = false
        public var removeOrphans = false
        public var timeout: Int64?
        public var services: [String] = []

        public init() {}
    }

    /// Stops and removes the project's containers (one-off ones too), and with `removeVolumes` its named
    /// (never external) and anonymous volumes.
    public func down(_ options: DownOptions) throws(OrchestrationError) {
        var records = containers(services: options.services, oneOff: nil)
        let orphans = orphans()
        if !options.removeOrphans {
            records.removeAll { r in orphans.contains { $0.id == r.id } }
            if !orphans.isEmpty && options.services.isEmpty { warnAboutOrphans() }
        }
        try stopAndRemove(records, timeout: options.timeout, removeVolumes: options.removeVolumes)
        if options.services.isEmpty { try removeNetworks() }
        if let which = options.removeImages { try removeImages(all: which == "all") }
        if options.removeVolumes && options.services.isEmpty {
            let volumes = VolumeStore(root: runtime.root)
            for key in project.volumes.keys.sorted() where project.volumes[key]?.external != true {
                let name = planner.volumeName(key)
                guard volumes.exists(name) else { continue }
                if dryRun { progress.event("Volume", name, "Remove"); continue }
                progress.event("Volume", name, "Removing")
                do { try volumes.remove(name, containers: store) } catch { throw OrchestrationError(error.description) }
                progress.event("Volume", name, "Removed")
            }
        }
    }

    /// `down --rmi`: the services' images, unless another container still uses them. `local` means
    /// only images without a custom tag (named `<project>-<service>`, as builds name them).
    func removeImages(all: Bool) throws(OrchestrationError) {
        var references: [String] = []
        for name in project.services.keys.sorted() {
            let s = project.services[name]!
            let reference = s.image.isEmpty ? "\(project.name)-\(name)" : s.image
            if !all && !s.image.isEmpty { continue }
            if !references.contains(reference) { references.append(reference) }
        }
        for reference in references {
            guard (try? images.resolve(reference)) != nil else { continue }
            if dryRun { progress.event("Image", reference, "Remove"); continue }
            progress.event("Image", reference, "Removing")
            do {
                _ = try images.remove(reference, force: false) { id in ContainerUsage.containers(using: id, root: runtime.root) }
                progress.event("Image", reference, "Removed")
            } catch {
                progress.event("Image", reference, "Kept")
                progress.warning("image \(reference) was kept: \(error)")
            }
        }
    }

    // MARK: - Other verbs

    public func start(services: [String]) throws(OrchestrationError) {
        try checkServices(services)
        let all = containers(services: services)
        if all.isEmpty { throw OrchestrationError("service \"\(services.first ?? "")\" has no container to start") }
        for level in graph.startLevels {
            try startAll(all.filter { level.contains(Self.serviceName($0)) })
        }
    }

    public func kill(_ records: [ContainerRecord], signal: Int32) throws(OrchestrationError) {
        for r in records where store.state(r.id).isAlive {
            progress.event("Container", r.name, "Killing")
            let c = try client()
            do {
                let (reply, _) = try c.request(.kill(id: r.id, signal: signal))
                if case .failed(let m) = reply { throw OrchestrationError(m) }
            } catch let error as OrchestrationError {
                throw error
            } catch {
                throw OrchestrationError("\(error)")
            }
            progress.event("Container", r.name, "Killed")
        }
    }

    public func setPaused(_ records: [ContainerRecord], paused: Bool) throws(OrchestrationError) {
        for r in records {
            progress.event("Container", r.name, paused ? "Pausing" : "Unpausing")
            let c = try client()
            do {
                let (reply, _) = try c.request(paused ? .pause(id: r.id) : .unpause(id: r.id))
                if case .failed(let m) = reply { throw OrchestrationError(m) }
            } catch let error as OrchestrationError {
                throw error
            } catch {
                throw OrchestrationError("\(error)")
            }
            progress.event("Container", r.name, paused ? "Paused" : "Unpaused")
        }
    }

    /// Waits for containers to exit; returns their exit codes.
    public func wait(_ records: [ContainerRecord]) throws(OrchestrationError) -> [Int32] {
        var codes: [Int32] = []
        for r in records {
            let c = try client()
            do {
                let (reply, _) = try c.request(.wait(id: r.id))
                guard case .exited(let code, _) = reply else { throw OrchestrationError("wait \(r.name): \(reply)") }
                codes.append(code)
            } catch let error as OrchestrationError {
                throw error
            } catch {
                throw OrchestrationError("\(error)")
            }
        }
        return codes
    }

    // MARK: - run

    public struct RunOptions: Sendable {
        public var service: String
        public var overrides = ContainerPlanner.Overrides()
        public var noDeps = false

        public init(service: String) { self.service = service }
    }

    /// Brings up the service's dependencies (honouring their `depends_on` conditions, unlike docker
    /// compose) and creates the one-off container; the caller starts and attaches to it.
    public func prepareRun(_ options: RunOptions) throws(OrchestrationError) -> ContainerRecord {
        try checkServices([options.service])
        try checkOwnership()
        let service = project.services[options.service]!
        if !options.noDeps {
            let deps = graph.closure(of: [options.service]).subtracting([options.service])
            if !deps.isEmpty {
                var up = UpOptions()
                up.services = deps.sorted()
                try self.up(up)
            }
            try waitForDependencies(of: options.service, selected: Set(project.services.keys))
        }
        // As `up` would: the networks the service joins (its volumes come with the container), so that
        // `run` works in a checkout that was never brought up.
        try createNetworks(for: [options.service])
        let image = try self.image(for: service)
        var overrides = options.overrides
        let slug = String(ContainerStore.newID().prefix(12))
        if overrides.name == nil { overrides.name = "\(project.name)-\(service.name)-run-\(slug)" }
        overrides.labels["com.docker.compose.slug"] = slug
        return try create(service, number: 1, image: image, overrides: overrides)
    }
}
