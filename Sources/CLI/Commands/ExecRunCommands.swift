import ArgumentParser
import ComposeModel
import Engine
import Scheduler
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// The controlling terminal in raw mode for the life of the value (restored on release).
final class RawTerminal {
    var saved = termios()
    var active = false

    init?(fd: Int32 = 0) {
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return nil }
        var raw = saved
        cfmakeraw(&raw)
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return nil }
        active = true
    }

    func restore() {
        guard active else { return }
        tcsetattr(0, TCSANOW, &saved)
        active = false
    }

    deinit { restore() }
}

/// `KEY=value` entries; a bare `KEY` takes the value from the command's environment (or is dropped).
func parseEnvironmentFlags(_ entries: [String], environment: [String: String]) -> [String: String] {
    var result: [String: String] = [:]
    for e in entries {
        if let eq = e.firstIndex(of: "=") {
            result[String(e[..<eq])] = String(e[e.index(after: eq)...])
        } else if let v = environment[e] {
            result[e] = v
        }
    }
    return result
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Execute a command in a running container.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Detached mode: Run command in the background.")
    var detach = false

    @Flag(name: [.customShort("T"), .customLong("no-TTY")], help: "Disable pseudo-TTY allocation. By default exec allocates a TTY.")
    var noTTY = false

    @Flag(name: [.short, .customLong("tty")], help: "Allocate a pseudo-TTY (the default when standard input is a terminal).")
    var tty = false

    @Flag(name: [.short, .customLong("interactive")], help: "Keep STDIN open even if not attached (the default).")
    var interactive = false

    @Flag(help: "Give extended privileges to the process.")
    var privileged = false

    @Option(name: [.short, .long], help: "Run the command as this user.")
    var user: String?

    @Option(name: [.short, .long], help: "Path to workdir directory for this command.")
    var workdir: String?

    @Option(name: [.short, .customLong("env")], help: "Set environment variables.")
    var env: [String] = []

    @Option(help: "Index of the container if service has multiple replicas.")
    var index: Int = 1

    @Argument(help: "The service.")
    var service: String

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
    var command: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: [service])
        guard !command.isEmpty else {
            Terminal.writeError("exec requires a command\n")
            throw ExitCode.failure
        }
        let records = try session.containers([service]).filter { Orchestrator.number($0) == index }
        guard let record = records.first, record.state.isAlive else {
            Terminal.writeError("service \"\(service)\" is not running\n")
            throw ExitCode.failure
        }
        let useTTY = !noTTY && !detach && isatty(0) == 1
        var request = ExecRequest(record: record, cgroup: session.runtime.cgroup(of: record), args: command)
        if let user { request.user = user }
        if let workdir { request.workingDir = workdir }
        request.tty = useTTY
        var environment = request.env
        let overrides = parseEnvironmentFlags(env, environment: session.context.environment)
        if useTTY && !environment.contains(where: { $0.hasPrefix("TERM=") }) { environment.append("TERM=xterm") }
        for key in overrides.keys.sorted() {
            environment.removeAll { $0.hasPrefix(key + "=") }
            environment.append("\(key)=\(overrides[key]!)")
        }
        request.env = environment
        if privileged {
            request.security.privileged = true
            request.security.capabilities = Capabilities.ownBounding
            request.security.seccomp = nil
        }
        if detach {
            let null = open("/dev/null", O_RDWR)
            var pidfd: Int32 = -1
            _ = try? ContainerExecDetached.spawn(request, runtime: session.runtime, null: null, pidfd: &pidfd)
            return
        }
        let raw = useTTY ? RawTerminal() : nil
        let code = try ContainerExec.run(request, runtime: session.runtime)
        raw?.restore()
        if code != 0 { throw ExitCode(code) }
    }
}

