import ArgumentParser
import ComposeModel
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// How docker shows a container's command, state and status.
enum ContainerPresentation {
    /// Arguments joined the way a shell would read them back (single quotes where needed).
    static func shellJoin(_ args: [String]) -> String {
        args.map { arg in
            if arg.isEmpty { return "''" }
            let safe = arg.unicodeScalars.allSatisfy { c in
                (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "_@%+=:,./-".unicodeScalars.contains(c)
            }
            if safe { return arg }
            return "'" + arg.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\"'\"'") + "'"
        }.joined(separator: " ")
    }

    /// docker's 20-character ellipsis, quoted.
    static func command(_ r: ContainerRecord) -> String {
        let full = shellJoin(r.spec.process.args)
        let chars = Array(full)
        let short = chars.count > 20 ? String(chars[0..<19]) + "…" : full
        return "\"" + short + "\""
    }

    static func state(_ s: ContainerState) -> String {
        if s.status == .running || s.status == .paused, !s.isAlive { return "exited" }
        return s.status.rawValue
    }

    static func health(_ s: ContainerState) -> String {
        guard s.isAlive, let h = s.health else { return "" }
        return h.status.rawValue
    }

    static func status(_ s: ContainerState) -> String {
        let now = Int64(Timestamp.now().tv_sec)
        func since(_ t: String) -> Int64 { Timestamp.parse(t).map { now - $0 } ?? 0 }
        switch s.status {
        case .created: return "Created"
        case .restarting: return "Restarting (\(s.exitCode)) \(Timestamp.humanDuration(since(s.finishedAt))) ago"
        case .exited, .dead, .removing: return "Exited (\(s.exitCode)) \(Timestamp.humanDuration(since(s.finishedAt))) ago"
        case .running, .paused:
            guard s.isAlive else { return "Exited (\(s.exitCode)) \(Timestamp.humanDuration(since(s.finishedAt))) ago" }
            var text = "Up \(Timestamp.humanDuration(since(s.startedAt)))"
            if s.status == .paused {
                text += " (Paused)"
            } else if let h = s.health {
                switch h.status {
                case .starting: text += " (health: starting)"
                case .healthy: text += " (healthy)"
                case .unhealthy: text += " (unhealthy)"
                }
            }
            return text
        }
    }

    /// docker compose's PORTS: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`.
    static func ports(_ s: ContainerState) -> String {
        guard s.isAlive else { return "" }
        return s.ports.map(\.description).joined(separator: ", ")
    }

    /// `2026-11-23 15:20:03 +0000 UTC`
    static func createdAt(_ spec: ContainerSpec) -> String {
        guard let t = Timestamp.parse(spec.created) else { return "" }
        let iso = Timestamp.rfc3339(timespec(tv_sec: Int(t), tv_nsec: 0), nanoseconds: false)
        return iso.replacing("T", with: " ").replacing("Z", with: "") + " +0000 UTC"
    }
}

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List containers.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Show all stopped containers (including those created by the run command).")
    var all = false

    @Flag(name: [.short, .long], help: "Only display IDs.")
    var quiet = false

    @Flag(help: "Display services.")
    var services = false

    @Option(name: .customLong("status"), help: "Filter services by status (paused, restarting, removing, running, dead, created, exited).")
    var statuses: [String] = []

    @Option(name: .customLong("filter"), help: "Filter services by a property (status=running).")
    var filter: [String] = []

    @Option(help: "Format the output (table, json).")
    var format: String = "table"

    @Flag(name: .customLong("no-trunc"), help: "Don't truncate output.")
    var noTrunc = false

    @Argument(help: "Services to list (default: all).")
    var serviceNames: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: serviceNames)
        var wanted = Set(statuses)
        for f in filter {
            guard f.hasPrefix("status=") else {
                Terminal.writeError("invalid filter \"\(f)\": only status=… is supported\n")
                throw ExitCode.failure
            }
            wanted.insert(String(f.dropFirst("status=".count)))
        }
        var records = try session.containers(serviceNames, oneOff: nil)
        records = records.filter { r in
            let state = ContainerPresentation.state(r.state)
            if !wanted.isEmpty { return wanted.contains(state) }
            return all || state == "running" || state == "paused" || state == "restarting"
        }
        if services {
            var seen: [String] = []
            for r in records where !seen.contains(Orchestrator.serviceName(r)) { seen.append(Orchestrator.serviceName(r)) }
            Terminal.write(seen.map { $0 + "\n" }.joined())
            return
        }
        if quiet {
            Terminal.write(records.map { (noTrunc ? $0.id : $0.id) + "\n" }.joined())
            return
        }
        let now = Int64(Timestamp.now().tv_sec)
        if format == "json" {
            var out = ""
            for r in records { out += psJSON(r, now: now) + "\n" }
            Terminal.write(out)
            return
        }
        guard format == "table" else {
            Terminal.writeError("unsupported format \"\(format)\" (table, json)\n")
            throw ExitCode.failure
        }
        var rows = [["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]]
        for r in records {
            rows.append([r.name, r.spec.image.reference,
                         noTrunc ? "\"\(ContainerPresentation.shellJoin(r.spec.process.args))\"" : ContainerPresentation.command(r),
                         Orchestrator.serviceName(r),
                         Timestamp.parse(r.spec.created).map { Timestamp.ago($0, now: now) } ?? "",
                         ContainerPresentation.status(r.state), ContainerPresentation.ports(r.state)])
        }
        Terminal.write(Table.render(rows))
    }
}

