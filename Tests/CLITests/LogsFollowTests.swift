import Foundation
import Testing
import TestSupport

/// `logs -f` as a developer leaves it running in a terminal: the project's supervisor killed and
/// replaced, a service recreated by `up`, a one-off started by `run -d` — the stream goes on with
/// each of them, and ends only when nothing is left running and no command is changing the project.
@Suite(.serialized) struct LogsFollowTests {
    @Test func logsFollowOutlivesTheSupervisorAndFollowsNewContainers() throws {
        let p = try ProjectFixture("logsf", compose: """
            services:
              ticker:
                image: swcompose/busybox
                command: ["sh", "-c", "echo start $$(cat /proc/sys/kernel/random/uuid); i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 0.05; done"]
                stop_signal: SIGKILL
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let logs = try BackgroundCommand(p, ["logs", "-f", "--no-color"])
        #expect(logs.waitFor("tick 3", 10), "\(logs.stdout) \(logs.stderr)")
        func ticks() -> Int { logs.stdout.split(separator: "\n").filter { $0.contains("tick") }.count }

        // The supervisor killed: a new one adopts the container, and the stream goes on.
        let id = try #require(p.container("ticker")).id
        kill(p.store.state(id).supervisorPid, SIGKILL)
        #expect(try p.run(["ps"]).stderr.contains("started a new one"))
        let before = ticks()
        #expect(WatchTests.until(3) { ticks() > before + 5 } != nil, "logs -f goes on after the supervisor was replaced: \(logs.stdout.suffix(300))")
        #expect(logs.process.isRunning)

        // Recreated by up: the new container's lines join the same stream.
        let starts = logs.stdout.components(separatedBy: "| start ").count
        #expect(try p.run(["up", "-d", "--force-recreate"]).status == 0)
        let newID = try #require(p.container("ticker")).id
        #expect(newID != id)
        #expect(WatchTests.until(3) { logs.stdout.components(separatedBy: "| start ").count > starts } != nil, "the recreated container's first line: \(logs.stdout.suffix(400))")
        #expect(logs.process.isRunning, "logs -f did not end while up replaced the container")

        // run -d: the one-off's output is in the logs as docker records a detached run's.
        let run = try p.run(["run", "-d", "ticker", "sh", "-c", "echo from a detached run"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(WatchTests.until(3) { (try? p.run(["logs", "--no-log-prefix"]).stdout.contains("from a detached run\n")) == true } != nil)
        #expect(WatchTests.until(3) { logs.stdout.contains("from a detached run") } != nil, "logs -f shows the one-off too: \(logs.stdout.suffix(300))")

        // Nothing left running: logs -f ends by itself.
        #expect(try p.run(["stop"]).status == 0)
        #expect(WatchTests.until(5) { !logs.process.isRunning } != nil, "logs -f ends once everything stopped")
        logs.process.waitUntilExit()
        #expect(logs.process.terminationStatus == 0)
    }
}