enum ContainerExecDetached {
    /// Starts the exec helper in the background with no terminal.
    static func spawn(_ request: ExecRequest, runtime: Runtime, null: Int32, pidfd: inout Int32) throws {
        _ = try ContainerExec.run(request, runtime: runtime, stdio: (null, null, null), wait: false)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a one-off command on a service.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Run container in background and print container ID.")
    var detach = false

    @Flag(name: .customLong("rm"), help: "Automatically remove the container when it exits.")
    var remove = false

    @Option(help: "Assign a name to the container.")
    var name: String?

    @Option(help: "Override the entrypoint of the image.")
    var entrypoint: String?

    @Option(name: [.short, .customLong("env")], help: "Set environment variables.")
    var env: [String] = []

    @Option(name: [.short, .customLong("label")], help: "Add or override a label.")
    var labels: [String] = []

    @Option(name: [.short, .long], help: "Run as specified username or uid.")
    var user: String?

    @Option(name: [.short, .long], help: "Working directory inside the container.")
    var workdir: String?

    @Flag(name: [.customShort("T"), .customLong("no-TTY")], help: "Disable pseudo-TTY allocation (default: auto-detected).")
    var noTTY = false

    @Flag(name: [.short, .customLong("tty")], help: "Allocate a pseudo-TTY.")
    var tty = false

    @Flag(name: [.short, .customLong("interactive")], help: "Keep STDIN open even if not attached (the default).")
    var interactive = false

    @Option(name: [.short, .customLong("volume")], help: "Bind mount a volume.")
    var volumes: [String] = []

    @OptionGroup var pulling: PullFlags

    @Flag(name: .customLong("no-deps"), help: "Don't start linked services.")
    var noDeps = false

    @Flag(name: [.customShort("P"), .customLong("service-ports")], help: "Run command with all service's ports enabled and mapped to the host.")
    var servicePorts = false

    @Flag(name: .customLong("remove-orphans"), help: "Remove containers for services not defined in the Compose file.")
    var removeOrphans = false

    @Argument(help: "The service.")
    var service: String

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (default: the service's).")
    var command: [String] = []

    func run() throws {
        Trace.mark("cli: run")
        let session = try ComposeSession.open(root.global, services: [service])
        Trace.mark("cli: project loaded")
        guard let svc = session.project.services[service] else {
            Terminal.writeError("no such service: \(service)\n")
            throw ExitCode.failure
        }
        var options = Orchestrator.RunOptions(service: service)
        options.noDeps = noDeps
        var o = ContainerPlanner.Overrides()
        if !command.isEmpty { o.command = command }
        if let entrypoint {
            do { o.entrypoint = try ShellWords.split(entrypoint) } catch {
                Terminal.writeError("invalid --entrypoint: \(error)\n")
                throw ExitCode.failure
            }
        }
        o.environment = parseEnvironmentFlags(env, environment: session.context.environment)
        o.user = user
        o.workingDir = workdir
        let useTTY = !noTTY && (tty || (isatty(0) == 1 && !detach)) && (svc.tty || !detach || tty)
        o.tty = useTTY
        o.stdinOpen = !detach
        o.name = name
        o.removeAfter = remove
        for l in labels {
            let parts = l.split(separator: "=", maxSplits: 1)
            o.labels[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        for v in volumes {
            do {
                o.volumes.append(try ShortVolume.parse(v, workingDirectory: session.project.workingDirectory))
            } catch {
                Terminal.writeError("invalid --volume \"\(v)\": \(error)\n")
                throw ExitCode.failure
            }
        }
        options.overrides = o
        let orchestrator = session.orchestrator
        let pullServices = orchestrator.selection([service], withDependencies: !noDeps)
        let record = try session.mutate { () throws(OrchestrationError) in
            try orchestrator.pullForUp(services: pullServices, override: pulling.pull, quiet: pulling.quietPull)
            return try orchestrator.prepareRun(options)
        }
        Trace.mark("cli: container created")
        (session.progress as? TerminalProgress)?.finish()

        let client: SupervisorClient
        do {
            client = try SupervisorClient.connect(runtime: session.runtime, group: session.project.name)
        } catch {
            Terminal.writeError("\(error)\n")
            throw ExitCode.failure
        }
        if detach {
            let (reply, _) = try client.request(.start(id: record.id, attach: false))
            if case .failed(let message) = reply {
                Terminal.writeError("failed to start container \(record.name): \(message)\n")
                throw ExitCode.failure
            }
            Terminal.write(record.name + "\n")
            return
        }
        let code = try attachAndWait(record, client: client, tty: useTTY)
        Trace.mark("cli: container exited")
        // With --rm the supervisor removes the container (and its anonymous volumes) once it exits.
        Trace.mark("cli: done")
        if code != 0 { throw ExitCode(code) }
    }

    /// Starts the container attached to this terminal and returns its exit code.
    func attachAndWait(_ record: ContainerRecord, client: SupervisorClient, tty: Bool) throws -> Int32 {
        let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH]
        _ = signals.withUnsafeBufferPointer { cl_block_signals($0.baseAddress, Int32($0.count)) }
        let sigfd = signals.withUnsafeBufferPointer { cl_signalfd(-1, $0.baseAddress, Int32($0.count), O_CLOEXEC | O_NONBLOCK) }
        defer {
            close(sigfd)
            _ = cl_unblock_all_signals()
        }
        var rows: UInt16 = 0, columns: UInt16 = 0
        if tty { _ = cl_get_winsize(0, &rows, &columns) }
        // The wait goes with the start: a quick process may be gone (and with --rm removed) before a
        // later request would arrive.
        try client.send(.start(id: record.id, attach: true, rows: rows, columns: columns), fds: tty ? [] : [0, 1, 2])
        try client.send(.wait(id: record.id))
        let (reply, fds) = try client.receive()
        if case .failed(let message) = reply {
            // docker compose exits 1 when the container cannot start (only its own exit code passes through).
            Terminal.writeError("failed to start container \(record.name): \(message)\n")
            return 1
        }
        var master = tty ? fds.first : nil
        let raw = master != nil ? RawTerminal() : nil
        defer { raw?.restore() }
        if let master { ContainerExec.copyWindowSize(to: master) }
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        var inputOpen = master != nil
        while true {
            var polls = [pollfd(fd: client.socket, events: Int16(POLLIN), revents: 0), pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0)]
            if let m = master {
                polls.append(pollfd(fd: m, events: Int16(POLLIN), revents: 0))
                if inputOpen { polls.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            }
            if poll(&polls, nfds_t(polls.count), -1) < 0 && errno != EINTR { break }
            if polls[1].revents != 0 {
                var info = [UInt8](repeating: 0, count: 128)
                while info.withUnsafeMutableBytes({ read(sigfd, $0.baseAddress, 128) }) == 128 {
                    let sig = info.withUnsafeBytes { Int32(bitPattern: $0.load(as: UInt32.self)) }
                    if sig == SIGWINCH {
                        if let m = master { ContainerExec.copyWindowSize(to: m) }
                    } else if let c = try? SupervisorClient.connect(runtime: Runtime(root: client.root), group: client.group) {
                        // Proxy the signal to the container, as docker compose run does.
                        _ = try? c.request(.kill(id: record.id, signal: sig))
                    }
                }
            }
            if let m = master, polls.count > 2 {
                if polls[2].revents != 0 && !ContainerExec.pump(from: m, to: 1, buffer: &buffer, drain: false) {
                    close(m)
                    master = nil
                }
                if polls.count > 3 && polls[3].revents != 0 && !ContainerExec.pump(from: 0, to: m, buffer: &buffer, drain: false) {
                    inputOpen = false
                }
            }
            if polls[0].revents != 0 {
                if let m = master { ContainerExec.pump(from: m, to: 1, buffer: &buffer, drain: true); close(m) }
                let (done, _) = try client.receive()
                if case .exited(let code, _) = done { return code }
                if case .failed(let message) = done { Terminal.writeError("\(message)\n") }
                return 1
            }
        }
        return 1
    }
}

/// `run -v SOURCE:TARGET[:OPTIONS]`, resolved as the compose file's short syntax is.
enum ShortVolume {
    static func parse(_ text: String, workingDirectory: String) throws -> ServiceVolumeConfig {
        let p = try VolumeSpec.parse(text)
        var v = ServiceVolumeConfig()
        v.type = p.type
        v.target = p.target
        v.readOnly = p.readOnly
        if p.type == "bind" {
            var source = p.source
            if source.hasPrefix("~") { source = (Terminal.environment["HOME"] ?? "/root") + source.dropFirst() }
            if !source.hasPrefix("/") { source = workingDirectory + "/" + source }
            v.source = Path.clean(source)
            var bind = ServiceVolumeConfig.Bind()
            bind.createHostPath = true
            bind.propagation = p.propagation
            v.bind = bind
        } else {
            v.source = p.source
            if p.noCopy {
                var options = ServiceVolumeConfig.VolumeOptions()
                options.noCopy = true
                v.volume = options
            }
        }
        return v
    }
}
