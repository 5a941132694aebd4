#if canImport(Glibc)
import Glibc
#endif
import ComposeModel
import Engine

/// Lifecycle hooks, as docker compose runs them: `post_start` exec'd in the container once it started
/// (the container counts as started, and its dependents start, only once they succeed), `pre_stop`
/// exec'd before the stop signal (`stop`, `down`, a recreation, `restart`), `pre_start` as a container
/// of its own before the service's containers start (docker compose v5: the hook's or the service's
/// image, the service's networks, the volumes of the container it prepares). A hook that fails fails
/// the command, with its status and the last lines it printed.
extension Orchestrator {
    /// The exec of a hook (or of a watch rule's `exec`): the container's environment with the hook's
    /// over it, the hook's user and working directory where it sets them, privileged if asked.
    func hookRequest(_ hook: ServiceHook, in record: ContainerRecord) -> ExecRequest {
        var request = ExecRequest(record: record, cgroup: runtime.cgroup(of: record), args: hook.command ?? [])
        if !hook.user.isEmpty { request.user = hook.user }
        if !hook.workingDir.isEmpty { request.workingDir = hook.workingDir }
        for (key, value) in hook.environment.sorted(by: { $0.key < $1.key }) {
            request.env.removeAll { $0.hasPrefix(key + "=") }
            if let value { request.env.append("\(key)=\(value)") }
        }
        if hook.privileged { request.makePrivileged() }
        return request
    }

