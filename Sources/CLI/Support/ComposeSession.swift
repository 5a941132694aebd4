import ArgumentParser
import ComposeModel
import Engine
import Registry
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// A loaded project with the Engine behind it: what every project verb (`up`, `ps`, `logs`…) starts from.
struct ComposeSession {
    let context: ProjectContext
    let loaded: LoadedProject
    let runtime: Runtime
    let orchestrator: Orchestrator
    let progress: ProgressReporter

    var project: Project { loaded.project }

    /// Which keys a verb that creates things checks against the support table.
    enum SupportCheck {
        /// Everything the project uses (`up`, `create`, `run`, `watch`).
        case everything
        /// The services' `build` sections (`build`).
        case builds
    }

    /// Loads the project (services named on the command line enable their profiles) and prepares the
    /// orchestrator. Load errors are printed and end the command; with `refusing`, so do the keys
    /// swcompose does not support (`ComposeSupport`), before anything is created.
    static func open(_ global: GlobalOptions, services: [String] = [], refusing check: SupportCheck? = nil) throws -> ComposeSession {
        let context = ProjectContext(global)
        let loaded = try context.load(context.options(services: services))
        if let check {
            let refusals = ComposeSupport.refusals(loaded) { use in
                check == .everything || use.path.hasPrefix("services.*.build")
            }
            if !refusals.isEmpty {
                context.report(refusals, sources: loaded.sources)
                throw ExitCode.failure
            }
        }
        let runtime = Runtime(root: StateAccess.root(context.environment))
        let progress = Progress.make(global.progress, ansi: global.ansi, environment: context.environment)
        do {
            let orchestrator = try Orchestrator(project: loaded.project, runtime: runtime, progress: global.dryRun ? DryRunProgress() : progress,
                                                dryRun: global.dryRun)
            orchestrator.environment = loaded.environment.values
            orchestrator.processEnvironment = context.environment
            if !global.dryRun { orchestrator.recover() }
            return ComposeSession(context: context, loaded: loaded, runtime: runtime, orchestrator: orchestrator, progress: progress)
        } catch {
            context.report([error.diagnostic], sources: loaded.sources)
            throw ExitCode.failure
        }
    }

    /// Runs an orchestration step, printing its failure the way docker compose does (with the compose
    /// file location when there is one).
    func run<T>(_ body: () throws(SwcomposeError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            (progress as? TerminalProgress)?.finish()
            fail(error)
        }
    }

    /// Like `run`, holding the project's lock: one project's commands that change it go one at a time
    /// (different projects proceed in parallel).
    func mutate<T>(_ body: () throws(SwcomposeError) -> T) throws -> T {
        try run { () throws(SwcomposeError) in
            try orchestrator.exclusively(waiting: {
                Terminal.writeError("waiting for another swcompose command on project \(project.name)…\n")
            }, body)
        }
    }

    func fail(_ error: SwcomposeError) -> Never {
        if error.location != nil {
            var sources = loaded.sources
            sources.merge(error.sources)
            context.report(error.diagnostics, sources: sources)
        } else {
            Terminal.writeError(error.description + "\n")
        }
        exit(error.has(.interrupted) ? 130 : 1)
    }

    /// A service's container by replica number (`--index`); its absence ends the command, saying so.
    func container(_ service: String, index: Int) throws -> ContainerRecord {
        guard let record = try containers([service]).first(where: { Orchestrator.number($0) == index }) else {
            Terminal.writeError("service \"\(service)\" has no container \(index): create it with up or create first\n")
            throw ExitCode.failure
        }
        return record
    }

    /// The project's containers for the named services (all when none), one-off ones excluded.
    func containers(_ services: [String], oneOff: Bool? = false) throws -> [ContainerRecord] {
        try run { () throws(SwcomposeError) in try orchestrator.checkServices(services) }
        return orchestrator.containers(services: services, oneOff: oneOff)
    }
}

/// docker compose's progress output: plain lines (` Container demo-web-1  Started`) when the output is
/// not a terminal, a redrawn block with durations when it is.
enum Progress {
    static func make(_ mode: ProgressMode, ansi: AnsiMode, environment: [String: String]) -> ProgressReporter {
        switch mode {
        case .quiet: return QuietProgress()
        case .plain, .json: return PlainProgress()
        case .tty: return TerminalProgress()
        case .auto:
            if Terminal.isTTY(2) && environment["TERM"] != "dumb" && ansi != .never { return TerminalProgress() }
            return PlainProgress()
        }
    }
}

/// `--dry-run`: docker compose's `DRY-RUN MODE -` lines, one per planned action.
final class DryRunProgress: ProgressReporter {
    func event(_ kind: String, _ name: String, _ status: String) {
        Terminal.writeError(kind.isEmpty ? " DRY-RUN MODE -  \(name) \(status)\n" : " DRY-RUN MODE -  \(kind) \(name)  \(status)\n")
    }

    func warning(_ text: String) { Terminal.writeError("WARN[0000] \(text)\n") }
}

final class QuietProgress: ProgressReporter {
    func event(_ kind: String, _ name: String, _ status: String) {}
    func warning(_ text: String) { Terminal.writeError("WARN[0000] \(text)\n") }
}

final class PlainProgress: LayerProgressReporter {
    /// When each layer last printed a progress bar: bars are printed at most twice a second.
    var lastBar: [String: Double] = [:]

    func event(_ kind: String, _ name: String, _ status: String) {
        // Image transfers are named by service alone, as docker compose prints them.
        Terminal.writeError(kind.isEmpty ? " \(name) \(status) \n" : " \(kind) \(name)  \(status)\n")
    }

