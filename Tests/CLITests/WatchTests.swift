import Foundation
import Testing
import TestSupport

/// `watch` on busybox projects, as a developer edits: a saved file is in the running container
/// within 50 ms (seen through the container's own root), deletions and new directories follow,
/// `ignore`, the build context's `.dockerignore` and editors' swap files stay out; `sync+restart`,
/// `sync+exec`, `restart` and `rebuild` do what they say, a rebuild running only its cache misses.
@Suite(.serialized) struct WatchTests {
    /// Seconds until `condition` holds, checked every half millisecond; nil when it never did.
    static func until(_ seconds: Double, _ condition: () -> Bool) -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if condition() { return Date().timeIntervalSince(start) }
            usleep(500)
        }
        return nil
    }

    static func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test func syncLandsWithin50msAndLeavesIgnoredFilesOut() throws {
        let p = try ProjectFixture("watch", compose: """
            services:
              web:
                build: .
                command: ["sleep", "1000"]
                develop:
                  watch:
                    - action: sync
                      path: ./src
                      target: /app
                      ignore: ["*.log", "tmp/"]
                    - action: sync
                      path: ./static
                      target: /static
                      initial_sync: true
            """, files: ["Dockerfile": "FROM swcompose/busybox\n", ".dockerignore": "src/secret.txt\n",
                         "src/index.html": "v0\n", "static/s.txt": "static\n"])
        let w = try BackgroundCommand(p, ["watch"])
        #expect(w.waitFor("Watch enabled", 60), "\(w.stdout) \(w.stderr)")
        let web = try #require(p.container("web"))
        let root = "/proc/\(p.store.state(web.id).pid)/root"
        #expect(Self.read(root + "/static/s.txt") == "static\n", "initial_sync: there when watch says it is enabled")
        #expect(Self.read(root + "/app/index.html") == nil, "no initial sync without initial_sync")

        // Ten saves, in place and by rename as editors do: each in the container within 50 ms on an idle machine.
        let src = p.directory + "/src"
        var times: [Double] = []
        for i in 1...10 {
            let text = "edit \(i)\n"
            try text.write(toFile: src + "/index.html", atomically: i % 2 == 0, encoding: .utf8)
            let t = Self.until(2) { Self.read(root + "/app/index.html") == text }
            #expect(t != nil, "edit \(i) never arrived: \(w.stdout) \(w.stderr)")
            if let t { times.append(t) }
        }
        // Nine saves of ten within 50 ms and none near the batch ceiling (200 ms): one late save of ten
        // is the scheduler of a loaded machine (a kernel-matrix guest shares one CPU with its test and
        // another guest; CI saw 58 ms once among 12 ms saves), while a longer quiet period, a batch held
        // to its ceiling or a slower copy would fail both bounds every time.
        let sorted = times.sorted()
        #expect(sorted.count == 10 && sorted[8] < 0.05 && sorted[9] < 0.15,
                "write to visible in the container: \(times.map { Int($0 * 1000) }) ms")
        #expect(w.stdout.contains("Syncing service \"web\" after 1 changes were detected"), "\(w.stdout)")

        // Left out: the rule's ignore patterns, the .dockerignore, an editor's swap file.
        let fm = FileManager.default
        try fm.createDirectory(atPath: src + "/tmp", withIntermediateDirectories: true)
        for name in ["debug.log", "tmp/cache", "secret.txt", ".index.html.swp", "index.html~"] {
            try "x\n".write(toFile: src + "/" + name, atomically: false, encoding: .utf8)
        }
        // A new directory tree and three files in one go: one batch.
        try fm.createDirectory(atPath: src + "/sub/deep", withIntermediateDirectories: true)
        for name in ["sub/deep/f.txt", "sub/g.txt", "kept.txt"] { try name.write(toFile: src + "/" + name, atomically: false, encoding: .utf8) }
        #expect(Self.until(2) { Self.read(root + "/app/sub/deep/f.txt") == "sub/deep/f.txt" && Self.read(root + "/app/kept.txt") == "kept.txt" } != nil,
                "\(w.stdout) \(w.stderr)")
        #expect(Self.until(1) { Self.read(root + "/app/sub/g.txt") == "sub/g.txt" } != nil)
        for name in ["debug.log", "tmp", "secret.txt", ".index.html.swp", "index.html~"] {
            #expect(!fm.fileExists(atPath: root + "/app/" + name), "\(name) is ignored")
        }
        // Deleted on the host, deleted in the container: a file, and a tree.
        try fm.removeItem(atPath: src + "/kept.txt")
        try fm.removeItem(atPath: src + "/sub")
        #expect(Self.until(1) { !fm.fileExists(atPath: root + "/app/kept.txt") && !fm.fileExists(atPath: root + "/app/sub") } != nil)
        #expect(Self.read(root + "/app/index.html") == "edit 10\n")
        #expect(w.stop() == 0, "\(w.stderr)")
        print("watch sync, write to visible (ms): \(times.map { String(format: "%.1f", $0 * 1000) }.joined(separator: " "))")
    }

    @Test func syncRestartSyncExecAndRestart() throws {
        let p = try ProjectFixture("watchrs", compose: """
            services:
              api:
                image: swcompose/busybox
                command: ["sh", "-c", "echo started with $$(cat /conf/setting 2>/dev/null); exec sleep 1000"]
                develop:
                  watch:
                    - {action: sync+restart, path: ./conf, target: /conf}
                    - action: sync+exec
                      path: ./hooks
                      target: /hooks
                      exec: {command: ["sh", "-c", "cat /hooks/x > /tmp/exec-ran"], environment: {MARK: set}}
                    - {action: restart, path: ./trigger}
            """, files: ["conf/setting": "one", "hooks/x": "h1", "trigger": "t"])
        let w = try BackgroundCommand(p, ["watch"])
        #expect(w.waitFor("Watch enabled", 60), "\(w.stdout) \(w.stderr)")
        let id = try #require(p.container("api")).id
        func pid() -> Int32 { p.store.state(id).pid }
        let first = pid()

        try "two".write(toFile: p.directory + "/conf/setting", atomically: false, encoding: .utf8)
        #expect(Self.until(10) { pid() != first && p.store.state(id).isAlive } != nil, "sync+restart restarts: \(w.stdout) \(w.stderr)")
        #expect(try p.run(["exec", "-T", "api", "cat", "/conf/setting"]).stdout == "two")
        #expect(Self.until(2) { (try? p.run(["logs", "api"]).stdout.contains("started with two")) == true } != nil, "restarted after the sync")
        #expect(w.stdout.contains("Restarting service \"api\" after changes were detected"), "\(w.stdout)")

        let second = pid()
        try "h2".write(toFile: p.directory + "/hooks/x", atomically: false, encoding: .utf8)
        #expect(Self.until(5) { (try? p.run(["exec", "-T", "api", "cat", "/tmp/exec-ran"]).stdout) == "h2" } != nil, "sync+exec ran after the sync: \(w.stdout) \(w.stderr)")
        #expect(pid() == second, "sync+exec does not restart")

        try "t2".write(toFile: p.directory + "/trigger", atomically: false, encoding: .utf8)
        #expect(Self.until(10) { pid() != second && p.store.state(id).isAlive } != nil, "restart: \(w.stdout)")
        #expect(try p.run(["exec", "-T", "api", "test", "-e", "/trigger"]).status == 1, "restart syncs nothing")
        #expect(w.stop() == 0, "\(w.stderr)")
    }

    @Test func rebuildRecreatesOnTheNewImageRunningOnlyTheCacheMisses() throws {
        let p = try ProjectFixture("watchrb", compose: """
            services:
              app:
                build: ./app
                develop:
                  watch:
                    - {action: rebuild, path: ./app}
            """, files: ["app/Dockerfile": "FROM swcompose/busybox\nRUN echo base > /base.txt\nCOPY version.txt /version.txt\nCMD [\"sleep\", \"1000\"]\n",
                         "app/version.txt": "1\n"])
        let w = try BackgroundCommand(p, ["watch", "--prune"])
        #expect(w.waitFor("Watch enabled", 60), "\(w.stdout) \(w.stderr)")
        let before = try #require(p.container("app"))
        let errBefore = w.stderr.count
        try "2\n".write(toFile: p.directory + "/app/version.txt", atomically: false, encoding: .utf8)
        let t = Self.until(20) { p.container("app").map { $0.id != before.id && p.store.state($0.id).isAlive } ?? false }
        #expect(t != nil && t! < 5, "recreated on the new image after \(t ?? -1) s: \(w.stdout) \(w.stderr)")
        #expect(try p.run(["exec", "-T", "app", "cat", "/version.txt"]).stdout == "2\n")
        #expect(w.stdout.contains("Rebuilding service(s) [\"app\"] after changes were detected..."), "\(w.stdout)")
        let rebuildOutput = String(w.stderr.dropFirst(errBefore))
        let lines = rebuildOutput.split(separator: "\n")
        #expect(lines.contains { $0.contains("CACHED") && $0.contains("RUN echo base") }, "the unchanged step came from the cache: \(rebuildOutput)")
        #expect(lines.contains { !$0.contains("CACHED") && $0.contains("COPY version.txt") }, "\(rebuildOutput)")
        // --prune: the replaced image (nothing names it now) is gone.
        let images = try p.run(["image", "ls", "--format", "json"])
        #expect(images.status == 0 && images.stdout.contains("sha256:"), "\(images.stderr)")
        #expect(!images.stdout.contains(before.spec.image.id), "the old image was pruned: \(images.stdout)")
        #expect(w.stop() == 0, "\(w.stderr)")
    }

    /// `up --watch`: attached logs and the watch together; a rebuild's new container joins the
    /// stream, and Ctrl-C stops the project as an attached `up` does.
    @Test func upWatchFollowsLogsAcrossARebuild() throws {
        let p = try ProjectFixture("upwatch", compose: """
            services:
              app:
                build: ./app
                develop:
                  watch:
                    - {action: sync, path: ./app/static, target: /static}
                    - {action: rebuild, path: ./app/version.txt}
            """, files: ["app/Dockerfile": "FROM swcompose/busybox\nCOPY . /src\nCMD [\"sh\", \"-c\", \"echo running version $(cat /src/version.txt); exec sleep 1000\"]\n",
                         "app/version.txt": "1", "app/static/page.txt": "p1\n"])
        let w = try BackgroundCommand(p, ["up", "--watch"])
        #expect(w.waitFor("Watch enabled", 60) && w.waitFor("app-1  | running version 1", 5), "\(w.stdout) \(w.stderr)")
        let first = try #require(p.container("app"))
        try "p2\n".write(toFile: p.directory + "/app/static/page.txt", atomically: false, encoding: .utf8)
        let root = "/proc/\(p.store.state(first.id).pid)/root"
        #expect(Self.until(1) { Self.read(root + "/static/page.txt") == "p2\n" } != nil, "\(w.stdout)")
        try "2".write(toFile: p.directory + "/app/version.txt", atomically: false, encoding: .utf8)
        #expect(w.waitFor("app-1  | running version 2", 20), "the rebuilt container's output in the same stream: \(w.stdout) \(w.stderr)")
        #expect(w.process.isRunning)
        #expect(w.stop() == 130, "Ctrl-C: \(w.stderr)")
        let now = try #require(p.container("app"))
        #expect(now.id != first.id && !p.store.state(now.id).isAlive, "stopped on Ctrl-C")
        let both = try p.run(["up", "--watch", "-d"])
        #expect(both.status != 0 && both.stderr.contains("cannot be combined with --detach"), "\(both.stderr)")
    }

    @Test func watchWithoutDevelopSectionIsAnError() throws {
        let p = try ProjectFixture("watchnone", compose: """
            services:
              plain:
                image: swcompose/busybox
            """)
        let r = try p.run(["watch"])
        #expect(r.status == 1 && r.stderr.contains("none of the selected services is configured for watch"), "\(r.stderr)")
        #expect(p.container("plain") == nil, "nothing was started")
    }
}