    /// Runs one hook in a running container, its output kept in memory; fails as docker compose does
    /// (`web hook exited with status 3`), followed by what the hook printed last.
    func runHook(_ hook: ServiceHook, kind: String, service: String, in record: ContainerRecord) throws(SwcomposeError) {
        guard let command = hook.command, !command.isEmpty else { return }
        let code: Int32
        var output = ""
        do {
            let captured = try Sys.memoryFile("hook")
            defer { Sys.close(captured) }
            let null = try Sys.open("/dev/null", O_RDONLY)
            defer { Sys.close(null) }
            code = try ContainerExec.run(hookRequest(hook, in: record), runtime: runtime, stdio: (null, captured, captured))
            _ = try Sys.seek(captured, 0)
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 14)
            while case let n = try Sys.read(captured, into: &chunk), n > 0 { bytes += chunk[0..<n] }
            output = String(decoding: bytes, as: UTF8.self)
        } catch {
            throw SwcomposeError(.failed, "cannot run the \(kind) hook of \(record.name)", cause: error as? any Error & Sendable)
        }
        guard code == 0 else {
            let tail = output.split(separator: "\n").suffix(5).joined(separator: "\n")
            throw SwcomposeError(.failed, "\(service) hook exited with status \(code)" + (tail.isEmpty ? "" : ":\n" + tail),
                                 at: hook.location)
        }
    }

    /// The service's `post_start` hooks in a container that was just started.
    func postStart(_ record: ContainerRecord) throws(SwcomposeError) {
        guard record.spec.labels[ComposeLabels.oneOff] != "True", let service = project.services[Self.serviceName(record)],
              !service.postStart.isEmpty else { return }
        let current = (try? store.record(record.id)) ?? record
        for hook in service.postStart { try runHook(hook, kind: "post_start", service: service.name, in: current) }
    }

    /// The service's `pre_stop` hooks in a running container about to be stopped.
    func preStop(_ record: ContainerRecord) throws(SwcomposeError) {
        guard record.spec.labels[ComposeLabels.oneOff] != "True", let service = project.services[Self.serviceName(record)],
              !service.preStop.isEmpty else { return }
        let current = (try? store.record(record.id)) ?? record
        guard current.state.isAlive else { return }
        for hook in service.preStop { try runHook(hook, kind: "pre_stop", service: service.name, in: current) }
    }

    /// The service's `pre_start` hooks before its containers start, when none of them runs yet: each a
    /// container of its own, run to its end. Once for the service (the lowest-numbered container's
    /// volumes), or with `per_replica` once for every container. A hook container that succeeded is
    /// removed; one that failed is kept (`com.docker.compose.hook=pre_start`) for its logs, until the
    /// next `up` or `down` removes it.
    func preStart(_ service: ServiceConfig, containers records: [ContainerRecord]) throws(SwcomposeError) {
        guard !service.preStart.isEmpty, !records.isEmpty,
              !containers(services: [service.name]).contains(where: { store.state($0.id).isAlive }) else { return }
        removeHookContainers(services: [service.name])
        let targets = records.sorted { Self.number($0) < Self.number($1) }
        for (index, hook) in service.preStart.enumerated() {
            for target in hook.perReplica ? targets : [targets[0]] {
                try runPreStart(hook, index: index, service: service, preparing: target)
            }
        }
    }

    func runPreStart(_ hook: ServiceHook, index: Int, service: ServiceConfig, preparing target: ContainerRecord) throws(SwcomposeError) {
        var hookService = service
        hookService.image = hook.image.isEmpty ? service.image : hook.image
        hookService.build = hook.image.isEmpty ? service.build : nil
        hookService.entrypoint = nil
        hookService.command = hook.command
        hookService.user = hook.user
        hookService.workingDir = hook.workingDir
        for (k, v) in hook.environment { hookService.environment[k] = v }
        hookService.privileged = hook.privileged
        hookService.volumes = []
        hookService.tmpfs = []
        hookService.ports = []
        hookService.healthCheck = nil
        hookService.restart = ""
        hookService.deploy?.restartPolicy = nil
        hookService.secrets = []
        hookService.configs = []
        hookService.containerName = ""
        let image = try self.image(for: hookService)
        var overrides = ContainerPlanner.Overrides()
        let slug = String(ContainerStore.newID().prefix(12))
        overrides.name = "\(project.name)-\(service.name)-pre_start-\(slug)"
        overrides.labels[ComposeLabels.hook] = "pre_start"
        overrides.labels[ComposeLabels.slug] = slug
        overrides.stdinOpen = false
        overrides.tty = false
        var spec: ContainerSpec
        do {
            spec = try planner.plan(hookService, number: Self.number(target), image: image, oneOff: overrides)
        } catch {
            throw SwcomposeError(.invalidArgument, error.message, at: error.location ?? hook.location)
        }
        // The volumes of the container it prepares (docker compose's VolumesFrom).
        for m in target.spec.mounts where m.kind != .tmpfs && !spec.mounts.contains(where: { $0.destination == m.destination }) {
            spec.mounts.append(m)
        }
        do { try store.create(spec) } catch {
            throw SwcomposeError(.failed, "cannot create the pre_start hook container of service \(service.name)", cause: error)
        }
        progress.event("Container", spec.name, "Started")
        let record = ContainerRecord(spec: spec, state: store.state(spec.id))
        let c = try client()
        let code: Int32
        do {
            let (started, _) = try c.request(.start(id: spec.id, attach: false))
            guard case .started = started else {
                if case .failed(let message) = started { throw SwcomposeError(.failed, "pre_start hook of service \(service.name): \(message)") }
                throw SwcomposeError(.failed, "pre_start hook of service \(service.name) did not start")
            }
            let (reply, _) = try client().request(.wait(id: spec.id))
            guard case .exited(let exitCode, _) = reply else { throw SwcomposeError(.failed, "pre_start hook of service \(service.name): \(reply)") }
            code = exitCode
        } catch let error as SwcomposeError {
            throw error
        } catch {
            throw SwcomposeError(.unavailable, "cannot run the pre_start hook of service \(service.name)", cause: error)
        }
        guard code == 0 else {
            var tail = LogReader.tail(runtime.logPath(spec.id), 5).map(\.text).joined()
            while tail.last?.isNewline == true { tail.removeLast() }
            throw SwcomposeError(.failed, "service \"\(service.name)\" pre_start[\(index)] hook exited with status \(code)"
                                     + (tail.isEmpty ? "" : ":\n" + tail)
                                     + " (hook container \(String(spec.id.prefix(12))) retained for inspection)", at: hook.location)
        }
        progress.event("Container", spec.name, "Exited")
        try remove([record], removeVolumes: true, quiet: true)
    }

    /// The pre_start hook containers a failed run kept, of these services (all when none).
    func removeHookContainers(services: [String] = []) {
        let kept = containers(services: services, oneOff: nil).filter { $0.spec.labels[ComposeLabels.hook] == "pre_start" }
        guard !kept.isEmpty else { return }
        try? remove(kept, removeVolumes: true, quiet: true)
    }
}
