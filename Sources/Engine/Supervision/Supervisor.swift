#if canImport(Glibc)
import Glibc
#endif

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
    var epoll: Epoll!
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
    /// How long a probe result that changed neither the health status nor the failing streak may wait
    /// to be written (see `Managed.persistAt`).
    static let healthLogDelay = 1.0

    /// The first early probe, this long after the container's process started (5 ms, then 10, 20…:
    /// a probe that passes at once — a dependency ready as it starts — costs its dependents 5 ms; one
    /// that fails costs the container a probe or two more in its first 50 ms than at 25 ms).
    static let firstEarlyProbe = 0.005
    /// An unused spare is kept this long after the start that asked for it (starts come in bursts:
    /// `up`, scripts running `run --rm`); then it goes, so that a quiet project costs only the supervisor.
    let spareLifetime = 10.0
    var spareExpires: Double?
    let net = NetworkServices()
    /// When the memory touched while starting is handed back: a quiet moment after the last burst of
    /// starts and stops (see `Sys.handBackStartupMemory`).
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
        case containerResolver(String)
        case dnsUpstream
    }

    /// A healthcheck probe in flight.
    final class Probe {
        let pidfd: Int32
        let output: Int32
        var captured: [UInt8] = []
        let startedAt = Timestamp.rfc3339()
        /// Records the probe's `exec_die` event.
        var died: (Int32) -> Void = { _ in }
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
        /// Its published ports are rules of the kernel leading to this address (`publishInKernel`).
        var publishedAddress: IPv4Address?
        var nextProbe: Double?
        var probe: Probe?
        /// The first probe's helper, spawned as the container started (`prepareProbe`), and the read
        /// end of its output.
        var preparedProbe: (exec: PreparedExec, output: Int32)?
        /// A probe that changed nothing but the health log is written by then (a second later at
        /// most, with whatever else changes meanwhile): a container probed every 200 ms does not
        /// replace its state file five times a second.
        var persistAt: Double?
        /// Until the first probe docker would run (one interval after the start), probes run early, at
        /// doubling delays from `firstEarlyProbe`, and their failures are forgiven: a dependency is
        /// healthy as soon as it is, not an interval later. nil once that time is reached or the
        /// container is healthy.
        var earlyProbesUntil: Double?
        var earlyProbeDelay = Supervisor.firstEarlyProbe
        /// Gratuitous ARPs still to send for the container's endpoints (see `ARP.schedule`).
        var announcements: Announcements?
        /// Its embedded resolver's socket (127.0.0.11 in its network namespace), while it runs.
        var resolver: Int32 = -1

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
        let line = "\(Timestamp.rfc3339()) supervisor[\(Sys.pid)]: \(text)"
        Array(line.utf8).withUnsafeBytes { try? Sys.write(2, $0) }
    }

    static func now() -> Double { MonotonicClock.now() }

    func run() -> Int32 {
        Trace.mark("supervisor: running")
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
        do {
            try CgroupPlacement.enterDelegation()
        } catch {
            Self.writeError("cannot take over the delegated cgroup scope: \(error)\n")
            return 1
        }
        Sys.ignore(SIGPIPE)
        Sys.blockSignals([SIGTERM, SIGINT, SIGHUP, SIGCHLD])
        do {
            epoll = try Epoll()
            signals = try Sys.signalDescriptor([SIGTERM, SIGINT, SIGHUP])
            watch(signals, .signals)
            listener = try UnixSocket.listen(paths.socket)
            watch(listener, .listener)
        } catch {
            Self.writeError("\(error)\n")
            return 1
        }
        Trace.mark("supervisor: listening")
        adoptExisting()
        Trace.mark("supervisor: adopted \(managed.count)")
        pageOutAt = Self.now() + quietPeriod
        // Tell the command that spawned us that the socket is ready.
        if Sys.isOpen(3) {
            Array("ready\n".utf8).withUnsafeBytes { try? Sys.write(3, $0) }
            Sys.close(3)
        }
        loop()
        // Health logs still waiting to be written (`Managed.persistAt`).
        for m in managed.values where m.persistAt != nil { persist(m) }
        closeNetworkServices()
        spare?.discard()
        try? Sys.unlink(paths.socket)
        return 0
    }

    func watch(_ fd: Int32, _ source: Source, events: UInt32 = 1 /* EPOLLIN */) {
        sources[fd] = source
        epoll.add(fd, events: events)
    }

    func unwatch(_ fd: Int32) {
        sources[fd] = nil
        epoll.remove(fd)
    }

    // MARK: - The loop

    func loop() {
        while running {
            let ready: [(fd: Int32, events: UInt32)]
            do { ready = try epoll.wait(timeout: nextTimeout()) } catch {
                Self.writeError("\(error)\n")
                return
            }
            for (fd, events) in ready {
                guard let source = sources[fd] else { continue }
                handle(fd, source, events: events)
            }
            runTimers()
            // The spare is made when no start is under way: made during one, it would take a CPU
            // from the container starting (and, for a one-off, from its whole run) to save the next
            // start the same work.
            if wantSpare && running && spare == nil && !managed.values.contains(where: { $0.pending != nil }) {
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
            consider(m.persistAt)
            consider(m.announcements?.next)
            if let p = m.probe, !p.timedOut { consider(p.deadline) }
        }
        if let idleSince { consider(idleSince + linger) }
        guard let deadline else { return 1000 }
        return Int32(max(0, min(1000, (deadline - Self.now()) * 1000 + 1)))
    }

    func handle(_ fd: Int32, _ source: Source, events: UInt32) {
        switch source {
        case .listener:
            if let client = Sys.accept(fd) {
                clients[client] = FrameReader()
                watch(client, .client)
            }
        case .signals:
            _ = Sys.readSignals(fd)
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
        case .containerResolver(let id):
            containerResolverEvent(fd, id: id)
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
                Sys.handBackStartupMemory()
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
                Sys.signal(pidfd: probe.pidfd, SIGTERM)
            }
            if let next = m.announcements?.next, next <= now { announce(m) }
            if let at = m.persistAt, at <= now { persist(m) }
            if let r = m.restartAt, r <= now {
                m.restartAt = nil
                m.state.restartCount += 1
                start(m, client: nil, attach: false, fds: [])
            }
        }
    }
}
