#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// Where progress goes: docker compose's `Container demo-web-1  Started` events.
public protocol ProgressReporter: AnyObject {
    func event(_ kind: String, _ name: String, _ status: String)
    func warning(_ text: String)
    /// A line of a build's progress (`=> [app 2/5] RUN …`, a step's output).
    func line(_ text: String)
}

extension ProgressReporter {
    public func line(_ text: String) {
        Array((text + "\n").utf8).withUnsafeBytes { try? Sys.write(2, $0) }
    }
}

/// Drives the Engine for one compose project: which containers exist for which service and replica,
/// creating and starting them in dependency order (independent ones in parallel), stopping and
/// removing them in reverse order.
public final class Orchestrator {
    /// The project; provider services' variables are added to their dependents' environment as `up` runs them.
    public private(set) var project: Project
    public let runtime: Runtime
    public let store: ContainerStore
    public let images: ImageStore
    public private(set) var planner: ContainerPlanner
    public let graph: ServiceGraph
    let progress: ProgressReporter
    /// `--dry-run`: say what would be done, with reasons, and do nothing.
    public let dryRun: Bool
    /// The project's environment (shell and .env), for environment-based secrets.
    public var environment: [String: String] = [:]
    /// swcompose's own environment (`HOME`, `DOCKER_CONFIG`, `PATH` for credential helpers).
    public var processEnvironment: [String: String] = [:]

    public init(project: Project, runtime: Runtime, progress: ProgressReporter, dryRun: Bool = false) throws(SwcomposeError) {
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
            throw SwcomposeError(.invalidArgument, error.description, at: error.diagnostic.location, notes: error.diagnostic.notes)
        }
    }

    public var group: String { project.name }

    /// The project with what `up` learned (provider variables), and a planner for it.
    func replaceProject(_ updated: Project) {
        project = updated
        planner = ContainerPlanner(project: updated, runtime: runtime)
    }

    public func progressEvent(_ kind: String, _ name: String, _ status: String) { progress.event(kind, name, status) }

    /// The supervisor being started while `up` makes what it needs (`SupervisorStartup`).
    var supervisorStartup: SupervisorStartup?

    func client() throws(SwcomposeError) -> SupervisorClient {
        supervisorStartup?.wait()
        do {
            return try SupervisorClient.connect(runtime: runtime, group: group)
        } catch {
            throw SwcomposeError(.unavailable, "cannot reach the supervisor of project \(project.name)", cause: error)
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
        return HelperMode.of(commandLine: cmd) == .supervise
    }

    // MARK: - Queries

    /// The project's containers, by service and number; one-off (`run`) containers only when asked.
    public func containers(services: [String] = [], oneOff: Bool? = false) -> [ContainerRecord] {
        var labels = [ComposeLabels.project: project.name]
        if services.count == 1 { labels[ComposeLabels.service] = services[0] }
        return store.list(labels: labels).filter { r in
            let service = r.spec.labels[ComposeLabels.service] ?? ""
            let isOneOff = r.spec.labels[ComposeLabels.oneOff] == "True"
            if let oneOff, oneOff != isOneOff { return false }
            return services.isEmpty || services.contains(service)
        }.sorted { a, b in
            let sa = a.spec.labels[ComposeLabels.service] ?? "", sb = b.spec.labels[ComposeLabels.service] ?? ""
            if sa != sb { return sa < sb }
            return Int(a.spec.labels[ComposeLabels.containerNumber] ?? "") ?? 0 < Int(b.spec.labels[ComposeLabels.containerNumber] ?? "") ?? 0
        }
    }

    public static func serviceName(_ r: ContainerRecord) -> String { r.spec.labels[ComposeLabels.service] ?? "" }
    public static func number(_ r: ContainerRecord) -> Int { Int(r.spec.labels[ComposeLabels.containerNumber] ?? "") ?? 0 }

    /// Services named on the command line must exist.
    public func checkServices(_ names: [String]) throws(SwcomposeError) {
        for name in names where project.services[name] == nil {
            if project.disabledServices[name] != nil {
                throw SwcomposeError(.invalidArgument, "service \"\(name)\" is not enabled by the active profiles")
            }
            throw SwcomposeError(.notFound, "no such service: \(name)")
        }
    }

    // MARK: - Images

    /// The image a service runs: found in the store by its reference.
    public func image(for service: ServiceConfig) throws(SwcomposeError) -> ImageRecord {
        var reference = service.image
        if reference.isEmpty {
            guard service.build != nil else {
                throw SwcomposeError(.notFound, "service \"\(service.name)\" has neither an image nor a build section",
                                         at: service.location)
            }
            reference = "\(project.name)-\(service.name)"
        }
        do {
            return try images.resolve(reference)
        } catch ImageStoreError.notFound {
            let message = service.image.isEmpty
                ? "service \"\(service.name)\" needs image \(reference), which is built from its build section; swcompose does not build images yet: build it elsewhere and load it with `swcompose image load`"
                : "image \(reference) of service \"\(service.name)\" is not in the local image store: pull it (swcompose pull \(service.name)) or load it (swcompose image load -i FILE)"
            throw SwcomposeError(.notFound, message, at: service.locations["image"] ?? service.location)
        } catch {
            throw SwcomposeError(.failed, "cannot read image \(reference) from the image store", cause: error)
        }
    }

}

extension Orchestrator {
    /// Runs `body` holding the project's lock (`projects/<name>/lock`): one project's commands that
    /// change it go one at a time, different projects in parallel. `waiting` is told once when another
    /// command holds the lock and this one waits for it.
    public func exclusively<T>(waiting: () -> Void = {}, _ body: () throws(SwcomposeError) -> T) throws(SwcomposeError) -> T {
        let lock: FileLock
        do {
            let dir = runtime.root.projects + "/" + project.name
            try Sys.mkdirAll(dir, 0o700)
            if let free = try FileLock.attempt(dir + "/lock") {
                lock = free
            } else {
                waiting()
                lock = try FileLock(dir + "/lock")
            }
        } catch {
            throw SwcomposeError(.system, "cannot take the lock of project \(project.name)", cause: error)
        }
        defer { withExtendedLifetime(lock) {} }
        return try body()
    }

    /// Whether another command holds the project's lock right now (an `up` replacing containers, a
    /// `restart`…): a follower of the project's containers should not conclude they are all gone.
    public var isChanging: Bool {
        guard let held = try? FileLock.attempt(runtime.root.projects + "/" + project.name + "/lock") else {
            return Sys.exists(runtime.root.projects + "/" + project.name + "/lock")
        }
        withExtendedLifetime(held) {}
        return false
    }
}
