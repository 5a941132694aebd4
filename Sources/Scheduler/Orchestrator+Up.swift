#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// `up`: the containers each service needs, created or recreated by docker compose's rules, then
/// started level by level once their dependencies' conditions hold.
extension Orchestrator {
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
    public func up(_ options: UpOptions) throws(SwcomposeError) {
        try checkServices(options.services)
        try checkOwnership()
        let selected = Set(selection(options.services, withDependencies: !options.noDeps))
        try checkPlans(services: selected.sorted())
        if !options.noStart && !dryRun { try checkPorts(services: selected.sorted()) }
        if options.removeOrphans { try removeOrphans() } else { warnAboutOrphans() }
        // The supervisor starts while networks and containers are made.
        if !options.noStart && !dryRun && supervisorStartup == nil {
            supervisorStartup = SupervisorStartup(runtime: runtime, group: group)
        }
        defer {
            supervisorStartup?.finish()
            supervisorStartup = nil
        }
        try createNetworks(for: selected.sorted())
        var planned: [String: [ContainerRecord]] = [:]
        var recreatedServices: Set<String> = []
        for level in graph.startLevels {
            for name in level where selected.contains(name) {
                guard let service = project.services[name] else { continue }
                // A provider's plugin makes what it provides now: its dependents are created with its variables.
                if service.provider != nil {
                    try runProvider(service, "up")
                    continue
                }
                let (records, recreated) = try ensureContainers(service, count: options.scale[name] ?? service.replicaCount, options: options)
                planned[name] = records
                if recreated { recreatedServices.insert(name) }
            }
        }
        if options.noStart || dryRun { return }
        // depends_on with `restart: true`: dependents of a recreated service restart after it.
        for name in graph.restartedAlong(with: recreatedServices).sorted() {
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
            for name in names { try preStart(project.services[name]!, containers: planned[name] ?? []) }
            try startAll(names.flatMap { planned[$0] ?? [] })
        }
    }

    /// Every selected service planned once before anything is created, so that a value the engine
    /// would refuse (a log option, a restart policy, a namespace mode, a port) stops `up` at its
    /// location with nothing changed. Services whose image is not there yet are planned when created.
    func checkPlans(services: [String]) throws(SwcomposeError) {
        for name in services {
            guard let service = project.services[name], let image = try? image(for: service) else { continue }
            do {
                _ = try planner.plan(service, number: 1, image: image, checkOnly: true)
            } catch {
                throw SwcomposeError(.invalidArgument, error.message, at: error.location)
            }
        }
    }

    public func decide(_ r: ContainerRecord, service: ServiceConfig, image: ImageRecord?, options: UpOptions) -> Reconcile.Decision {
        Reconcile.decide(r.spec, service: service, imageID: image?.id, forceRecreate: options.forceRecreate, noRecreate: options.noRecreate)
    }

    /// The service's containers numbered 1…count: created where missing, recreated where their
    /// configuration or image changed; extra replicas removed. Returns the containers and whether any
    /// was recreated.
    func ensureContainers(_ service: ServiceConfig, count: Int, options: UpOptions) throws(SwcomposeError) -> ([ContainerRecord], Bool) {
        let existing = containers(services: [service.name])
        var result: [ContainerRecord] = []
        var recreated = false
        var image: ImageRecord?
        func resolvedImage() throws(SwcomposeError) -> ImageRecord {
            if let image { return image }
            let found = try self.image(for: service)
            image = found
            return found
        }
        var decisions: [Int: Reconcile.Decision] = [:]
        var byNumber: [Int: ContainerRecord] = [:]
        for r in existing where byNumber[Self.number(r)] == nil {
            byNumber[Self.number(r)] = r
            // Only kept replicas need the image resolved to be judged.
            decisions[Self.number(r)] = Self.number(r) <= count ? decide(r, service: service, image: try? resolvedImage(), options: options) : .keep
        }
        for step in Reconcile.steps(existing: decisions, count: count) {
            switch step {
            case .keep(let number):
                let r = byNumber[number]!
                if dryRun { progress.event("Container", r.name, store.state(r.id).isAlive ? "Running" : "Start (stopped)") }
                result.append(r)
            case .recreate(let number, let reason):
                let r = byNumber[number]!
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
            case .create(let number):
                let img = try resolvedImage()
                if dryRun {
                    progress.event("Container", planner.containerName(service, number: number), "Create")
                    continue
                }
                result.append(try create(service, number: number, image: img))
            case .remove(let number):
                // Scaled down: the highest numbers go.
                let r = byNumber[number]!
                if dryRun { progress.event("Container", r.name, "Remove (scaled down to \(count))"); continue }
                try stopAndRemove([r], timeout: nil, removeVolumes: false)
            }
        }
        return (result, recreated)
    }

