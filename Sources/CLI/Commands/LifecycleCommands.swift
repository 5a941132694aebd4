import ArgumentParser
import ComposeModel
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// `-t/--timeout` in seconds, as docker compose takes it.
func timeoutNanoseconds(_ seconds: Int?) -> Int64? {
    seconds.map { $0 < 0 ? -1 : Int64($0) * 1_000_000_000 }
}

struct DownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop and remove containers, networks and (with -v) volumes.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .customLong("volumes")], help: "Remove named volumes declared in the volumes section and anonymous volumes.")
    var volumes = false

    @Flag(name: .customLong("remove-orphans"), help: "Remove containers for services not defined in the compose file.")
    var removeOrphans = false

    @Option(name: [.short, .long], help: "Seconds to wait for containers to stop before killing them.")
    var timeout: Int?

    @Option(help: "Remove images used by services: \"local\" removes only images that don't have a custom tag, \"all\" removes all images used by services.")
    var rmi: String?

    @Argument(help: "Services to take down (default: the whole project).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        if let rmi, !["local", "all"].contains(rmi) {
            Terminal.writeError("invalid --rmi value \"\(rmi)\": use local or all\n")
            throw ExitCode.failure
        }
        var options = Orchestrator.DownOptions()
        options.removeVolumes = volumes
        options.removeOrphans = removeOrphans
        options.timeout = timeoutNanoseconds(timeout)
        options.services = services
        options.removeImages = rmi
        try session.mutate { () throws(SwcomposeError) in try session.orchestrator.down(options) }
        (session.progress as? TerminalProgress)?.finish()
    }
}

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start existing containers.")

    @ParentCommand var root: SWCompose

    @Argument(help: "Services to start (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        try session.mutate { () throws(SwcomposeError) in try session.orchestrator.start(services: services) }
    }
}

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop running containers without removing them.")

    @ParentCommand var root: SWCompose

    @Option(name: [.short, .long], help: "Seconds to wait for containers to stop before killing them.")
    var timeout: Int?

    @Argument(help: "Services to stop (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        let records = try session.containers(services)
        try session.mutate { () throws(SwcomposeError) in try session.orchestrator.stop(records, timeout: timeoutNanoseconds(timeout)) }
    }
}

struct RestartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart service containers.")

    @ParentCommand var root: SWCompose

    @Option(name: [.short, .long], help: "Seconds to wait for containers to stop before killing them.")
    var timeout: Int?

    @Flag(name: .customLong("no-deps"), help: "Don't restart dependent services.")
    var noDeps = false

    @Argument(help: "Services to restart (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        let records = try session.containers(services)
        let o = session.orchestrator
        try session.mutate { () throws(SwcomposeError) in
            for r in records { session.progress.event("Container", r.name, "Restarting") }
            try o.stop(records, timeout: timeoutNanoseconds(timeout))
            try o.start(services: services.isEmpty ? [] : services)
            let journal = EventJournal(root: session.runtime.root)
            for r in records { journal.record("restart", r.spec) }
        }
    }
}

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Force stop service containers.")

    @ParentCommand var root: SWCompose

    @Option(name: [.short, .long], help: "SIGNAL to send to the container.")
    var signal: String = "SIGKILL"

    @Flag(name: .customLong("remove-orphans"), help: "Remove containers for services not defined in the compose file.")
    var removeOrphans = false

    @Argument(help: "Services to kill (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        let number: Int32
        do {
            number = try ContainerPlanner.signal(signal)
        } catch {
            Terminal.writeError("\(error)\n")
            throw ExitCode.failure
        }
        let records = try session.containers(services)
        if !records.contains(where: { $0.state.isAlive }) {
            Terminal.writeError("no container to kill\n")
            throw ExitCode.failure
        }
        try session.mutate { () throws(SwcomposeError) in try session.orchestrator.kill(records, signal: number) }
    }
}

struct RmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Removes stopped service containers.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Don't ask to confirm removal.")
    var force = false

    @Flag(name: [.short, .long], help: "Stop the containers, if required, before removing.")
    var stop = false

    @Flag(name: [.short, .customLong("volumes")], help: "Remove any anonymous volumes attached to containers.")
    var volumes = false

    @Argument(help: "Services to remove (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        var records = try session.containers(services)
        let o = session.orchestrator
        if stop {
            try session.run { () throws(SwcomposeError) in try o.stop(records, timeout: nil) }
            records = records.map { r in ContainerRecord(spec: r.spec, state: o.store.state(r.id)) }
        }
        let stopped = records.filter { !$0.state.isAlive }
        guard !stopped.isEmpty else {
            Terminal.writeError("No stopped containers\n")
            return
        }
        Terminal.write("Going to remove \(stopped.map(\.name).joined(separator: ", "))\n")
        if !force {
            Terminal.write("? Are you sure? (y/N) ")
            let answer = readLine() ?? ""
            guard answer.lowercased().hasPrefix("y") else { return }
        }
        try session.mutate { () throws(SwcomposeError) in try o.remove(stopped, removeVolumes: volumes) }
    }
}

struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Pause services.")

    @ParentCommand var root: SWCompose

    @Argument(help: "Services to pause (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        let records = try session.containers(services).filter { $0.state.isAlive && $0.state.status == .running }
        try session.run { () throws(SwcomposeError) in try session.orchestrator.setPaused(records, paused: true) }
    }
}

struct UnpauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unpause", abstract: "Unpause services.")

    @ParentCommand var root: SWCompose

    @Argument(help: "Services to unpause (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        let records = try session.containers(services).filter { $0.state.status == .paused }
        try session.run { () throws(SwcomposeError) in try session.orchestrator.setPaused(records, paused: false) }
    }
}

struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wait", abstract: "Block until containers of all (or specified) services stop, then print their exit codes.")

    @ParentCommand var root: SWCompose

    @Flag(name: .customLong("down-project"), help: "Drops the whole project when the first container stops.")
    var downProject = false

    @Argument(help: "Services to wait for.")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        let records = try session.containers(services)
        let codes = try session.run { () throws(SwcomposeError) in try session.orchestrator.wait(records) }
        for code in codes { Terminal.write("\(code)\n") }
        if downProject {
            try session.run { () throws(SwcomposeError) in try session.orchestrator.down(Orchestrator.DownOptions()) }
        }
        if let first = codes.first, first != 0 { throw ExitCode(first) }
    }
}
