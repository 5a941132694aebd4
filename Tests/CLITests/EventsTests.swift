import Foundation
import Testing
import TestSupport

/// `events` over an up/down cycle, there being no daemon to ask: each container's events in the
/// order docker reports them, the healthcheck's gate visible (the dependency healthy before its
/// dependent starts), `down` in reverse order, text and JSON forms as docker compose prints them.
@Suite(.serialized) struct EventsTests {
    struct Event: Decodable {
        var action: String
        var id: String
        var service: String
        var time: String
        var type: String
        var attributes: [String: String]
    }

    @Test func upDownCycleEventsInOrder() throws {
        let p = try ProjectFixture("events", compose: """
            services:
              db:
                image: swcompose/busybox
                command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
                labels: {tier: data}
                healthcheck: {test: ["CMD", "true"], interval: 100ms}
              web:
                image: swcompose/busybox
                command: ["sh", "-c", "trap 'exit 3' TERM; sleep 1000 & wait"]
                depends_on: {db: {condition: service_healthy}}
            """)
        let json = try BackgroundCommand(p, ["events", "--json", "--since", "1m"])
        let text = try BackgroundCommand(p, ["events", "--since", "1m", "web"])
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        let ids = ["db": try #require(p.container("db")).id, "web": try #require(p.container("web")).id]
        #expect(try p.run(["down"]).status == 0)
        #expect(json.waitFor("\"destroy\"", 5) && WatchTests.until(5) { json.stdout.components(separatedBy: "\"destroy\"").count == 3 } != nil, "\(json.stdout)")
        #expect(json.process.isRunning, "events follows until interrupted")
        #expect(json.stop() == 0 && text.stop() == 0)

        let events = try json.stdout.split(separator: "\n").map { try JSONDecoder().decode(Event.self, from: Data($0.utf8)) }
        func index(_ service: String, _ action: String) -> Int { events.firstIndex { $0.service == service && $0.action == action } ?? -1 }
        func actions(_ service: String) -> [String] { events.filter { $0.service == service && !$0.action.hasPrefix("exec_") }.map(\.action) }
        #expect(actions("db") == ["create", "start", "health_status: healthy", "kill", "die", "stop", "destroy"], "\(actions("db"))")
        // Each probe as docker reports it: exec_create, exec_start, exec_die with its exit code.
        let probe = events.filter { $0.service == "db" && $0.action.hasPrefix("exec_") }.prefix(3)
        #expect(probe.map(\.action) == ["exec_create: true ", "exec_start: true ", "exec_die"], "\(probe.map(\.action))")
        #expect(Set(probe.map { $0.attributes["execID"] ?? "" }).count == 1 && probe.last?.attributes["exitCode"] == "0")
        #expect(index("db", "exec_die") < index("db", "health_status: healthy"), "the probe ends before its verdict")
        #expect(actions("web") == ["create", "start", "kill", "die", "stop", "destroy"], "\(actions("web"))")
        #expect(index("db", "health_status: healthy") < index("web", "start"), "web starts once db is healthy")
        #expect(index("web", "stop") < index("db", "kill"), "down stops the dependent first")
        for e in events {
            #expect(e.type == "container" && e.id == ids[e.service] && e.attributes["name"] == "\(p.project)-\(e.service)-1" && e.attributes["image"] == "swcompose/busybox")
            #expect(!e.attributes.keys.contains { $0.hasPrefix("com.docker.compose.") }, "compose's own labels are left out, as docker compose does")
        }
        #expect(events.first { $0.service == "db" && $0.action == "kill" }?.attributes["signal"] == "15")
        #expect(events.first { $0.service == "web" && $0.action == "die" }?.attributes["exitCode"] == "3")
        #expect(events.first { $0.service == "db" }?.attributes["tier"] == "data")
        let times = events.map(\.time)
        #expect(times == times.sorted(), "in time order")

        // The text form, only web's events (the service given): docker compose's line.
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 6, "\(lines)")
        let start = try #require(lines.first { $0.contains(" container start ") })
        #expect(start.range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} container start [0-9a-f]{64} \(image=swcompose/busybox, name=\#(p.project)-web-1\)$"#, options: .regularExpression) != nil, "\(start)")
    }
}
