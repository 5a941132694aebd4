import Foundation
import Testing
import TestSupport
@testable import Engine

/// The supervisor for real: containers outlive the caller, logs, exits, stops, restarts, adoption.
@Suite(.requiresOverlay, .requiresBusybox, .serialized) struct SupervisorTests {
    let world: BusyboxWorld
    let group: String

    init() throws {
        world = try BusyboxWorld("supervisor")
        group = "sv\(UInt32.random(in: 0...UInt32.max))"
    }

    func create(_ args: [String], name: String? = nil, configure: (inout ContainerSpec) -> Void = { _ in }) throws -> ContainerSpec {
        let id = ContainerStore.newID()
        let chains = LayerStore.chainIDs(world.image.configuration.rootfs.diffIDs).map(\.description)
        var s = ContainerSpec(id: id, name: name ?? "\(group)-c-\(id.prefix(6))",
                              image: ImageBinding(reference: "busybox", id: world.image.id.description, chainIDs: chains),
                              process: ProcessSpec(args: args, env: ["PATH=/bin"]), hostname: String(id.prefix(12)))
        s.group = group
        s.security.seccomp = try SeccompProfile.dockerDefault.resolve(capabilities: s.security.capabilities)
        configure(&s)
        try ContainerStore(runtime: world.runtime).create(s)
        return s
    }

    func client() throws -> SupervisorClient { try SupervisorClient.connect(runtime: world.runtime, group: group) }

    func cleanup(_ specs: [ContainerSpec]) throws {
        let c = try client()
        for s in specs {
            _ = try c.request(.stop(id: s.id, signal: nil, timeout: 0))
            try ContainerStore(runtime: world.runtime).remove(s.id)
        }
    }

    @Test func runsLogsAndRecordsTheExit() throws {
        let spec = try create(["sh", "-c", "echo out; echo err >&2; echo '<tag> & \"q\"'; exit 3"])
        let c = try client()
        let (started, _) = try c.request(.start(id: spec.id, attach: false))
        guard case .started(let pid) = started else { Issue.record("\(started)"); return }
        #expect(pid > 0)
        let (exited, _) = try c.request(.wait(id: spec.id))
        #expect(exited == .exited(code: 3, oomKilled: false))
        let state = ContainerStore(runtime: world.runtime).state(spec.id)
        #expect(state.status == .exited && state.exitCode == 3 && state.pid == 0)
        let log = try String(contentsOfFile: world.runtime.containerDirectory(spec.id) + "/\(spec.id)-json.log", encoding: .utf8)
        #expect(log.contains("{\"log\":\"out\\n\",\"stream\":\"stdout\",\"time\":\""))
        #expect(log.contains("{\"log\":\"err\\n\",\"stream\":\"stderr\",\"time\":\""))
        #expect(log.contains("\\u003ctag\\u003e \\u0026 \\\"q\\\""), "\(log)")
        let entries = LogReader.read(world.runtime.containerDirectory(spec.id) + "/\(spec.id)-json.log")
        #expect(entries.map(\.text).contains("<tag> & \"q\"\n"))
        #expect(!world.runtime.cgroup(id: spec.id, state: state).exists)
        try cleanup([spec])
    }

    @Test func stopUsesTheSignalThenKillsAndSkipsTheWaitWhenPID1IgnoresIt() throws {
        // A shell that traps TERM and exits 42.
        let trapping = try create(["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"])
        // PID 1 without a handler: the kernel would drop TERM, so stop kills at once.
        let plain = try create(["sleep", "1000"])
        let c = try client()
        for s in [trapping, plain] { _ = try c.request(.start(id: s.id, attach: false)) }
        Thread.sleep(forTimeInterval: 0.3)
        var t0 = Date()
        let (r1, _) = try c.request(.stop(id: trapping.id, signal: nil, timeout: 10_000_000_000))
        #expect(r1 == .exited(code: 42, oomKilled: false))
        #expect(Date().timeIntervalSince(t0) < 5)
        t0 = Date()
        let (r2, _) = try c.request(.stop(id: plain.id, signal: nil, timeout: 10_000_000_000))
        #expect(r2 == .exited(code: 137, oomKilled: false))
        #expect(Date().timeIntervalSince(t0) < 2, "no grace period wasted on a PID 1 that cannot receive SIGTERM")
        try cleanup([trapping, plain])
    }

