#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// One project's supervisor: a single-threaded event loop (epoll over pidfds, output pipes, the control
/// socket and a signalfd) that is the parent of the project's containers. It starts them, drains their
/// output into json logs, records exits and OOM kills, stops them with grace periods, applies restart
/// policies, and outlives the commands that talk to it. It exits when it has nothing left to watch.
///
/// If it is killed, the containers keep running; the next command starts a new supervisor, which adopts
/// them (their exit statuses are then unknown to it, since it is not their parent).
public final class Supervisor {
    let runtime: Runtime
    let group: String
    let store: ContainerStore
    let paths: SupervisorPaths
    var epoll: Int32 = -1
    var listener: Int32 = -1
    var signals: Int32 = -1
    var sources: [Int32: Source] = [:]
    var managed: [String: Managed] = [:]
    var clients: [Int32: FrameReader] = [:]
    var idleSince: Double?
    var running = true
    /// A start helper waiting for the next container with an isolated network (made after a start,
    /// so that the next one skips the helper's exec).
    var spare: SpareHelper?
    var wantSpare = false
    /// An unused spare is kept this long after the start that asked for it (starts come in bursts:
    /// `up`, scripts running `run --rm`); then it goes, so that a quiet project costs only the supervisor.
    let spareLifetime = 10.0
    var spareExpires: Double?
    let net = NetworkServices()
    /// When the executable's startup pages are handed back: a quiet moment after the last burst of
    /// starts and stops (see `Sys.pageOutExecutable`).
    var pageOutAt: Double?
    let quietPeriod = 10.0
    /// Seconds of idleness (nothing to watch, nobody connected) before exiting.
    let linger: Double

    enum Source {
        case listener, signals
        case client
        case pending(String)
        case exit(String)
        case output(String, LogEntry.Stream)
        case terminal(String)
        case probeOutput(String)
        case probeExit(String)
        case portListener(String)
        case udpListener(String)
        case proxy
        case udpFlow
        case resolver(String)
        case dnsUpstream
    }

    /// A healthcheck probe in flight.
    final class Probe {
        let pidfd: Int32
        let output: Int32
        var captured: [UInt8] = []
        let startedAt = Timestamp.rfc3339()
        let deadline: Double
        var timedOut = false

        init(pidfd: Int32, output: Int32, deadline: Double) {
            self.pidfd = pidfd
            self.output = output
            self.deadline = deadline
        }
    }

    final class Managed {
        var spec: ContainerSpec
        var state: ContainerState
        var pidfd: Int32 = -1
        var pending: PendingLaunch?
        var startReply: (client: Int32, attach: Bool)?
        var outputs: [Int32: LogEntry.Stream] = [:]
        var terminal: Int32 = -1
        var terminalClient: Int32?
        var log: LogWriter
        var stopDeadline: Double?
        var waiters: [Int32] = []
        var restartAt: Double?
        var backoff = 0.1
        var startedMonotonic = 0.0
        var adopted = false
        var nextProbe: Double?
        var probe: Probe?
        /// Until the first probe docker would run (one interval after the start), probes run early, at
        /// doubling delays from 25 ms, and their failures are forgiven: a dependency is healthy as soon
        /// as it is, not an interval later. nil once that time is reached or the container is healthy.
        var earlyProbesUntil: Double?
        var earlyProbeDelay = 0.025

        init(spec: ContainerSpec, state: ContainerState, log: LogWriter) {
            self.spec = spec
            self.state = state
            self.log = log
        }

        var isRunning: Bool { pidfd >= 0 }
        var isBusy: Bool { isRunning || pending != nil || restartAt != nil || probe != nil }
    }

    public init(runtime: Runtime, group: String, linger: Double = 2) {
        self.runtime = runtime
        self.group = group
        self.store = ContainerStore(runtime: runtime)
        self.paths = SupervisorPaths(root: runtime.root, group: group)
        self.linger = linger
    }

    /// Entry point of `swcompose __supervise <state-root> <group>`. Descriptor 3, when open, is told
    /// `ready` once the control socket listens.
    public static func main(_ arguments: [String]) -> Int32 {
        guard arguments.count >= 2 else {
            writeError("usage: swcompose __supervise STATE_ROOT GROUP\n")
            return 2
        }
        let root = StateRoot(path: arguments[0])
        do {
            try root.prepare()
        } catch {
            writeError("\(error)\n")
            return 1
        }
        let supervisor = Supervisor(runtime: Runtime(root: root), group: arguments[1])
        return supervisor.run()
    }