    func layer(_ service: String, _ id: String, _ status: String, _ amount: TransferAmount?) {
        if let amount {
            let now = MonotonicClock.now()
            if let last = lastBar[id], now - last < 0.5, amount.done < amount.total { return }
            lastBar[id] = now
        }
        Terminal.writeError(" \(id) \(status) \(amount.map { transferBar($0.done, $0.total) } ?? "")\n")
    }

    func warning(_ text: String) { Terminal.writeError("WARN[0000] \(text)\n") }
}

/// The `[+] Running 2/3` block, redrawn in place as events arrive.
final class TerminalProgress: LayerProgressReporter {
    struct Line {
        var kind: String
        var name: String
        var status: String
        var started: Double
        var ended: Double?
        /// Layers of an image transfer, shown under their service.
        var children: [Child] = []
    }

    struct Child {
        var id: String
        var status: String
        var amount: TransferAmount?
        /// When the layer's bytes started moving, for its rate.
        var since: (time: Double, done: Int64)?
        var detail: String {
            guard let amount else { return "" }
            var text = transferBar(amount.done, amount.total)
            if let since, amount.done < amount.total {
                let seconds = MonotonicClock.now() - since.time
                if seconds > 0.2 { text += "  \(humanSize(Int64(Double(amount.done - since.done) / seconds)))/s" }
            }
            return text
        }
    }

    var lines: [Line] = []
    var drawn = 0
    let start = MonotonicClock.now()

    static let doneStatuses: Set<String> = ["Started", "Created", "Stopped", "Removed", "Healthy", "Exited", "Killed",
                                            "Paused", "Unpaused", "Running", "Recreated", "Pulled", "Pushed", "Loaded", "Error", "Skipped"]

    static func isDone(_ status: String) -> Bool {
        doneStatuses.contains(status) || status.hasPrefix("Error ") || status.hasPrefix("Skipped")
    }

    func event(_ kind: String, _ name: String, _ status: String) {
        let now = MonotonicClock.now()
        if let i = lines.firstIndex(where: { $0.kind == kind && $0.name == name }) {
            lines[i].status = status
            lines[i].ended = Self.isDone(status) ? now : nil
            if status == "Pulled" || status == "Pushed" { lines[i].children.removeAll() }
        } else {
            lines.append(Line(kind: kind, name: name, status: status, started: now, ended: Self.isDone(status) ? now : nil))
        }
        draw()
    }

    var lastDraw: Double = 0

    func layer(_ service: String, _ id: String, _ status: String, _ amount: TransferAmount?) {
        guard let i = lines.firstIndex(where: { $0.kind.isEmpty && $0.name == service }) else { return }
        let now = MonotonicClock.now()
        if let j = lines[i].children.firstIndex(where: { $0.id == id }) {
            lines[i].children[j].status = status
            lines[i].children[j].amount = amount
            if amount != nil && lines[i].children[j].since == nil { lines[i].children[j].since = (now, amount!.done) }
        } else {
            lines[i].children.append(Child(id: id, status: status, amount: amount, since: amount.map { (now, $0.done) }))
        }
        // Bars redraw at most ten times a second.
        if let amount, amount.done < amount.total, now - lastDraw < 0.1 { return }
        lastDraw = now
        draw()
    }

    func warning(_ text: String) {
        clear()
        Terminal.writeError("WARN[0000] \(text)\n")
        draw()
    }

    func clear() {
        if drawn > 0 { Terminal.writeError("\u{1b}[\(drawn)A\u{1b}[J") }
        drawn = 0
    }

    func draw() {
        clear()
        let done = lines.filter { $0.ended != nil }.count
        let nameWidth = lines.map { ($0.kind.isEmpty ? 0 : $0.kind.count + 1) + $0.name.count }.max() ?? 0
        // docker compose titles a block of image transfers by what they do.
        let title = lines.allSatisfy({ $0.kind.isEmpty }) ? (lines.contains { $0.status.hasPrefix("Push") } ? "Pushing" : "Pulling") : "Running"
        var out = "[+] \(title) \(done)/\(lines.count)\n"
        let now = MonotonicClock.now()
        for l in lines {
            let mark = l.status == "Error" || l.status.hasPrefix("Error ") ? "\u{1b}[31m✘\u{1b}[0m" : (l.ended != nil ? "\u{1b}[32m✔\u{1b}[0m" : "\u{1b}[34m⠿\u{1b}[0m")
            let label = l.kind.isEmpty ? l.name : "\(l.kind) \(l.name)"
            let elapsed = ((l.ended ?? now) - l.started)
            let seconds = String(Int(elapsed)) + "." + String(Int(elapsed * 10) % 10) + "s"
            out += " \(mark) \(label)\(String(repeating: " ", count: nameWidth - label.count))  \(l.status.padding(12))\(seconds)\n"
            for c in l.children {
                let done = c.status == "Pull complete" || c.status == "Already exists" || c.status == "Pushed" || c.status == "Layer already exists"
                let childMark = done ? "\u{1b}[32m✔\u{1b}[0m" : "\u{1b}[34m⠿\u{1b}[0m"
                out += "   \(childMark) \(c.id) \(c.status) \(c.detail)\n"
            }
        }
        Terminal.writeError(out)
        drawn = lines.count + 1 + lines.reduce(0) { $0 + $1.children.count }
    }

    func finish() { drawn = 0 }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
