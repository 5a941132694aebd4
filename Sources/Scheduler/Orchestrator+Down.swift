#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine
import Synchronization

/// Stopping and removing: `down`, orphans, the services' images.
extension Orchestrator {
    /// Containers of the project whose service is no longer in the compose file.
    public func orphans() -> [ContainerRecord] {
        containers(oneOff: nil).filter { project.services[Self.serviceName($0)] == nil && project.disabledServices[Self.serviceName($0)] == nil }
    }

    func warnAboutOrphans() {
        let o = orphans()
        guard !o.isEmpty else { return }
        progress.warning("Found orphan containers (\(o.map(\.name).joined(separator: ", "))) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.")
    }

    func removeOrphans() throws(SwcomposeError) {
        let o = orphans()
        if dryRun {
            for r in o { progress.event("Container", r.name, "Remove (orphan)") }
            return
        }
        if !o.isEmpty { try stopAndRemove(o, timeout: nil, removeVolumes: false) }
    }


    /// Stops containers in reverse dependency order, each level in parallel.
    public func stop(_ records: [ContainerRecord], timeout: Int64?) throws(SwcomposeError) {
        for level in graph.stopLevels + [[]] {
            let batch = level.isEmpty
                ? records.filter { project.services[Self.serviceName($0)] == nil }
                : records.filter { level.contains(Self.serviceName($0)) }
            try stopBatch(batch, timeout: timeout)
        }
    }

    func stopBatch(_ records: [ContainerRecord], timeout: Int64?) throws(SwcomposeError) {
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
                do { try c.send(.stop(id: r.id, signal: nil, timeout: timeout)) } catch { throw SwcomposeError(.unavailable, "cannot ask the supervisor to stop container \(r.name)", cause: error) }
                inFlight.append((r, c))
                continue
            }
            guard state.isAlive || state.status == .restarting else { continue }
            progress.event("Container", r.name, "Stopping")
            try preStop(r)
            let c = try client()
            do { try c.send(.stop(id: r.id, signal: nil, timeout: timeout)) } catch { throw SwcomposeError(.unavailable, "cannot ask the supervisor to stop container \(r.name)", cause: error) }
            inFlight.append((r, c))
        }
        for (r, c) in inFlight {
            do {
                _ = try c.receive()
                if store.state(r.id).status != .created { progress.event("Container", r.name, "Stopped") }
            } catch {
                throw SwcomposeError(.failed, "cannot stop container \(r.name)", cause: error)
            }
        }
    }

    public func remove(_ records: [ContainerRecord], removeVolumes: Bool, quiet: Bool = false) throws(SwcomposeError) {
        if dryRun {
            for r in records { progress.event("Container", r.name, "Remove") }
            return
        }
        // Stopped containers are independent: removed a few at a time, as docker compose removes
        // them (their files and cgroups; the first failure is reported once all have been tried).
        let failure = Mutex<SwcomposeError?>(nil)
        let next = Atomic<Int>(0)
        Threads.concurrently(min(records.count, Self.removalsAtOnce), stackSize: 1 << 20) { _ in
            while true {
                let n = next.add(1, ordering: .relaxed).oldValue
                guard n < records.count else { return }
                let r = records[n]
                if !quiet { self.progress.event("Container", r.name, "Removing") }
                do throws(SwcomposeError) {
                    do {
                        try self.store.remove(r.id)
                    } catch {
                        throw SwcomposeError(.failed, "cannot remove container \(r.name)", cause: error)
                    }
                    if removeVolumes { try self.removeAnonymousVolumes(of: r) }
                } catch {
                    failure.withLock { $0 = $0 ?? error }
                    continue
                }
                if !quiet { self.progress.event("Container", r.name, "Removed") }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// How many containers `remove` removes at once.
    static let removalsAtOnce = 4

    func removeAnonymousVolumes(of r: ContainerRecord) throws(SwcomposeError) {
        let volumes = VolumeStore(root: runtime.root)
        for m in r.spec.mounts where m.kind == .volume {
            guard let v = try? volumes.inspect(m.source), v.anonymous else { continue }
            if volumes.users(m.source, containers: store).isEmpty {
                do { try volumes.remove(m.source, containers: store) } catch { throw SwcomposeError(.failed, "cannot remove anonymous volume \(m.source) of container \(r.name)", cause: error) }
            }
        }
    }

    func stopAndRemove(_ records: [ContainerRecord], timeout: Int64?, removeVolumes: Bool) throws(SwcomposeError) {
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
    public func down(_ options: DownOptions) throws(SwcomposeError) {
        var records = containers(services: options.services, oneOff: nil)
        let orphans = orphans()
        if !options.removeOrphans {
            records.removeAll { r in orphans.contains { $0.id == r.id } }
            if !orphans.isEmpty && options.services.isEmpty { warnAboutOrphans() }
        }
        try stopAndRemove(records, timeout: options.timeout, removeVolumes: options.removeVolumes)
        // Provider services, their dependents gone: their plugins take down what they made. A plugin
        // that fails (or is gone) fails `down`, after the rest of the project is taken down.
        var providerFailure: SwcomposeError?
        for level in graph.startLevels.reversed() {
            for name in level.sorted() where options.services.isEmpty || options.services.contains(name) {
                guard let service = project.services[name], service.provider != nil else { continue }
                do { try runProvider(service, "down") } catch { providerFailure = providerFailure ?? error }
            }
        }
        if options.services.isEmpty { try removeNetworks() }
        if let which = options.removeImages { try removeImages(all: which == "all") }
        if options.removeVolumes && options.services.isEmpty {
            let volumes = VolumeStore(root: runtime.root)
            for key in project.volumes.keys.sorted() where project.volumes[key]?.external != true {
                let name = planner.volumeName(key)
                guard volumes.exists(name) else { continue }
                if dryRun { progress.event("Volume", name, "Remove"); continue }
                progress.event("Volume", name, "Removing")
                do { try volumes.remove(name, containers: store) } catch { throw SwcomposeError(.failed, "cannot remove volume \(name)", cause: error) }
                progress.event("Volume", name, "Removed")
            }
        }
        // Nothing of the project runs any more: its supervisor goes now rather than after lingering,
        // so that `down` leaves no process, helper or cgroup behind when it returns.
        if options.services.isEmpty && !dryRun { SupervisorClient.release(runtime: runtime, group: group) }
        if let providerFailure { throw providerFailure }
    }

    /// `down --rmi`: the services' images, unless another container still uses them. `local` means
    /// only images without a custom tag (named `<project>-<service>`, as builds name them).
    func removeImages(all: Bool) throws(SwcomposeError) {
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
}
