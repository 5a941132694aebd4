import Foundation
import Testing
import TestSupport
import Engine

/// Pulls and pushes against Debian's docker-registry on 127.0.0.1, images pushed by skopeo.
@Suite(.requiresOverlay, .requiresBusybox, .requiresRegistryTools, .serialized) struct RegistryTests {
    static let amd64 = (os: "linux", architecture: "amd64", variant: String?.none)
    static let arm64 = (os: "linux", architecture: "arm64", variant: String?.some("v8"))

    /// Pushes an OCI layout of `images` as `name` (with `skopeo copy` options).
    static func publish(_ registry: TestRegistry, _ images: [OCILayouts.Image], as name: String, _ options: [String] = []) throws {
        let scratch = TemporaryDirectory("layout")
        try OCILayouts.make(images, tag: "t", at: scratch.sub("oci"), scratch: scratch)
        try registry.push("oci:\(scratch.sub("oci")):t", as: name, options + (images.count > 1 ? ["--all"] : []))
    }

    static func images(_ p: ProjectFixture) throws -> [ImageRecord] { try ImageStore(root: StateRoot(path: p.root)).list() }

    static func marker(_ p: ProjectFixture, _ image: ImageRecord) throws -> String {
        let store = ImageStore(root: StateRoot(path: p.root))
        let layers = try store.layers(of: image)
        return try String(contentsOfFile: layers[0].directory + "/marker", encoding: .utf8)
    }

