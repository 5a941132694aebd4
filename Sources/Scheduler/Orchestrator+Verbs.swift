#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// The small verbs: start, kill, pause and unpause, wait.
extension Orchestrator {
    public func start(services: [String]) throws(SwcomposeError) {
        try checkServices(services)
        let all = containers(services: services)
        if all.isEmpty { throw SwcomposeError(.notFound, "service \"\(services.first ?? "")\" has no container to start") }
        for level in graph.startLevels {
            try startAll(all.filter { level.contains(Self.serviceName($0)) })
        }
    }

    public func kill(_ records: [ContainerRecord], signal: Int32) throws(SwcomposeError) {
        for r in records where store.state(r.id).isAlive {
            progress.event("Container", r.name, "Killing")
            let c = try client()
            do {
                let (reply, _) = try c.request(.kill(id: r.id, signal: signal))
                if case .failed(let m) = reply { throw SwcomposeError(.failed, m) }
            } catch let error as SwcomposeError {
                throw error
            } catch {
                throw SwcomposeError(.failed, "cannot reach the supervisor for container \(r.name)", cause: error)
            }
            progress.event("Container", r.name, "Killed")
        }
    }

    public func setPaused(_ records: [ContainerRecord], paused: Bool, report: Bool = true) throws(SwcomposeError) {
        for r in records {
            if report { progress.event("Container", r.name, paused ? "Pausing" : "Unpausing") }
            let c = try client()
            do {
                let (reply, _) = try c.request(paused ? .pause(id: r.id) : .unpause(id: r.id))
                if case .failed(let m) = reply { throw SwcomposeError(.failed, m) }
            } catch let error as SwcomposeError {
                throw error
            } catch {
                throw SwcomposeError(.failed, "cannot reach the supervisor for container \(r.name)", cause: error)
            }
            if report { progress.event("Container", r.name, paused ? "Paused" : "Unpaused") }
        }
    }

    /// Waits for containers to exit; returns their exit codes.
    public func wait(_ records: [ContainerRecord]) throws(SwcomposeError) -> [Int32] {
        var codes: [Int32] = []
        for r in records {
            let c = try client()
            do {
                let (reply, _) = try c.request(.wait(id: r.id))
                guard case .exited(let code, _) = reply else { throw SwcomposeError(.invalidArgument, "wait \(r.name): \(reply)") }
                codes.append(code)
            } catch let error as SwcomposeError {
                throw error
            } catch {
                throw SwcomposeError(.failed, "cannot reach the supervisor for container \(r.name)", cause: error)
            }
        }
        return codes
    }
}

extension Orchestrator {
    public struct CommitOptions: Sendable {
        public var message: String?
        public var author: String?
        public var changes: [String] = []
        public var pause = true
        public var reference: String?
        public init() {}
    }

    /// `commit SERVICE [REF]`: the container's changes as a new image, as `docker commit` makes it —
    /// the config it ran with (the image's, with the service's entrypoint, command, environment,
    /// working directory, user, labels and healthcheck), then the `-c` instructions; paused meanwhile
    /// unless told not to.
    public func commit(_ record: ContainerRecord, options: CommitOptions) throws(SwcomposeError) -> ImageRecord {
        let image: ImageRecord
        do { image = try images.resolve(record.spec.image.id) } catch {
            throw SwcomposeError(.notFound, "the image of container \(record.name) is no longer in the store: \(error)")
        }
        var config = image.configuration.config ?? ContainerConfig()
        if let service = project.services[Self.serviceName(record)] {
            if let e = service.entrypoint {
                config.entrypoint = e
                config.cmd = service.command
            } else if let c = service.command {
                config.cmd = c
            }
            if !service.labels.isEmpty { config.labels = (config.labels ?? [:]).merging(service.labels) { _, b in b } }
            if let hc = service.healthCheck, !hc.disable, let test = hc.test {
                var h = ContainerConfig.Healthcheck()
                h.test = test
                h.interval = hc.interval?.nanoseconds
                h.timeout = hc.timeout?.nanoseconds
                h.startPeriod = hc.startPeriod?.nanoseconds
                h.startInterval = hc.startInterval?.nanoseconds
                h.retries = hc.retries.map { Int($0) }
                config.healthcheck = h
            }
        }
        config.env = record.spec.process.env
        config.workingDir = record.spec.process.workingDir.isEmpty ? config.workingDir : record.spec.process.workingDir
        config.user = record.spec.process.user.isEmpty ? config.user : record.spec.process.user
        var c = ImageStore.Commit(config: config, createdBy: record.spec.process.args.joined(separator: " "))
        c.changes = options.changes
        c.message = options.message
        c.author = options.author
        if let ref = options.reference {
            do { c.references = [try ImageReference(parsing: ref)] } catch {
                throw SwcomposeError(.invalidArgument, "invalid image name \(ref): \(error)")
            }
        }
        let pause = options.pause && record.state.isAlive
        if pause { try setPaused([record], paused: true, report: false) }
        defer { if pause { try? setPaused([record], paused: false, report: false) } }
        do { return try images.commit(record, runtime: runtime, c) } catch {
            throw SwcomposeError(.failed, "cannot commit container \(record.name): \(error)")
        }
    }
}
