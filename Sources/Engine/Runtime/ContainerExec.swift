#if canImport(Glibc)
import Glibc
#endif
import CLinux

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
        var old = sigaction(), ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        var saved: [(Int32, sigaction)] = []
        for sig in [SIGINT, SIGQUIT, SIGTERM, SIGHUP] {
            sigaction(sig, &ignore, &old)
            saved.append((sig, old))
        }
        defer { for (sig, act) in saved { var a = act; sigaction(sig, &a, nil) } }
        return try Sys.wait(pidfd: pidfd)?.code ?? 126
    }

    /// Starts the helper without waiting: its pid and pidfd.
    public static func start(_ request: ExecRequest, runtime: Runtime, stdio: (Int32, Int32, Int32)) throws -> (Int32, Int32) {
        var request = request
        if request.stateRoot == nil { request.stateRoot = runtime.root.path }
        let (parentEnd, childEnd) = try PacketSocket.pair()
        defer { parentEnd.close() }
        var pidfd: Int32 = -1
        var pid: Int32 = -1
        // Born in the container's cgroup2 directory when the kernel can (no slow cgroup.procs write).
        let unified = CgroupHierarchies.detect().unified.flatMap { root in
            request.cgroupDirectories.first { $0.hasPrefix(root + "/") }
        }
        if let unified, case let fd = open(unified, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd >= 0 {
            defer { Sys.close(fd) }
            request.bornIn = unified
            pid = (try? ContainerLauncher.spawn(runtime.helper, ["swcompose", "__exec"], env: Trace.environment,
                                                fds: [stdio.0, stdio.1, stdio.2, childEnd.fd], flags: 0, pidfd: &pidfd, cgroup: fd)) ?? -1
            if pid < 0 { request.bornIn = nil }
        }
        if pid < 0 {
            do {
                pid = try ContainerLauncher.spawn(runtime.helper, ["swcompose", "__exec"], env: Trace.environment,
                                                  fds: [stdio.0, stdio.1, stdio.2, childEnd.fd], flags: 0, pidfd: &pidfd)
            } catch {
                childEnd.close()
                throw error
            }
        }
        childEnd.close()
        do {
            try parentEnd.send(try Wire.encode(request))
        } catch {
            _ = cl_pidfd_send_signal(pidfd, SIGKILL, 0)
            _ = try? Sys.wait(pidfd: pidfd)
            Sys.close(pidfd)
            throw error
        }
        return (pid, pidfd)
    }

    static func fail(_ message: String) -> Int32 {
        Array("\(message)\n".utf8).withUnsafeBytes { try? Sys.write(2, $0) }
        return 126
    }

    /// Entry point of `swcompose __exec`.
    public static func main() -> Int32 {
        let channel = PacketSocket(fd: 3)
        _ = fcntl(3, F_SETFD, FD_CLOEXEC)
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
        let pidfd = cl_pidfd_open(request.pid, 0)
        guard pidfd >= 0, ProcessInfoReader.startTime(of: request.pid) == request.pidStartTime else {
            return fail("container \(request.containerID.prefix(12)) is not running")
        }
        for dir in request.cgroupDirectories where Sys.exists(dir) && dir != request.bornIn {
            // v1: this single-threaded helper moves itself through `tasks` (no global lock); cgroup2: procs.
            let v1 = Sys.exists(dir + "/tasks")
            let value = v1 ? "0" : String(getpid())
            guard (try? FileHandle(path: dir + (v1 ? "/tasks" : "/cgroup.procs"), flags: O_WRONLY).write(Array(value.utf8))) != nil else {
                return fail("exec: join cgroup \(dir): \(SystemError("write"))")
            }
        }
        let flags = CL_CLONE_NEWNS | CL_CLONE_NEWUTS | CL_CLONE_NEWIPC | CL_CLONE_NEWNET | CL_CLONE_NEWPID | CL_CLONE_NEWCGROUP
        guard cl_setns(pidfd, Int32(flags)) == 0 else { return fail("exec: setns: \(SystemError("setns"))") }
        Sys.close(pidfd)

        var terminal: PseudoTerminal?
        if request.tty {
            do { terminal = try PseudoTerminal.open(devRoot: "/dev") } catch { return fail("exec: allocate terminal: \(error)") }
            // Sized before the process starts: a program that asks at once (`stty size`) must not see 0×0.
            if let terminal { copyWindowSize(to: terminal.master) }
        }
        var report: [Int32] = [0, 0]
        guard cl_pipe2(&report, O_CLOEXEC) == 0 else { return fail("exec: pipe: \(SystemError("pipe"))") }

        let relayed: [Int32] = [SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD]
        _ = relayed.withUnsafeBufferPointer { cl_block_signals($0.baseAddress, Int32($0.count)) }

        let child = fork()
        if child == 0 {
            // In the container's pid namespace. Single-threaded: the helper never started a thread.
            Sys.close(report[0])
            _ = cl_unblock_all_signals()
            _ = setsid()
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
                Array(failure.message.utf8).withUnsafeBytes { try? Sys.write(report[1], $0) }
            } catch {
                Array("\(error)".utf8).withUnsafeBytes { try? Sys.write(report[1], $0) }
            }
            _exit(126)
        }
        Sys.close(report[1])
        if child < 0 { return fail("exec: fork: \(SystemError("fork"))") }
        if let terminal { Sys.close(terminal.slave) }
        let problem = (try? FileHandle(report[0]).readAll()) ?? []
        if !problem.isEmpty {
            var status: Int32 = 0
            waitpid(child, &status, 0)
            return fail(String(decoding: problem, as: UTF8.self))
        }
        return supervise(child: child, terminal: terminal?.master, killOnTerminate: request.killOnTerminate)
    }

    /// Forwards signals (and, with a terminal, bytes and window sizes) until the process exits.
    static func supervise(child: Int32, terminal: Int32?, killOnTerminate: Bool = false) -> Int32 {
        let forwarded: [Int32] = [SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD]
        let sigfd = forwarded.withUnsafeBufferPointer { cl_signalfd(-1, $0.baseAddress, Int32($0.count), O_CLOEXEC | O_NONBLOCK) }
        if let terminal { copyWindowSize(to: terminal) }
        var inputOpen = terminal != nil
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        while true {
            var fds: [pollfd] = [pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
            if let terminal {
                fds.append(pollfd(fd: terminal, events: Int16(POLLIN), revents: 0))
                if inputOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            }
            let n = poll(&fds, nfds_t(fds.count), -1)
            if n < 0 && errno != EINTR { break }
            if fds[0].revents != 0 {
                // signalfd_siginfo is 128 bytes and starts with the signal number.
                var info = [UInt8](repeating: 0, count: 128)
                while info.withUnsafeMutableBytes({ read(sigfd, $0.baseAddress, 128) }) == 128 {
                    let sig = info.withUnsafeBytes { Int32(bitPattern: $0.load(as: UInt32.self)) }
                    if sig == SIGWINCH {
                        if let terminal { copyWindowSize(to: terminal) }
                    } else if sig != SIGCHLD {
                        kill(child, killOnTerminate && sig == SIGTERM ? SIGKILL : sig)
                    }
                }
                var status: Int32 = 0
                if waitpid(child, &status, WNOHANG) == child {
                    if let terminal { pump(from: terminal, to: 1, buffer: &buffer, drain: true) }
                    return ExitStatus(waitStatus: status).code
                }
            }
            if let terminal, fds.count > 1 {
                if fds[1].revents != 0 && !pump(from: terminal, to: 1, buffer: &buffer, drain: false) {
                    // The terminal closed: the process is ending; wait for its status below.
                    var status: Int32 = 0
                    waitpid(child, &status, 0)
                    return ExitStatus(waitStatus: status).code
                }
                if fds.count > 2 && fds[2].revents != 0 && !pump(from: 0, to: terminal, buffer: &buffer, drain: false) {
                    inputOpen = false
                }
            }
        }
        var status: Int32 = 0
        waitpid(child, &status, 0)
        return ExitStatus(waitStatus: status).code
    }

    /// Copies what is readable; false at end of input.
    @discardableResult
    public static func pump(from: Int32, to: Int32, buffer: inout [UInt8], drain: Bool) -> Bool {
        if drain { _ = fcntl(from, F_SETFL, fcntl(from, F_GETFL) | O_NONBLOCK) }
        repeat {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n <= 0 { return n < 0 && (errno == EINTR || errno == EAGAIN) }
            buffer.withUnsafeBytes { try? Sys.write(to, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        } while drain
        return true
    }

    public static func copyWindowSize(to terminal: Int32) {
        var rows: UInt16 = 0, cols: UInt16 = 0
        if cl_get_winsize(0, &rows, &cols) == 0 { _ = cl_set_winsize(terminal, rows, cols) }
    }
}
