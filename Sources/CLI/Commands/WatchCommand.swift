import ArgumentParser
import Engine
import Scheduler

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Watch the build context for services and rebuild/refresh containers when files are updated.")

    @ParentCommand var root: SWCompose

    @Flag(name: .customLong("no-up"), help: "Do not build & start services before watching.")
    var noUp = false

    @Flag(help: "Prune dangling images on rebuild.")
    var prune = false

    @Flag(help: "Hide build output.")
    var quiet = false

    @Argument(help: "Services to watch (default: all with a develop section).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services, refusing: .everything)
        let o = session.orchestrator
        var options = ProjectWatch.Options()
        options.prune = prune
        options.quiet = quiet
        let watch = try session.run { () throws(SwcomposeError) in
            try o.checkServices(services)
            return try ProjectWatch(o, services: services, options: options, report: { Terminal.write($0 + "\n") })
        }
        if !noUp {
            var up = Orchestrator.UpOptions()
            up.services = services
            let selected = o.selection(services, withDependencies: true)
            try session.mutate { () throws(SwcomposeError) in
                try o.buildForUp(services: selected, force: false, never: false, quiet: quiet)
                try o.pullForUp(services: selected, override: nil, quiet: quiet)
                try o.up(up)
            }
            (session.progress as? TerminalProgress)?.finish()
        }
        Interrupts.install()
        try session.run { () throws(SwcomposeError) in try watch.run(stop: { Interrupts.count > 0 }) }
    }
}
