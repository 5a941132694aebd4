import Testing
import ComposeModel
import Engine
@testable import Scheduler
import Synchronization
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class SilentProgress: ProgressReporter {
    func event(_ kind: String, _ name: String, _ status: String) {}
    func warning(_ text: String) {}
}

/// The project lock: commands that change one project go one at a time, others pass.
@Suite struct ProjectLockTests {
    final class Log: Sendable {
        let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    static func orchestrator(_ name: String, root: String) throws -> Orchestrator {
        let project = try ProjectLoader.load(yaml: "name: \(name)\nservices: {s: {image: x}}", workingDirectory: "/tmp/locktest").project
        return try Orchestrator(project: project, runtime: Runtime(root: StateRoot(path: root)), progress: SilentProgress())
    }

    @Test func aSecondCommandOnTheProjectWaitsAndOthersDoNot() throws {
        let root = "/tmp/swcompose-locktest-\(getpid())"
        defer { try? Sys.removeAll(root) }
        let second = try Self.orchestrator("one", root: root)
        let other = try Self.orchestrator("two", root: root)
        let order = Log()
        let holding = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            try? Self.orchestrator("one", root: root).exclusively {
                holding.signal()
                usleep(300_000)
                order.add("first done")
            }
            finished.signal()
        }
        thread.start()
        try #require(holding.wait(timeout: .now() + 10) == .success, "the first command took the lock")
        var otherWaited = false
        try other.exclusively(waiting: { otherWaited = true }) { order.add("other") }
        #expect(!otherWaited, "another project's lock is not this one's")
        var waited = false
        let start = MonotonicClock.now()
        try second.exclusively(waiting: { waited = true }) { order.add("second") }
        #expect(waited, "the second command is told it waits")
        #expect(MonotonicClock.now() - start > 0.15, "and it waits for the first to finish")
        finished.wait()
        #expect(order.all == ["other", "first done", "second"])
    }
}