extension PsCommand {
    func networkNames(_ r: ContainerRecord) -> [String] {
        switch r.spec.network {
        case .bridged(let endpoints): return endpoints.map(\.network)
        case .host: return ["host"]
        case .isolated: return ["none"]
        case .container: return []
        }
    }

    /// One `ps --format json` line, with docker compose's fields.
    func psJSON(_ r: ContainerRecord, now: Int64) -> String {
        let labels = r.spec.labels.keys.sorted().map { "\($0)=\(r.spec.labels[$0]!)" }.joined(separator: ",")
        var f: [(String, JSONText.Value)] = []
        let command = noTrunc ? "\"\(ContainerPresentation.shellJoin(r.spec.process.args))\"" : ContainerPresentation.command(r)
        f.append(("Command", .text(command)))
        f.append(("CreatedAt", .text(ContainerPresentation.createdAt(r.spec))))
        f.append(("ExitCode", .raw(String(r.state.exitCode))))
        f.append(("Health", .text(ContainerPresentation.health(r.state))))
        f.append(("ID", .text(String(r.id.prefix(12)))))
        f.append(("Image", .text(r.spec.image.reference)))
        f.append(("Labels", .text(labels)))
        f.append(("LocalVolumes", .text(String(r.spec.mounts.filter { $0.kind == .volume }.count))))
        f.append(("Mounts", .text(r.spec.mounts.filter { $0.kind != .tmpfs }.map(\.source).joined(separator: ","))))
        f.append(("Name", .text(r.name)))
        f.append(("Names", .text(r.name)))
        f.append(("Networks", .text(networkNames(r).joined(separator: ","))))
        f.append(("Ports", .text(ContainerPresentation.ports(r.state))))
        f.append(("Project", .text(r.spec.labels[ComposeLabels.project] ?? "")))
        let publishers = (r.state.isAlive ? r.state.ports : []).map { p in
            JSONText.object([("URL", .text(p.hostIP)), ("TargetPort", .raw(String(p.containerPort))),
                             ("PublishedPort", .raw(String(p.hostPort))), ("Protocol", .text(p.proto))])
        }
        f.append(("Publishers", .raw("[" + publishers.joined(separator: ",") + "]")))
        f.append(("RunningFor", .text(Timestamp.parse(r.spec.created).map { Timestamp.ago($0, now: now) } ?? "")))
        f.append(("Service", .text(Orchestrator.serviceName(r))))
        f.append(("Size", .text("0B")))
        f.append(("State", .text(ContainerPresentation.state(r.state))))
        f.append(("Status", .text(ContainerPresentation.status(r.state))))
        return JSONText.object(f)
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "View output from containers.")

    @ParentCommand var root: SWCompose

    @Flag(name: [.short, .long], help: "Follow log output.")
    var follow = false

    @Flag(name: [.short, .long], help: "Show timestamps.")
    var timestamps = false

    @Option(name: [.customShort("n"), .customLong("tail")], help: "Number of lines to show from the end of the logs for each container (or all).")
    var tail: String = "all"

    @Option(help: "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes).")
    var since: String?

    @Option(help: "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes).")
    var until: String?

    @Flag(name: .customLong("no-color"), help: "Produce monochrome output.")
    var noColor = false

    @Flag(name: .customLong("no-log-prefix"), help: "Don't print prefix in logs.")
    var noLogPrefix = false

    @Option(help: "index of the container if service has multiple replicas.")
    var index: Int?