    @Test func schema2GzipImageIsPulledByUpAndRuns() throws {
        let registry = try TestRegistry()
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "gzip", compression: .gzip)], as: "app:gz", ["--format", "v2s2"])
        let p = try ProjectFixture("pullup", compose: """
            services:
              web:
                image: \(registry.host)/app:gz
                command: sleep 1000
              other:
                image: \(registry.host)/app:gz
                command: sleep 1000
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        let lines = up.stderr.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasSuffix("Pulling ") }.count == 1, "one pull for the shared image: \(up.stderr)")
        #expect(lines.contains { $0.contains("Skipped - Image is already being pulled by") }, "\(up.stderr)")
        #expect(lines.contains { $0.hasSuffix(" Pull complete ") } && lines.contains { $0.contains(" Pulled") }, "\(up.stderr)")
        let exec = try p.run(["exec", "-T", "web", "cat", "/marker"])
        #expect(exec.stdout == "gzip\n", "\(exec.stderr)")
        let pulled = try #require(try Self.images(p).first { $0.references.contains { $0.path == "app" } })
        #expect(pulled.manifest.mediaType == MediaType.dockerManifest)
        #expect(pulled.manifest.layers[0].mediaType == MediaType.dockerLayerGzip)
        #expect(pulled.references.contains { $0.digest != nil }, "also named by its digest")

        // `config --resolve-image-digests` pins the tag to the digest the registry serves it under.
        let digest = try Self.manifestDigest(registry, "app", "gz")
        let pinned = try p.run(["config", "--resolve-image-digests", "--images"])
        #expect(pinned.status == 0 && pinned.stdout.contains("\(registry.host)/app:gz@\(digest)\n"), "\(pinned.stdout)\(pinned.stderr)")

        // A second `up` finds the image in the store (pull_policy missing) and pulls nothing.
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        let again = try p.run(["up", "-d"])
        #expect(again.status == 0 && !again.stderr.contains("Pulling"), "\(again.stderr)")
    }

    /// Docker Hub's images through mirrors (docker's `registry-mirrors`, or SWCOMPOSE_REGISTRY_MIRRORS):
    /// a mirror that does not answer is passed over, the image is named as Docker Hub's.
    @Test func dockerHubImagesComeFromTheMirrors() throws {
        let registry = try TestRegistry()
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "from the mirror", compression: .gzip)], as: "library/busybox:mirrored")
        let dead = try TestRegistry.freePort()
        let p = try ProjectFixture("mirror", compose: """
            services:
              app:
                image: busybox:mirrored
                command: sleep 1000
            """)
        let mirrors = ["SWCOMPOSE_REGISTRY_MIRRORS": "http://127.0.0.1:\(dead), http://\(registry.host)/"]
        let up = try p.run(["up", "-d"], extraEnvironment: mirrors)
        #expect(up.status == 0, "\(up.stderr)")
        #expect(try p.run(["exec", "-T", "app", "cat", "/marker"]).stdout == "from the mirror\n")
        let image = try #require(try Self.images(p).first { $0.references.contains { $0.tag == "mirrored" } })
        #expect(image.references.allSatisfy { $0.domain == "docker.io" && $0.path == "library/busybox" }, "\(image.references)")
        let ls = try p.run(["image", "ls"]).stdout
        #expect(ls.split(separator: "\n").contains { $0.hasPrefix("busybox ") && $0.contains(" mirrored ") }, "\(ls)")
        // Without the mirrors, Docker Hub itself is asked (and is unreachable from this machine).
        #expect(try p.run(["down", "-t", "0", "--rmi", "all"]).status == 0)
        let direct = try p.run(["pull", "-q"])
        #expect(direct.status == 1)
        #expect(!direct.stderr.contains(registry.host), "\(direct.stderr)")
    }

    @Test func ociZstdAndMultiPlatformIndex() throws {
        let registry = try TestRegistry()
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "zstd", compression: .zstd)], as: "z:1")
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "amd64"), .init(platform: Self.arm64, marker: "arm64")], as: "multi:1")
        let p = try ProjectFixture("pullplat", compose: """
            services:
              arm:
                image: \(registry.host)/multi:1
                platform: linux/arm64
            """)
        let zstd = try p.run(["image", "pull", "\(registry.host)/z:1"])
        #expect(zstd.status == 0, "\(zstd.stderr)")
        #expect(zstd.stdout.contains("Digest: sha256:") && zstd.stdout.contains("Status: Downloaded newer image"), "\(zstd.stdout)")
        let z = try #require(try Self.images(p).first { $0.references.contains { $0.path == "z" } })
        #expect(z.manifest.mediaType == MediaType.ociManifest && z.manifest.layers[0].mediaType == MediaType.ociLayerZstd)
        #expect(try Self.marker(p, z) == "zstd\n")
        // Named as docker names a pulled image: the tag, and the digest the registry serves.
        let zDigest = try Self.manifestDigest(registry, "z", "1")
        let inspect = try p.run(["image", "inspect", "\(registry.host)/z:1"])
        let object = try #require((try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [[String: Any]])?.first)
        #expect(object["RepoTags"] as? [String] == ["\(registry.host)/z:1"])
        #expect(object["RepoDigests"] as? [String] == ["\(registry.host)/z@\(zDigest)"])
        // Saved and removed (its last tag takes the digest name along), then loaded back.
        #expect(try p.run(["image", "save", "-o", p.dir.sub("z.tar"), "\(registry.host)/z:1"]).status == 0)
        let removed = try p.run(["image", "rm", "\(registry.host)/z:1"])
        #expect(removed.stdout.contains("Untagged: \(registry.host)/z@\(zDigest)") && removed.stdout.contains("Deleted: \(z.id)"), "\(removed.stdout)")
        let loaded = try p.run(["image", "load", "-i", p.dir.sub("z.tar")])
        #expect(loaded.stdout == "Loaded image: \(registry.host)/z:1\n", "\(loaded.stdout)\(loaded.stderr)")

        let host = try p.run(["image", "pull", "\(registry.host)/multi:1"])
        #expect(host.status == 0, "\(host.stderr)")
        var multi = try #require(try Self.images(p).first { $0.references.contains { $0.path == "multi" && $0.tag == "1" } })
        #expect(multi.configuration.architecture == "amd64")
        #expect(try Self.marker(p, multi) == "amd64\n")

        // The service's platform picks the arm64 manifest from the index.
        // (On a terminal: docker compose's redrawn block, a line per layer under its service.)
        let pull = try p.runInTerminal(["pull", "arm"])
        #expect(pull.status == 0, "\(pull.output)")
        #expect(pull.output.contains("[+] Pulling 1/1") && pull.output.contains("Pull complete") && pull.output.contains("Downloading [====="),
                "\(pull.output)")
        multi = try #require(try Self.images(p).first { $0.references.contains { $0.path == "multi" && $0.tag == "1" } })
        #expect(multi.configuration.architecture == "arm64")
        #expect(try Self.marker(p, multi) == "arm64\n")

        let none = try p.run(["image", "pull", "--platform", "linux/s390x", "\(registry.host)/multi:1"])
        #expect(none.status == 1)
        #expect(none.stderr.contains("no matching manifest for linux/s390x") && none.stderr.contains("linux/amd64, linux/arm64/v8"), "\(none.stderr)")

        let missing = try p.run(["image", "pull", "\(registry.host)/multi:nope"])
        #expect(missing.status == 1 && missing.stderr.contains("manifest for \(registry.host)/multi:nope not found: manifest unknown"), "\(missing.stderr)")
    }

    @Test func htpasswdRegistryNeedsLogin() throws {
        let registry = try TestRegistry(user: "alice", password: "s3cret")
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "private")], as: "private:1")
        let p = try ProjectFixture("pullauth", compose: "services: {}\n")
        let config = p.dir.sub("docker-config")
        let env = ["DOCKER_CONFIG": config]
        let anonymous = try p.run(["image", "pull", "\(registry.host)/private:1"], extraEnvironment: env)
        #expect(anonymous.status == 1 && anonymous.stderr.contains("unauthorized") && anonymous.stderr.contains("swcompose login"), "\(anonymous.stderr)")

        let wrong = try p.run(["login", "-u", "alice", "--password-stdin", registry.host], stdin: "nope\n", extraEnvironment: env)
        #expect(wrong.status == 1 && wrong.stderr.contains("unauthorized"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: config + "/config.json"), "a failed login saves nothing")

        let login = try p.run(["login", "-u", "alice", "--password-stdin", registry.host], stdin: "s3cret\n", extraEnvironment: env)
        #expect(login.status == 0 && login.stdout == "Login Succeeded\n", "\(login.stderr)")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config + "/config.json"))) as? [String: Any]
        let auths = try #require(saved?["auths"] as? [String: Any])
        #expect((auths[registry.host] as? [String: Any])?["auth"] as? String == Data("alice:s3cret".utf8).base64EncodedString())

        let pull = try p.run(["image", "pull", "\(registry.host)/private:1"], extraEnvironment: env)
        #expect(pull.status == 0, "\(pull.stderr)")

        let logout = try p.run(["logout", registry.host], extraEnvironment: env)
        #expect(logout.stdout == "Removing login credentials for \(registry.host)\n")
        #expect(try p.run(["image", "pull", "\(registry.host)/private:1"], extraEnvironment: env).status == 1)
    }

    @Test func corruptBlobIsRefusedNamingIt() throws {
        let registry = try TestRegistry()
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "intact", compression: .none)], as: "bad:1")
        // Flip bytes of the layer in the registry's storage (same size, different content).
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: registry.blobFile(
            try Self.manifestDigest(registry, "bad", "1"))))) as! [String: Any]
        let layer = ((manifest["layers"] as! [[String: Any]])[0]["digest"] as! String)
        let file = registry.blobFile(layer)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        for i in 600..<700 { bytes[i] ^= 0xFF }
        try bytes.write(to: URL(fileURLWithPath: file))

        let p = try ProjectFixture("pullbad", compose: "services: {}\n")
        let pull = try p.run(["image", "pull", "\(registry.host)/bad:1"])
        #expect(pull.status == 1)
        #expect(pull.stderr.contains("blob \(layer)") && pull.stderr.contains("corrupt"), "\(pull.stderr)")
        #expect(try Self.images(p).allSatisfy { !$0.references.contains { $0.path == "bad" } }, "no partial image listed")
        #expect(!FileManager.default.fileExists(atPath: p.root + "/images/blobs/sha256/" + layer.dropFirst(7)))
        let ingest = (try? FileManager.default.contentsOfDirectory(atPath: p.root + "/images/ingest")) ?? []
        #expect(!ingest.contains { $0.hasSuffix(".partial") }, "the corrupt download is not kept: \(ingest)")
    }

    @Test func tlsRegistryWithDockersCertsD() throws {
        let registry = try TestRegistry(tls: true, clientCertificates: true)
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "tls")], as: "secure:1")
        let p = try ProjectFixture("pulltls", compose: "services: {}\n")
        // Without the registry's CA the certificate is refused (and plain HTTP gets nowhere).
        let untrusted = try p.run(["image", "pull", "\(registry.host)/secure:1"], extraEnvironment: ["SWCOMPOSE_CERTS_D": p.dir.sub("none")])
        #expect(untrusted.status == 1 && untrusted.stderr.contains("https://\(registry.host)/v2/") && untrusted.stderr.contains("TLS"),
                "\(untrusted.stderr)")
        // docker's layout: certs.d/<host:port>/ca.crt, client.cert, client.key.
        let certsD = p.dir.sub("certs.d")
        try FileManager.default.createDirectory(atPath: certsD, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: registry.certificates, toPath: certsD + "/" + registry.host)
        let trusted = try p.run(["image", "pull", "\(registry.host)/secure:1"], extraEnvironment: ["SWCOMPOSE_CERTS_D": certsD])
        #expect(trusted.status == 0, "\(trusted.stderr)")
        let image = try #require(try Self.images(p).first { $0.references.contains { $0.path == "secure" } })
        #expect(try Self.marker(p, image) == "tls\n")
        // The registry wants a client certificate: without one the handshake fails.
        try FileManager.default.removeItem(atPath: certsD + "/" + registry.host + "/client.cert")
        let anonymous = try p.run(["image", "pull", "\(registry.host)/secure:1"], extraEnvironment: ["SWCOMPOSE_CERTS_D": certsD])
        #expect(anonymous.status == 1, "\(anonymous.stderr)")
    }

    /// The digest the registry stores a tag's manifest under (its tag link file).
    static func manifestDigest(_ registry: TestRegistry, _ repo: String, _ tag: String) throws -> String {
        try String(contentsOfFile: registry.dir.sub("data/docker/registry/v2/repositories/\(repo)/_manifests/tags/\(tag)/current/link"), encoding: .utf8)
    }

    @Test func killedPullResumesAndConcurrentPullsShareTheWork() throws {
        let registry = try TestRegistry()
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "big", compression: .gzip, payload: 160 << 20)], as: "big:1")
        let p = try ProjectFixture("pullkill", compose: "services: {}\n")
        let ingest = p.root + "/images/ingest"

        // Kill a pull while the 160 MiB layer is partly downloaded (a partial larger than the whole
        // busybox layer can only be that one).
        let process = Process()
        process.executableURL = Swcompose.executable
        process.arguments = ["image", "pull", "-q", "\(registry.host)/big:1"]
        process.environment = ["SWCOMPOSE_ROOT": p.root, "PATH": "/usr/bin:/bin", "HOME": "/root"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var partialSize: UInt64 = 0
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline {
            let partials = ((try? FileManager.default.contentsOfDirectory(atPath: ingest)) ?? []).filter { $0.hasSuffix(".partial") }
            let sizes = partials.compactMap { (try? FileManager.default.attributesOfItem(atPath: ingest + "/" + $0))?[.size] as? UInt64 }
            if let size = sizes.first(where: { $0 > 4 << 20 }) {
                partialSize = size
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(500)
        }
        process.waitUntilExit()
        #expect(partialSize > 0, "the pull was killed while downloading")
        #expect(try Self.images(p).allSatisfy { !$0.references.contains { $0.path == "big" } }, "a killed pull lists no image")

        let resumed = try p.run(["image", "pull", "\(registry.host)/big:1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(registry.log.contains("http.response.status=206"), "the second pull resumed the partial download with a Range request")
        let big = try #require(try Self.images(p).first { $0.references.contains { $0.path == "big" } })
        let layers = try ImageStore(root: StateRoot(path: p.root)).layers(of: big)
        let payload = try FileManager.default.attributesOfItem(atPath: layers[1].directory + "/payload")[.size] as? UInt64
        #expect(payload == 160 << 20)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: ingest)) ?? []).filter { $0.hasSuffix(".partial") }.isEmpty)

        // Three pulls of the same image into a fresh store at once: all succeed, one copy of each blob.
        let fresh = TemporaryDirectory("pullconcurrent")
        let pulls = (0..<3).map { _ -> Process in
            let q = Process()
            q.executableURL = Swcompose.executable
            q.arguments = ["image", "pull", "-q", "\(registry.host)/big:1"]
            q.environment = ["SWCOMPOSE_ROOT": fresh.sub("state"), "PATH": "/usr/bin:/bin", "HOME": "/root"]
            q.standardOutput = FileHandle.nullDevice
            return q
        }
        for q in pulls { try q.run() }
        // A prune meanwhile waits for the pulls instead of collecting blobs they have not named yet.
        let ingestFresh = fresh.sub("state/images/ingest")
        let started = Date().addingTimeInterval(20)
        while Date() < started && ((try? FileManager.default.contentsOfDirectory(atPath: ingestFresh)) ?? []).isEmpty { usleep(1000) }
        let prune = try Swcompose.run(["image", "prune"], in: URL(fileURLWithPath: fresh.path), environment: ["SWCOMPOSE_ROOT": fresh.sub("state")])
        #expect(prune.status == 0, "\(prune.stderr)")
        for q in pulls { q.waitUntilExit() }
        #expect(pulls.allSatisfy { $0.terminationStatus == 0 })
        let store = ImageStore(root: StateRoot(path: fresh.sub("state")))
        let listed = try store.list()
        #expect(listed.count == 1 && listed[0].id == big.id)
        #expect(try store.layers(of: listed[0]).count == 2)
        #expect(listed[0].manifest.layers.allSatisfy { store.content.contains($0.digest) } && store.content.contains(listed[0].id),
                "every blob of the image survived the prune")

        // What an interrupted pull leaves for resuming goes with `image prune`.
        let stale = fresh.sub("state/images/ingest/" + String(repeating: "ab", count: 32) + ".partial")
        FileManager.default.createFile(atPath: stale, contents: Data(repeating: 7, count: 4096))
        let pruneStale = try Swcompose.run(["image", "prune"], in: URL(fileURLWithPath: fresh.path), environment: ["SWCOMPOSE_ROOT": fresh.sub("state")])
        #expect(pruneStale.status == 0 && !FileManager.default.fileExists(atPath: stale), "\(pruneStale.stderr)")
    }

    @Test func pushedImagesPullBack() throws {
        let registry = try TestRegistry()
        let p = try ProjectFixture("push", compose: """
            services:
              web:
                build: .
                image: \(registry.host)/composed:2
              plain:
                image: swcompose/busybox
            """)
        // Nothing pushed yet: pulling an image the service can build only warns, as docker compose does.
        let buildable = try p.run(["pull", "web"])
        #expect(buildable.status == 0 && buildable.stderr.contains("must be built from source: web"), "\(buildable.stderr)")

        #expect(try p.run(["image", "tag", "swcompose/busybox", "\(registry.host)/pushed:1"]).status == 0)
        let push = try p.run(["image", "push", "\(registry.host)/pushed:1"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stdout.contains(": Pushed") && push.stdout.contains("1: digest: sha256:"), "\(push.stdout)")
        let again = try p.run(["image", "push", "\(registry.host)/pushed:1"])
        #expect(again.stdout.contains("Layer already exists"), "\(again.stdout)")

        // The compose verb pushes services with both build and image, and skips the others.
        #expect(try p.run(["image", "tag", "swcompose/busybox", "\(registry.host)/composed:2"]).status == 0)
        let composePush = try p.run(["push"])
        #expect(composePush.status == 0, "\(composePush.stderr)")
        #expect(composePush.stderr.contains(" web Pushed") && composePush.stderr.contains(" plain Skipped"), "\(composePush.stderr)")

        let local = try ImageStore(root: StateRoot(path: p.root)).resolve("swcompose/busybox")
        let fresh = TemporaryDirectory("pullback")
        for name in ["pushed:1", "composed:2"] {
            let back = try Swcompose.run(["image", "pull", "\(registry.host)/\(name)"], in: URL(fileURLWithPath: fresh.path),
                                         environment: ["SWCOMPOSE_ROOT": fresh.sub("state")])
            #expect(back.status == 0, "\(back.stderr)")
            let pulled = try ImageStore(root: StateRoot(path: fresh.sub("state"))).resolve("\(registry.host)/\(name)")
            #expect(pulled.id == local.id && pulled.manifestDigest == local.manifestDigest, "the same image comes back")
        }
    }

    /// `build --push`: a built image goes to the registry its `image:` names, and pulls back as the same
    /// image, which runs.
    @Test func builtImagesArePushedAndPullBack() throws {
        let registry = try TestRegistry()
        let p = try ProjectFixture("buildpush", compose: """
            services:
              app:
                build: .
                image: \(registry.host)/built:1
            """, files: ["Dockerfile": "FROM swcompose/busybox\nRUN echo built and pushed > /msg\nCMD [\"cat\", \"/msg\"]\n"])
        let r = try p.run(["build", "--push"])
        #expect(r.status == 0 && r.stderr.contains(" app Pushed"), "\(r.stderr)")
        let fresh = TemporaryDirectory("pushback")
        let back = try Swcompose.run(["image", "pull", "\(registry.host)/built:1"], in: URL(fileURLWithPath: fresh.path),
                                     environment: ["SWCOMPOSE_ROOT": fresh.sub("state")])
        #expect(back.status == 0, "\(back.stderr)")
        let local = try ImageStore(root: StateRoot(path: p.root)).resolve("\(registry.host)/built:1")
        let pulled = try ImageStore(root: StateRoot(path: fresh.sub("state"))).resolve("\(registry.host)/built:1")
        #expect(pulled.id == local.id, "the same image comes back")
        try "services:\n  app:\n    image: \(registry.host)/built:1\n".write(toFile: fresh.sub("compose.yaml"), atomically: true, encoding: .utf8)
        let run = try Swcompose.run(["run", "--rm", "-T", "app"], in: URL(fileURLWithPath: fresh.path), environment: ["SWCOMPOSE_ROOT": fresh.sub("state")])
        #expect(run.stdout == "built and pushed\n", "\(run.stderr)")
        _ = try? Swcompose.run(["down"], in: URL(fileURLWithPath: fresh.path), environment: ["SWCOMPOSE_ROOT": fresh.sub("state")])
    }

    /// `kube generate --push`: the built service is built, pushed to its image's registry, and the
    /// manifests run exactly that push (`name@sha256:…` of the manifest the registry holds).
    @Test func kubeGeneratePushRunsThePushedDigest() throws {
        let registry = try TestRegistry()
        let p = try ProjectFixture("kubepush", compose: """
            services:
              app:
                build: .
                image: \(registry.host)/kubeapp:1
                depends_on: [db]
              db:
                image: swcompose/busybox
              nameless:
                build: .
                profiles: [extra]
            """, files: ["Dockerfile": "FROM swcompose/busybox\nRUN echo for the cluster > /msg\n"])
        let r = try p.run(["kube", "generate", "--push"])
        #expect(r.status == 0, "\(r.stderr)")
        let local = try ImageStore(root: StateRoot(path: p.root)).resolve("\(registry.host)/kubeapp:1")
        #expect(r.stdout.contains("image: \(registry.host)/kubeapp@\(local.manifestDigest)"), "\(r.stdout)")
        #expect(r.stdout.contains("image: swcompose/busybox\n"), "an image that is not built stays as named")
        // The registry serves that digest.
        let fresh = TemporaryDirectory("kubepull")
        let back = try Swcompose.run(["image", "pull", "\(registry.host)/kubeapp@\(local.manifestDigest)"], in: URL(fileURLWithPath: fresh.path),
                                     environment: ["SWCOMPOSE_ROOT": fresh.sub("state")])
        #expect(back.status == 0, "\(back.stderr)")
        let refused = try p.run(["--profile", "extra", "kube", "generate", "--push", "nameless"])
        #expect(refused.status == 1 && refused.stderr.contains("service \"nameless\" is built but has no image"), "\(refused.stderr)")
    }

    @Test func pullPolicies() throws {
        let registry = try TestRegistry()
        try Self.publish(registry, [.init(platform: Self.amd64, marker: "v1")], as: "pol:1")
        let p = try ProjectFixture("pullpolicy", compose: """
            services:
              never:
                image: \(registry.host)/pol:absent
                pull_policy: never
                command: sleep 1000
            """)
        let never = try p.run(["up", "-d"])
        #expect(never.status == 1 && never.stderr.contains("is not in the local image store") && !never.stderr.contains("Pulling"), "\(never.stderr)")

        try """
        services:
          always:
            image: \(registry.host)/pol:1
            pull_policy: always
            command: sleep 1000
          daily:
            image: \(registry.host)/pol:1
            pull_policy: daily
            command: sleep 1000
        """.write(toFile: p.directory + "/compose.yaml", atomically: true, encoding: .utf8)
        let first = try p.run(["up", "-d", "--remove-orphans"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        // The image is in the store and was pulled just now: `daily` leaves it, `always` pulls
        // again, and with the registry gone `always` warns and goes on with the stored image.
        let second = try p.run(["up", "-d"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains(" always Pulling") && !second.stderr.contains(" daily Pulling"), "\(second.stderr)")
        #expect(try p.run(["down", "-t", "0"]).status == 0)
        registry.stop()
        let offline = try p.run(["up", "-d", "daily"] + [])
        #expect(offline.status == 0, "\(offline.stderr)")
        let alwaysOffline = try p.run(["up", "-d", "always"])
        #expect(alwaysOffline.status == 0 && alwaysOffline.stderr.contains("WARN") && alwaysOffline.stderr.contains("connection refused"), "\(alwaysOffline.stderr)")
        let forced = try p.run(["pull", "daily"])
        #expect(forced.status == 1 && forced.stderr.contains("connection refused"), "\(forced.stderr)")
    }
}

/// A registry that behaves as public ones do (bearer tokens, blobs redirected to storage on another
/// host, rate limits): Tests/CLITests/Fixtures/registry/fake-registry.py in front of docker-registry.
@Suite(.requiresOverlay, .requiresBusybox, .requiresRegistryTools, .serialized) struct PublicRegistryBehaviourTests {
    final class FakeRegistry: @unchecked Sendable {
        let process = Process()
        let dir = TemporaryDirectory("fake-registry")
        let port: Int

        init(upstream: TestRegistry) throws {
            let script = Fixtures.root.appendingPathComponent("registry/fake-registry.py").path
            let portsFile = dir.sub("ports")
            try TestServer.start(process, "/usr/bin/python3", [script, String(upstream.port), portsFile], log: dir.sub("log")) {
                FileManager.default.fileExists(atPath: portsFile)
            }
            let ports = try String(contentsOfFile: dir.sub("ports"), encoding: .utf8).split(separator: " ")
            port = Int(ports[0])!
        }

        deinit {
            // SIGKILL: the test process may have SIGTERM blocked, and a child inherits the mask.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        var host: String { "127.0.0.1:\(port)" }
        var log: String { (try? String(contentsOfFile: dir.sub("log"), encoding: .utf8)) ?? "" }
    }

    @Test func bearerTokensRedirectsAndRateLimits() throws {
        let upstream = try TestRegistry()
        try RegistryTests.publish(upstream, [.init(platform: RegistryTests.amd64, marker: "public")], as: "app:1")
        try RegistryTests.publish(upstream, [.init(platform: RegistryTests.amd64, marker: "limited")], as: "limited/app:1")
        let fake = try FakeRegistry(upstream: upstream)
        let p = try ProjectFixture("pullpublic", compose: "services: {}\n")

        let pull = try p.run(["image", "pull", "\(fake.host)/app:1"])
        #expect(pull.status == 0, "\(pull.stderr)\n\(fake.log)")
        #expect(fake.log.contains("storage: ") && fake.log.contains("GET /v2/app/blobs/sha256:"), "blobs came from the storage host")
        #expect(!fake.log.contains("refused a request carrying Authorization"), "credentials stayed with the registry")
        let image = try #require(try RegistryTests.images(p).first { $0.references.contains { $0.path == "app" } })
        #expect(try RegistryTests.marker(p, image) == "public\n")

        // A download that breaks off is resumed within the same pull.
        try RegistryTests.publish(upstream, [.init(platform: RegistryTests.amd64, marker: "flaky")], as: "flaky/app:1")
        let flaky = try p.run(["image", "pull", "\(fake.host)/flaky/app:1"])
        #expect(flaky.status == 0, "\(flaky.stderr)\n\(fake.log)")
        #expect(fake.log.contains("storage: broke off") && upstream.log.contains("http.response.status=206"), "\(fake.log)")
        let flakyImage = try #require(try RegistryTests.images(p).first { $0.references.contains { $0.path == "flaky/app" } })
        #expect(try RegistryTests.marker(p, flakyImage) == "flaky\n")

        // A private repository: an identity token from config.json (or from a credential helper)
        // is exchanged for an access token.
        try RegistryTests.publish(upstream, [.init(platform: RegistryTests.amd64, marker: "private")], as: "private/app:1")
        let config = p.dir.sub("docker-config")
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        let denied = try p.run(["image", "pull", "\(fake.host)/private/app:1"], extraEnvironment: ["DOCKER_CONFIG": config])
        #expect(denied.status == 1 && denied.stderr.contains("pull access denied for \(fake.host)/private/app"), "\(denied.stderr)")
        try #"{"auths":{"\#(fake.host)":{"identitytoken":"valid-refresh"}}}"#.write(toFile: config + "/config.json", atomically: true, encoding: .utf8)
        let withToken = try p.run(["image", "pull", "\(fake.host)/private/app:1"], extraEnvironment: ["DOCKER_CONFIG": config])
        #expect(withToken.status == 0, "\(withToken.stderr)\n\(fake.log)")
        try """
        #!/bin/sh
        read server
        [ "$1" = get ] && [ "$server" = "\(fake.host)" ] && echo '{"ServerURL":"\(fake.host)","Username":"<token>","Secret":"valid-refresh"}' && exit 0
        echo "credentials not found in native keychain"; exit 1
        """.write(toFile: config + "/docker-credential-fake", atomically: true, encoding: .utf8)
        chmod(config + "/docker-credential-fake", 0o755)
        try #"{"credHelpers":{"\#(fake.host)":"fake"}}"#.write(toFile: config + "/config.json", atomically: true, encoding: .utf8)
        let viaHelper = try p.run(["image", "pull", "\(fake.host)/private/app:1"],
                                  extraEnvironment: ["DOCKER_CONFIG": config, "PATH": "\(config):/usr/bin:/bin"])
        #expect(viaHelper.status == 0, "\(viaHelper.stderr)")

        let limited = try p.run(["image", "pull", "\(fake.host)/limited/app:1"])
        #expect(limited.status == 1)
        #expect(limited.stderr.contains("toomanyrequests: You have reached your pull rate limit. (retry after 42 seconds)"), "\(limited.stderr)")
    }
}