    func create(_ service: ServiceConfig, number: Int, image: ImageRecord, overrides: ContainerPlanner.Overrides? = nil,
                quiet: Bool = false) throws(SwcomposeError) -> ContainerRecord {
        var spec: ContainerSpec
        do {
            spec = try planner.plan(service, number: number, image: image, oneOff: overrides)
        } catch {
            throw SwcomposeError(.invalidArgument, error.message, at: error.location)
        }
        try createVolumes(for: &spec, service: service)
        try resolveNetworkMode(&spec, service: service)
        try resolveSharedNamespaces(&spec, service: service)
        try resolveVolumesFrom(&spec, service: service)
        resolveLinks(&spec, service: service, number: number)
        resolveHostGateway(&spec)
        try secretsAndConfigs(&spec, service: service)
        if !quiet { progress.event("Container", spec.name, "Creating") }
        do {
            try store.create(spec)
        } catch {
            throw SwcomposeError(.failed, "cannot create container \(spec.name)", cause: error)
        }
        if !quiet { progress.event("Container", spec.name, "Created") }
        return ContainerRecord(spec: spec, state: store.state(spec.id))
    }

    /// Named volumes exist before the container (with docker compose's labels); anonymous ones get a
    /// random name.

    func startAll(_ records: [ContainerRecord]) throws(SwcomposeError) {
        if dryRun {
            for r in records where !store.state(r.id).isAlive { progress.event("Container", r.name, "Start") }
            return
        }
        var inFlight: [(ContainerRecord, SupervisorClient)] = []
        for r in records {
            if store.state(r.id).isAlive { continue }
            progress.event("Container", r.name, "Starting")
            Trace.mark("cli: start \(r.name)")
            let c = try client()
            do { try c.send(.start(id: r.id, attach: false)) } catch { throw SwcomposeError(.unavailable, "cannot ask the supervisor to start container \(r.name)", cause: error) }
            inFlight.append((r, c))
        }
        var failure: SwcomposeError?
        for (r, c) in inFlight {
            do {
                let (reply, _) = try c.receive()
                switch reply {
                case .started:
                    // Started, for its dependents and for `up`, once its post_start hooks succeeded.
                    if failure == nil {
                        do { try postStart(r) } catch {
                            progress.event("Container", r.name, "Error")
                            failure = error
                            continue
                        }
                    }
                    progress.event("Container", r.name, "Started")
                case .failed(let message):
                    progress.event("Container", r.name, "Error")
                    failure = failure ?? SwcomposeError(.invalidArgument, "failed to start container \(r.name): \(message)")
                default:
                    failure = failure ?? SwcomposeError(.invalidArgument, "unexpected reply starting \(r.name): \(reply)")
                }
            } catch {
                failure = failure ?? SwcomposeError(.failed, "cannot start container \(r.name)", cause: error)
            }
        }
        if let failure { throw failure }
    }

