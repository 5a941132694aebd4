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

    public func setPaused(_ records: [ContainerRecord], paused: Bool) throws(SwcomposeError) {
        for r in records {
            progress.event("Container", r.name, paused ? "Pausing" : "Unpausing")
            let c = try client()
            do {
                let (reply, _) = try c.request(paused ? .pause(id: r.id) : .unpause(id: r.id))
                if case .failed(let m) = reply { throw SwcomposeError(.failed, m) }
            } catch let error as SwcomposeError {
                throw error
            } catch {
                throw SwcomposeError(.failed, "cannot reach the supervisor for container \(r.name)", cause: error)
            }
            progress.event("Container", r.name, paused ? "Paused" : "Unpaused")
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
