import Foundation
import Testing
import TestSupport
import Engine

/// `kube generate` as users run it: on every conformance fixture it accepts, checked strictly against
/// the Kubernetes OpenAPI schemas (`kubernetes-validate`, Kubernetes 1.30 and the newest it ships);
/// its located warnings and `--strict`; and a real consumer, `podman kube play`, serving the pages.
@Suite(.serialized) struct KubeGenerateTests {
    /// A program's status and output, run with posix_spawn and waited for with waitpid (Foundation's
    /// Process missed podman's exit, leaving it a zombie), its output into a file (podman's container
    /// monitors keep the descriptors they inherit open, so a pipe would never end).
    static func execute(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let log = NSTemporaryDirectory() + "/swc-kube-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment ?? [:] { env[k] = v }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Every signal deliverable and default in the child (the test runner blocks some).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, program, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw CocoaError(.executableNotLoadable, userInfo: [NSLocalizedDescriptionKey: "cannot run \(program): \(String(cString: strerror(rc)))"]) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    static let validatorPresent: Bool = (try? execute("python3", ["-m", "kubernetes_validate", "--version"]).status) == 0
    static let podmanPresent: Bool = FileManager.default.isExecutableFile(atPath: "/usr/bin/podman")
    /// A cgroup v1 host (hybrid) whose unified hierarchy offers a controller: crun will not start there.
    static var crunRefusesThisHost: Bool {
        let offered = (try? String(contentsOfFile: "/sys/fs/cgroup/unified/cgroup.controllers", encoding: .utf8)) ?? ""
        return !offered.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// The schema versions checked: the oldest the issue asks for and the newest the validator ships.
    static let versions = ["1.30.0", nil]

    static func validate(_ files: [String]) throws -> (Bool, String) {
        var all = ""
        for v in versions {
            let r = try execute("python3", ["-m", "kubernetes_validate", "--strict", "--quiet"] + (v.map { ["-k", $0] } ?? []) + files)
            all += r.output
            if r.status != 0 { return (false, all) }
        }
        return (true, all)
    }

    @Test(.enabled(if: validatorPresent, "kubernetes-validate is not installed (pip install kubernetes-validate)"))
    func everyAcceptedFixtureValidatesStrictly() throws {
        let conformance = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/conformance").standardized.path
        let sets = ["compose-config", "compose-config-realworld"].map { conformance + "/" + $0 }.filter { FileManager.default.fileExists(atPath: $0) }
        try #require(!sets.isEmpty, "the conformance fixtures are next to this checkout (\(conformance))")
        let scratch = try Scratch(name: "kube-fixtures")
        var generated: [String] = []
        var refused: [String] = []
        for set in sets {
            for name in try FileManager.default.contentsOfDirectory(atPath: set).sorted() where !name.hasPrefix(".") && !name.hasSuffix(".md") && name != "ORACLE" {
                let copy = scratch.url.appendingPathComponent(name)
                try FileManager.default.copyItem(atPath: set + "/" + name, toPath: copy.path)
                var env: [String: String] = ["SWCOMPOSE_ROOT": scratch.url.appendingPathComponent("state").path]
                if let text = try? String(contentsOf: copy.appendingPathComponent("env"), encoding: .utf8) {
                    for line in text.split(separator: "\n") where line.contains("=") {
                        let kv = line.split(separator: "=", maxSplits: 1)
                        env[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
                    }
                }
                let args = ((try? String(contentsOf: copy.appendingPathComponent("args"), encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
                let out = copy.appendingPathComponent("manifests.yaml").path
                var r = try Swcompose.run(args + ["kube", "generate", "-o", out], in: copy, environment: env)
                // A checkout has its secrets' files; the fixtures keep only the compose files.
                var created = 0
                while r.status != 0, created < 5, let range = r.stderr.range(of: #"cannot read (/\S+):"#, options: .regularExpression) {
                    let path = String(r.stderr[range].dropFirst("cannot read ".count).dropLast())
                    guard path.hasPrefix(copy.path) else { break }
                    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try "placeholder\n".write(toFile: path, atomically: true, encoding: .utf8)
                    created += 1
                    r = try Swcompose.run(args + ["kube", "generate", "-o", out], in: copy, environment: env)
                }
                if r.status == 0 {
                    #expect(r.stdout.isEmpty, "\(name): -o writes the file only")
                    generated.append(out)
                } else {
                    #expect(r.status == 1 && r.stderr.contains("error:"), "\(name): refused with a located error: \(r.stderr)")
                    refused.append(name)
                }
            }
        }
        #expect(generated.count >= 50, "fixtures converted: \(generated.count); refused: \(refused)")
        #expect(refused.allSatisfy { $0.hasPrefix("err-") }, "only the fixtures docker compose refuses are refused: \(refused)")
        let (valid, report) = try Self.validate(generated)
        #expect(valid, "\(report.prefix(3000))")
    }

    @Test(.enabled(if: validatorPresent, "kubernetes-validate is not installed (pip install kubernetes-validate)"))
    func whatHasNoKubernetesFormIsWarnedAtItsLineAndStrictRefuses() throws {
        let p = try ProjectFixture("kubewarn", compose: """
            services:
              web:
                image: nginx:1.25
                network_mode: host
                volumes:
                  - ./site:/usr/share/nginx/html:ro
                  - cache:/var/cache/nginx
            volumes:
              cache: {}
            """)
        let r = try p.run(["kube", "generate"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("compose.yaml:4:19: warning: service \"web\": network_mode: host has no Kubernetes form"), "\(r.stderr)")
        #expect(r.stderr.contains("compose.yaml:6:9: warning: service \"web\": bind mount ./site:/usr/share/nginx/html has no Kubernetes form"), "\(r.stderr)")
        #expect(r.stderr.contains("network_mode: host\n") && r.stderr.contains("^"), "with the line and a caret: \(r.stderr)")
        #expect(r.stdout.contains("kind: StatefulSet") && r.stdout.contains("storage: 1Gi"))
        let file = p.directory + "/k8s.yaml"
        try r.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let (valid, report) = try Self.validate([file])
        #expect(valid, "\(report)")
        let strict = try p.run(["kube", "generate", "--strict", "-o", p.directory + "/strict.yaml"])
        #expect(strict.status == 1)
        #expect(strict.stderr.contains("compose.yaml:4:19: error:") && strict.stderr.contains("compose.yaml:6:9: error:"), "\(strict.stderr)")
        #expect(strict.stderr.contains("2 errors"), "\(strict.stderr)")
        #expect(!FileManager.default.fileExists(atPath: p.directory + "/strict.yaml"), "nothing written")
        let hostPath = try p.run(["kube", "generate", "--host-path"])
        #expect(hostPath.stdout.contains("hostPath:") && !hostPath.stderr.contains("bind mount"), "\(hostPath.stderr)")
    }

    /// A runner without an API server: `podman kube play` of the manifests (`--publish hostport`, as a
    /// single node serves them), its pages fetched on the host as soon as it returns.
    @Test(.enabled(if: podmanPresent, "podman is not installed (apt-get install podman catatonit runc)"),
          arguments: ["one", "several"])
    func podmanKubePlayServesThePages(_ which: String) throws {
        let tag = "localhost/swcompose-kube/busybox:\(UInt32.random(in: 0...UInt32.max))"
        let base = UInt16.random(in: 20000...28000)
        let compose = which == "one" ? """
            services:
              web:
                image: \(tag)
                command: ["sh", "-c", "mkdir -p /www && echo one page for $$WHO > /www/index.html && exec httpd -f -p 8080 -h /www"]
                environment: {WHO: kube}
                ports: ["\(base):8080"]
            """ : """
            services:
              web:
                image: \(tag)
                command: ["sh", "-c", "mkdir -p /www && echo web sees $$ROLE > /www/index.html && exec httpd -f -p 8080 -h /www"]
                environment: {ROLE: frontend}
                ports: ["\(base):8080"]
                volumes: [shared:/shared]
              api:
                image: \(tag)
                command: ["sh", "-c", "mkdir -p /www && echo api sees $$ROLE > /www/index.html && exec httpd -f -p 9090 -h /www"]
                environment: {ROLE: backend}
                ports: ["\(base + 1):9090"]
                volumes: [shared:/shared]
            volumes:
              shared: {}
            """
        let p = try ProjectFixture("kubeplay", compose: compose)
        let rootfs = try TestArchives.busyboxRootfs(at: p.dir.sub("podman-busybox.tar"))
        #expect(try Self.execute("podman", ["import", "--change", "ENV PATH=/bin", rootfs, tag]).status == 0)
        defer { _ = try? Self.execute("podman", ["rmi", "-f", tag]) }
        let generated = try p.run(["kube", "generate", "--publish", "hostport", "-o", p.directory + "/k8s.yaml"])
        #expect(generated.status == 0 && generated.stderr.isEmpty, "\(generated.stderr)")
        // This machine's hard limits are below podman's defaults for root, which it cannot raise
        // (no CAP_SYS_RESOURCE): the containers get lower ones.
        try "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n".write(toFile: p.directory + "/containers.conf", atomically: true, encoding: .utf8)
        let env = ["CONTAINERS_CONF": p.directory + "/containers.conf"]
        // crun refuses every container on a hybrid host whose unified hierarchy holds a controller
        // (this machine's hugetlb, which no v1 hierarchy takes); runc, podman's other runtime, does not.
        let runtime = Self.crunRefusesThisHost ? ["--runtime", "runc"] : []
        // What podman keeps after `kube down` (the kube network it makes, its CNI bridges) goes too,
        // where this test made it.
        func podmanNetworks() -> Set<String> {
            Set(((try? Self.execute("podman", ["network", "ls", "--format", "{{.Name}}"]).output) ?? "").split(separator: "\n").map(String.init))
        }
        func cniBridges() -> Set<String> {
            Set(((try? Netlink().links()) ?? []).map(\.name).filter { $0.hasPrefix("cni-podman") })
        }
        let networksBefore = podmanNetworks(), bridgesBefore = cniBridges()
        let play = try Self.execute("podman", runtime + ["kube", "play", p.directory + "/k8s.yaml"], environment: env)
        defer {
            _ = try? Self.execute("podman", runtime + ["kube", "down", p.directory + "/k8s.yaml"], environment: env)
            _ = try? Self.execute("podman", ["volume", "rm", "-f", "\(p.project)-shared"])
            for network in podmanNetworks().subtracting(networksBefore) { _ = try? Self.execute("podman", ["network", "rm", "-f", network]) }
            if let nl = try? Netlink() {
                for link in ((try? nl.links()) ?? []) where cniBridges().subtracting(bridgesBefore).contains(link.name) {
                    try? nl.deleteLink(link.index)
                }
            }
        }
        #expect(play.status == 0, "\(play.output)")
        func fetch(_ port: UInt16) throws -> String { try Self.execute("curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/"]).output }
        if which == "one" {
            #expect(try fetch(base) == "one page for kube\n")
        } else {
            #expect(try fetch(base) == "web sees frontend\n")
            #expect(try fetch(base + 1) == "api sees backend\n")
            let volumes = try Self.execute("podman", ["volume", "ls", "--format", "{{.Name}}"]).output
            #expect(volumes.contains("kubeplay"), "the claim is a podman volume: \(volumes)")
        }
    }
}
