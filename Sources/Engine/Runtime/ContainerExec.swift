#if canImport(Glibc)
import Glibc
#endif

/// A process to run inside a running container (`exec`, healthcheck probes).
public struct ExecRequest: Codable, Sendable {
    public var containerID: String
    /// The container's first process, and its start time (against pid reuse).
    public var pid: Int32
    public var pidStartTime: UInt64
    public var cgroupDirectories: [String]
    public var args: [String]
    public var env: [String]
    public var user: String
    public var additionalGroups: [String]
    public var workingDir: String
    public var tty: Bool
    public var security: SecuritySpec
    public var rlimits: [ResourceLimit]
    /// For healthcheck probes: SIGTERM to the helper kills the process outright (a probe that times out).
    public var killOnTerminate = false
    /// Where compiled seccomp programs are cached (`$SWCOMPOSE_ROOT`).
    public var stateRoot: String?
    /// The cgroup2 directory the helper was born in (CLONE_INTO_CGROUP): nothing to join there.
    var bornIn: String?

    /// `--privileged` (exec's flag, a hook's `privileged`): every capability this process has, no
    /// seccomp filter.
    public mutating func makePrivileged() {
        security.privileged = true
        security.capabilities = Capabilities.ownBounding
        security.seccomp = nil
    }

    /// An exec into `record`'s container with its environment, user, working directory and confinement;
    /// the overrides (`-u`, `-w`, `-e`, `--privileged`) are applied by the caller.
    public init(record: ContainerRecord, cgroup: Cgroup, args: [String]) {
        containerID = record.id
        pid = record.state.pid
        pidStartTime = record.state.pidStartTime
        cgroupDirectories = cgroup.directories
        self.args = args
        env = record.spec.process.env
        user = record.spec.process.user
        additionalGroups = record.spec.process.additionalGroups
        workingDir = record.spec.process.workingDir
        tty = false
        security = record.spec.security
        rlimits = record.spec.rlimits
    }
}

/// An exec helper spawned and waiting for its request (`ContainerExec.prepare`). Sending hands its
/// pidfd to the caller; one never sent is killed and reaped when discarded or released.
public final class PreparedExec {
    public let pid: Int32
    let pidfd: Int32
    let channel: PacketSocket
    let bornIn: String?
    let stateRoot: String
    private var done = false

    init(pid: Int32, pidfd: Int32, channel: PacketSocket, bornIn: String?, stateRoot: String) {
        self.pid = pid
        self.pidfd = pidfd
        self.channel = channel
        self.bornIn = bornIn
        self.stateRoot = stateRoot
    }

    /// Still waiting for its request (not dead).
    public var isAlive: Bool { !done && (try? Sys.wait(pidfd: pidfd, block: false)) == .some(nil) }

    /// Sends the request: the helper's pid and pidfd, the pidfd now the caller's to close.
    public func send(_ request: ExecRequest) throws -> (Int32, Int32) {
        precondition(!done, "an exec helper takes one request")
        var request = request
        if request.stateRoot == nil { request.stateRoot = stateRoot }
        request.bornIn = bornIn
        do {
            try channel.send(try Wire.encode(request))
        } catch {
            discard()
            throw error
        }
        done = true
        channel.close()
        return (pid, pidfd)
    }

    /// Kills and reaps a helper that was never sent a request.
    public func discard() {
        guard !done else { return }
        done = true
        channel.close()
        Sys.killAndReap(pidfd: pidfd)
    }

    deinit { discard() }
}

/// `exec`: the helper `swcompose __exec` joins the container's cgroup and namespaces (one setns on a
/// pidfd), forks the process into its pid namespace with the container's user, capabilities and
/// seccomp filter, relays a terminal when asked, and exits with the process's status.
public enum ContainerExec {
    /// Runs the helper with the caller's descriptors as the process's standard streams. Returns the
    /// exit code (126 when the process could not be started, as docker reports it).
    public static func run(_ request: ExecRequest, runtime: Runtime, stdio: (Int32, Int32, Int32) = (0, 1, 2), wait: Bool = true) throws -> Int32 {
        let (_, pidfd) = try start(request, runtime: runtime, stdio: stdio)
        defer { Sys.close(pidfd) }
        if !wait { return 0 }
        // The helper forwards signals to the process; ignore the terminal's ones here meanwhile.
        let saved = Sys.ignoreSignals([SIGINT, SIGQUIT, SIGTERM, SIGHUP])
        defer { Sys.restoreSignals(saved) }
        return try Sys.wait(pidfd: pidfd)?.code ?? 126
    }

