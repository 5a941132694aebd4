import ArgumentParser
import ComposeModel
import Engine
import Scheduler
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Create and start containers.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .customLong("detach")], help: "Detached mode: run containers in the background.")
    var detach = false

    @Flag(name: .customLong("no-start"), help: "Don't start the services after creating them.")
    var noStart = false

    @Flag(name: .customLong("no-deps"), help: "Don't start linked services.")
    var noDeps = false

    @Flag(name: .customLong("wait"), help: "Wait for services to be running|healthy. Implies detached mode.")
    var wait = false

    @Option(name: .customLong("wait-timeout"), help: "Maximum duration in seconds to wait for the project to be running|healthy.")
    var waitTimeout: Int?

    @Option(name: [.short, .long], help: "Seconds to wait for containers to stop before killing them.")
    var timeout: Int?

    @Flag(name: .customLong("abort-on-container-exit"), help: "Stops all containers if any container was stopped. Incompatible with -d.")
    var abortOnContainerExit = false

    @Option(name: .customLong("exit-code-from"), help: "Return the exit code of the selected service container. Implies --abort-on-container-exit.")
    var exitCodeFrom: String?

    @Flag(name: .customLong("no-log-prefix"), help: "Don't print prefix in logs.")
    var noLogPrefix = false

    @Flag(name: .customLong("no-color"), help: "Produce monochrome output.")
    var noColor = false

    @Flag(name: .customLong("timestamps"), help: "Show timestamps.")
    var timestamps = false

    @Flag(name: .customLong("no-build"), help: "Don't build an image, even if it's policy.")
    var noBuild = false

    @Flag(name: .customLong("build"), help: "Build images before starting containers.")
    var build = false

    @Flag(name: [.short, .long], help: "Watch source code and rebuild/refresh containers when files are updated.")
    var watch = false

    @OptionGroup var recreation: RecreationFlags

    @OptionGroup var pulling: PullFlags

    @Argument(help: "Services to start (default: all).")
    var services: [String] = []

    func validate() throws {
        if watch && (detach || wait) {
            throw ValidationError("--watch follows the services attached: it cannot be combined with --detach or --wait (use swcompose watch)")
        }
        if detach && (abortOnContainerExit || exitCodeFrom != nil) {
            throw ValidationError("--abort-on-container-exit and --exit-code-from cannot be combined with --detach")
        }
    }

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services, refusing: .everything)
        var options = recreation.options(services)
        options.noDeps = noDeps
        options.noStart = noStart
        options.timeout = timeoutNanoseconds(timeout)
        if let exitCodeFrom, session.project.services[exitCodeFrom] == nil {
            Terminal.writeError("no such service: \(exitCodeFrom)\n")
            throw ExitCode.failure
        }
        let o = session.orchestrator
        // The watch rules are checked before anything is changed.
        let watcher = watch ? try session.run { () throws(SwcomposeError) in
            try ProjectWatch(o, services: services, options: ProjectWatch.Options(), report: { Terminal.write($0 + "\n") })
        } : nil
        let pullServices = o.selection(services, withDependencies: !noDeps)
        try session.mutate { () throws(SwcomposeError) in
            try o.buildForUp(services: pullServices, force: build, never: noBuild)
            try o.pullForUp(services: pullServices, override: pulling.pull, quiet: pulling.quietPull)
            try o.up(options)
        }
        (session.progress as? TerminalProgress)?.finish()
        if noStart { return }
        let selected = o.selection(services, withDependencies: !noDeps)
        if wait {
            try session.run { () throws(SwcomposeError) in
                try o.waitUntilReady(services: selected, timeout: waitTimeout.map(Double.init))
            }
            return
        }
        if detach { return }
        guard let watcher else {
            try attach(session, services: selected)
            return
        }
        // Watching beside the attached logs, until Ctrl-C.
        let stop = Atomic<Bool>(false)
        var failure: Error?
        Interrupts.install()
        Threads.concurrently(2) { i in
            if i == 0 {
                do throws(SwcomposeError) { try watcher.run(stop: { stop.load(ordering: .acquiring) || Interrupts.count > 0 }) } catch {
                    Terminal.writeError(error.description + "\n")
                }
            } else {
                do { try attach(session, services: selected, watching: true) } catch { failure = error }
                stop.store(true, ordering: .releasing)
            }
        }
        if let failure { throw failure }
    }

    /// Attached mode: stream every container's output until they have all exited, or Ctrl-C.
    func attach(_ session: ComposeSession, services: [String], watching: Bool = false) throws {
        let o = session.orchestrator
        // `attach: false` services run (and are logged) but are not shown here, as docker compose.
        let records = o.containers(services: services).filter { session.project.services[Orchestrator.serviceName($0)]?.attach != false }
        let names = records.map { LogPrinter.label($0) }
        // Before anything is shown: a Ctrl-C from then on stops the project.
        Interrupts.install()
        Terminal.write("Attaching to \(names.joined(separator: ", "))\n")
        var printerOptions = LogPrinter.Options()
        printerOptions.follow = true
        printerOptions.timestamps = timestamps
        printerOptions.prefix = !noLogPrefix
        // Attached, a container's standard error comes out on ours, as docker compose shows it.
        printerOptions.splitStreams = true
        printerOptions.color = !noColor && Terminal.useColor(root.global.ansi, fd: 1, environment: session.context.environment)
        let printer = LogPrinter(options: printerOptions, runtime: session.runtime)
        printer.printExisting(records)
        let attached = AttachedProject(records: records, store: o.store, abortOnExit: abortOnContainerExit, exitCodeFrom: exitCodeFrom)
        attached.untilInterrupted = watching
        printer.follow(alsoWatching: watching ? [session.runtime.root.containers] : []) {
            if watching {
                // A service recreated by a rebuild: its new container joins the stream.
                for r in o.containers(services: services) where printer.labels[r.id] == nil
                    && session.project.services[Orchestrator.serviceName(r)]?.attach != false {
                    printer.add(r)
                    attached.add(r)
                }
            }
            let (exits, done) = attached.check(interrupted: Interrupts.count > 0)
            for (r, code) in exits { Terminal.write("\(LogPrinter.label(r)) exited with code \(code)\n") }
            return done
        }
        let interrupted = Interrupts.count > 0
        if interrupted || attached.stopping {
            if interrupted { Terminal.write("Gracefully stopping... (press Ctrl+C again to force)\n") }
            let force = Interrupts.count
            try session.run { () throws(SwcomposeError) in
                try o.stop(attached.records, timeout: Interrupts.count > force ? 0 : timeoutNanoseconds(timeout))
            }
        }
        let code = attached.exitCode(interrupted: interrupted)
        if code != 0 { throw ExitCode(code) }
    }
}

struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Creates containers for a service.")

    @ParentCommand var root: SWCompose

    @OptionGroup var recreation: RecreationFlags

    @OptionGroup var pulling: PullFlags

    @OptionGroup var building: BuildFlags

    @Argument(help: "Services to create (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services, refusing: .everything)
        var options = recreation.options(services)
        options.noStart = true
        let o = session.orchestrator
        let pullServices = o.selection(services, withDependencies: true)
        try session.mutate { () throws(SwcomposeError) in
            try o.buildForUp(services: pullServices, force: building.build, never: building.noBuild)
            try o.pullForUp(services: pullServices, override: pulling.pull, quiet: pulling.quietPull)
            try o.up(options)
        }
    }
}

/// What `up` and `create` do with existing containers, and how many each service gets.
struct RecreationFlags: ParsableArguments {
    @Flag(name: .customLong("force-recreate"), help: "Recreate containers even if their configuration and image haven't changed.")
    var forceRecreate = false

    @Flag(name: .customLong("no-recreate"), help: "If containers already exist, don't recreate them.")
    var noRecreate = false

    @Flag(name: .customLong("remove-orphans"), help: "Remove containers for services not defined in the compose file.")
    var removeOrphans = false

    @Option(name: .customLong("scale"), help: ArgumentHelp("Scale SERVICE to NUM instances (overrides scale in the compose file).", valueName: "SERVICE=NUM"))
    var scale: [String] = []

    func validate() throws {
        if forceRecreate && noRecreate {
            throw ValidationError("--force-recreate and --no-recreate are incompatible")
        }
        for entry in scale where Self.replicas(entry) == nil {
            throw ValidationError("invalid --scale \"\(entry)\": use SERVICE=NUM")
        }
    }

    static func replicas(_ entry: String) -> (service: String, count: Int)? {
        let parts = entry.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let n = Int(parts[1]), n >= 0 else { return nil }
        return (String(parts[0]), n)
    }

    func options(_ services: [String]) -> Orchestrator.UpOptions {
        var options = Orchestrator.UpOptions()
        options.services = services
        options.forceRecreate = forceRecreate
        options.noRecreate = noRecreate
        options.removeOrphans = removeOrphans
        for (service, count) in scale.compactMap(Self.replicas) { options.scale[service] = count }
        return options
    }
}