    static func writeError(_ text: String) {
        let line = "\(Timestamp.rfc3339()) supervisor[\(getpid())]: \(text)"
        Array(line.utf8).withUnsafeBytes { try? Sys.write(2, $0) }
    }

    static func now() -> Double { MonotonicClock.now() }

    func run() -> Int32 {
        do {
            try runtime.root.ensure(paths.directory)
        } catch {
            Self.writeError("\(error)\n")
            return 1
        }
        guard let lock = try? FileLock.attempt(paths.lock) else {
            // Another supervisor owns this project; the caller connects to it.
            return 0
        }
        defer { _ = lock }
        signal(SIGPIPE, SIG_IGN)
        let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGCHLD]
        _ = handled.withUnsafeBufferPointer { cl_block_signals($0.baseAddress, Int32($0.count)) }
        do {
            epoll = try Sys.check("epoll_create1") { cl_epoll_create() }
            signals = try Sys.check("signalfd") {
                [SIGTERM, SIGINT, SIGHUP].withUnsafeBufferPointer { cl_signalfd(-1, $0.baseAddress, Int32($0.count), O_CLOEXEC | O_NONBLOCK) }
            }
            watch(signals, .signals)
            listener = try UnixSocket.listen(paths.socket)
            watch(listener, .listener)
        } catch {
            Self.writeError("\(error)\n")
            return 1
        }
        adoptExisting()
        pageOutAt = Self.now() + quietPeriod
        // Tell the command that spawned us that the socket is ready.
        if fcntl(3, F_GETFD) >= 0 {
            Array("ready\n".utf8).withUnsafeBytes { try? Sys.write(3, $0) }
            Sys.close(3)
        }
        loop()
        closeNetworkServices()
        spare?.discard()
        _ = unlink(paths.socket)
        return 0
    }

    func watch(_ fd: Int32, _ source: Source, events: UInt32 = 1 /* EPOLLIN */) {
        sources[fd] = source
        _ = cl_epoll_ctl(epoll, CL_EPOLL_CTL_ADD, fd, events)
    }

    func unwatch(_ fd: Int32) {
        sources[fd] = nil
        _ = cl_epoll_ctl(epoll, CL_EPOLL_CTL_DEL, fd, 0)
    }

    // MARK: - The loop

    func loop() {
        var fds = [Int32](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while running {
            let timeout = nextTimeout()
            let n = cl_epoll_wait(epoll, &fds, &events, 64, timeout)
            if n < 0 {
                if errno == EINTR { continue }
                Self.writeError("epoll_wait: \(SystemError("epoll_wait"))\n")
                return
            }
            for i in 0..<Int(n) {
                guard let source = sources[fds[i]] else { continue }
                handle(fds[i], source, events: events[i])
            }
            runTimers()
            if wantSpare && running && spare == nil {
                wantSpare = false
                do {
                    spare = try ContainerLauncher.spawnSpare(runtime: runtime)
                    spareExpires = Self.now() + spareLifetime
                } catch {
                    Self.writeError("spare start helper: \(error)\n")
                }
            }
            if managed.values.contains(where: \.isBusy) || !clients.isEmpty {
                idleSince = nil
            } else if idleSince == nil {
                idleSince = Self.now()
            } else if Self.now() - idleSince! >= linger {
                running = false
            }
        }
    }

    func nextTimeout() -> Int32 {
        var deadline: Double?
        func consider(_ d: Double?) {
            guard let d else { return }
            deadline = min(deadline ?? d, d)
        }
        consider(pageOutAt)
        for m in managed.values {
            consider(spareExpires)
            consider(m.stopDeadline)
            consider(m.restartAt)
            consider(m.nextProbe)
            if let p = m.probe, !p.timedOut { consider(p.deadline) }
        }
        if let idleSince { consider(idleSince + linger) }
        guard let deadline else { return 1000 }
        return Int32(max(0, min(1000, (deadline - Self.now()) * 1000 + 1)))
    }

    func handle(_ fd: Int32, _ source: Source, events: UInt32) {
        switch source {
        case .listener:
            let client = cl_accept(fd)
            if client >= 0 {
                clients[client] = FrameReader()
                watch(client, .client)
            }
        case .signals:
            var info = [UInt8](repeating: 0, count: 128)
            while info.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
            // Leave the containers running: a later command starts a supervisor that adopts them.
            running = false
        case .client:
            readClient(fd)
        case .pending(let id):
            advancePending(id)
        case .exit(let id):
            containerExited(id)
        case .output(let id, let stream):
            drain(fd, id: id, stream: stream)
        case .terminal(let id):
            drain(fd, id: id, stream: .stdout)
        case .probeOutput(let id):
            readProbe(id)
        case .probeExit(let id):
            probeFinished(id)
        case .portListener(let id):
            acceptConnection(fd, container: id)
        case .udpListener(let id):
            udpListenerEvent(fd, container: id)
        case .proxy:
            proxyEvent(fd)
        case .udpFlow:
            udpFlowEvent(fd)
        case .resolver(let network):
            resolverEvent(fd, network: network)
        case .dnsUpstream:
            upstreamEvent(fd)
        }
    }

    func runTimers() {
        let now = Self.now()
        networkTimers()
        if let at = pageOutAt, at <= now {
            // Not while a spare helper runs: it maps the same pages, which then are not handed back.
            if spare != nil, let expires = spareExpires {
                pageOutAt = expires + 0.1
            } else {
                pageOutAt = nil
                Sys.pageOutExecutable()
            }
        }
        if let expires = spareExpires, expires <= now {
            spareExpires = nil
            spare?.discard()
            spare = nil
        }
        for m in managed.values {
            if let d = m.stopDeadline, d <= now {
                m.stopDeadline = nil
                killNow(m)
            }
            if let p = m.nextProbe, p <= now, m.probe == nil, m.isRunning {
                m.nextProbe = nil
                startProbe(m)
            }
            if let probe = m.probe, !probe.timedOut, probe.deadline <= now {
                probe.timedOut = true
                _ = cl_pidfd_send_signal(probe.pidfd, SIGTERM, 0)
            }
            if let r = m.restartAt, r <= now {
                m.restartAt = nil
                m.state.restartCount += 1
                start(m, client: nil, attach: false, fds: [])
            }
        }
    }

    // MARK: - Clients

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
            if cl_pidfd_send_signal(m.pidfd, signal, 0) != 0 {
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
                reply(client, .ok)
            } catch {
                reply(client, .failed(message: "pause: \(error)"))
            }
        case .unpause(let id):
            guard let m = load(id), m.state.status == .paused else { reply(client, .failed(message: "container \(id) is not paused")); return }
            thaw(m)
            reply(client, .ok)
        case .list:
            reply(client, .containers(ids: managed.values.filter(\.isBusy).map(\.spec.id).sorted()))
        }
    }

    func thaw(_ m: Managed) {
        try? runtime.cgroup(id: m.spec.id, state: m.state).setFrozen(false)
        if m.state.status == .paused {
            m.state.status = .running
            persist(m)
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

    func logPath(_ id: String) -> String { runtime.containerDirectory(id) + "/\(id)-json.log" }

    func persist(_ m: Managed) {
        do {
            try store.write(m.state, id: m.spec.id)
        } catch {
            Self.writeError("state of \(m.spec.name): \(error)\n")
        }
    }

    // MARK: - Starting

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
            let pending = try ContainerLauncher.begin(spec, runtime: runtime, stdio: stdio, layerDirectories: layerDirectories,
                                                      joinNetworkOf: networkPeerPid(spec), terminalSize: terminalSize, spare: usable,
                                                      beforeRelease: { pid in try self.attachNetworks(m, pid: pid) })
            if usable != nil { spare = nil }
            wantSpare = true
            m.pending = pending
            m.startReply = client.map { ($0, attach) }
            watch(pending.socket, .pending(spec.id))
        } catch let error as StartError {
            fail(error.description, code: Self.exitCode(for: error))
        } catch {
            fail("\(error)")
        }
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
        _ = unlink(path)
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
                unwatch(socket)
                m.pending = nil
                m.pidfd = process.pidfd
                m.startedMonotonic = Self.now()
                watch(process.pidfd, .exit(id))
                m.state.status = .running
                m.state.pid = process.pid
                m.state.pidStartTime = ProcessInfoReader.startTime(of: process.pid) ?? 0
                m.state.supervisorPid = getpid()
                m.state.startedAt = Timestamp.rfc3339()
                m.state.cgroup = pending.cgroup.path
                m.state.error = ""
                m.state.exitCode = 0
                m.state.oomKilled = false
                if let hc = m.spec.healthcheck {
                    m.state.health = HealthState()
                    let first = Self.now() + Double(hc.startPeriod > 0 ? min(hc.startInterval, hc.interval) : hc.interval) / 1e9
                    m.earlyProbeDelay = 0.025
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

    // MARK: - Output

    func drain(_ fd: Int32, id: String, stream: LogEntry.Stream) {
        guard let m = managed[id] else { return }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.withUnsafeBytes { m.log.consume(UnsafeRawBufferPointer(rebasing: $0[0..<n]), stream: stream) }
                if n < buffer.count { return }
                continue
            }
            if n < 0 && (errno == EINTR) { continue }
            if n < 0 && errno == EAGAIN { return }
            // End of stream (or EIO on a terminal whose other side is gone).
            unwatch(fd)
            if fd == m.terminal {
                Sys.close(fd)
                m.terminal = -1
            } else if m.outputs.removeValue(forKey: fd) != nil {
                Sys.close(fd)
            }
            return
        }
    }

    // MARK: - Stopping and exits

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
        if ProcessInfoReader.initWouldReceive(signal, pid: m.state.pid) && signal != SIGKILL {
            _ = cl_pidfd_send_signal(m.pidfd, signal, 0)
            if timeout >= 0 { m.stopDeadline = Self.now() + Double(timeout) / 1e9 }
        } else {
            // PID 1 neither catches nor blocks the signal: the kernel would drop it, so waiting is pointless.
            killNow(m)
        }
    }

    func killNow(_ m: Managed) {
        guard m.isRunning else { return }
        _ = cl_pidfd_send_signal(m.pidfd, SIGKILL, 0)
        runtime.cgroup(id: m.spec.id, state: m.state).killAll()
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
        if let probe = m.probe {
            _ = cl_pidfd_send_signal(probe.pidfd, SIGKILL, 0)
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
        let cgroup = runtime.cgroup(id: id, state: m.state)
        let oom = cgroup.oomKills > 0
        do { try cgroup.destroy() } catch { Self.writeError("cgroup of \(m.spec.name): \(error)\n") }
        for name in ["stdout", "stderr", "stdin"] { _ = unlink(runtime.containerDirectory(id) + "/" + name) }

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

    // MARK: - Healthchecks

    /// Runs one probe inside the container (through the exec helper), output captured.
    func startProbe(_ m: Managed) {
        guard let hc = m.spec.healthcheck else { return }
        let args: [String]
        switch hc.test.first {
        case "CMD": args = Array(hc.test.dropFirst())
        case "CMD-SHELL": args = ["/bin/sh", "-c", hc.test.dropFirst().joined(separator: " ")]
        default: args = hc.test
        }
        var request = ExecRequest(record: ContainerRecord(spec: m.spec, state: m.state), cgroup: runtime.cgroup(id: m.spec.id, state: m.state), args: args)
        request.killOnTerminate = true
        var fds: [Int32] = [0, 0]
        guard cl_pipe2(&fds, O_CLOEXEC) == 0, let null = try? Sys.open("/dev/null", O_RDONLY) else { return }
        defer { Sys.close(null) }
        do {
            let (_, pidfd) = try ContainerExec.start(request, runtime: Runtime(root: runtime.root, helper: runtime.helper), stdio: (null, fds[1], fds[1]))
            Sys.close(fds[1])
            _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
            let probe = Probe(pidfd: pidfd, output: fds[0], deadline: Self.now() + Double(hc.timeout) / 1e9)
            m.probe = probe
            watch(fds[0], .probeOutput(m.spec.id))
            watch(pidfd, .probeExit(m.spec.id))
        } catch {
            Sys.close(fds[0])
            Sys.close(fds[1])
            recordProbe(m, start: Timestamp.rfc3339(), exitCode: -1, output: "health probe failed to start: \(error)")
        }
    }

    func readProbe(_ id: String) {
        guard let m = managed[id], let probe = m.probe else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(probe.output, $0.baseAddress, $0.count) }
            if n > 0 {
                // docker keeps at most 4 KiB of a probe's output.
                if probe.captured.count < 4096 { probe.captured += buffer[0..<min(n, 4096 - probe.captured.count)] }
                continue
            }
            if n == 0 { unwatch(probe.output) }
            return
        }
    }

    func probeFinished(_ id: String) {
        guard let m = managed[id], let probe = m.probe else { return }
        readProbe(id)
        let status = try? Sys.wait(pidfd: probe.pidfd, block: false)
        guard let status else { return }
        finishProbe(m, probe, exitCode: status.code)
    }

    func finishProbe(_ m: Managed, _ probe: Probe, exitCode: Int32?) {
        unwatch(probe.pidfd)
        if sources[probe.output] != nil { unwatch(probe.output) }
        _ = try? Sys.wait(pidfd: probe.pidfd, block: false)
        Sys.close(probe.pidfd)
        Sys.close(probe.output)
        m.probe = nil
        guard let hc = m.spec.healthcheck, m.isRunning, var code = exitCode else { return }
        var output = String(decoding: probe.captured, as: UTF8.self)
        if probe.timedOut {
            code = -1
            output = "Health check exceeded timeout (\(Timestamp.goDuration(hc.timeout)))"
        }
        recordProbe(m, start: probe.startedAt, exitCode: code, output: output)
    }

    /// docker's rules: success makes it healthy; failures count once the start period is over (or
    /// while still starting, a failure inside it is forgiven); `retries` failures in a row: unhealthy.
    /// The early probes before docker's first one are forgiven like those of a start period, so a
    /// container turns unhealthy no sooner than under docker.
    func recordProbe(_ m: Managed, start: String, exitCode: Int32, output: String) {
        guard let hc = m.spec.healthcheck else { return }
        var health = m.state.health ?? HealthState()
        health.log.append(HealthState.Probe(start: start, end: Timestamp.rfc3339(), exitCode: exitCode, output: output))
        if health.log.count > 5 { health.log.removeFirst(health.log.count - 5) }
        let now = Self.now()
        let inStartPeriod = now < m.startedMonotonic + Double(hc.startPeriod) / 1e9
        let early = m.earlyProbesUntil.map { now < $0 } ?? false
        if exitCode == 0 {
            health.status = .healthy
            health.failingStreak = 0
        } else if !((inStartPeriod || early) && health.status == .starting) {
            health.failingStreak += 1
            if health.failingStreak >= max(1, hc.retries) { health.status = .unhealthy }
        }
        m.state.health = health
        persist(m)
        if early, health.status == .starting, let until = m.earlyProbesUntil {
            m.earlyProbeDelay *= 2
            m.nextProbe = min(until, now + m.earlyProbeDelay)
            if now + m.earlyProbeDelay >= until { m.earlyProbesUntil = nil }
            return
        }
        m.earlyProbesUntil = nil
        let stillStarting = inStartPeriod && health.status == .starting
        m.nextProbe = now + Double(stillStarting ? hc.startInterval : hc.interval) / 1e9
    }

    // MARK: - Adoption

    /// Takes over the containers of this group that a previous supervisor left running.
    func adoptExisting() {
        defer {
            // Cgroups of spare helpers a killed supervisor left (no process, no container).
            var keep: Set<String> = []
            for r in store.list() { keep.insert(runtime.cgroup(of: r).path) }
            Cgroup.sweep(parent: "swcompose", keep: keep)
        }
        for record in store.list() where supervisorGroup(of: record.spec) == group {
            let st = record.state
            guard [.running, .paused, .restarting].contains(st.status) else { continue }
            let m = Managed(spec: record.spec, state: st, log: LogWriter(path: logPath(record.id), options: record.spec.logging))
            managed[record.id] = m
            if st.isAlive, st.status != .restarting {
                let pidfd = cl_pidfd_open(st.pid, 0)
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
                    m.state.supervisorPid = getpid()
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
