#if canImport(Glibc)
import Glibc
#endif

/// Containers a previous supervisor left running, taken over.
extension Supervisor {
    /// Takes over the containers of this group that a previous supervisor left running.
    func adoptExisting() {
        defer {
            // Cgroups of spare helpers a killed supervisor left (no process, no container).
            var keep: Set<String> = []
            for r in store.list() { keep.insert(runtime.cgroup(of: r).path) }
            Cgroup.sweep(parent: CgroupPlacement.parent, keep: keep)
        }
        for record in store.list() where supervisorGroup(of: record.spec) == group {
            let st = record.state
            guard [.running, .paused, .restarting].contains(st.status) else { continue }
            let m = Managed(spec: record.spec, state: st, log: LogWriter(path: logPath(record.id), options: record.spec.logging))
            managed[record.id] = m
            adoptKernelPorts(m)
            if st.isAlive, st.status != .restarting {
                let pidfd = (try? Sys.pidfd(st.pid)) ?? -1
                if pidfd >= 0 && ProcessInfoReader.startTime(of: st.pid) == st.pidStartTime {
                    m.pidfd = pidfd
                    m.adopted = true
                    m.startedMonotonic = Self.now()
                    watch(pidfd, .exit(record.id))
                    let dir = runtime.containerDirectory(record.id)
                    for (name, stream) in [("stdout", LogEntry.Stream.stdout), ("stderr", .stderr)] {
                        if let fd = try? Sys.open(dir + "/" + name, O_RDONLY | O_NONBLOCK) {
                            m.outputs[fd] = stream
                            watch(fd, .output(record.id, stream))
                        }
                    }
                    // Its resolver died with the previous supervisor: the same port again, in its namespace.
                    if m.state.resolverPort != 0 { startContainerResolver(m, pid: st.pid) }
                    m.state.supervisorPid = Sys.pid
                    if let hc = m.spec.healthcheck { m.nextProbe = Self.now() + Double(hc.interval) / 1e9 }
                    persist(m)
                    continue
                }
                if pidfd >= 0 { Sys.close(pidfd) }
            }
            if st.status == .restarting {
                m.restartAt = Self.now()
                continue
            }
            // It ended while nobody watched.
            try? runtime.cgroup(of: record).destroy()
            unpublishInKernel(m)
            NetworkStore(root: runtime.root).detach(containerID: record.id)
            m.state.networks = [:]
            m.state.ports = []
            m.state.status = .exited
            m.state.pid = 0
            m.state.exitCode = 255
            m.state.error = "exit status unknown: the container ended while its supervisor was not running"
            m.state.finishedAt = Timestamp.rfc3339()
            persist(m)
        }
    }
}
