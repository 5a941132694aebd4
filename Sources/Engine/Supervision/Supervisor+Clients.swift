#if canImport(Glibc)
import Glibc
#endif

/// The control socket's side: requests from commands (start, stop, kill, wait, pause…) and replies.
extension Supervisor {
    func readClient(_ fd: Int32) {
        guard var reader = clients[fd] else { return }
        let open: Bool
        do {
            open = try reader.fill(fd)
        } catch {
            dropClient(fd)
            return
        }
        while let frame = reader.next() {
            clients[fd] = reader
            let request: SupervisorRequest
            do {
                request = try Wire.decode(SupervisorRequest.self, from: frame.payload)
            } catch {
                reply(fd, .failed(message: "bad request: \(error)"))
                frame.fds.forEach(Sys.close)
                continue
            }
            handle(request, client: fd, fds: frame.fds)
            guard let r = clients[fd] else { return }
            reader = r
        }
        clients[fd] = reader
        if !open { dropClient(fd) }
    }

    func dropClient(_ fd: Int32) {
        guard clients.removeValue(forKey: fd) != nil else { return }
        unwatch(fd)
        Sys.close(fd)
        for m in managed.values {
            m.waiters.removeAll { $0 == fd }
            if m.startReply?.client == fd { m.startReply = nil }
            if m.terminalClient == fd {
                // Nobody is attached any more: keep the terminal drained into the log.
                m.terminalClient = nil
                if m.terminal >= 0 { watch(m.terminal, .terminal(m.spec.id)) }
            }
        }
    }

    func reply(_ client: Int32, _ message: SupervisorReply, fds: [Int32] = []) {
        guard clients[client] != nil, let bytes = try? Frame.encode(message) else { return }
        do {
            try Frame.send(bytes, on: client, fds: fds)
        } catch {
            dropClient(client)
        }
    }

    func handle(_ request: SupervisorRequest, client: Int32, fds: [Int32]) {
        switch request {
        case .start(let id, let attach, let rows, let columns):
            Trace.mark("start request \(id.prefix(12))")
            guard let m = load(id) else {
                fds.forEach(Sys.close)
                reply(client, .failed(message: "no such container: \(id)"))
                return
            }
            if m.isRunning {
                fds.forEach(Sys.close)
                reply(client, .started(pid: m.state.pid))
                return
            }
            if m.pending != nil {
                fds.forEach(Sys.close)
                reply(client, .failed(message: "container \(m.spec.name) is already starting"))
                return
            }
            m.restartAt = nil
            m.state.stoppedByUser = false
            m.state.restartCount = 0
            start(m, client: client, attach: attach, fds: fds, terminalSize: rows > 0 && columns > 0 ? (rows, columns) : nil)
        case .stop(let id, let signal, let timeout):
            guard let m = load(id) else { reply(client, .failed(message: "no such container: \(id)")); return }
            stop(m, signal: signal ?? m.spec.stopSignal, timeout: timeout ?? m.spec.stopTimeout, client: client)
        case .kill(let id, let signal):
            guard let m = load(id), m.isRunning else {
                reply(client, .failed(message: "container \(managed[id]?.spec.name ?? id) is not running"))
                return
            }
            if [SIGKILL, SIGTERM, SIGINT, SIGQUIT].contains(signal) {
                m.state.stoppedByUser = true
                persist(m)
            }
            if m.state.status == .paused { thaw(m) }
            event("kill", m, ["signal": String(signal)])
            if !Sys.signal(pidfd: m.pidfd, signal) {
                reply(client, .failed(message: "kill: \(SystemError("kill"))"))
            } else {
                reply(client, .ok)
            }
        case .wait(let id):
            guard let m = load(id) else { reply(client, .failed(message: "no such container: \(id)")); return }
            if m.isBusy {
                m.waiters.append(client)
            } else {
                reply(client, .exited(code: m.state.exitCode, oomKilled: m.state.oomKilled))
            }
        case .pause(let id):
            guard let m = load(id), m.isRunning else { reply(client, .failed(message: "container \(id) is not running")); return }
            do {
                try runtime.cgroup(id: id, state: m.state).setFrozen(true)
                m.state.status = .paused
                persist(m)
                event("pause", m)
                reply(client, .ok)
            } catch {
                reply(client, .failed(message: "pause: \(error)"))
            }
        case .unpause(let id):
            guard let m = load(id), m.state.status == .paused else { reply(client, .failed(message: "container \(id) is not paused")); return }
            thaw(m)
            reply(client, .ok)
        case .terminal(let id):
            guard let m = load(id), m.isRunning, m.terminal >= 0 else {
                reply(client, .failed(message: "container \(managed[id]?.spec.name ?? id) is not running with a terminal"))
                return
            }
            reply(client, .ok, fds: [m.terminal])
        case .list:
            reply(client, .containers(ids: managed.values.filter(\.isBusy).map(\.spec.id).sorted()))
        case .release:
            let busy = managed.values.filter(\.isBusy).map(\.spec.id).sorted()
            if busy.isEmpty {
                reply(client, .ok)
                running = false
            } else {
                reply(client, .containers(ids: busy))
            }
        }
    }

    func thaw(_ m: Managed) {
        try? runtime.cgroup(id: m.spec.id, state: m.state).setFrozen(false)
        if m.state.status == .paused {
            m.state.status = .running
            persist(m)
            event("unpause", m)
        }
    }

    /// The managed record of a container, loading it from the store on first use.
    func load(_ id: String) -> Managed? {
        if let m = managed[id] {
            // The spec may have been rewritten (recreated container keeps its id only if unchanged).
            if !m.isBusy, let spec = try? store.spec(id) { m.spec = spec }
            return m
        }
        guard let spec = try? store.spec(id) else { return nil }
        let m = Managed(spec: spec, state: store.state(id), log: LogWriter(path: logPath(id), options: spec.logging))
        managed[id] = m
        return m
    }

    func logPath(_ id: String) -> String { runtime.logPath(id) }

    func persist(_ m: Managed) {
        m.persistAt = nil
        do {
            try store.write(m.state, id: m.spec.id)
        } catch {
            Self.writeError("state of \(m.spec.name): \(error)\n")
        }
    }
}
