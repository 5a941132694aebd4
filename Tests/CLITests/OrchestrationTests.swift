import Foundation
import Testing
import TestSupport
import Engine

/// `up`, `down` and the project lifecycle end to end.
@Suite(.requiresOverlay, .requiresBusybox, .serialized) struct OrchestrationTests {
    static func startedAt(_ p: ProjectFixture, _ service: String) -> Int64 {
        Timestamp.parse(p.store.state(p.container(service)!.id).startedAt) ?? 0
    }

    @Test func healthGatedChainAndOneShotMigration() throws {
        let p = try ProjectFixture("chain", compose: """
            services:
              db:
                image: swcompose/busybox
                command: ["sh", "-c", "sleep 0.5; touch /tmp/ready; exec sleep 1000"]
                healthcheck:
                  test: ["CMD", "test", "-f", "/tmp/ready"]
                  interval: 100ms
                  retries: 50
              migrate:
                image: swcompose/busybox
                command: ["sh", "-c", "nslookup db > /dev/null && echo migrated"]
                depends_on:
                  db: {condition: service_healthy}
              app:
                image: swcompose/busybox
                command: sleep 1000
                depends_on:
                  db: {condition: service_healthy}
                  migrate: {condition: service_completed_successfully}
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        let order = up.stderr.split(separator: "\n").map(String.init)
        let healthy = try #require(order.firstIndex(of: " Container \(p.project)-db-1  Healthy"))
        let migrateStarted = try #require(order.firstIndex(of: " Container \(p.project)-migrate-1  Started"))
        let migrateExited = try #require(order.firstIndex(of: " Container \(p.project)-migrate-1  Exited"))
        let appStarted = try #require(order.firstIndex(of: " Container \(p.project)-app-1  Started"))
        #expect(healthy < migrateStarted && migrateExited < appStarted, "\(up.stderr)")
        #expect(try p.run(["logs", "--no-log-prefix", "migrate"]).stdout == "migrated\n")
        #expect(try p.run(["down", "-t", "0"]).status == 0)

        // A failed migration stops `up` with docker compose's message and exit code.
        let failing = try ProjectFixture("badmigrate", compose: """
            services:
              migrate:
                image: swcompose/busybox
                command: ["sh", "-c", "exit 3"]
              app:
                image: swcompose/busybox
                command: sleep 1000
                depends_on:
                  migrate: {condition: service_completed_successfully}
            """)
        let bad = try failing.run(["up", "-d"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("service \"migrate\" didn't complete successfully: exit 3"), "\(bad.stderr)")
        #expect(!failing.store.state(failing.container("app")!.id).isAlive, "app never started")

        // An unhealthy dependency is named.
        let sick = try ProjectFixture("sick", compose: """
            services:
              db:
                image: swcompose/busybox
                command: sleep 1000
                healthcheck:
                  test: ["CMD", "false"]
                  interval: 100ms
                  retries: 2
              app:
                image: swcompose/busybox
                command: sleep 1000
                depends_on:
                  db: {condition: service_healthy}
            """)
        let unhealthy = try sick.run(["up", "-d"])
        #expect(unhealthy.status == 1)
        #expect(unhealthy.stderr.contains("dependency failed to start: container \(sick.project)-db-1 is unhealthy"), "\(unhealthy.stderr)")
    }

    /// docker runs the first probe one interval after the start (30 s by default); swcompose probes
    /// early and forgives those failures, so a dependent starts as soon as its dependency is ready and
    /// nothing turns unhealthy sooner than under docker.
    @Test func dependenciesAreHealthyAsSoonAsTheyAreReady() throws {
        let p = try ProjectFixture("early", compose: """
            services:
              db:
                image: swcompose/busybox
                command: ["sh", "-c", "sleep 0.3; touch /tmp/ready; exec sleep 1000"]
                healthcheck:
                  test: ["CMD", "test", "-f", "/tmp/ready"]
                  interval: 1m
                  retries: 1
              app:
                image: swcompose/busybox
                command: sleep 1000
                depends_on:
                  db: {condition: service_healthy}
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        let db = p.store.state(p.container("db")!.id)
        let health = try #require(db.health)
        #expect(health.status == .healthy && health.failingStreak == 0)
        #expect(health.log.first?.exitCode == 1, "the early failures were forgiven despite retries: 1: \(health.log)")
        #expect(health.log.last?.exitCode == 0)
        let started = Timestamp.parse(db.startedAt) ?? 0, healthy = Timestamp.parse(health.log.last!.end) ?? Int64.max
        #expect(healthy - started < 30, "healthy long before docker's first probe at 1m")
        #expect(p.store.state(p.container("app")!.id).status == .running)
    }

    /// A dependency ready as it starts is healthy within its first probe, a few milliseconds after the
    /// start (its helper was spawned as the container started, so the probe costs only its own run);
    /// that helper is the first probe's alone, and one never used goes with its container.
    @Test func theFirstProbeRunsMillisecondsAfterTheStartAndItsHelperNeverOutlivesTheContainer() throws {
        let p = try ProjectFixture("firstprobe", compose: """
            services:
              db:
                image: swcompose/busybox
                command: sleep 1000
                healthcheck: {test: ["CMD", "true"], interval: 1m}
              app:
                image: swcompose/busybox
                command: sleep 1000
                depends_on:
                  db: {condition: service_healthy}
              brief:
                image: swcompose/busybox
                command: "true"
                healthcheck: {test: ["CMD", "true"], interval: 1m}
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        let db = p.store.state(p.container("db")!.id)
        let probe = try #require(db.health?.log.first)
        let started = Timestamp.parseNanoseconds(db.startedAt) ?? 0, ended = Timestamp.parseNanoseconds(probe.end) ?? Int64.max
        #expect(probe.exitCode == 0 && db.health?.status == .healthy)
        #expect(ended - started < 250_000_000, "first probe done \((ended - started) / 1_000_000) ms after the start (docker: 1m)")
        #expect(p.store.state(p.container("app")!.id).status == .running)

        // `brief` exits before its first probe is due: the helper spawned for it is gone with it, and
        // db's (used) is gone too: no exec helper is left waiting under the supervisor.
        let brief = try #require(p.container("brief")).id
        #expect(WatchTests.until(5) { p.store.state(brief).status == .exited } != nil)
        let supervisor = db.supervisorPid
        func helpers() -> [String] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(supervisor)/task")) ?? []
            let children = tasks.flatMap { t in
                ((try? String(contentsOfFile: "/proc/\(supervisor)/task/\(t)/children", encoding: .utf8)) ?? "").split(separator: " ")
            }
            return children.compactMap { pid in
                let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                return cmdline.contains("__exec") ? String(pid) : nil
            }
        }
        #expect(supervisor > 0)
        #expect(helpers().isEmpty, "exec helpers left under the supervisor: \(helpers())")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    /// Probes that change nothing but the health log are written together, within a second: what
    /// `inspect` shows of a healthy container's probes is at most a second old.
    @Test func aHealthyContainersProbesReachItsHealthLogWithinASecond() throws {
        let p = try ProjectFixture("healthlog", compose: """
            services:
              web:
                image: swcompose/busybox
                command: sleep 1000
                healthcheck: {test: ["CMD", "true"], interval: 100ms}
            """)
        #expect(try p.run(["up", "-d", "--wait"]).status == 0)
        let id = try #require(p.container("web")).id
        Thread.sleep(forTimeInterval: 1.6)
        // Healthy at the first probe, then one probe each 100 ms: at least five more by now, and the
        // newest written no more than a second (and a probe) ago.
        let health = try #require(p.store.state(id).health)
        #expect(health.status == .healthy && health.log.count == 5, "\(health.log)")
        let newest = Timestamp.parseNanoseconds(health.log.last?.end ?? "") ?? 0
        let age = Double(Timestamp.nowNanoseconds() - newest) / 1e9
        #expect(age < 1.5, "the newest probe written is \(age) s old")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func recreationOnConfigurationChangeOnlyWithReasons() throws {
        let p = try ProjectFixture("recon", compose: """
            services:
              web:
                image: swcompose/busybox
                command: sleep 1000
                environment:
                  COLOR: blue
              other:
                image: swcompose/busybox
                command: sleep 1000
            """)
        #expect(try p.run(["up", "-d"]).status == 0)
        let web1 = try #require(p.container("web")).id
        let other1 = try #require(p.container("other")).id
        // Unchanged: kept.
        let again = try p.run(["up", "-d"])
        #expect(again.status == 0)
        #expect(p.container("web")!.id == web1 && p.container("other")!.id == other1)
        #expect(!again.stderr.contains("Recreate"))
        // One service changed: a dry run names what changed and touches nothing; then only it is recreated.
        try p.writeFile("compose.yaml", """
            services:
              web:
                image: swcompose/busybox
                command: sleep 1000
                environment:
                  COLOR: green
              other:
                image: swcompose/busybox
                command: sleep 1000
            """)
        let dry = try p.run(["--dry-run", "up", "-d"])
        #expect(dry.status == 0)
        #expect(dry.stderr.contains("DRY-RUN MODE -  Container \(p.project)-web-1  Recreate (changed: environment)"), "\(dry.stderr)")
        #expect(p.container("web")!.id == web1)
        let changed = try p.run(["up", "-d"])
        #expect(changed.stderr.contains(" Container \(p.project)-web-1  Recreated"), "\(changed.stderr)")
        #expect(p.container("web")!.id != web1)
        #expect(p.container("other")!.id == other1)
        #expect(try p.run(["exec", "-T", "web", "sh", "-c", "echo $COLOR"]).stdout == "green\n")
        #expect(try p.run(["up", "-d", "--force-recreate", "other"]).stderr.contains("Recreated"))
        #expect(p.container("other")!.id != other1)
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func orphansScaleAndRestartPolicies() throws {
        let p = try ProjectFixture("orph", compose: """
            services:
              keep:
                image: swcompose/busybox
                command: sleep 1000
              gone:
                image: swcompose/busybox
                command: sleep 1000
              flaky:
                image: swcompose/busybox
                command: ["sh", "-c", "echo attempt; exit 1"]
                restart: on-failure:2
            """)
        #expect(try p.run(["up", "-d", "--scale", "keep=3"]).status == 0)
        #expect(p.store.list().filter { $0.spec.labels["com.docker.compose.service"] == "keep" }.count == 3)
        #expect(p.eventually(15) { p.store.state(p.container("flaky")!.id).status == .exited && p.store.state(p.container("flaky")!.id).restartCount == 2 })
        #expect(try p.run(["logs", "--no-log-prefix", "flaky"]).stdout == "attempt\nattempt\nattempt\n")
        try p.writeFile("compose.yaml", """
            services:
              keep:
                image: swcompose/busybox
                command: sleep 1000
            """)
        let warned = try p.run(["up", "-d"])
        #expect(warned.stderr.contains("Found orphan containers"), "\(warned.stderr)")
        #expect(p.store.list().filter { $0.spec.labels["com.docker.compose.service"] == "keep" }.count == 1, "scaled back to 1")
        #expect(p.container("gone") != nil)
        #expect(try p.run(["up", "-d", "--remove-orphans"]).status == 0)
        #expect(p.container("gone") == nil && p.container("flaky") == nil)
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func secretsConfigsAndProjectNameCollisions() throws {
        let p = try ProjectFixture("secret", compose: """
            services:
              app:
                image: swcompose/busybox
                command: sleep 1000
                user: "1000:1000"
                secrets:
                  - token
                  - source: env_secret
                    target: from_env
                    mode: 0400
                    uid: "1000"
                configs:
                  - source: settings
                    target: /etc/app.conf
            secrets:
              token:
                file: ./token.txt
              env_secret:
                environment: SECRET_VALUE
            configs:
              settings:
                content: |
                  level=debug
            """, files: ["token.txt": "s3cr3t\n"])
        #expect(try p.run(["up", "-d"], extraEnvironment: ["SECRET_VALUE": "from-the-environment"]).status == 0)
        #expect(try p.run(["exec", "-T", "app", "cat", "/run/secrets/token"]).stdout == "s3cr3t\n")
        #expect(try p.run(["exec", "-T", "app", "cat", "/run/secrets/from_env"]).stdout == "from-the-environment")
        #expect(try p.run(["exec", "-T", "app", "stat", "-c", "%a %u", "/run/secrets/from_env"]).stdout == "400 1000\n")
        #expect(try p.run(["exec", "-T", "app", "cat", "/etc/app.conf"]).stdout == "level=debug")
        #expect(try p.run(["exec", "-T", "app", "sh", "-c", "echo x > /run/secrets/token"]).status != 0, "read-only")

        // The same project name from another directory is refused before anything happens.
        let twin = try ProjectFixture("twin", compose: """
            services:
              app:
                image: swcompose/busybox
                command: sleep 1000
            """)
        try? FileManager.default.removeItem(atPath: twin.root)
        try FileManager.default.createSymbolicLink(atPath: twin.root, withDestinationPath: p.root)
        let clash = try Swcompose.run(["-p", p.project, "up", "-d"], in: URL(fileURLWithPath: twin.directory), environment: twin.environment)
        #expect(clash.status == 1)
        #expect(clash.stderr.contains("project name \"\(p.project)\" is already used by the stack in \(p.directory)"), "\(clash.stderr)")
        #expect(p.store.list().count == 1)
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }

    @Test func externalNamedAndAnonymousVolumes() throws {
        let p = try ProjectFixture("vols", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sh", "-c", "echo kept > /shared/note; echo mine > /own/note; echo tmp > /cache/note; exec sleep 1000"]
                volumes:
                  - shared:/shared
                  - own:/own
                  - /cache
            volumes:
              own: {}
              shared:
                external: true
                name: team-shared
            """)
        let missing = try p.run(["up", "-d"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("external volume \"team-shared\" not found"), "\(missing.stderr)")
        #expect(p.store.list().isEmpty, "nothing was started")

        #expect(try p.run(["volume", "create", "--label", "team=yes", "team-shared"]).stdout == "team-shared\n")
        #expect(try p.run(["up", "-d"]).status == 0)
        #expect(p.eventually { (try? String(contentsOfFile: p.root + "/volumes/team-shared/_data/note", encoding: .utf8)) == "kept\n" })
        let volumes = Set(try p.run(["volume", "ls", "-q"]).stdout.split(separator: "\n").map(String.init))
        let anonymous = volumes.subtracting(["team-shared", "\(p.project)_own"])
        #expect(volumes.contains("\(p.project)_own"))
        #expect(anonymous.count == 1 && anonymous.first!.count == 64, "one anonymous volume: \(volumes)")
        let inspect = try p.run(["volume", "inspect", "\(p.project)_own"]).stdout
        #expect(inspect.contains("\"com.docker.compose.project\": \"\(p.project)\""), "\(inspect)")
        #expect(inspect.contains("\"com.docker.compose.volume\": \"own\""))

        // In use: refused by `volume rm`, kept by prune.
        let rm = try p.run(["volume", "rm", "\(p.project)_own"])
        #expect(rm.status != 0 && rm.stderr.contains("in use"), "\(rm.stderr)")
        #expect(!(try p.run(["volume", "prune", "-a", "-f"]).stdout.contains("\(p.project)_own")))

        // down -v: the project's named and anonymous volumes go, the external one stays with its data.
        #expect(try p.run(["down", "-v"]).status == 0)
        let after = Set(try p.run(["volume", "ls", "-q"]).stdout.split(separator: "\n").map(String.init))
        #expect(after == ["team-shared"])
        #expect((try? String(contentsOfFile: p.root + "/volumes/team-shared/_data/note", encoding: .utf8)) == "kept\n")
        // prune reports what it reclaimed as du counts it.
        let du = try Process.output("/usr/bin/du", ["-sB1", p.root + "/volumes/team-shared/_data"])
        let bytes = Int64(du.split(separator: "\t").first ?? "") ?? -1
        let prune = try p.run(["volume", "prune", "-a", "-f"]).stdout
        #expect(prune.contains("team-shared\n") && prune.contains("Total reclaimed space: \(ByteCount.human(bytes))\n"), "\(prune) \(du)")
        #expect(bytes > 0)
    }

    @Test func theQuickstartExampleServesItsPage() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../examples/quickstart/compose.yaml").standardized
        let p = try ProjectFixture("quickstart", compose: try String(contentsOf: example, encoding: .utf8))
        let port = NetworkingTests.freePort()
        let env = ["QUICKSTART_IMAGE": "swcompose/busybox", "WEB_PORT": String(port)]
        let up = try p.run(["up", "-d", "--wait"], extraEnvironment: env)
        #expect(up.status == 0, "\(up.stderr)")
        // Curled the moment `up --wait` returns, as a user would.
        let page = NetworkingTests.http("http://127.0.0.1:\(port)/") ?? ""
        #expect(page.contains("db says: 3 rows"), "\(page)")
        #expect(page.contains("migration: done"), "\(page)")
        let ps = try p.run(["ps", "-a", "--format", "json"], extraEnvironment: env).stdout
        #expect(ps.contains("\"Service\":\"migrate\"") && ps.contains("\"ExitCode\":0"), "\(ps)")
        #expect(try p.run(["down", "-v"], extraEnvironment: env).status == 0)
        #expect(NetworkingTests.http("http://127.0.0.1:\(port)/") == nil)
        #expect(!FileManager.default.fileExists(atPath: p.root + "/volumes/\(p.project)_dbdata"))
    }

    @Test func aKilledUpFollowedByDownLeavesTheHostClean() throws {
        var services = "services:\n"
        for i in 0..<12 { services += "  s\(i):\n    image: swcompose/busybox\n    command: sleep 1000\n    ports: [\"127.0.0.1::80\"]\n" }
        let p = try ProjectFixture("killed", compose: services)
        // Killed at different moments: while networks, container records and starts are under way.
        for delay in [20_000, 40_000, 60_000, 80_000, 110_000, 150_000] as [useconds_t] {
            let process = Process()
            process.executableURL = Swcompose.executable
            process.arguments = ["-p", p.project, "up", "-d"]
            process.currentDirectoryURL = URL(fileURLWithPath: p.directory)
            process.environment = p.environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let networks = NetworkStore(root: StateRoot(path: p.root)).list()
            let down = try p.run(["down", "-v", "-t", "0"])
            #expect(down.status == 0, "killed after \(delay / 1000) ms: \(down.stderr)")
            #expect(p.store.list().map(\.name) == [])
            // Nothing half-made stays: no container directory, no name claimed.
            let left = try FileManager.default.contentsOfDirectory(atPath: p.root + "/containers").filter { $0 != ".names" }
            #expect(left.isEmpty, "killed after \(delay / 1000) ms: \(left)")
            #expect((try? FileManager.default.contentsOfDirectory(atPath: p.root + "/containers/.names"))?.isEmpty ?? true)
            #expect(NetworkStore(root: StateRoot(path: p.root)).list().map(\.name) == [])
            let links = try Process.output("/usr/sbin/ip", ["-o", "link"])
            for n in networks { #expect(!links.contains(n.bridge), "bridge \(n.bridge) left") }
            let rules = Firewall.save()
            for n in networks { #expect(!rules.contains(String(n.id.prefix(12))), "rules of \(n.name) left") }
        }
    }
}

extension ProjectFixture {
    func writeFile(_ path: String, _ text: String) throws {
        try text.write(toFile: directory + "/" + path, atomically: true, encoding: .utf8)
    }
}