    /// `exec -d`: the process runs in the background with no terminal and its output discarded.
    public static func startDetached(_ request: ExecRequest, runtime: Runtime) throws {
        let null = try Sys.open("/dev/null", O_RDWR)
        defer { Sys.close(null) }
        let (_, pidfd) = try start(request, runtime: runtime, stdio: (null, null, null))
        Sys.close(pidfd)
    }

    /// Starts the helper without waiting: its pid and pidfd.
    public static func start(_ request: ExecRequest, runtime: Runtime, stdio: (Int32, Int32, Int32)) throws -> (Int32, Int32) {
        try prepare(cgroupDirectories: request.cgroupDirectories, runtime: runtime, stdio: stdio).send(request)
    }

    /// Spawns the helper for a process of the container whose cgroup directories are given, ready for
    /// its request: the helper starts up (loads, links, initialises) while the caller still waits for
    /// the moment to send it — a healthcheck's first probe, due a few milliseconds after the start.
    public static func prepare(cgroupDirectories: [String], runtime: Runtime, stdio: (Int32, Int32, Int32)) throws -> PreparedExec {
        let (parentEnd, childEnd) = try PacketSocket.pair()
        defer { childEnd.close() }
        // Born in the container's cgroup2 directory when the kernel can (no slow cgroup.procs write).
        let unified = CgroupHierarchies.current.unified.flatMap { root in
            cgroupDirectories.first { $0.hasPrefix(root + "/") }
        }
        if let unified, let fd = try? Sys.open(unified, O_RDONLY | O_DIRECTORY) {
            defer { Sys.close(fd) }
            if let (pid, pidfd) = try? Sys.spawn(runtime.helper, HelperMode.exec.arguments(), environment: Trace.environment,
                                                 fds: [stdio.0, stdio.1, stdio.2, childEnd.fd], cgroup: fd) {
                return PreparedExec(pid: pid, pidfd: pidfd, channel: parentEnd, bornIn: unified, stateRoot: runtime.root.path)
            }
        }
        do {
            let (pid, pidfd) = try Sys.spawn(runtime.helper, HelperMode.exec.arguments(), environment: Trace.environment,
                                             fds: [stdio.0, stdio.1, stdio.2, childEnd.fd])
            return PreparedExec(pid: pid, pidfd: pidfd, channel: parentEnd, bornIn: nil, stateRoot: runtime.root.path)
        } catch {
            parentEnd.close()
            throw error
        }
    }

    static func fail(_ message: String) -> Int32 {
        Array("\(message)\n".utf8).withUnsafeBytes { try? Sys.write(2, $0) }
        return 126
    }

