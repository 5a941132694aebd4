#if canImport(Glibc)
import Glibc
#endif

/// Starting containers: output plumbing, the start helper (or a spare one), ports and networks, and
/// what a failed start undoes.
extension Supervisor {
    func start(_ m: Managed, client: Int32?, attach: Bool, fds: [Int32], terminalSize: (UInt16, UInt16)? = nil) {
        pageOutAt = Self.now() + quietPeriod
        let spec = m.spec
        let dir = runtime.containerDirectory(spec.id)
        var childFDs: [Int32] = []
        defer { childFDs.forEach(Sys.close) }
        func fail(_ message: String, code: Int32 = 128) {
            if let client { m.startReply = (client, false) }
            startFailed(m, message: message, code: code)
        }
        let layers = LayerStore(root: runtime.root.layers)
        var layerDirectories: [String] = []
        for chain in spec.image.chainIDs {
            guard let digest = Digest(chain), let layer = layers.layer(digest) else {
                fds.forEach(Sys.close)
                fail("the layers of image \(spec.image.reference) are missing from the store (was it removed?)")
                return
            }
            layerDirectories.append(layer.directory)
        }

        var stdio: (Int32, Int32, Int32)
        do {
            let null = try Sys.open("/dev/null", O_RDWR)
            childFDs.append(null)
            if attach && !spec.process.tty && fds.count == 3 {
                childFDs += fds
                stdio = (fds[0], fds[1], fds[2])
            } else {
                fds.forEach(Sys.close)
                stdio = (null, null, null)
                if !spec.process.tty {
                    let out = try fifo(dir + "/stdout")
                    let err = try fifo(dir + "/stderr")
                    childFDs += [out.write, err.write]
                    m.outputs = [out.read: .stdout, err.read: .stderr]
                    watch(out.read, .output(spec.id, .stdout))
                    watch(err.read, .output(spec.id, .stderr))
                    stdio = (null, out.write, err.write)
                    if spec.process.stdinOpen {
                        let input = try fifo(dir + "/stdin")
                        Sys.close(input.read)
                        childFDs.append(input.write)
                        stdio.0 = input.write
                    }
                }
            }
        } catch {
            fail("prepare output: \(error)")
            return
        }

        do {
            var usable = spare.flatMap { $0.isAlive ? $0 : nil }
            if usable == nil, let dead = spare { dead.discard(); spare = nil }
            switch spec.network {
            case .isolated, .bridged: break
            case .host, .container: usable = nil
            }
            try bindPorts(m)
            let peers = try namespacePeers(spec)
            Trace.mark("output, ports, peers ready")
            let pending = try ContainerLauncher.begin(spec, runtime: runtime, stdio: stdio, layerDirectories: layerDirectories,
                                                      peers: peers, terminalSize: terminalSize, spare: usable,
                                                      beforeRelease: { pid in try self.attachNetworks(m, pid: pid) })
            if usable?.taken == true { spare = nil }
            wantSpare = true
            m.pending = pending
            m.startReply = client.map { ($0, attach) }
            watch(pending.socket, .pending(spec.id))
            Trace.mark("released \(spec.name)")
        } catch let error as StartError {
            fail(error.description, code: Self.exitCode(for: error))
        } catch {
            fail("\(error)")
        }
    }

    /// The processes whose namespaces a container joins and where its /dev/shm comes from: a pid or
    /// IPC namespace of another container, which must be running; the host's /dev/shm for `ipc: host`;
    /// a shareable one mounted now for `ipc: shareable`, bound by the containers that join it.
    func namespacePeers(_ spec: ContainerSpec) throws -> ContainerLauncher.NamespacePeers {
        var peers = ContainerLauncher.NamespacePeers(network: networkPeerPid(spec))
        func running(_ id: String, _ kind: String) throws(StartError) -> Int32 {
            let st = managed[id]?.state ?? store.state(id)
            guard st.isAlive else {
                let name = (try? store.spec(id).name) ?? String(id.prefix(12))
                throw StartError(step: "join \(kind) namespace", message: "container \(name) is not running")
            }
            return st.pid
        }
        if case .container(let id) = spec.namespaces.pid { peers.pid = try running(id, "pid") }
        switch spec.namespaces.ipc {
        case .container(let id):
            peers.ipc = try running(id, "ipc")
            let other = RootFilesystem(directory: runtime.containerDirectory(id))
            if other.hasSharedMemory { peers.shm = other.sharedMemory }
        case .host:
            peers.shm = "/dev/shm"
        case .own:
            if spec.namespaces.shareableIPC {
                let own = RootFilesystem(directory: runtime.containerDirectory(spec.id))
                try own.mountSharedMemory(size: spec.shmSize)
                peers.shm = own.sharedMemory
            }
        }
        return peers
    }

