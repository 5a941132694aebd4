import Foundation
import Testing
import TestSupport
import Engine
#if canImport(Glibc)
import Glibc
#endif

/// The build section's keys beyond the Dockerfile: `pull`, `cache_from`/`cache_to` (a registry and a
/// local directory, so that a machine with an empty store takes the steps another ran), 
/// `no_cache_filter`, `entitlements`, and git repositories as contexts. Each build is real (RUN steps
/// are containers); "which steps ran" is read from the build's progress and from what the steps wrote.
@Suite(.requiresRoot, .requiresBusybox, .serialized) struct BuildKeysTests {
    /// A second state root with the same busybox image as `p`'s (saved and loaded, so that its id,
    /// and so every step key built on it, is the same): another machine.
    func otherMachine(like p: ProjectFixture, compose: String) throws -> ProjectFixture {
        let q = try ProjectFixture("machine2", compose: compose)
        let archive = q.dir.sub("busybox-save.tar")
        #expect(try p.run(["image", "save", "-o", archive, "swcompose/busybox"]).status == 0)
        #expect(try q.run(["image", "rm", "swcompose/busybox"]).status == 0)
        let load = try q.run(["image", "load", "-i", archive])
        #expect(load.status == 0, "\(load.stderr)")
        return q
    }

    /// The steps a build ran (not CACHED, not FROM), from its progress.
    static func ran(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix(" => [") && !$0.contains("] FROM ") }
    }

    static let stampingDockerfile = """
        FROM swcompose/busybox AS deps
        RUN cat /proc/sys/kernel/random/uuid > /deps
        FROM swcompose/busybox
        COPY --from=deps /deps /deps
        RUN cat /proc/sys/kernel/random/uuid > /app
        CMD ["cat", "/deps", "/app"]
        """

    @Test(.requiresRegistryTools) func aRegistryCacheGivesAnotherMachineTheStepsThisOneRan() throws {
        let registry = try TestRegistry()
        let compose = """
            services:
              app:
                build:
                  context: .
                  cache_from: [\(registry.host)/cache:app]
                  cache_to: ["type=registry,ref=\(registry.host)/cache:app,mode=max"]
                image: app:1
            """
        let p = try ProjectFixture("regcache", compose: compose, files: ["Dockerfile": Self.stampingDockerfile])
        let first = try p.run(["build"])
        #expect(first.status == 0, "\(first.stderr)")
        // Nothing to import yet: a warning, and the build runs.
        #expect(first.stderr.contains("WARNING: app: cache_from"), "\(first.stderr)")
        #expect(first.stderr.contains("exporting cache to \(registry.host)/cache:app (3 steps)"), "\(first.stderr)")
        let built = try ImageStore(root: StateRoot(path: p.root)).resolve("app:1")

        let q = try otherMachine(like: p, compose: compose)
        try Self.stampingDockerfile.write(toFile: q.directory + "/Dockerfile", atomically: true, encoding: .utf8)
        let second = try q.run(["build"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("importing cache from \(registry.host)/cache:app: 3 steps, 3 layers fetched"), "\(second.stderr)")
        // No RUN ran: every step came from the cache, and the image is the same image.
        #expect(Self.ran(second.stderr).isEmpty, "\(second.stderr)")
        #expect(second.stderr.components(separatedBy: " => CACHED").count == 4, "\(second.stderr)")
        #expect(try ImageStore(root: StateRoot(path: q.root)).resolve("app:1").id == built.id)
        let run = try q.run(["run", "--rm", "-T", "app"])
        #expect(run.stdout == (try p.run(["run", "--rm", "-T", "app"])).stdout && run.stdout.count == 74, "\(run.stdout)")
    }

    @Test(.requiresRegistryTools) func buildPullFetchesTheBaseImageAgain() throws {
        let registry = try TestRegistry()
        // The base image, pushed from another store (v1, then v2 under the same tag).
        let publisher = try ProjectFixture("publisher", compose: """
            services:
              base:
                build: {context: ., dockerfile_inline: "FROM swcompose/busybox\\nRUN echo v1 > /version\\n"}
                image: \(registry.host)/base:1
            """)
        #expect(try publisher.run(["build", "--push"]).status == 0)
        func compose(pull: Bool) -> String {
            """
            services:
              app:
                build:
                  context: .
                  dockerfile_inline: "FROM \(registry.host)/base:1\\nRUN cat /version > /seen\\nCMD [\\"cat\\", \\"/seen\\"]\\n"
                  pull: \(pull)
                image: app:1
            """
        }
        let p = try ProjectFixture("buildpull", compose: compose(pull: false))
        #expect(try p.run(["build"]).status == 0)
        #expect(try p.run(["run", "--rm", "-T", "app"]).stdout == "v1\n")
        try "services:\n  base:\n    build: {context: ., dockerfile_inline: \"FROM swcompose/busybox\\nRUN echo v2 > /version\\n\"}\n    image: \(registry.host)/base:1\n"
            .write(toFile: publisher.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        #expect(try publisher.run(["build", "--push"]).status == 0)
        // Without pull, the store's base stays; with it, the registry's new one is fetched.
        #expect(try p.run(["build"]).status == 0)
        #expect(try p.run(["run", "--rm", "-T", "app"]).stdout == "v1\n")
        try compose(pull: true).write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let pulled = try p.run(["build"])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(try p.run(["run", "--rm", "-T", "app"]).stdout == "v2\n")
    }

    @Test func aLocalCacheDirectoryWorksTheSameAndModeMinKeepsTheImagesStepsOnly() throws {
        let p = try ProjectFixture("localcache", compose: """
            services:
              app:
                build:
                  context: .
                  cache_to: ["type=local,dest=./ci-cache"]
                image: app:1
            """, files: ["Dockerfile": Self.stampingDockerfile])
        #expect(try p.run(["build"]).status == 0)
        let index = try String(contentsOfFile: p.directory + "/ci-cache/index.json", encoding: .utf8)
        #expect(index.contains("application/vnd.swcompose.build-cache.v1"), "\(index)")
        let q = try otherMachine(like: p, compose: """
            services:
              app:
                build:
                  context: .
                  cache_from: ["type=local,src=\(p.directory)/ci-cache"]
                image: app:1
            """)
        try Self.stampingDockerfile.write(toFile: q.directory + "/Dockerfile", atomically: true, encoding: .utf8)
        let build = try q.run(["build"])
        #expect(build.status == 0, "\(build.stderr)")
        // mode=min (the default): the final image's two steps; the deps stage's RUN runs again, and
        // its new output makes the COPY and the RUN after it run too.
        #expect(build.stderr.contains("importing cache from \(p.directory)/ci-cache: 2 steps"), "\(build.stderr)")
        #expect(build.stderr.contains(" => [app deps 2/2] RUN"), "\(build.stderr)")
        // A directory that holds no cache: a warning naming it, and the build goes on.
        try "services:\n  app:\n    build: {context: ., cache_from: [\"type=local,src=./nothing\"]}\n"
            .write(toFile: q.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let missing = try q.run(["build"])
        #expect(missing.status == 0 && missing.stderr.contains("WARNING: app: cache_from: no build cache at \(q.directory)/nothing"), "\(missing.stderr)")
    }

    @Test func noCacheFilterRunsTheNamedStagesAgain() throws {
        let p = try ProjectFixture("nocachefilter", compose: """
            services:
              app:
                build: {context: ., no_cache_filter: [deps]}
                image: app:1
            """, files: ["Dockerfile": Self.stampingDockerfile])
        #expect(try p.run(["build"]).status == 0)
        let before = try p.run(["run", "--rm", "-T", "app"]).stdout
        let again = try p.run(["build"])
        #expect(again.stderr.contains(" => [app deps 2/2] RUN"), "\(again.stderr)")
        let after = try p.run(["run", "--rm", "-T", "app"]).stdout
        #expect(before.split(separator: "\n").first != after.split(separator: "\n").first, "the deps stage ran again")
        // Without the filter, everything is cached.
        try "services:\n  app:\n    build: .\n    image: app:1\n".write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let cached = try p.run(["build"])
        #expect(Self.ran(cached.stderr).isEmpty, "\(cached.stderr)")
    }

    @Test func entitlementsGrantHostNetworkingAndInsecureSteps() throws {
        let dockerfile = "FROM swcompose/busybox\nRUN --network=host cat /proc/net/dev > /netdev\nRUN --security=insecure cat /proc/self/status | grep CapEff > /caps\n"
        let p = try ProjectFixture("entitle", compose: """
            services:
              app:
                build: {context: .}
                image: app:1
            """, files: ["Dockerfile": dockerfile])
        let refused = try p.run(["build"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("Dockerfile:2:") && refused.stderr.contains("RUN --network=host needs the network.host entitlement"), "\(refused.stderr)")
        try """
            services:
              app:
                build: {context: ., entitlements: [network.host, security.insecure]}
                image: app:1
            """.write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let granted = try p.run(["build"])
        #expect(granted.status == 0, "\(granted.stderr)")
        // The host's interfaces, and every capability.
        let hostInterfaces = try String(contentsOfFile: "/proc/net/dev", encoding: .utf8).split(separator: "\n").dropFirst(2)
            .compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
        let seen = try p.run(["run", "--rm", "-T", "app", "cat", "/netdev", "/caps"]).stdout
        let external = hostInterfaces.first { $0 != "lo" && !$0.hasPrefix("veth") && !$0.hasPrefix("swc") }
        #expect(external.map { seen.contains($0 + ":") } ?? true, "\(seen)")
        let bounding = try String(contentsOfFile: "/proc/self/status", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("CapBnd:") }
        #expect(bounding.map { seen.contains("CapEff:" + $0.dropFirst("CapBnd:".count)) } == true, "\(seen)")
        // An entitlement swcompose does not have: refused where it is written.
        try "services:\n  app:\n    build: {context: ., entitlements: [device]}\n".write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let device = try p.run(["build"])
        #expect(device.status == 1 && device.stderr.contains("compose.yaml:3:40") && device.stderr.contains("build entitlement device is not supported"),
                "\(device.stderr)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/git"), "needs git"))
    func gitRepositoriesAreContextsAtARefAndSubdirectory() throws {
        let repos = TemporaryDirectory("git-repos")
        let work = repos.sub("work")
        func git(_ args: String...) throws {
            let r = try Process.output("/usr/bin/git", ["-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com"] + args)
            _ = r
        }
        try FileManager.default.createDirectory(atPath: work + "/svc", withIntermediateDirectories: true)
        try "FROM swcompose/busybox\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n".write(toFile: work + "/svc/Dockerfile", atomically: true, encoding: .utf8)
        try "from main\n".write(toFile: work + "/svc/msg", atomically: true, encoding: .utf8)
        try git("init", "-q", "-b", "main")
        try git("add", ".")
        try git("commit", "-q", "-m", "main")
        try git("checkout", "-q", "-b", "feature")
        try "from feature\n".write(toFile: work + "/svc/msg", atomically: true, encoding: .utf8)
        try git("commit", "-q", "-am", "feature")
        try git("checkout", "-q", "main")
        _ = try Process.output("/usr/bin/git", ["clone", "-q", "--bare", work, repos.sub("served/app.git")])
        let port = try TestRegistry.freePort()
        let daemon = Process()
        // git-daemon itself, not `git daemon`: the `git` wrapper would leave it running when killed.
        try TestServer.start(daemon, "/usr/lib/git-core/git-daemon", ["--reuseaddr", "--export-all", "--listen=127.0.0.1", "--port=\(port)",
                                                      "--base-path=" + repos.sub("served"), repos.sub("served")], log: repos.sub("daemon.log")) {
            TestRegistry.accepts(port)
        }
        defer {
            // Reaped here: Foundation's waitUntilExit does not notice git daemon's end in this process.
            kill(daemon.processIdentifier, SIGKILL)
            var status: Int32 = 0
            waitpid(daemon.processIdentifier, &status, 0)
        }
        let p = try ProjectFixture("gitctx", compose: """
            services:
              main:
                build: git://127.0.0.1:\(port)/app.git#:svc
                image: main:1
              feature:
                build: git://127.0.0.1:\(port)/app.git#feature:svc
                image: feature:1
            """)
        let build = try p.run(["build"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(try p.run(["run", "--rm", "-T", "main"]).stdout == "from main\n")
        #expect(try p.run(["run", "--rm", "-T", "feature"]).stdout == "from feature\n")
        // The checkouts are gone.
        let tmp = (try? FileManager.default.contentsOfDirectory(atPath: p.root + "/build-tmp")) ?? []
        #expect(!tmp.contains { $0.hasPrefix("git-") }, "\(tmp)")
        // A ref the repository does not have: git's answer, at the build key.
        try "services:\n  x:\n    build: git://127.0.0.1:\(port)/app.git#nosuch\n".write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let bad = try p.run(["build"])
        #expect(bad.status == 1 && bad.stderr.contains("compose.yaml:3:12") && bad.stderr.contains("git fetch nosuch failed"), "\(bad.stderr)")
    }
}