    /// Blocks until every dependency of `service` satisfies its `depends_on` condition.
    func waitForDependencies(of service: String, selected: Set<String>) throws(SwcomposeError) {
        for edge in graph.dependencies[service] ?? [] {
            // As docker compose: a provider service is not waited for (it has no containers).
            if project.services[edge.dependency]?.provider != nil { continue }
            let deps = containers(services: [edge.dependency])
            guard Reconcile.waitsOn(edge, hasContainers: !deps.isEmpty, selected: selected.contains(edge.dependency),
                                    inProject: project.services[edge.dependency] != nil) else { continue }
            switch edge.condition {
            case .started:
                continue
            case .completedSuccessfully:
                for r in deps {
                    progress.event("Container", r.name, "Waiting")
                    let c = try client()
                    let reply: SupervisorReply
                    do { reply = try c.request(.wait(id: r.id)).0 } catch { throw SwcomposeError(.unavailable, "cannot wait for container \(r.name)", cause: error) }
                    if case .exited(let code, _) = reply, case .failed(let message) = Reconcile.completion(code, dependency: edge.dependency) {
                        if !edge.required { progress.warning("optional dependency \"\(edge.dependency)\" failed"); continue }
                        throw SwcomposeError(.failedPrecondition, message)
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
    public func waitHealthy(_ r: ContainerRecord, timeout: Double? = nil) throws(SwcomposeError) {
        guard r.spec.healthcheck != nil else {
            throw SwcomposeError(.invalidArgument, "container \(r.name) has no healthcheck")
        }
        let start = MonotonicClock.now()
        // The supervisor persists state.json by rename: wake on that rather than polling.
        let watch = DirectoryWatch(store.runtime.containerDirectory(r.id))
        while true {
            let state = store.state(r.id)
            switch Reconcile.health(state, name: r.name, supervisorAlive: state.supervisorPid > 0 && Sys.processExists(state.supervisorPid)) {
            case .ready:
                Trace.mark("cli: \(r.name) healthy")
                return
            case .failed(let message): throw SwcomposeError(.failedPrecondition, message)
            case .waiting: break
            }
            if let timeout, MonotonicClock.now() - start > timeout {
                throw SwcomposeError(.failedPrecondition, "container \(r.name) did not become healthy within \(Int(timeout))s")
            }
            watch.wait(0.5)
        }
    }

    /// A project name already used by a stack from another directory is reported before anything is
    /// touched (docker compose would quietly take the other stack over: docker/compose#2120).
    public func checkOwnership() throws(SwcomposeError) {
        let others = containers(oneOff: nil).compactMap { $0.spec.labels[ComposeLabels.workingDirectory] }
            .filter { $0 != project.workingDirectory }
        if let other = Set(others).sorted().first {
            throw SwcomposeError(.inUse, "project name \"\(project.name)\" is already used by the stack in \(other); give this one another name with -p or `name:`, or take that one down first (swcompose -p \(project.name) down)")
        }
    }

    /// `up --wait`, as docker compose waits: every container running (healthy, where it has a
    /// healthcheck) — an exit fails the wait, unless another service waits for that one to complete
    /// successfully (`Reconcile.readiness`).
    public func waitUntilReady(services: [String], timeout: Double?) throws(SwcomposeError) {
        let records = containers(services: services)
        let completing = Set(project.services.values.flatMap { s in
            s.dependsOn.filter { $0.value.condition == .completedSuccessfully }.map(\.key)
        })
        for r in records { progress.event("Container", r.name, "Waiting") }
        let start = MonotonicClock.now()
        for r in records {
            let service = r.spec.labels[ComposeLabels.service] ?? ""
            let watch = DirectoryWatch(store.runtime.containerDirectory(r.id))
            while true {
                let state = store.state(r.id)
                let started = Timestamp.parseNanoseconds(state.startedAt) ?? 0
                let runningFor = started > 0 ? Double(Timestamp.nowNanoseconds() - started) / 1e9 : 0
                let gate = Reconcile.readiness(state, name: r.name, service: service, hasHealthcheck: r.spec.healthcheck != nil,
                                               expectsCompletion: completing.contains(service), runningFor: runningFor,
                                               supervisorAlive: state.supervisorPid > 0 && Sys.processExists(state.supervisorPid))
                switch gate {
                case .ready:
                    progress.event("Container", r.name, completing.contains(service) ? "Exited" : "Healthy")
                case .failed(let message):
                    progress.event("Container", r.name, "Error")
                    throw SwcomposeError(.failedPrecondition, message)
                case .waiting:
                    if let timeout, MonotonicClock.now() - start > timeout {
                        throw SwcomposeError(.failedPrecondition, "application not healthy after \(Int(timeout))s")
                    }
                    // Woken by the supervisor's next record of the state, or when the settle time is up.
                    let settle = r.spec.healthcheck == nil && !completing.contains(service) ? max(0.01, Reconcile.settleTime - runningFor) : 0.5
                    watch.wait(min(0.5, settle))
                    continue
                }
                break
            }
        }
    }
}