    /// The pid whose network namespace a container joins (`network_mode: service:x`/`container:x`).
    func networkPeerPid(_ spec: ContainerSpec) -> Int32? {
        guard case .container(let other) = spec.network else { return nil }
        let st = store.state(other)
        return st.isAlive ? st.pid : nil
    }

    /// docker's exit codes for a start that failed: 127 for a missing program, 126 for one that cannot
    /// be run, 128 otherwise.
    static func exitCode(for error: StartError) -> Int32 {
        guard error.step == "exec" else { return 128 }
        return error.message.contains("not found") || error.message.contains("no such file") ? 127 : 126
    }

    /// A fresh FIFO: our non-blocking read end, and a read-write end for the container (so that its
    /// writes never fail with EPIPE while no supervisor reads).
    func fifo(_ path: String) throws(SystemError) -> (read: Int32, write: Int32) {
        try? Sys.unlink(path)
        try Sys.check("mkfifo", path) { mkfifo(path, 0o600) }
        let r = try Sys.open(path, O_RDONLY | O_NONBLOCK)
        do {
            let w = try Sys.open(path, O_RDWR)
            return (r, w)
        } catch {
            Sys.close(r)
            throw error
        }
    }

    func advancePending(_ id: String) {
        guard let m = managed[id], let pending = m.pending else { return }
        let socket = pending.socket
        do {
            switch try pending.advance() {
            case .waiting:
                return
            case .started(let process):
                Trace.mark("started \(m.spec.name)")
                for warning in pending.warnings { Self.writeError("\(m.spec.name): \(warning)\n") }
                unwatch(socket)
                m.pending = nil
                m.pidfd = process.pidfd
                m.startedMonotonic = Self.now()
                watch(process.pidfd, .exit(id))
                m.state.status = .running
                m.state.pid = process.pid
                m.state.pidStartTime = ProcessInfoReader.startTime(of: process.pid) ?? 0
                m.state.supervisorPid = Sys.pid
                m.state.startedAt = Timestamp.rfc3339()
                event("start", m)
                m.state.cgroup = pending.cgroup.path
                m.state.error = ""
                m.state.exitCode = 0
                m.state.oomKilled = false
                if let hc = m.spec.healthcheck {
                    m.state.health = HealthState()
                    let first = Self.now() + Double(hc.startPeriod > 0 ? min(hc.startInterval, hc.interval) : hc.interval) / 1e9
                    m.earlyProbeDelay = Self.firstEarlyProbe
                    m.earlyProbesUntil = first
                    m.nextProbe = min(first, Self.now() + m.earlyProbeDelay)
                } else {
                    m.state.health = nil
                }
                persist(m)
                let reply = m.startReply
                m.startReply = nil
                if let terminal = process.terminal {
                    m.terminal = terminal
                    if let reply, reply.attach, clients[reply.client] != nil {
                        m.terminalClient = reply.client
                    } else {
                        watch(terminal, .terminal(id))
                    }
                }
                if let reply {
                    self.reply(reply.client, .started(pid: process.pid), fds: reply.attach && m.terminal >= 0 ? [m.terminal] : [])
                }
                if m.earlyProbesUntil != nil { prepareProbe(m) }
            }
        } catch {
            unwatch(socket)
            m.pending = nil
            startFailed(m, message: error.description, code: Self.exitCode(for: error))
        }
    }

    /// A start that failed: what it had set up undone, the failure recorded (and a `run --rm`
    /// container removed, as docker removes an auto-remove container that could not start), then the
    /// starter and the waiters told.
    func startFailed(_ m: Managed, message: String, code: Int32) {
        releasePorts(m.spec.id)
        if m.spec.namespaces.shareableIPC { RootFilesystem(directory: runtime.containerDirectory(m.spec.id)).unmountSharedMemory() }
        detachNetworks(m)
        m.state.ports = []
        m.outputs.keys.forEach { unwatch($0); Sys.close($0) }
        m.outputs = [:]
        m.state.error = message
        m.state.exitCode = code
        if m.state.status != .created { m.state.status = .exited }
        m.state.finishedAt = Timestamp.rfc3339()
        persist(m)
        if m.spec.labels["io.swcompose.remove-on-exit"] == "true" { removeOneOff(m) }
        if let reply = m.startReply { self.reply(reply.client, .failed(message: message)) }
        m.startReply = nil
        for w in m.waiters { reply(w, .exited(code: code, oomKilled: false)) }
        m.waiters = []
    }

    /// Removes a `run --rm` container and its anonymous volumes.
    func removeOneOff(_ m: Managed) {
        guard (try? store.remove(m.spec.id)) != nil else { return }
        managed[m.spec.id] = nil
        let volumes = VolumeStore(root: runtime.root)
        for mount in m.spec.mounts where mount.kind == .volume {
            if let v = try? volumes.inspect(mount.source), v.anonymous {
                try? volumes.remove(mount.source, containers: store)
            }
        }
    }
}