    /// Entry point of `swcompose __exec`.
    public static func main() -> Int32 {
        let channel = PacketSocket(fd: 3)
        Sys.setCloseOnExec(3)
        let request: ExecRequest
        do {
            guard let message = try channel.receive() else { return fail("exec: no request") }
            request = try Wire.decode(ExecRequest.self, from: message.bytes)
        } catch {
            return fail("exec: \(error)")
        }
        channel.close()

        let seccomp: [UInt8]?
        do { seccomp = try ProcessSetup.seccompProgram(request.security, stateRoot: request.stateRoot) } catch { return fail("exec: \(error.message)") }
        guard let pidfd = try? Sys.pidfd(request.pid), ProcessInfoReader.startTime(of: request.pid) == request.pidStartTime else {
            return fail("container \(request.containerID.prefix(12)) is not running")
        }
        for dir in request.cgroupDirectories where Sys.exists(dir) && dir != request.bornIn {
            // v1: this single-threaded helper moves itself through `tasks` (no global lock); cgroup2: procs.
            let v1 = Sys.exists(dir + "/tasks")
            let value = v1 ? "0" : String(Sys.pid)
            guard (try? FileHandle(path: dir + (v1 ? "/tasks" : "/cgroup.procs"), flags: O_WRONLY).write(Array(value.utf8))) != nil else {
                return fail("exec: join cgroup \(dir): \(SystemError("write"))")
            }
        }
        do {
            try Sys.enterNamespaces(of: request.pid, pidfd: pidfd, [.mount, .uts, .ipc, .network, .pid, .cgroup])
        } catch {
            return fail("exec: setns: \(error)")
        }
        Sys.close(pidfd)

        var terminal: PseudoTerminal?
        if request.tty {
            do { terminal = try PseudoTerminal.open(devRoot: "/dev") } catch { return fail("exec: allocate terminal: \(error)") }
            // Sized before the process starts: a program that asks at once (`stty size`) must not see 0×0.
            if let terminal { TerminalIO.copyWindowSize(to: terminal.master) }
        }
        let report: (read: Int32, write: Int32)
        do { report = try Sys.pipe() } catch { return fail("exec: pipe: \(error)") }

        Sys.blockSignals(forwarded)

        let child: Int32
        do { child = try Sys.fork() } catch { return fail("exec: fork: \(error)") }
        if child == 0 {
            // In the container's pid namespace. Single-threaded: the helper never started a thread.
            Sys.close(report.read)
            Sys.unblockAllSignals()
            Sys.newSession()
            do {
                if let terminal {
                    Sys.close(terminal.master)
                    try terminal.makeControlling()
                }
                try ProcessSetup.applyRlimits(request.rlimits)
                let user = try ProcessSetup.resolveUser(request.user, additional: request.additionalGroups)
                var env = request.env
                ProcessSetup.completeEnvironment(&env, home: user.home)
                try ProcessSetup.confine(security: request.security, user: user, workingDir: request.workingDir.isEmpty ? "/" : request.workingDir,
                                         seccomp: seccomp)
                let executable = try ProcessSetup.lookPath(request.args.first ?? "", env: env)
                let failure = ProcessSetup.exec(executable, request.args, env)
                throw StepFailure("exec", "exec: \"\(request.args.first ?? "")\": \(ProcessSetup.goStyle(failure.code))")
            } catch let failure as StepFailure {
                Array(failure.message.utf8).withUnsafeBytes { try? Sys.write(report.write, $0) }
            } catch {
                Array("\(error)".utf8).withUnsafeBytes { try? Sys.write(report.write, $0) }
            }
            _exit(126)
        }
        Sys.close(report.write)
        if let terminal { Sys.close(terminal.slave) }
        let problem = (try? FileHandle(report.read).readAll()) ?? []
        if !problem.isEmpty {
            Sys.waitpid(child)
            return fail(String(decoding: problem, as: UTF8.self))
        }
        return supervise(child: child, terminal: terminal?.master, killOnTerminate: request.killOnTerminate)
    }

    /// The signals the helper passes on to the process (SIGWINCH resizes its terminal instead).
    static let forwarded: [Int32] = [SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD]

    /// Forwards signals (and, with a terminal, bytes and window sizes) until the process exits.
    static func supervise(child: Int32, terminal: Int32?, killOnTerminate: Bool = false) -> Int32 {
        guard let sigfd = try? Sys.signalDescriptor(forwarded) else { return Sys.waitpid(child)?.status.code ?? 126 }
        if let terminal { TerminalIO.copyWindowSize(to: terminal) }
        var inputOpen = terminal != nil
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        let readable = Int16(POLLIN)
        while true {
            var watched: [(fd: Int32, events: Int16)] = [(sigfd, readable)]
            if let terminal {
                watched.append((terminal, readable))
                if inputOpen { watched.append((0, readable)) }
            }
            let ready = Sys.poll(watched, timeout: -1)
            if ready[0] != 0 {
                for sig in Sys.readSignals(sigfd) {
                    if sig == SIGWINCH {
                        if let terminal { TerminalIO.copyWindowSize(to: terminal) }
                    } else if sig != SIGCHLD {
                        Sys.signal(child, killOnTerminate && sig == SIGTERM ? SIGKILL : sig)
                    }
                }
                if let (_, status) = Sys.waitpid(child, nonBlocking: true) {
                    if let terminal { Sys.relay(from: terminal, to: 1, buffer: &buffer, drain: true) }
                    return status.code
                }
            }
            if let terminal, ready.count > 1 {
                if ready[1] != 0 && !Sys.relay(from: terminal, to: 1, buffer: &buffer, drain: false) {
                    // The terminal closed: the process is ending; wait for its status below.
                    return Sys.waitpid(child)?.status.code ?? 126
                }
                if ready.count > 2 && ready[2] != 0 && !Sys.relay(from: 0, to: terminal, buffer: &buffer, drain: false) {
                    inputOpen = false
                }
            }
        }
    }
}