    @Argument(help: "Services to show (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        var options = LogPrinter.Options()
        options.follow = follow
        options.timestamps = timestamps
        options.prefix = !noLogPrefix
        options.color = !noColor && Terminal.useColor(root.global.ansi, fd: 1, environment: session.context.environment)
        if tail != "all" {
            guard let n = Int(tail) else {
                Terminal.writeError("invalid --tail value \"\(tail)\": a number or all\n")
                throw ExitCode.failure
            }
            options.tail = n
        }
        (options.since, options.until) = try parseLogTimes(since: since, until: until)
        var records = try session.containers(services, oneOff: nil)
        if let index { records = records.filter { Orchestrator.number($0) == index } }
        let printer = LogPrinter(options: options, runtime: session.runtime)
        printer.printExisting(records)
        guard follow else { return }
        let o = session.orchestrator
        Interrupts.install()
        printer.follow(alsoWatching: [session.runtime.root.containers]) {
            if Interrupts.count > 0 { return true }
            // New containers of these services (scaled up, restarted by up) join the stream.
            for r in o.containers(services: services, oneOff: nil) where printer.labels[r.id] == nil { printer.add(r) }
            let running = printer.follower.ids.contains { id in
                let s = o.store.state(id)
                return s.isAlive || s.status == .restarting
            }
            // Nothing runs: the end, unless a command is replacing containers right now (`up`
            // recreating, `restart`); then their successors are awaited.
            return !running && !o.isChanging
        }
    }
}

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "top", abstract: "Display the running processes.")

    @ParentCommand var root: SWCompose

    @Argument(help: "Services to show (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        let records = try session.containers(services).filter { $0.state.isAlive }
        var rows = [["SERVICE", "#", "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]]
        let users = HostUsers()
        for r in records {
            for pid in session.runtime.cgroup(of: r).processes().sorted() {
                guard let p = ProcessSnapshot(pid: pid) else { continue }
                rows.append([Orchestrator.serviceName(r), String(Orchestrator.number(r)), users.name(p.uid), String(pid), String(p.ppid),
                             String(p.cpuPercent), p.startTime, p.tty, p.cpuTime, p.command])
            }
        }
        if rows.count > 1 { Terminal.write(Table.render(rows, separator: 2)) }
    }
}

/// Host user names (for `top`, as `ps` shows them).
struct HostUsers {
    var names: [UInt32: String] = [:]

    init() {
        for line in ((try? Files.readText("/etc/passwd")) ?? "").split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count > 2, let uid = UInt32(f[2]) { names[uid] = String(f[0]) }
        }
    }

    func name(_ uid: UInt32) -> String { names[uid] ?? String(uid) }
}

/// What `ps -ef` shows for one process, from /proc.
struct ProcessSnapshot {
    var uid: UInt32
    var ppid: Int32
    var cpuPercent: Int
    var startTime: String
    var tty: String
    var cpuTime: String
    var command: String

    init?(pid: Int32) {
        guard let stat = try? Files.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")"),
              let status = try? Files.readText("/proc/\(pid)/status") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 20 else { return nil }
        ppid = Int32(fields[1]) ?? 0
        let ttyNumber = Int(fields[4]) ?? 0
        let utime = Int64(fields[11]) ?? 0, stime = Int64(fields[12]) ?? 0
        let started = Int64(fields[19]) ?? 0
        let hz = Int64(sysconf(Int32(_SC_CLK_TCK)))
        uid = 0
        for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
            uid = UInt32(line.split(whereSeparator: { $0 == "\t" || $0 == " " })[1]) ?? 0
        }
        let uptime = Double((try? Files.readText("/proc/uptime"))?.split(separator: " ").first ?? "0") ?? 0
        let boot = Int64(Timestamp.now().tv_sec) - Int64(uptime)
        let startEpoch = boot + started / hz
        let elapsed = max(1, Int64(uptime) - started / hz)
        cpuPercent = Int((utime + stime) / hz * 100 / elapsed)
        var t = time_t(startEpoch)
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        startTime = "\(two(parts.tm_hour)):\(two(parts.tm_min))"
        tty = ttyNumber == 0 ? "?" : "pts/\(ttyNumber & 0xff)"
        let total = (utime + stime) / hz
        cpuTime = "\(total / 3600 < 10 ? "0" : "")\(total / 3600):\(two(Int32(total / 60 % 60))):\(two(Int32(total % 60)))"
        let cmdline = (try? Files.read("/proc/\(pid)/cmdline")) ?? []
        let args = cmdline.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        command = args.filter { !$0.isEmpty }.joined(separator: " ")
        if command.isEmpty { command = "[" + stat[stat.index(after: stat.firstIndex(of: "(")!)..<close] + "]" }
    }
}

