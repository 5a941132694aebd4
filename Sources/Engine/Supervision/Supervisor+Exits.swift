#if canImport(Glibc)
import Glibc
#endif

/// Stopping, exits and restart policies.
extension Supervisor {
    func stop(_ m: Managed, signal: Int32, timeout: Int64, client: Int32) {
        m.state.stoppedByUser = true
        if m.restartAt != nil {
            m.restartAt = nil
            m.state.status = .exited
        }
        if let pending = m.pending {
            // Stopped while starting (a `down` after the `up` that started it was killed): the start
            // is abandoned and what it had set up (ports, endpoints, output) undone.
            unwatch(pending.socket)
            m.pending = nil
            _ = pending.abort("start", "stopped while starting")
            startFailed(m, message: "stopped while starting", code: 137)
        }
        guard m.isRunning else {
            persist(m)
            reply(client, .exited(code: m.state.exitCode, oomKilled: m.state.oomKilled))
            return
        }
        persist(m)
        m.waiters.append(client)
        if m.stopDeadline != nil { return }
        if m.state.status == .paused { thaw(m) }
        // A process that is not its pid namespace's init (`pid: host`, `pid: service:x`) receives the
        // signal whatever it does with it.
        let receives = m.spec.namespaces.pid != .own || ProcessInfoReader.initWouldReceive(signal, pid: m.state.pid)
        if receives && signal != SIGKILL {
            event("kill", m, ["signal": String(signal)])
            Sys.signal(pidfd: m.pidfd, signal)
            if timeout >= 0 { m.stopDeadline = Self.now() + Double(timeout) / 1e9 }
        } else {
            // PID 1 neither catches nor blocks the signal: the kernel would drop it, so waiting is pointless.
            killNow(m)
        }
    }

    /// Volumes whose driver options are mounted stay mounted while a container uses them: the last one
    /// to stop unmounts them, as docker's local driver counts its mounts.
    func releaseVolumes(of spec: ContainerSpec) {
        let volumes = VolumeStore(root: runtime.root)
        let mounted = spec.mounts.filter { $0.kind == .volume && volumes.isMounted($0.source) }.map(\.source)
        guard !mounted.isEmpty else { return }
        let others = store.list().filter { $0.id != spec.id && $0.state.isAlive }
        for name in mounted where !others.contains(where: { $0.spec.mounts.contains { $0.kind == .volume && $0.source == name } }) {
            volumes.unmount(name)
        }
    }

    func killNow(_ m: Managed) {
        guard m.isRunning else { return }
        event("kill", m, ["signal": String(SIGKILL)])
        Sys.signal(pidfd: m.pidfd, SIGKILL)
        runtime.cgroup(id: m.spec.id, state: m.state).killAll()
    }

    /// Appends to the state root's event journal (what `events` reads).
    func event(_ action: String, _ m: Managed, _ extra: [String: String] = [:]) {
        EventJournal(root: runtime.root).record(action, m.spec, extra)
    }

    func containerExited(_ id: String) {
        guard let m = managed[id], m.pidfd >= 0 else { return }
        pageOutAt = Self.now() + quietPeriod
        Trace.mark("exited \(m.spec.name)")
        var status: ExitStatus?
        var unknown = false
        do {
            status = try Sys.wait(pidfd: m.pidfd, block: false)
            if status == nil { return }
        } catch {
            // Adopted from an earlier supervisor: not our child, its status is not ours to read.
            unknown = true
        }
        unwatch(m.pidfd)
        Sys.close(m.pidfd)
        m.pidfd = -1
        m.stopDeadline = nil
        m.nextProbe = nil
        if let prepared = m.preparedProbe {
            m.preparedProbe = nil
            discardPreparedProbe(prepared)
        }
        if let probe = m.probe {
            Sys.signal(pidfd: probe.pidfd, SIGKILL)
            finishProbe(m, probe, exitCode: nil)
        }
        for (fd, stream) in m.outputs { drain(fd, id: id, stream: stream) }
        for fd in m.outputs.keys { unwatch(fd); Sys.close(fd) }
        m.outputs = [:]
        if m.terminal >= 0 {
            if m.terminalClient == nil { drain(m.terminal, id: id, stream: .stdout) }
            if m.terminal >= 0 {
                if m.terminalClient == nil { unwatch(m.terminal) }
                Sys.close(m.terminal)
                m.terminal = -1
            }
            m.terminalClient = nil
        }
        m.log.flush()
        releasePorts(id)
        detachNetworks(m)
        m.state.ports = []
        if m.spec.namespaces.shareableIPC { RootFilesystem(directory: runtime.containerDirectory(id)).unmountSharedMemory() }
        releaseVolumes(of: m.spec)
        let cgroup = runtime.cgroup(id: id, state: m.state)
        let oom = cgroup.oomKills > 0
        do { try cgroup.destroy() } catch { Self.writeError("cgroup of \(m.spec.name): \(error)\n") }
        for name in ["stdout", "stderr", "stdin"] { try? Sys.unlink(runtime.containerDirectory(id) + "/" + name) }
        if let hooks = m.spec.hooks, !hooks.poststop.isEmpty {
            // As runc's delete: after the container is gone; a failure is a warning.
            let state = HookRunner.state(id: id, status: "stopped", pid: 0, bundle: runtime.containerDirectory(id) + "/bundle",
                                         annotations: m.spec.annotations)
            for failure in HookRunner.runEach(hooks.poststop, point: "poststop", state: state) {
                Self.writeError("\(m.spec.name): \(failure)\n")
            }
        }

        m.state.pid = 0
        m.state.pidStartTime = 0
        m.state.finishedAt = Timestamp.rfc3339()
        m.state.oomKilled = oom
        if unknown {
            m.state.exitCode = 255
            m.state.error = "exit status unknown: the container ended while watched by an adopting supervisor"
        } else {
            m.state.exitCode = status!.code
        }
        m.state.status = .exited
        if oom { event("oom", m) }
        event("die", m, ["exitCode": String(m.state.exitCode)])
        if !m.waiters.isEmpty && m.state.stoppedByUser { event("stop", m) }
        if shouldRestart(m) {
            let ranFor = Self.now() - m.startedMonotonic
            if ranFor >= 10 { m.backoff = 0.1 }
            m.state.status = .restarting
            m.restartAt = Self.now() + m.backoff
            m.backoff = min(m.backoff * 2, 60)
        }
        persist(m)
        Trace.mark("recorded exit of \(m.spec.name)")
        if m.restartAt == nil && m.spec.labels["io.swcompose.remove-on-exit"] == "true" {
            // `run --rm`: removed as soon as it has exited, with its anonymous volumes, before the
            // waiters hear the exit code.
            removeOneOff(m)
        }
        for w in m.waiters { reply(w, .exited(code: m.state.exitCode, oomKilled: oom)) }
        m.waiters = []
    }

    func shouldRestart(_ m: Managed) -> Bool {
        guard !m.state.stoppedByUser else { return false }
        let policy = m.spec.restartPolicy
        switch policy.mode {
        case .no: return false
        case .always, .unlessStopped: return true
        case .onFailure:
            return m.state.exitCode != 0 && (policy.maximumRetries == 0 || m.state.restartCount < policy.maximumRetries)
        }
    }
}