    @Test func containersOutliveTheClientAndAKilledSupervisorIsReplaced() throws {
        let spec = try create(["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"])
        do {
            let c = try client()
            _ = try c.request(.start(id: spec.id, attach: false))
        }
        Thread.sleep(forTimeInterval: 0.3)
        let store = ContainerStore(runtime: world.runtime)
        let first = store.state(spec.id)
        #expect(first.isAlive)
        // Kill the supervisor: the container keeps running.
        kill(first.supervisorPid, SIGKILL)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(store.state(spec.id).isAlive)
        // The next connection starts a new supervisor, which adopts the container and keeps its log going.
        let c = try client()
        let (list, _) = try c.request(.list)
        #expect(list == .containers(ids: [spec.id]))
        let adopted = store.state(spec.id)
        #expect(adopted.supervisorPid != first.supervisorPid && adopted.pid == first.pid)
        let logPath = world.runtime.containerDirectory(spec.id) + "/\(spec.id)-json.log"
        let before = LogReader.read(logPath).count
        Thread.sleep(forTimeInterval: 0.5)
        #expect(LogReader.read(logPath).count > before)
        try cleanup([spec])
        // The killed supervisor's spare start helper died with it; its empty cgroup is left to sweep.
        Supervisors.removeStaleCgroups()
    }

    @Test func restartPoliciesRestartFailuresButNotStops() throws {
        let spec = try create(["sh", "-c", "echo run; exit 1"]) { s in
            s.restartPolicy = RestartPolicy(mode: .onFailure, maximumRetries: 2)
        }
        let c = try client()
        _ = try c.request(.start(id: spec.id, attach: false))
        let deadline = Date().addingTimeInterval(10)
        var state = ContainerState()
        repeat {
            Thread.sleep(forTimeInterval: 0.1)
            state = ContainerStore(runtime: world.runtime).state(spec.id)
        } while !(state.status == .exited && state.restartCount == 2) && Date() < deadline
        #expect(state.status == .exited && state.restartCount == 2 && state.exitCode == 1)
        let runs = LogReader.read(world.runtime.containerDirectory(spec.id) + "/\(spec.id)-json.log").filter { $0.text == "run\n" }
        #expect(runs.count == 3)
        try cleanup([spec])
    }

    @Test func aFailedStartNamesTheStep() throws {
        let spec = try create(["/no/such/program"])
        let c = try client()
        let (r, _) = try c.request(.start(id: spec.id, attach: false))
        #expect(r == .failed(message: "exec: \"/no/such/program\": no such file or directory"))
        let state = ContainerStore(runtime: world.runtime).state(spec.id)
        #expect(state.exitCode == 127 && state.status == .created)
        try cleanup([spec])
    }

    func exec(_ spec: ContainerSpec, _ args: [String], configure: (inout ExecRequest) -> Void = { _ in }) throws -> (Int32, String) {
        let record = try ContainerStore(runtime: world.runtime).record(spec.id)
        var request = ExecRequest(record: record, cgroup: world.runtime.cgroup(of: record), args: args)
        configure(&request)
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        let null = open("/dev/null", O_RDONLY)
        defer { close(null) }
        let code = try ContainerExec.run(request, runtime: world.runtime, stdio: (null, fds[1], fds[1]))
        close(fds[1])
        let out = try Engine.FileHandle(fds[0]).readAll()
        return (code, String(decoding: out, as: UTF8.self))
    }

    @Test func execJoinsTheContainerWithItsConfinement() throws {
        let spec = try create(["sleep", "1000"]) { s in s.hostname = "inside" }
        let c = try client()
        _ = try c.request(.start(id: spec.id, attach: false))
        let (code, out) = try exec(spec, ["sh", "-c", "hostname; grep -E '^(CapEff|Seccomp):' /proc/self/status; cat /proc/1/cmdline | tr '\\0' ' '; echo; { readlink /proc/1/ns/pid; readlink /proc/self/ns/pid; } | uniq | wc -l; exit 5"])
        #expect(code == 5)
        #expect(out.hasPrefix("inside\n"), "\(out)")
        #expect(out.contains("CapEff:\t00000000a80425fb"))
        #expect(out.contains("Seccomp:\t2"))
        #expect(out.contains("sleep 1000 "))
        #expect(out.hasSuffix("1\n"), "same pid namespace as PID 1: \(out)")

        let (asUser, who) = try exec(spec, ["id"]) { r in r.user = "app"; r.workingDir = "/tmp" }
        #expect(asUser == 0 && who.contains("uid=1000(app)"))

        let (missing, message) = try exec(spec, ["nosuch"])
        #expect(missing == 126)
        #expect(message == "exec: \"nosuch\": executable file not found in $PATH\n")
        let (badDir, dirMessage) = try exec(spec, ["true"]) { r in r.workingDir = "/nope" }
        #expect(badDir == 126)
        #expect(dirMessage.hasPrefix("chdir to cwd (\"/nope\") set in config.json failed"), "\(dirMessage)")
        try cleanup([spec])
    }
}
