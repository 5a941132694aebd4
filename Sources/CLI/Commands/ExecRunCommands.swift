import ArgumentParser
import ComposeModel
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

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
        let useTTY = !noTTY && !detach && TerminalIO.isTerminal(0)
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
        if privileged { request.makePrivileged() }
        // docker's exec events: exec_create / exec_start, then exec_die with the exit code.
        let died = EventJournal(root: session.runtime.root).recordExec(command, record.spec)
        if detach {
            _ = try? ContainerExec.startDetached(request, runtime: session.runtime)
            return
        }
        let raw = useTTY ? RawTerminal() : nil
        let code = try ContainerExec.run(request, runtime: session.runtime)
        raw?.restore()
        died(code)
        if code != 0 { throw ExitCode(code) }
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

    @OptionGroup var building: BuildFlags

    @Flag(name: .customLong("no-deps"), help: "Don't start linked services.")
    var noDeps = false

    @Flag(name: [.customShort("P"), .customLong("service-ports")], help: "Run command with all service's ports enabled and mapped to the host.")
    var servicePorts = false

    @Option(name: [.short, .customLong("publish")], help: "Publish a container's port(s) to the host.")
    var publish: [String] = []

    @Flag(name: .customLong("remove-orphans"), help: "Remove containers for services not defined in the Compose file.")
    var removeOrphans = false

    @Argument(help: "The service.")
    var service: String

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (default: the service's).")
    var command: [String] = []

    func run() throws {
        Trace.mark("cli: run")
        let session = try ComposeSession.open(root.global, services: [service], refusing: .everything)
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
        let useTTY = !noTTY && (tty || (TerminalIO.isTerminal(0) && !detach)) && (svc.tty || !detach || tty)
        o.tty = useTTY
        o.stdinOpen = !detach
        o.name = name
        o.removeAfter = remove
        o.servicePorts = servicePorts
        for spec in publish {
            do {
                for m in try PortSpec.parse(spec) {
                    var port = ServicePortConfig()
                    port.hostIP = m.hostIP
                    port.published = m.published
                    port.target = m.target
                    port.protocol = m.protocol
                    o.publish.append(port)
                }
            } catch {
                Terminal.writeError("invalid --publish \"\(spec)\": \(error)\n")
                throw ExitCode.failure
            }
        }
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
        let record = try session.mutate { () throws(SwcomposeError) in
            try orchestrator.buildForUp(services: pullServices, force: building.build, never: building.noBuild)
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
        switch try AttachedStart.run(record, client: client, tty: tty) {
        case .exited(let code):
            return code
        case .failedToStart(let message):
            // docker compose exits 1 when the container cannot start (only its own exit code passes through).
            Terminal.writeError("failed to start container \(record.name): \(message)\n")
            return 1
        case .lost(let message):
            Terminal.writeError("\(message)\n")
            return 1
        }
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