/// `diff SERVICE`: what the service's container changed in its filesystem, as `docker diff` prints it.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diff", abstract: "Show what a service's container changed in its filesystem (A added, C changed, D deleted).")

    @ParentCommand var root: SWCompose

    @Option(help: "Index of the container if service has multiple replicas.")
    var index: Int = 1

    @Argument(help: "The service.")
    var service: String

    func run() throws {
        let session = try ComposeSession.open(root.global, services: [service])
        let record = try session.container(service, index: index)
        let lines = ContainerChanges.of(record, runtime: session.runtime).map { $0.description + "\n" }
        Terminal.write(lines.joined())
    }
}

/// `commit SERVICE [REPOSITORY[:TAG]]`: a service's container as a new image, as docker compose commit.
struct CommitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "commit", abstract: "Create a new image from a service container's changes.")

    @ParentCommand var root: SWCompose

    @Option(name: [.short, .customLong("message")], help: "Commit message.")
    var message: String?

    @Option(name: [.short, .customLong("author")], help: "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\").")
    var author: String?

    @Option(name: [.short, .customLong("change")], help: "Apply Dockerfile instruction to the created image.")
    var changes: [String] = []

    @Flag(name: [.short, .customLong("pause")], inversion: .prefixedNo, help: "Pause container during commit.")
    var pause = true

    @Option(help: "Index of the container if service has multiple replicas.")
    var index: Int = 1

    @Argument(help: "The service (or one of the project's containers, by name or ID).")
    var service: String

    @Argument(help: "The image's name (REPOSITORY[:TAG]).")
    var reference: String?

    func run() throws {
        // A service (its container by --index), or one of the project's containers by name or ID.
        let plain = try ComposeSession.open(root.global)
        let session: ComposeSession, record: ContainerRecord
        if plain.project.services[service] == nil, let named = plain.orchestrator.containers(services: [], oneOff: nil)
            .first(where: { $0.name == service || (service.count >= 12 && $0.id.hasPrefix(service)) }) {
            (session, record) = (plain, named)
        } else {
            // A service only a profile enables is enabled by naming it.
            session = plain.project.services[service] != nil ? plain : try ComposeSession.open(root.global, services: [service])
            record = try session.container(service, index: index)
        }
        var options = Orchestrator.CommitOptions()
        options.message = message
        options.author = author
        options.changes = changes
        options.pause = pause
        options.reference = reference
        let image = try session.run { () throws(SwcomposeError) in try session.orchestrator.commit(record, options: options) }
        Terminal.write(image.id.description + "\n")
    }
}

/// `export SERVICE -o FILE`: a service container's whole filesystem as a tar, as docker compose export.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export a service container's filesystem as a tar archive.")

    @ParentCommand var root: SWCompose

    @Option(name: [.short, .customLong("output")], help: "Write to a file, instead of STDOUT.")
    var output: String?

    @Option(help: "Index of the container if service has multiple replicas.")
    var index: Int = 1

    @Argument(help: "The service.")
    var service: String

    func run() throws {
        let session = try ComposeSession.open(root.global, services: [service])
        let record = try session.container(service, index: index)
        if output == nil && Terminal.isTTY(1) {
            Terminal.writeError("refusing to write a tar archive to a terminal: use -o FILE or redirect the output\n")
            throw ExitCode.failure
        }
        let fd: Int32
        let staging = output.map { $0 + ".tmp-\(Sys.pid)" }
        do { fd = try staging.map { try Sys.open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) } ?? 1 } catch {
            Terminal.writeError("error: cannot write \(output!): \(error)\n")
            throw ExitCode.failure
        }
        do {
            try ContainerExport.write(record, runtime: session.runtime, to: fd)
            if let staging, let output {
                Sys.close(fd)
                try Sys.rename(staging, output)
            }
        } catch {
            if let staging { Sys.close(fd); try? Sys.unlink(staging) }
            Terminal.writeError("error: cannot export \(record.name): \(error)\n")
            throw ExitCode.failure
        }
    }
}

