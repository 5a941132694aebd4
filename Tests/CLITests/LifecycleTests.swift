import Foundation
import Testing
import TestSupport
import Engine

/// `up`, `ps`, `logs`, `exec`, `run`, `stop`, `down` for real, through the built binary, as root.
@Suite(.requiresOverlay, .requiresBusybox, .serialized) struct LifecycleTests {
    @Test func upPsLogsExecDownRoundTrip() throws {
        let p = try ProjectFixture("life", compose: """
            services:
              web:
                image: swcompose/busybox
                command: ["sh", "-c", "echo web started; echo to stderr >&2; exec sleep 1000"]
                hostname: webhost
              job:
                image: swcompose/busybox
                command: sh -c 'echo job done; exit 3'
                depends_on: [web]
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(up.stderr.contains(" Container \(p.project)-web-1  Started\n"))
        #expect(up.stderr.contains(" Container \(p.project)-job-1  Started\n"))
        // The CLI has exited; the container keeps running under the supervisor.
        let web = try #require(p.container("web"))
        #expect(p.store.state(web.id).isAlive)
        #expect(try p.run(["wait", "job"]).stdout == "3\n", "wait blocks until the job has exited")

        let ps = try p.run(["ps"])
        #expect(ps.stdout.hasPrefix("NAME"))
        #expect(ps.stdout.contains("\(p.project)-web-1"))
        #expect(!ps.stdout.contains("\(p.project)-job-1"), "ps without -a lists running containers only")
        let psAll = try p.run(["ps", "-a"])
        #expect(psAll.stdout.contains("Exited (3)"))
        #expect(psAll.stdout.contains("\"sh -c 'echo job don…\""))
        let json = try p.run(["ps", "-a", "--format", "json"])
        let lines = json.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let decoded = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(decoded.contains { $0["Service"] as? String == "job" && $0["ExitCode"] as? Int == 3 && $0["State"] as? String == "exited" })

        // What a container prints is in its log within a moment (a user reads it right away).
        #expect(p.eventually(1) { (try? p.run(["logs", "web"]).stdout.contains("to stderr")) == true })
        let logs = try p.run(["logs", "--no-color"])
        #expect(logs.stdout.contains("web-1  | web started\n"))
        #expect(logs.stdout.contains("web-1  | to stderr\n"))
        #expect(logs.stdout.contains("job-1  | job done\n"))
        let tail = try p.run(["logs", "--tail", "1", "-t", "web"])
        #expect(tail.stdout.split(separator: "\n").count == 1)
        #expect(tail.stdout.range(of: #"^web-1  \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z to stderr\n$"#, options: .regularExpression) != nil, "\(tail.stdout)")

        let exec = try p.run(["exec", "-T", "web", "sh", "-c", "hostname; echo $$; exit 9"])
        #expect(exec.status == 9)
        #expect(exec.stdout.hasPrefix("webhost\n"))
        let asUser = try p.run(["exec", "-T", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "web", "sh", "-c", "id -u; pwd; echo $X"])
        #expect(asUser.stdout == "65534\n/tmp\n1\n")
        let missing = try p.run(["exec", "-T", "web", "nosuch"])
        #expect(missing.status == 126)
        #expect(missing.stderr == "exec: \"nosuch\": executable file not found in $PATH\n")
        let notRunning = try p.run(["exec", "-T", "job", "true"])
        #expect(notRunning.status == 1)
        #expect(notRunning.stderr == "service \"job\" is not running\n")

        let down = try p.run(["down"])
        #expect(down.status == 0, "\(down.stderr)")
        #expect(down.stderr.contains(" Container \(p.project)-web-1  Removed\n"))
        #expect(p.store.list().isEmpty)
        #expect(!Runtime(root: StateRoot(path: p.root)).cgroup(of: web).exists)
        #expect(try p.run(["ps", "-a"]).stdout == "NAME   IMAGE   COMMAND   SERVICE   CREATED   STATUS   PORTS\n")
    }

    @Test func stopSignalsGraceAndImmediateKill() throws {
        let p = try ProjectFixture("stop", compose: """
            services:
              trapping:
                image: swcompose/busybox
                command: ["sh", "-c", "trap 'echo got USR1; exit 5' USR1; while true; do sleep 0.1; done"]
                stop_signal: SIGUSR1
              stubborn:
                image: swcompose/busybox
                command: ["sh", "-c", "trap '' TERM; trap 'echo ignoring' TERM; while true; do sleep 0.1; done"]
                stop_grace_period: 1s
              plain:
                image: swcompose/busybox
                command: sleep 1000
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        usleep(300_000)
        var t = Date()
        #expect(try p.run(["stop", "trapping"]).status == 0)
        #expect(Date().timeIntervalSince(t) < 3)
        #expect(p.store.state(p.container("trapping")!.id).exitCode == 5)
        #expect(try p.run(["logs", "trapping"]).stdout.contains("got USR1"))

        t = Date()
        #expect(try p.run(["stop", "stubborn"]).status == 0)
        let elapsed = Date().timeIntervalSince(t)
        #expect(elapsed >= 1 && elapsed < 4, "SIGTERM caught and ignored: SIGKILL after the 1s grace period (\(elapsed)s)")
        #expect(p.store.state(p.container("stubborn")!.id).exitCode == 137)

        t = Date()
        #expect(try p.run(["stop", "plain"]).status == 0)
        #expect(Date().timeIntervalSince(t) < 1.5, "sleep as PID 1 cannot receive SIGTERM: killed at once, not after 10s")
        #expect(p.store.state(p.container("plain")!.id).exitCode == 137)

        #expect(try p.run(["start", "plain"]).status == 0)
        #expect(p.store.state(p.container("plain")!.id).isAlive)
        #expect(try p.run(["pause", "plain"]).status == 0)
        #expect(try p.run(["ps", "plain"]).stdout.contains("(Paused)"))
        #expect(try p.run(["unpause", "plain"]).status == 0)
        #expect(!(try p.run(["ps", "plain"]).stdout.contains("(Paused)")))
        let kill = try p.run(["kill", "-s", "SIGKILL", "plain"])
        #expect(kill.status == 0, "\(kill.stderr)")
        #expect(try p.run(["wait", "plain"]).stdout == "137\n")
        #expect(p.store.state(p.container("plain")!.id).status == .exited)
    }

    @Test func runHonoursDependenciesOverridesAndExitCodes() throws {
        let p = try ProjectFixture("run", compose: """
            services:
              db:
                image: swcompose/busybox
                command: sh -c 'sleep 0.5; touch /tmp/ready; exec sleep 1000'
                healthcheck:
                  test: ["CMD", "test", "-f", "/tmp/ready"]
                  interval: 100ms
                  retries: 50
              tool:
                image: swcompose/busybox
                entrypoint: ["sh", "-c"]
                command: ["echo default"]
                environment:
                  FROM_FILE: yes
                depends_on:
                  db:
                    condition: service_healthy
            """)
        let run = try p.run(["run", "--rm", "-T", "-e", "EXTRA=1", "tool", "echo $FROM_FILE $EXTRA; exit 4"])
        #expect(run.status == 4, "\(run.stderr)")
        #expect(run.stdout == "yes 1\n")
        #expect(run.stderr.contains("Container \(p.project)-db-1  Healthy"), "run waits for the healthy dependency: \(run.stderr)")
        #expect(p.store.list().count == 1, "the one-off container is removed, the dependency stays")
        let entry = try p.run(["run", "--rm", "-T", "--entrypoint", "echo", "tool", "a", "b"])
        #expect(entry.stdout == "a b\n")
        let kept = try p.run(["run", "-T", "--no-deps", "tool"])
        #expect(kept.stdout == "default\n")
        #expect(try p.run(["ps", "-a"]).stdout.contains("\(p.project)-tool-run-"))
    }

    /// Ctrl-C on an attached `up` stops the project and exits 130, as docker compose does; on an
    /// attached `run`, the container gets the signal and the code it ends with is the exit code.
    @Test func ctrlCStopsAttachedUpAndExits130() throws {
        let p = try ProjectFixture("ctrlc", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sh", "-c", "trap 'echo bye; exit 0' INT TERM; echo ready; while true; do sleep 0.1; done"]
            """)
        let process = Process()
        process.executableURL = Swcompose.executable
        process.arguments = ["-p", p.project, "up"]
        process.currentDirectoryURL = URL(fileURLWithPath: p.directory)
        process.environment = p.environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(10)
        while !seen.contains("app-1  | ready") && Date() < deadline {
            seen += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(seen.contains("Attaching to app-1"), "\(seen)")
        kill(process.processIdentifier, SIGINT)
        let rest = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        seen += String(decoding: rest, as: UTF8.self)
        #expect(process.terminationStatus == 130)
        #expect(seen.contains("Gracefully stopping..."), "\(seen)")
        #expect(p.store.state(try #require(p.container("app")).id).status == .exited)

        let run = Process()
        run.executableURL = Swcompose.executable
        run.arguments = ["-p", p.project, "run", "--rm", "-T", "app", "sh", "-c", "trap 'exit 7' INT; echo started; while true; do sleep 0.1; done"]
        run.currentDirectoryURL = URL(fileURLWithPath: p.directory)
        run.environment = process.environment
        let runOut = Pipe()
        run.standardOutput = runOut
        run.standardError = FileHandle.nullDevice
        try run.run()
        var started = ""
        while !started.contains("started") && Date() < deadline.addingTimeInterval(10) {
            started += String(decoding: runOut.fileHandleForReading.availableData, as: UTF8.self)
        }
        kill(run.processIdentifier, SIGINT)
        run.waitUntilExit()
        #expect(run.terminationStatus == 7, "the forwarded SIGINT ended the container with its own code")
    }

    /// `logs -n 1` on a container that has logged 256 MiB answers at once, as docker's does.
    @Test func logsTailOfAHugeLogIsInstant() throws {
        let p = try ProjectFixture("tail", compose: """
            services:
              chatty:
                image: swcompose/busybox
                command: ["sh", "-c", "echo first; exec sleep 1000"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let id = try #require(p.container("chatty")).id
        #expect(try p.run(["stop", "-t", "0", "chatty"]).status == 0)
        let path = p.root + "/containers/\(id)/\(id)-json.log"
        // What one `logs` costs on this machine anyway (process start, project load), from a one-line log.
        let small = Date()
        #expect(try p.run(["logs", "-n", "1", "--no-log-prefix", "chatty"]).stdout == "first\n")
        let baseline = Date().timeIntervalSince(small)
        let block = Array((0..<4096).flatMap { LogEntry(text: "filler \($0)\n", stream: .stdout, time: "2030-01-01T00:00:00.000000001Z").encoded() })
        let fd = open(path, O_WRONLY | O_APPEND)
        var written = 0
        while written < 256 << 20 { written += block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        _ = LogEntry(text: "newest\n", stream: .stdout, time: "2030-01-01T00:00:01Z").encoded().withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let start = Date()
        let tail = try p.run(["logs", "-n", "1", "--no-log-prefix", "chatty"])
        let seconds = Date().timeIntervalSince(start)
        #expect(tail.stdout == "newest\n", "\(tail.stderr)")
        #expect(seconds - baseline < 0.5, "\(seconds) s for one line of a 256 MiB log, \(baseline) s for one of a one-line log")
    }

    /// `run --rm app npm install` in a fresh checkout: the first command ever run on the project.
    @Test func runInACheckoutThatWasNeverUp() throws {
        let p = try ProjectFixture("fresh", compose: """
            services:
              probe:
                image: swcompose/busybox
                command: ["true"]
                volumes: ["cache:/cache"]
                networks: [default, back]
            networks:
              back: {}
            volumes:
              cache: {}
            """)
        let run = try p.run(["run", "--rm", "-T", "probe", "sh", "-c", "echo hi > /cache/x && cat /cache/x && ip -o -4 addr show | grep -c 'eth[0-9]'"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "hi\n2\n", "\(run.stdout)")
        #expect(try p.run(["ps", "-a", "-q"]).stdout.isEmpty, "the one-off container is gone")
        let networks = try p.run(["network", "ls"]).stdout
        #expect(networks.contains("\(p.project)_default") && networks.contains("\(p.project)_back"), "\(networks)")
        #expect(try p.run(["volume", "ls", "-q"]).stdout.contains("\(p.project)_cache"))
        // The volume was made for it and keeps what the run wrote.
        #expect(try p.run(["run", "--rm", "-T", "probe", "cat", "/cache/x"]).stdout == "hi\n")

        // A container that cannot start: docker compose's exit code 1, a message that says what failed
        // (there is no daemon), and no record left behind.
        let failed = try p.run(["run", "--rm", "-T", "probe", "nosuch"])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("failed to start container \(p.project)-probe-run-"), "\(failed.stderr)")
        #expect(failed.stderr.contains("exec: \"nosuch\": executable file not found in $PATH"), "\(failed.stderr)")
        #expect(!failed.stderr.contains("daemon"))
        #expect(try p.run(["ps", "-a", "-q"]).stdout.isEmpty, "a --rm container that could not start is removed")
        #expect(try p.run(["run", "--rm", "-T", "probe", "sh", "-c", "exit 7"]).status == 7, "the container's own code passes through")
    }

    @Test func killedSupervisorIsReplacedAndContainersKeepRunning() throws {
        let p = try ProjectFixture("adopt", compose: """
            services:
              ticker:
                image: swcompose/busybox
                command: ["sh", "-c", "while true; do echo tick; sleep 0.1; done"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let id = try #require(p.container("ticker")).id
        let before = p.store.state(id)
        #expect(before.isAlive)
        kill(before.supervisorPid, SIGKILL)
        usleep(200_000)
        #expect(p.store.state(id).isAlive, "the container outlives its supervisor")
        let ps = try p.run(["ps"])
        #expect(ps.stdout.contains("Up"))
        #expect(ps.stderr.contains("supervisor of project \(p.project) was not running: started a new one, which adopted 1 running container"), "\(ps.stderr)")
        // A new supervisor adopted it: logs keep growing, and stop works.
        let count = try p.run(["logs", "ticker"]).stdout.split(separator: "\n").count
        usleep(500_000)
        #expect(try p.run(["logs", "ticker"]).stdout.split(separator: "\n").count > count)
        #expect(p.store.state(id).supervisorPid != before.supervisorPid)
        #expect(try p.run(["stop", "-t", "1", "ticker"]).status == 0)
        #expect(!p.store.state(id).isAlive)
    }

    @Test func oomKillsAreRecorded() throws {
        let p = try ProjectFixture("oom", compose: """
            services:
              hog:
                image: swcompose/busybox
                command: ["sh", "-c", "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$$x$$x; done"]
                mem_limit: 24m
                memswap_limit: 24m
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let id = try #require(p.container("hog")).id
        #expect(try p.run(["wait", "hog"]).stdout == "137\n")
        let state = p.store.state(id)
        #expect(state.oomKilled)
        #expect(state.exitCode == 137)
    }

    @Test func volumesCopyUpTmpfsReadOnlyAndInit() throws {
        let p = try ProjectFixture("vol", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sh", "-c", "cat /srv/www/index.html; echo written > /srv/www/new; touch /ro 2>/dev/null || echo read-only; touch /scratch/x && echo tmpfs; cat /proc/1/cmdline | tr '\\\\0' ' '; echo; sleep 1000"]
                read_only: true
                init: true
                tmpfs: [/scratch]
                volumes:
                  - site:/srv/www
            volumes:
              site: {}
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        #expect(p.eventually(1) { (try? p.run(["logs", "app"]).stdout.contains("tmpfs")) == true })
        let logs = try p.run(["logs", "--no-log-prefix", "app"]).stdout
        #expect(logs.contains("from the image\n"), "a new named volume is filled from the image: \(logs)")
        #expect(logs.contains("read-only\n"))
        #expect(logs.contains("swcompose __init"), "init: true puts the reaping init at PID 1: \(logs)")
        let data = p.root + "/volumes/\(p.project)_site/_data"
        #expect(try String(contentsOfFile: data + "/new", encoding: .utf8) == "written\n")
        // down keeps named volumes; down -v removes them.
        #expect(try p.run(["down"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: data + "/new"))
        #expect(try p.run(["down", "-v"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: data))
    }

    @Test func errorsNameTheProblem() throws {
        let p = try ProjectFixture("err", compose: """
            services:
              missing:
                image: nosuch/image:1
                pull_policy: never
              baduser:
                image: swcompose/busybox
                command: "true"
                user: ghost
            """)
        let up = try p.run(["up", "-d", "missing"])
        #expect(up.status == 1)
        #expect(up.stderr.contains("compose.yaml:3:12: error: image nosuch/image:1 of service \"missing\" is not in the local image store"), "\(up.stderr)")
        #expect(p.store.list().isEmpty, "nothing was created")
        let bad = try p.run(["up", "-d", "baduser"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("unable to find user ghost: no matching entries in passwd file"), "\(bad.stderr)")
        let unknown = try p.run(["ps", "nosuch"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no such service: nosuch"))
    }

    @Test func terminalsForExecAndRun() throws {
        let p = try ProjectFixture("tty", compose: """
            services:
              shell:
                image: swcompose/busybox
                command: sleep 1000
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let exec = try p.runInTerminal(["exec", "shell", "sh", "-c", "tty; stty size; echo $TERM"])
        #expect(exec.status == 0)
        #expect(exec.output.contains("/dev/pts/0\r\n40 100\r\nxterm\r\n"), "\(exec.output)")
        let interactive = try p.runInTerminal(["exec", "shell", "sh"], input: "echo typed $((6*7))\nexit 6\n")
        #expect(interactive.status == 6)
        #expect(interactive.output.contains("typed 42"), "\(interactive.output)")
        let run = try p.runInTerminal(["run", "--rm", "shell", "sh", "-c", "tty; stty size; ls -l /dev/console; exit 3"])
        #expect(run.status == 3)
        #expect(run.output.contains("/dev/pts/0\r\n40 100\r\n"), "\(run.output)")
        #expect(run.output.contains("136,   0"), "/dev/console is the container's terminal: \(run.output)")
    }

    /// `stats --no-stream`: each running container's figures from its cgroup — a busy loop near a whole
    /// CPU, an idle one near none, the memory limit it was given (the host's memory without one), the
    /// PIDs the cgroup holds.
    @Test func statsReadTheCgroups() throws {
        let p = try ProjectFixture("stats", compose: """
            services:
              busy:
                image: swcompose/busybox
                mem_limit: 64m
                command: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=1M & exec sleep 1000"]
              idle:
                image: swcompose/busybox
                command: ["sleep", "1000"]
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let r = try p.run(["stats", "--no-stream", "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        #expect(rows.map { $0["Name"] } == ["\(p.project)-busy-1", "\(p.project)-idle-1"], "\(r.stdout)")
        guard rows.count == 2 else { return }
        func percent(_ s: String?) -> Double { Double((s ?? "").dropLast()) ?? -1 }
        #expect(percent(rows[0]["CPUPerc"]) > 30, "a busy loop: \(rows[0])")
        #expect(percent(rows[1]["CPUPerc"]) < 5, "idle: \(rows[1])")
        #expect(rows[0]["MemUsage"]?.hasSuffix(" / 64MiB") == true, "\(rows[0])")
        #expect(rows[1]["MemUsage"]?.hasSuffix("MiB") == true || rows[1]["MemUsage"]?.hasSuffix("GiB") == true, "the host's memory as the limit: \(rows[1])")
        let runtime = Runtime(root: StateRoot(path: p.root))
        for (row, service) in zip(rows, ["busy", "idle"]) {
            let record = try #require(p.container(service))
            #expect(row["PIDs"] == String(runtime.cgroup(of: record).processes().count), "\(row)")
            #expect(row["ID"] == String(record.id.prefix(12)))
        }
        let table = try p.run(["stats", "--no-stream", "idle"])
        #expect(table.stdout.hasPrefix("CONTAINER ID   NAME") && table.stdout.contains("\(p.project)-idle-1") && !table.stdout.contains("busy"), "\(table.stdout)")
    }
}
