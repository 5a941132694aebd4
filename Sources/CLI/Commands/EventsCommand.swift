import ArgumentParser
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Receive real time events from containers.")

    @ParentCommand var root: SWCompose

    @Flag(help: "Output events as a stream of json objects.")
    var json = false

    @Option(help: "Show all events created since timestamp.")
    var since: String?

    @Option(help: "Stream events until this timestamp.")
    var until: String?

    @Argument(help: "Services to show (default: all).")
    var services: [String] = []

    func run() throws {
        let session = try ComposeSession.open(root.global, services: services)
        try session.run { () throws(SwcomposeError) in try session.orchestrator.checkServices(services) }
        let (from, to) = try parseLogTimes(since: since, until: until)
        let journal = EventJournal(root: session.runtime.root)
        var position = from == nil ? journal.end() : EventJournal.Position()
        let project = session.project.name
        let wanted = Set(services)
        Interrupts.install()
        let watch = DirectoryWatch(session.runtime.root.path)
        while Interrupts.count == 0 {
            var out = ""
            for e in journal.read(from: &position) {
                guard e.attributes[ComposeLabels.project] == project else { continue }
                let service = e.attributes[ComposeLabels.service] ?? ""
                if !wanted.isEmpty && !wanted.contains(service) { continue }
                let t = Timestamp.parse(e.time) ?? 0
                if let s = from, t < s { continue }
                if let u = to, t > u { Terminal.write(out); return }
                out += json ? Self.json(e, service: service) : Self.text(e)
            }
            Terminal.write(out)
            if let u = to, Int64(Timestamp.now().tv_sec) > u { return }
            watch.wait(0.5)
        }
    }

    /// docker's attributes, less compose's own labels (as docker compose shows them).
    static func attributes(_ e: ContainerEvent) -> [(String, String)] {
        e.attributes.filter { !$0.key.hasPrefix("com.docker.compose.") && !$0.key.hasPrefix("io.swcompose.") }.sorted { $0.key < $1.key }
    }

    /// `2024-05-01 10:00:00.123456 container start 3f2a… (image=busybox, name=demo-web-1)`
    static func text(_ e: ContainerEvent) -> String {
        var time = e.time.replacingOccurrences(of: "T", with: " ")
        if let dot = time.firstIndex(of: ".") {
            let fraction = time[time.index(after: dot)...].prefix { $0.isNumber }
            time = String(time[..<dot]) + "." + String((fraction + "000000").prefix(6))
        } else if time.hasSuffix("Z") {
            time = String(time.dropLast()) + ".000000"
        }
        return "\(time) container \(e.action) \(e.id) (\(attributes(e).map { "\($0)=\($1)" }.joined(separator: ", ")))\n"
    }

    static func json(_ e: ContainerEvent, service: String) -> String {
        let attrs = attributes(e).map { "\(JSONString.quoted($0)):\(JSONString.quoted($1))" }.joined(separator: ",")
        return "{\"action\":\(JSONString.quoted(e.action)),\"attributes\":{\(attrs)},\"id\":\(JSONString.quoted(e.id)),\"service\":\(JSONString.quoted(service)),\"time\":\(JSONString.quoted(e.time)),\"type\":\"container\"}\n"
    }
}