/// `stats [--no-stream] [--format json] [SERVICE...]`: the containers' CPU, memory, network and block
/// I/O and PIDs from their cgroups, as docker compose stats shows them; streamed once a second unless
/// `--no-stream`.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Display a live stream of container resource usage statistics.")

    @ParentCommand var root: SWCompose

    @Flag(name: .customLong("no-stream"), help: "Disable streaming stats and only pull the first result.")
    var noStream = false

    @Flag(name: .customLong("no-trunc"), help: "Do not truncate output.")
    var noTrunc = false

    @Option(help: "Format output using a custom template: table (default) or json.")
    var format: String = "table"

    @Flag(name: [.short, .long], help: "Show all containers (default shows just running).")
    var all = false

    @Argument(help: "Services to show (default: all).")
    var services: [String] = []

    struct Sample {
        var cpu: UInt64
        var at: Double
    }

    func run() throws {
        guard format == "table" || format == "json" else {
            Terminal.writeError("stats --format takes table or json\n")
            throw ExitCode.failure
        }
        let session = try ComposeSession.open(root.global, services: services)
        let hostMemory = Int64(((try? Files.readText("/proc/meminfo")) ?? "").split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?
            .split(separator: " ").dropFirst().first.flatMap { Int64($0) } ?? 0) * 1024
        var previous: [String: Sample] = [:]
        // The first figures need a CPU reading before them, as docker's precpu_stats.
        func sample() throws -> [(ContainerRecord, CgroupUsage, Double)] {
            let records = try session.containers(services).filter { all || $0.state.isAlive }.sorted { $0.name < $1.name }
            return records.map { r in
                let usage = session.runtime.cgroup(of: r).usage
                let now = MonotonicClock.now()
                var percent = 0.0
                if let p = previous[r.id], now > p.at, usage.cpuNanoseconds >= p.cpu {
                    percent = Double(usage.cpuNanoseconds - p.cpu) / ((now - p.at) * 1e9) * 100
                }
                previous[r.id] = Sample(cpu: usage.cpuNanoseconds, at: now)
                return (r, usage, percent)
            }
        }
        if !noStream { Interrupts.install() }
        _ = try sample()
        usleep(500_000)
        while true {
            let rows = try sample()
            var out = ""
            if format == "json" {
                for (r, u, cpu) in rows {
                    out += row(r, u, cpu, hostMemory).json + "\n"
                }
            } else {
                var table = [["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]]
                for (r, u, cpu) in rows {
                    let x = row(r, u, cpu, hostMemory)
                    table.append([x.id, x.name, x.cpu, x.memUsage, x.memPercent, x.net, x.block, x.pids])
                }
                out = Table.render(table, separator: 3)
            }
            if !noStream && Terminal.isTTY(1) { out = "\u{1b}[2J\u{1b}[H" + out }
            Terminal.write(out)
            if noStream { return }
            if Interrupts.count > 0 { return }
            usleep(1_000_000)
        }
    }

    struct Row {
        var id, name, cpu, memUsage, memPercent, net, block, pids: String

        var json: String {
            let fields = [("BlockIO", block), ("CPUPerc", cpu), ("Container", id), ("ID", id), ("MemPerc", memPercent),
                          ("MemUsage", memUsage), ("Name", name), ("NetIO", net), ("PIDs", pids)]
            return "{" + fields.map { "\"\($0.0)\":\(JSONString.quoted($0.1))" }.joined(separator: ",") + "}"
        }
    }

    func row(_ r: ContainerRecord, _ u: CgroupUsage, _ cpu: Double, _ hostMemory: Int64) -> Row {
        let limit = u.memoryLimit.map { min($0, hostMemory > 0 ? hostMemory : $0) } ?? hostMemory
        let net = r.state.isAlive ? NetworkUsage.of(pid: r.state.pid) : (0, 0)
        return Row(id: noTrunc ? r.id : String(r.id.prefix(12)), name: r.name, cpu: String(format: "%.2f%%", cpu),
                   memUsage: "\(Self.binary(u.memory)) / \(Self.binary(limit))",
                   memPercent: String(format: "%.2f%%", limit > 0 ? Double(u.memory) / Double(limit) * 100 : 0),
                   net: "\(Self.decimal(net.0)) / \(Self.decimal(net.1))", block: "\(Self.decimal(u.readBytes)) / \(Self.decimal(u.writeBytes))",
                   pids: String(u.pids))
    }

    /// docker's units: memory in binary with 4 significant digits (`1.598MiB`, `64MiB`), I/O in decimal
    /// with 3 (`1.42kB`), as its CLI formats them.
    static func binary(_ n: Int64) -> String { scaled(Double(n), 1024, ["B", "KiB", "MiB", "GiB", "TiB"], digits: 4) }
    static func decimal(_ n: Int64) -> String { scaled(Double(n), 1000, ["B", "kB", "MB", "GB", "TB"], digits: 3) }

    static func scaled(_ value: Double, _ base: Double, _ units: [String], digits: Int) -> String {
        var v = value
        var i = 0
        while v >= base && i < units.count - 1 { v /= base; i += 1 }
        return String(format: "%.\(digits)g", v) + units[i]
    }
}
