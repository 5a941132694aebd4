import Foundation
import Testing
import TestSupport
import Engine

/// Builds of real Dockerfiles by swcompose itself, as root on this kernel (and in the kernel matrix's
/// guests), on the busybox image the fixture imports: every instruction, the cache, errors and what
/// a build leaves behind.
@Suite(.serialized) struct BuildTests {
    /// The image's Config as `image inspect` shows it.
    static func config(_ p: ProjectFixture, _ image: String) throws -> [String: Any] {
        let out = try p.run(["image", "inspect", image]).stdout
        let list = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]
        return try #require(list?.first?["Config"] as? [String: Any], "image inspect \(image): \(out.prefix(200))")
    }

    static func imageID(_ p: ProjectFixture, _ image: String) throws -> String {
        try p.run(["image", "inspect", image]).stdout.split(separator: "\"").dropFirst(3).first.map(String.init) ?? ""
    }

    /// Nothing of a build is left: no step container, no mount under the state root, no build network.
    static func expectNothingLeft(_ p: ProjectFixture, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        #expect(p.store.list().isEmpty, "no step container is left", sourceLocation: sourceLocation)
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains(p.root), "no mount under the state root", sourceLocation: sourceLocation)
        #expect(!(try p.run(["network", "ls"]).stdout.contains("swcompose_build")), "the build network is gone", sourceLocation: sourceLocation)
        let tmp = (try? FileManager.default.contentsOfDirectory(atPath: p.root + "/build-tmp")) ?? []
        #expect(tmp.isEmpty, "no scratch directory is left: \(tmp)", sourceLocation: sourceLocation)
        #expect(!KernelMatrixTests.supervisors(of: p.root, group: "swcompose-build").contains { _ in true }, "the build's supervisor went with it", sourceLocation: sourceLocation)
    }

    @Test func everyInstructionOnBusybox() throws {
        let tar = try TestArchives.write([TestArchives.directory("vendor"), TestArchives.file("vendor/lib.txt", "from the tarball\n")],
                                         to: NSTemporaryDirectory() + "/swc-add-\(UInt32.random(in: 0...UInt32.max)).tar.gz", compression: .gzip)
        defer { try? FileManager.default.removeItem(atPath: tar) }
        let p = try ProjectFixture("build", compose: """
            services:
              app:
                build:
                  context: ./app
                  args:
                    GREETING: hello
                  labels:
                    com.example.from-compose: "yes"
            """, files: [
                "app/Dockerfile": #"""
                # syntax=docker/dockerfile:1
                ARG BASE=swcompose/busybox
                FROM ${BASE} AS tools
                RUN mkdir -p /out && echo built-in-stage > /out/tool.txt

                FROM ${BASE}
                ARG GREETING=unset
                ARG UNUSED
                LABEL org.example.title="every instruction" \
                      org.example.version=1
                MAINTAINER someone@example.com
                ENV APP_HOME=/srv/app
                ENV MODE production
                ENV MESSAGE="${GREETING} world"
                WORKDIR $APP_HOME
                COPY --chown=1000:1000 --chmod=0640 config.txt ./config/
                COPY src/ ./src/
                COPY --from=tools /out/tool.txt /opt/
                COPY --parents src/*.txt ./kept/./x/y.txt /parents/
                ADD vendor.tar.gz /opt/
                COPY <<EOF /etc/motd
                made by a heredoc for ${GREETING}
                EOF
                RUN echo "$MESSAGE in $MODE" > greeting.txt && rm /bin/vi
                RUN ["/bin/sh", "-c", "echo exec form > exec.txt"]
                RUN <<EOF
                echo first > heredoc.txt
                echo second >> heredoc.txt
                EOF
                SHELL ["/bin/sh", "-e", "-c"]
                RUN test "$(cat greeting.txt)" = "hello world in production"
                EXPOSE 8080 9090/udp
                VOLUME /data
                STOPSIGNAL SIGINT
                HEALTHCHECK --interval=5s --timeout=3s --retries=4 CMD test -f /srv/app/greeting.txt
                USER 1000:1000
                ONBUILD RUN echo child
                ENTRYPOINT ["/bin/sh", "-c"]
                CMD ["cat greeting.txt"]
                """#,
                "app/config.txt": "key=value\n",
                "app/src/main.txt": "main\n",
                "app/src/ignored.log": "never copied\n",
                "app/kept/x/y.txt": "pivoted\n",
                "app/.dockerignore": "**/*.log\n",
            ])
        try FileManager.default.copyItem(atPath: tar, toPath: p.directory + "/app/vendor.tar.gz")
        let build = try p.run(["build", "app"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stderr.contains("=> [app tools 2/2] RUN mkdir -p /out"), "\(build.stderr)")
        #expect(build.stderr.contains("FINISHED"), "\(build.stderr)")
        let image = "\(p.project)-app"
        let c = try Self.config(p, image)
        #expect(c["Env"] as? [String] == ["PATH=/bin:/usr/bin", "APP_HOME=/srv/app", "MODE=production", "MESSAGE=hello world"])
        #expect(c["WorkingDir"] as? String == "/srv/app")
        #expect(c["User"] as? String == "1000:1000")
        #expect(c["Entrypoint"] as? [String] == ["/bin/sh", "-c"])
        #expect(c["Cmd"] as? [String] == ["cat greeting.txt"])
        #expect((c["ExposedPorts"] as? [String: Any]).map { Set($0.keys) } == ["8080/tcp", "9090/udp"])
        #expect((c["Volumes"] as? [String: Any]).map { Set($0.keys) } == ["/data"])
        #expect(c["StopSignal"] as? String == "SIGINT")
        let labels = c["Labels"] as? [String: String]
        #expect(labels?["org.example.title"] == "every instruction" && labels?["org.example.version"] == "1" && labels?["com.example.from-compose"] == "yes")
        let health = c["Healthcheck"] as? [String: Any]
        #expect(health?["Test"] as? [String] == ["CMD-SHELL", "test -f /srv/app/greeting.txt"])
        #expect(health?["Interval"] as? Int == 5_000_000_000 && health?["Retries"] as? Int == 4)
        #expect(c["OnBuild"] as? [String] == ["RUN echo child"])
        // A child of the image runs the trigger first, and does not keep it.
        try "FROM \(image)\nRUN echo done\n".write(toFile: p.directory + "/app/Dockerfile.child", atomically: true, encoding: .utf8)
        let child = try p.run(["image", "build", "-t", "child:latest", "-f", p.directory + "/app/Dockerfile.child", p.directory + "/app"])
        #expect(child.status == 0 && child.stderr.contains("=> [1/3] FROM ") && child.stderr.contains("=> [2/3] RUN echo child") && child.stderr.contains("=> [3/3] RUN echo done"), "\(child.stderr)")
        #expect(try Self.config(p, "child:latest")["OnBuild"] is NSNull)

        // The image runs, and has exactly what the steps made.
        let run = try p.run(["run", "--rm", "-T", "app"])
        #expect(run.status == 0 && run.stdout == "hello world in production\n", "\(run.stderr)")
        let look = try p.run(["run", "--rm", "-T", "--entrypoint", "sh", "-u", "0", "app", "-c", """
            cat exec.txt heredoc.txt /opt/tool.txt /opt/vendor/lib.txt /etc/motd; \
            stat -c '%u:%g %a %n' config/config.txt; ls src; ls /bin/vi 2>&1 | grep -c 'No such'; \
            cat /parents/src/main.txt /parents/x/y.txt
            """])
        #expect(look.stdout == """
            exec form
            first
            second
            built-in-stage
            from the tarball
            made by a heredoc for hello
            1000:1000 640 config/config.txt
            main.txt
            1
            main
            pivoted

            """, "\(look.stderr)")
        try Self.expectNothingLeft(p)
    }

    /// What docker's builder records for the same Dockerfile (Scripts/make-build-golden.sh, from
    /// dockerd's classic builder): every Config field the same.
    @Test func theImageConfigIsWhatDockersBuilderRecords() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures/build/equivalence"
        let golden = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture + "/docker-config.json"))) as? [String: Any])
        let p = try ProjectFixture("buildgolden", compose: "services: {}\n")
        let build = try p.run(["image", "build", "-q", "-t", "golden:latest", fixture])
        try #require(build.status == 0, "\(build.stderr)")
        let ours = try Self.config(p, "golden:latest")
        for key in ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels", "Healthcheck", "StopSignal", "Volumes", "OnBuild", "Shell"] {
            let want = golden[key].map { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) } ?? nil
            let got = ours[key].flatMap { $0 is NSNull ? nil : try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
            #expect(want == got, "\(key): docker \(want.map { String(decoding: $0, as: UTF8.self) } ?? "nil"), swcompose \(got.map { String(decoding: $0, as: UTF8.self) } ?? "nil")")
        }
    }

    @Test func dockerfileErrorsAreLocatedAllAtOnceAndTagNothing() throws {
        let p = try ProjectFixture("builderr", compose: """
            services:
              app:
                build: .
            """, files: ["Dockerfile": """
                FROM swcompose/busybox
                RUNN echo typo
                COPY --frm=x a b
                CMD ["true"]
                """])
        let r = try p.run(["build"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Dockerfile:2:1: error: unknown instruction: RUNN (did you mean run?)"), "\(r.stderr)")
        #expect(r.stderr.contains("    RUNN echo typo\n    ^"), "a caret under the instruction: \(r.stderr)")
        #expect(r.stderr.contains("Dockerfile:3:6: error: unknown flag: --frm"), "both problems at once: \(r.stderr)")
        #expect(r.stderr.contains("2 errors"), "\(r.stderr)")
        #expect(!r.stderr.contains("daemon"))
        #expect(try p.run(["image", "inspect", "\(p.project)-app"]).status == 1, "nothing was tagged")
    }

    @Test func aFailingRunShowsItsOutputAndLeavesNothing() throws {
        let p = try ProjectFixture("buildfail", compose: """
            services:
              app:
                build: .
            """, files: ["Dockerfile": """
                FROM swcompose/busybox
                RUN echo preparing && echo something broke >&2 && exit 3
                """])
        let r = try p.run(["up", "-d"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Dockerfile:2:1: error:") && r.stderr.contains("exit code: 3"), "\(r.stderr)")
        #expect(r.stderr.contains("something broke"), "the step's last output: \(r.stderr)")
        #expect(try p.run(["image", "inspect", "\(p.project)-app"]).status == 1)
        try Self.expectNothingLeft(p)
    }

    /// Ctrl-C in the middle of a RUN: the step's container is stopped at once, nothing is tagged and
    /// nothing is left.
    @Test func anInterruptedBuildLeavesNothing() throws {
        let p = try ProjectFixture("buildint", compose: """
            services:
              app:
                build: .
            """, files: ["Dockerfile": "FROM swcompose/busybox\nRUN echo step-started && sleep 60\n"])
        let process = Process()
        process.executableURL = Swcompose.executable
        process.arguments = ["-p", p.project, "--progress", "plain", "build"]
        process.currentDirectoryURL = URL(fileURLWithPath: p.directory)
        process.environment = p.environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(20)
        while !seen.contains("step-started") && Date() < deadline {
            seen += String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(seen.contains("step-started"), "\(seen)")
        let interrupted = Date()
        kill(process.processIdentifier, SIGINT)
        _ = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(interrupted)
        #expect(process.terminationStatus == 130)
        // About as long as a build that fails at once takes on this machine (it cleans up the same);
        // waiting out the step would take a minute.
        try "FROM swcompose/busybox\nRUN exit 3\n".write(toFile: p.directory + "/Dockerfile.fail", atomically: true, encoding: .utf8)
        let failStart = Date()
        _ = try p.run(["image", "build", "-f", p.directory + "/Dockerfile.fail", p.directory])
        let failing = Date().timeIntervalSince(failStart)
        #expect(seconds < max(1, failing * 1.5), "\(seconds) s from Ctrl-C to the end of the build; a failing build takes \(failing) s")
        #expect(try p.run(["image", "inspect", "\(p.project)-app"]).status == 1)
        try Self.expectNothingLeft(p)
    }

    @Test func theCacheIsExactAboutWhatAStepReads() throws {
        let p = try ProjectFixture("buildcache", compose: """
            services:
              app:
                build: .
                command: ["sleep", "1000"]
            """, files: [
                "Dockerfile": """
                FROM swcompose/busybox
                RUN echo base > /base.txt
                COPY a.txt /a.txt
                COPY b.txt /b.txt
                RUN cat /a.txt /b.txt > /both.txt
                """,
                "a.txt": "a1\n", "b.txt": "b1\n", "notes.md": "ignored\n", ".dockerignore": "notes.md\n",
            ])
        #expect(try p.run(["build"]).status == 0)
        let first = try Self.imageID(p, "\(p.project)-app")
        // Unchanged: every step CACHED, the same image.
        let again = try p.run(["build"])
        #expect(again.stderr.components(separatedBy: "=> CACHED").count - 1 == 4, "\(again.stderr)")
        #expect(try Self.imageID(p, "\(p.project)-app") == first)
        // An ignored file, and a file touched without change: still all cached.
        try "changed\n".write(toFile: p.directory + "/notes.md", atomically: true, encoding: .utf8)
        try "a1\n".write(toFile: p.directory + "/a.txt", atomically: true, encoding: .utf8)
        let touched = try p.run(["build"])
        #expect(touched.stderr.components(separatedBy: "=> CACHED").count - 1 == 4, "\(touched.stderr)")
        // An edited file: rebuilt from the COPY that reads it, not before.
        try "b2\n".write(toFile: p.directory + "/b.txt", atomically: true, encoding: .utf8)
        let edited = try p.run(["build"])
        #expect(edited.stderr.contains("=> CACHED [app 2/5] RUN echo base") && edited.stderr.contains("=> CACHED [app 3/5] COPY a.txt"), "\(edited.stderr)")
        #expect(edited.stderr.contains("=> [app 4/5] COPY b.txt /b.txt") && edited.stderr.contains("=> [app 5/5] RUN cat"), "\(edited.stderr)")
        #expect(try p.run(["run", "--rm", "-T", "app", "cat", "/both.txt"]).stdout == "a1\nb2\n")
        // --explain names what changed; `up` finds the stale image and says why, then is silent.
        try "a2\n".write(toFile: p.directory + "/a.txt", atomically: true, encoding: .utf8)
        let explained = try p.run(["build", "--explain"])
        #expect(explained.stderr.contains("=> [app 3/5] COPY a.txt /a.txt  (changed: a.txt)"), "\(explained.stderr)")
        #expect(explained.stderr.contains("=> [app 5/5] RUN cat /a.txt /b.txt > /both.txt  (an earlier step was rebuilt)"), "\(explained.stderr)")
        try "a3\n".write(toFile: p.directory + "/a.txt", atomically: true, encoding: .utf8)
        let stale = try p.run(["up", "-d"])
        #expect(stale.status == 0 && stale.stderr.contains("Rebuild app (changed: a.txt)"), "\(stale.stderr)")
        #expect(try p.run(["exec", "-T", "app", "cat", "/both.txt"]).stdout == "a3\nb2\n", "the container runs the rebuilt image")
        let current = try p.run(["up", "-d"])
        #expect(!current.stderr.contains("Rebuild") && !current.stderr.contains("=>"), "a current image says nothing: \(current.stderr)")
        #expect(try p.run(["up", "-d", "--no-build"]).status == 0)
        // docker history's view of it: newest first, the layers' sizes, the instructions.
        let history = try p.run(["image", "history", "--no-trunc", "\(p.project)-app"]).stdout
        let lines = history.split(separator: "\n")
        #expect(lines.first?.hasPrefix("IMAGE") == true && lines.count == 6, "\(history)")
        #expect(lines.dropFirst().first?.contains("RUN /bin/sh -c cat /a.txt /b.txt > /both.txt # buildkit") == true, "\(history)")
        #expect(lines.dropFirst(2).first?.hasPrefix("<missing>") == true)
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        // --no-cache builds every step.
        #expect(!(try p.run(["build", "--no-cache"]).stderr.contains("CACHED")))
    }

    /// `ADD https://…` (here from a server on 127.0.0.1): fetched by the builder, checked against
    /// `--checksum`, mode 0600, never extracted.
    @Test func addFetchesURLsAndChecksThem() throws {
        let served = TemporaryDirectory("served")
        try "fetched over http\n".write(toFile: served.sub("file.txt"), atomically: true, encoding: .utf8)
        let port = NetworkingTests.freePort()
        // The server, spawned plainly and killed outright (it inherits a mask that blocks SIGTERM).
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let words: [String] = ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", served.path, String(port)]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var server: pid_t = 0
        try #require(posix_spawn(&server, "/usr/bin/python3", &actions, nil, argv, environ) == 0)
        defer {
            kill(server, SIGKILL)
            var status: Int32 = 0
            waitpid(server, &status, 0)
        }
        let deadline = Date().addingTimeInterval(5)
        while NetworkingTests.http("http://127.0.0.1:\(port)/file.txt") == nil && Date() < deadline { usleep(20_000) }
        let digest = "sha256:" + Digest.of("fetched over http\n").hex
        let p = try ProjectFixture("buildurl", compose: """
            services:
              app:
                build: .
            """, files: ["Dockerfile": "FROM swcompose/busybox\nADD --checksum=\(digest) http://127.0.0.1:\(port)/file.txt /downloads/\n"])
        let build = try p.run(["build"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(try p.run(["run", "--rm", "-T", "app", "sh", "-c", "cat /downloads/file.txt; stat -c %a /downloads/file.txt"]).stdout == "fetched over http\n600\n")
        try "FROM swcompose/busybox\nADD --checksum=sha256:\(String(repeating: "0", count: 64)) http://127.0.0.1:\(port)/file.txt /x\n"
            .write(toFile: p.directory + "/Dockerfile", atomically: true, encoding: .utf8)
        let wrong = try p.run(["build"])
        #expect(wrong.status == 1 && wrong.stderr.contains("Dockerfile:2:5: error:") && wrong.stderr.contains("not the --checksum"), "\(wrong.stderr)")
        try Self.expectNothingLeft(p)
    }

    /// compose's `additional_contexts`: a directory, an image, and another service's build (built first).
    @Test func additionalContextsDirectoriesImagesAndServices() throws {
        let p = try ProjectFixture("buildctx", compose: """
            services:
              app:
                build:
                  context: ./app
                  additional_contexts:
                    shared: ./shared
                    tools: docker-image://swcompose/busybox
                    base: service:base
              base:
                build: ./base
            """, files: [
                "app/Dockerfile": "FROM base\nCOPY --from=shared note.txt /from-shared\nCOPY --from=tools /bin/busybox /from-tools\n",
                "shared/note.txt": "shared note\n",
                "base/Dockerfile": "FROM swcompose/busybox\nRUN echo from the base service > /base.txt\n",
            ])
        let build = try p.run(["build", "app"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stderr.range(of: "Building base")?.lowerBound ?? build.stderr.endIndex < build.stderr.range(of: "Building app")?.lowerBound ?? build.stderr.startIndex,
                "the service named by service: is built first: \(build.stderr)")
        let run = try p.run(["run", "--rm", "-T", "app", "sh", "-c", "cat /base.txt /from-shared; test -x /from-tools && echo tools; stat -c %u /from-shared"])
        #expect(run.stdout == "from the base service\nshared note\ntools\n0\n", "\(run.stderr)")
    }

    /// compose's build settings reach RUN: `ulimits`, `privileged` (the security.insecure entitlement,
    /// refused without it), `network`.
    @Test func composeBuildSettingsReachRun() throws {
        let p = try ProjectFixture("buildsettings", compose: """
            services:
              app:
                build:
                  context: .
                  privileged: true
                  network: none
                  ulimits:
                    nofile: {soft: 1234, hard: 2345}
              plain:
                build:
                  context: .
                  dockerfile: Dockerfile.insecure
            """, files: [
                "Dockerfile": """
                FROM swcompose/busybox
                RUN ulimit -n > /nofile && ip -o link | grep -c -v ' lo:' > /links || true
                RUN --security=insecure grep CapEff /proc/self/status > /caps
                """,
                "Dockerfile.insecure": "FROM swcompose/busybox\nRUN --security=insecure true\n",
            ])
        #expect(try p.run(["build", "app"]).status == 0)
        let seen = try p.run(["run", "--rm", "-T", "--no-deps", "app", "cat", "/nofile", "/links", "/caps"]).stdout
        #expect(seen.hasPrefix("1234\n0\nCapEff:\t"), "ulimits and network none: \(seen)")
        #expect(!seen.contains("00000000a80425fb"), "an insecure step has more than docker's default capabilities: \(seen)")
        let refused = try p.run(["build", "plain"])
        #expect(refused.status == 1 && refused.stderr.contains("Dockerfile.insecure:2:5: error: RUN --security=insecure needs the security.insecure entitlement"), "\(refused.stderr)")
    }

    /// A step's layer is its directory taken into the store as it is (not its tar unpacked again): it
    /// must hold exactly what unpacking the tar gives — entries, types, modes, owners, times,
    /// symlinks, hard links, whiteouts and opaque directories, and no overlay bookkeeping.
    @Test func aStepsLayerIsWhatItsTarUnpacksTo() throws {
        let p = try ProjectFixture("buildadopt", compose: "services:\n  app:\n    build: .\n", files: [
            "Dockerfile": """
                FROM swcompose/busybox
                COPY --chmod=0750 tree/ /srv/tree/
                RUN mkdir -p /srv/keep/sub && echo a > /srv/keep/sub/a && ln -s ../keep /srv/link && ln /srv/keep/sub/a /srv/hard \\
                    && mkfifo /srv/fifo && chown 65534:65534 /srv/keep/sub/a && touch -d "2001-02-03 04:05:06" /srv/keep/sub/a
                RUN rm -rf /srv/tree/one && chmod 0700 /srv/keep && rm -rf /srv/keep/sub && mkdir /srv/keep/sub \\
                    && echo b > /srv/keep/sub/b && rm /bin/vi && echo changed >> /srv/tree/two
                """,
            "tree/one": "one\n", "tree/two": "two\n", "tree/deep/three": "three\n",
        ])
        #expect(try p.run(["build"]).status == 0)
        let store = ImageStore(root: StateRoot(path: p.root))
        let image = try store.resolve("\(p.project)-app")
        let scratch = TemporaryDirectory("adopt")
        for layer in try store.layers(of: image).dropFirst() {
            let unpacked = try LayerStore(root: scratch.sub(layer.diffID.short)).unpackNew(blobPath: store.content.path(layer.blob), blob: layer.blob)
            #expect(unpacked.diffID == layer.diffID)
            let (adopted, expected) = (Self.tree(layer.directory), Self.tree(unpacked.directory))
            #expect(adopted == expected, "layer \(layer.diffID.short): \(Set(adopted).symmetricDifference(Set(expected)).sorted())")
        }
        let last = try #require(try store.layers(of: image).last)
        let entries = Self.tree(last.directory)
        #expect(entries.contains { $0.hasPrefix("srv/keep/sub dir") && $0.contains("trusted.overlay.opaque=y") }, "\(entries)")
        #expect(entries.contains { $0.hasPrefix("bin/vi chr 0") }, "a deletion is a whiteout: \(entries)")
        #expect(!entries.contains { $0.contains("overlay.origin") || $0.contains("overlay.impure") }, "\(entries)")
        #expect(!entries.contains { $0.hasPrefix("etc/hosts") || $0.hasPrefix("proc ") }, "what the runtime mounted is not in the layer: \(entries)")
    }

    /// A tree as lines: path, type, mode, owner, mtime (seconds, as a tar keeps them), size, content or
    /// link target, xattrs.
    static func tree(_ root: String) -> [String] {
        var lines: [String] = []
        func visit(_ relative: String) {
            let full = relative.isEmpty ? root : root + "/" + relative
            for name in ((try? Sys.list(full)) ?? []).sorted() {
                let path = relative.isEmpty ? name : relative + "/" + name
                guard let st = try? Sys.fileStatus(root + "/" + path) else { continue }
                let kind: String
                var extra = ""
                switch st.st_mode & S_IFMT {
                case S_IFDIR: kind = "dir"
                case S_IFLNK: kind = "lnk"; extra = (try? Sys.readlink(root + "/" + path)) ?? "?"
                case S_IFREG: kind = "reg"; extra = "\(st.st_size) links=\(st.st_nlink) " + ((try? Files.readText(root + "/" + path)) ?? "")
                case S_IFCHR: kind = "chr \(st.st_rdev)"
                case S_IFIFO: kind = "fifo"
                default: kind = "other"
                }
                let xattrs = Sys.listXattrs(root + "/" + path).sorted().map { "\($0)=\(String(decoding: Sys.getXattr(root + "/" + path, $0) ?? [], as: UTF8.self))" }
                lines.append("\(path) \(kind) \(String(st.st_mode & 0o7777, radix: 8)) \(st.st_uid):\(st.st_gid) \(st.st_mtim.tv_sec) \(extra) \(xattrs.joined(separator: ","))")
                if st.st_mode & S_IFMT == S_IFDIR { visit(path) }
            }
        }
        visit("")
        return lines
    }

    /// `build --print`: the builds as bake would take them (docker compose's format), nothing built.
    @Test func buildPrintShowsThePlanAndBuildsNothing() throws {
        let p = try ProjectFixture("buildprint", compose: """
            services:
              base.image:
                build:
                  context: ./base
              app:
                image: example/app:1
                build:
                  context: ./app
                  dockerfile: App.Dockerfile
                  args: [MODE=dev, FROM_ENV]
                  additional_contexts:
                    base: service:base.image
                  secrets: [token]
                  privileged: true
                  ulimits: {nofile: 1024}
              db:
                image: swcompose/busybox
            secrets:
              token:
                environment: TOKEN
            """, files: ["base/Dockerfile": "FROM swcompose/busybox\n", "app/App.Dockerfile": "FROM base\n"])
        let r = try p.run(["build", "--print", "--build-arg", "MODE=prod", "app"], extraEnvironment: ["FROM_ENV": "yes"])
        #expect(r.status == 0, "\(r.stderr)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
        #expect((plan["group"] as? [String: [String: [String]]])?["default"]?["targets"] == ["app"])
        let targets = try #require(plan["target"] as? [String: [String: Any]])
        #expect(Set(targets.keys) == ["app", "base_image"], "every service with a build section is a target")
        let app = try #require(targets["app"])
        #expect(app["context"] as? String == p.directory + "/app")
        #expect(app["dockerfile"] as? String == p.directory + "/app/App.Dockerfile")
        #expect(app["args"] as? [String: String] == ["MODE": "prod", "FROM_ENV": "yes"])
        #expect(app["contexts"] as? [String: String] == ["base": "target:base_image"])
        #expect(app["tags"] as? [String] == ["example/app:1"])
        #expect(app["secret"] as? [String] == ["id=token,type=env,env=TOKEN"])
        #expect(app["entitlements"] as? [String] == ["security.insecure"])
        #expect(app["ulimits"] as? [String] == ["nofile=1024"])
        let baseTags = targets["base_image"]?["tags"] as? [String]
        #expect(baseTags == ["\(p.project)-base.image"])
        #expect(try p.run(["image", "inspect", "example/app:1"]).status == 1, "nothing was built")
        let unknown = try p.run(["build", "--print", "nope"])
        #expect(unknown.status == 1 && unknown.stdout.isEmpty, "\(unknown.stderr)")
    }

    /// `builder prune` reclaims what only the cache holds (a stage the image does not contain), keeps
    /// what images use; `-a` takes the rest of the cache (records and cache mounts).
    @Test func builderPruneReclaimsTheCache() throws {
        let p = try ProjectFixture("buildprune", compose: """
            services:
              app:
                build: .
            """, files: ["Dockerfile": """
                FROM swcompose/busybox AS gen
                RUN dd if=/dev/zero of=/big bs=1024 count=2048 2>/dev/null
                FROM swcompose/busybox
                RUN --mount=type=cache,target=/c echo x > /c/x
                COPY --from=gen /big /big
                """])
        #expect(try p.run(["build"]).status == 0)
        let dangling = try p.run(["builder", "prune", "-f"])
        #expect(dangling.status == 0 && dangling.stdout.hasPrefix("Total:\t") && !dangling.stdout.contains("\t0B"), "the gen stage's layer: \(dangling.stdout)")
        let rebuilt = try p.run(["build"])
        #expect(rebuilt.stderr.contains("=> [app gen 2/2] RUN dd") && rebuilt.stderr.contains("=> CACHED [app stage-1 2/3] RUN --mount=type=cache"), "\(rebuilt.stderr)")
        #expect(try p.run(["builder", "prune", "-a", "-f"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: p.root + "/build-cache/mounts"), "the cache mounts went with -a")
        #expect(try p.run(["run", "--rm", "-T", "app", "ls", "-l", "/big"]).status == 0, "the image itself is untouched")
    }

    /// Only the stages the target needs are built, and independent ones at once.
    @Test func independentStagesBuildInParallelAndUnneededOnesNot() throws {
        let p = try ProjectFixture("buildstages", compose: """
            services:
              app:
                build:
                  context: .
                  target: final
            """, files: ["Dockerfile": """
                FROM swcompose/busybox AS left
                RUN sleep 2 && echo left > /left
                FROM swcompose/busybox AS right
                RUN sleep 2 && echo right > /right
                FROM swcompose/busybox AS broken
                RUN echo never built && exit 1
                FROM swcompose/busybox AS final
                COPY --from=left /left /out/
                COPY --from=right /right /out/
                FROM final AS after-the-target
                RUN exit 1
                """])
        // What one such stage costs on this machine (a step's container start is slow under user-mode
        // Linux): the same two-second step, alone.
        try "FROM swcompose/busybox\nRUN sleep 2 && echo alone > /alone\n".write(toFile: p.directory + "/Dockerfile.one", atomically: true, encoding: .utf8)
        let one = Date()
        #expect(try p.run(["image", "build", "-q", "-f", p.directory + "/Dockerfile.one", p.directory]).status == 0)
        let single = Date().timeIntervalSince(one)
        let start = Date()
        let build = try p.run(["build"])
        let seconds = Date().timeIntervalSince(start)
        #expect(build.status == 0, "\(build.stderr)")
        #expect(!build.stderr.contains("never built") && !build.stderr.contains("after-the-target"), "\(build.stderr)")
        // Two such stages one after the other would take twice as long; at once, their sleeps overlap.
        #expect(seconds < 2 * single - 1, "\(seconds) s for two independent two-second stages, \(single) s for one")
        #expect(try p.run(["run", "--rm", "-T", "app", "cat", "/out/left", "/out/right"]).stdout == "left\nright\n")
    }

    /// `build` of two services whose Dockerfile shares a base stage: the base step runs once (the
    /// second build waits for it and takes its layer, also with --no-cache), and the two leaf stages
    /// run at once.
    @Test func servicesBuildInParallelAndASharedBaseOnce() throws {
        let p = try ProjectFixture("buildservices", compose: """
            services:
              left:
                build: {context: ., target: left}
              right:
                build: {context: ., target: right}
            """, files: ["Dockerfile": """
                FROM swcompose/busybox AS base
                RUN word=ran && echo "base-step-$word" && echo base > /base
                FROM base AS left
                RUN sleep 2 && echo left > /side
                FROM base AS right
                RUN sleep 2 && echo right > /side
                """])
        // One service's build on this machine (a step container's start is slow under user-mode Linux).
        let one = Date()
        let alone = try p.run(["--progress", "plain", "build", "--no-cache", "left"])
        let single = Date().timeIntervalSince(one)
        #expect(alone.status == 0, "\(alone.stderr)")
        let start = Date()
        let both = try p.run(["--progress", "plain", "build", "--no-cache"])
        let seconds = Date().timeIntervalSince(start)
        #expect(both.status == 0, "\(both.stderr)")
        #expect(both.stderr.components(separatedBy: "base-step-ran").count == 2, "the shared base step ran once: \(both.stderr)")
        #expect(both.stderr.contains("CACHED [left base 2/2]") || both.stderr.contains("CACHED [right base 2/2]"), "\(both.stderr)")
        // One after the other, the second leaf's two seconds (and its start) would come on top.
        #expect(seconds < single * 1.5, "\(seconds) s for both services, \(single) s for one")
        #expect(try p.run(["run", "--rm", "-T", "left", "cat", "/base", "/side"]).stdout == "base\nleft\n")
        #expect(try p.run(["run", "--rm", "-T", "right", "cat", "/base", "/side"]).stdout == "base\nright\n")
    }

    /// One service's build fails while another's step is running: that step is stopped (not waited
    /// for), the failure is what is reported, and nothing is tagged or left.
    @Test func aFailedServiceBuildStopsTheOthers() throws {
        let p = try ProjectFixture("buildstops", compose: """
            services:
              slow:
                build:
                  context: .
                  dockerfile_inline: |
                    FROM swcompose/busybox
                    RUN sleep 60
              broken:
                build:
                  context: .
                  dockerfile_inline: |
                    FROM swcompose/busybox
                    RUN sleep 1 && echo this step breaks && exit 4
            """)
        let start = Date()
        let r = try p.run(["build"])
        let seconds = Date().timeIntervalSince(start)
        #expect(r.status == 1)
        #expect(r.stderr.contains("exit code: 4") && r.stderr.contains("this step breaks"), "\(r.stderr)")
        #expect(!r.stderr.contains("interrupted"), "the failure speaks, not the build it stopped: \(r.stderr)")
        #expect(seconds < 30, "\(seconds) s: the slow step was waited out")
        for service in ["slow", "broken"] { #expect(try p.run(["image", "inspect", "\(p.project)-\(service)"]).status == 1) }
        try Self.expectNothingLeft(p)
    }

    @Test func secretsStayOutOfLayersAndCacheMountsSurviveBuilds() throws {
        let p = try ProjectFixture("buildsecret", compose: """
            services:
              app:
                build:
                  context: .
                  secrets: [token]
            secrets:
              token:
                file: ./token.txt
            """, files: [
                "Dockerfile": """
                FROM swcompose/busybox
                RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /token-length
                RUN --mount=type=cache,target=/cache date +%s%N >> /cache/runs && wc -l < /cache/runs > /runs-seen
                """,
                "token.txt": "s3cr3t-value",
            ])
        #expect(try p.run(["build"]).status == 0)
        #expect(try p.run(["run", "--rm", "-T", "app", "cat", "/token-length", "/runs-seen"]).stdout == "12\n1\n")
        // No layer blob holds the secret.
        let blobs = p.root + "/images/blobs/sha256"
        for name in try FileManager.default.contentsOfDirectory(atPath: blobs) {
            let data = try Data(contentsOf: URL(fileURLWithPath: blobs + "/" + name))
            #expect(data.range(of: Data("s3cr3t-value".utf8)) == nil, "blob \(name) holds the secret")
        }
        #expect(!(try p.run(["run", "--rm", "-T", "app", "ls", "/run/secrets"]).stdout.contains("token")))
        // The cache mount kept what the first build wrote.
        #expect(try p.run(["build", "--no-cache"]).status == 0)
        #expect(try p.run(["run", "--rm", "-T", "app", "cat", "/runs-seen"]).stdout == "2\n")
        try Self.expectNothingLeft(p)
    }

    @Test func theContextCannotReachOutside() throws {
        let p = try ProjectFixture("buildhostile", compose: """
            services:
              app:
                build: ./ctx
            """, files: ["ctx/Dockerfile": "FROM swcompose/busybox\nCOPY link /copied\n", "secret-outside.txt": "outside the context\n"])
        try FileManager.default.createSymbolicLink(atPath: p.directory + "/ctx/link", withDestinationPath: p.directory + "/secret-outside.txt")
        let r = try p.run(["build"])
        // The link's absolute target is resolved inside the context, where it does not exist.
        #expect(r.status == 1 && r.stderr.contains("not found"), "\(r.stderr)")
        try "FROM swcompose/busybox\nCOPY ../secret-outside.txt /x\n".write(toFile: p.directory + "/ctx/Dockerfile", atomically: true, encoding: .utf8)
        let up = try p.run(["build"])
        #expect(up.status == 1 && up.stderr.contains("forbidden path outside the build context: ../secret-outside.txt"), "\(up.stderr)")
        #expect(up.stderr.contains("Dockerfile:2:6"), "\(up.stderr)")
    }

    @Test func upBuildsWhatIsMissingAndNoBuildRefuses() throws {
        let p = try ProjectFixture("buildup", compose: """
            services:
              web:
                build: ./web
                image: local/web:dev
                command: ["httpd", "-f", "-p", "80", "-h", "/www"]
            """, files: ["web/Dockerfile": "FROM swcompose/busybox\nCOPY index.html /www/\n", "web/index.html": "built page\n"])
        let noBuild = try p.run(["up", "-d", "--no-build"])
        #expect(noBuild.status == 1)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        #expect(try p.run(["exec", "-T", "web", "cat", "/www/index.html"]).stdout == "built page\n")
        #expect(try p.run(["image", "inspect", "local/web:dev"]).status == 0, "named by image:")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
    }
}
