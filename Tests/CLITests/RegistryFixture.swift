import Foundation
import Testing
import TestSupport
import Engine

extension Trait where Self == ConditionTrait {
    /// Needs Debian's docker-registry, skopeo and htpasswd (Scripts/setup.sh installs them).
    static var requiresRegistryTools: Self {
        .enabled(if: ["/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/htpasswd"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) },
                 "needs docker-registry, skopeo and htpasswd (apt-get install docker-registry skopeo apache2-utils)")
    }
}

/// Debian's `docker-registry` serving on 127.0.0.1 (a free port), its storage in a temporary
/// directory, optionally behind htpasswd auth. Stopped and removed when released.
final class TestRegistry: @unchecked Sendable {
    let dir = TemporaryDirectory("registry")
    let port: Int
    let process = Process()
    let credentials: (user: String, password: String)?
    var host: String { "127.0.0.1:\(port)" }
    var blobs: String { dir.sub("data/docker/registry/v2/blobs/sha256") }

    /// With `tls`, the registry serves HTTPS with a certificate for 127.0.0.1 signed by a CA of its own
    /// (`certs/ca.crt`), and with `clientCertificates` it also asks clients for a certificate signed by
    /// that CA (`certs/client.cert`, `certs/client.key`): `certs/` is laid out as docker's certs.d
    /// directory of this registry.
    /// With `storage`, it serves that directory (a registry store made before, kept afterwards) rather
    /// than a fresh one of its own.
    init(user: String? = nil, password: String? = nil, tls: Bool = false, clientCertificates: Bool = false, storage: String? = nil) throws {
        port = try Self.freePort()
        var tlsConfig = ""
        if tls {
            try Self.makeCertificates(in: dir)
            tlsConfig = """
              tls:
                certificate: \(dir.sub("server.crt"))
                key: \(dir.sub("server.key"))

            """
            if clientCertificates { tlsConfig += "    clientcas:\n      - \(dir.sub("certs/ca.crt"))\n" }
        }
        var auth = ""
        if let user, let password {
            credentials = (user, password)
            let hash = try Process.output("/usr/bin/htpasswd", ["-Bbn", user, password])
            try hash.write(toFile: dir.sub("htpasswd"), atomically: true, encoding: .utf8)
            auth = """
            auth:
              htpasswd:
                realm: swcompose-test
                path: \(dir.sub("htpasswd"))

            """
        } else {
            credentials = nil
        }
        try """
        version: 0.1
        log:
          level: info
        storage:
          filesystem:
            rootdirectory: \(storage ?? dir.sub("data"))
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:\(port)
        \(tlsConfig)
        \(auth)
        """.write(toFile: dir.sub("config.yml"), atomically: true, encoding: .utf8)
        try TestServer.start(process, "/usr/bin/docker-registry", ["serve", dir.sub("config.yml")], log: dir.sub("log")) { [port] in Self.accepts(port) }
    }

    deinit { stop() }

    /// SIGKILL: the test process may have SIGTERM blocked, and a child inherits the mask.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    var log: String { (try? String(contentsOfFile: dir.sub("log"), encoding: .utf8)) ?? "" }

    var certificates: String { dir.sub("certs") }

    static func makeCertificates(in dir: TemporaryDirectory) throws {
        try FileManager.default.createDirectory(atPath: dir.sub("certs"), withIntermediateDirectories: true)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let steps: [[String]] = [
            ["req", "-x509"] + ec + ["-keyout", dir.sub("ca.key"), "-out", dir.sub("certs/ca.crt"), "-days", "2", "-subj", "/CN=swcompose test CA"],
            ["req"] + ec + ["-keyout", dir.sub("server.key"), "-out", dir.sub("server.csr"), "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", dir.sub("server.csr"), "-CA", dir.sub("certs/ca.crt"), "-CAkey", dir.sub("ca.key"), "-CAcreateserial",
             "-out", dir.sub("server.crt"), "-days", "2", "-extfile", dir.sub("server.ext")],
            ["req"] + ec + ["-keyout", dir.sub("certs/client.key"), "-out", dir.sub("client.csr"), "-subj", "/CN=swcompose test client"],
            ["x509", "-req", "-in", dir.sub("client.csr"), "-CA", dir.sub("certs/ca.crt"), "-CAkey", dir.sub("ca.key"), "-CAcreateserial",
             "-out", dir.sub("certs/client.cert"), "-days", "2", "-extfile", dir.sub("client.ext")],
        ]
        try "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".write(toFile: dir.sub("server.ext"), atomically: true, encoding: .utf8)
        try "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n".write(toFile: dir.sub("client.ext"), atomically: true, encoding: .utf8)
        for args in steps {
            let r = try run("/usr/bin/openssl", args)
            guard r.status == 0 else { throw TestFailure("openssl \(args.joined(separator: " ")): \(r.output)") }
        }
    }

    /// `skopeo copy` into this registry (plain HTTP, or TLS trusting its CA, with the registry's
    /// credentials if any).
    func push(_ source: String, as name: String, _ extra: [String] = []) throws {
        var args = ["copy", "--quiet", "--dest-tls-verify=false"] + extra
        if FileManager.default.fileExists(atPath: certificates) { args += ["--dest-cert-dir", certificates] }
        if let credentials { args += ["--dest-creds", "\(credentials.user):\(credentials.password)"] }
        args += [source, "docker://\(host)/\(name)"]
        let result = try Self.run("/usr/bin/skopeo", args)
        guard result.status == 0 else { throw TestFailure("skopeo \(args.joined(separator: " ")): \(result.output)") }
    }

    /// The file behind a blob in the registry's storage.
    func blobFile(_ digest: String) -> String {
        let hex = String(digest.dropFirst(7))
        return "\(blobs)/\(hex.prefix(2))/\(hex)/data"
    }

    static func run(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.environment = ["PATH": "/usr/bin:/bin", "HOME": "/root", "TMPDIR": "/tmp"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// Test servers: started with their output in a log file, waited for until they answer.
enum TestServer {
    static func start(_ process: Process, _ executable: String, _ arguments: [String], log: String, ready: () -> Bool) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while !ready() {
            guard Date() < deadline, process.isRunning else {
                throw TestFailure("\(executable) did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            usleep(20_000)
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Builds OCI image layouts (what skopeo pushes): images of busybox plus a marker file, with layers
/// compressed as asked, optionally several platforms under one index.
enum OCILayouts {
    struct Image {
        var platform: (os: String, architecture: String, variant: String?)
        var marker: String
        var compression: ArchiveWriter.Compression = .gzip
        /// An extra layer holding this many bytes of random data in /payload.
        var payload: Int = 0
    }

    static func sha(_ data: Data) -> String { Digest.of(Array(data)).description }

    /// Writes `blobs/sha256/…`, returns the descriptor.
    static func addBlob(_ data: Data, mediaType: String, to layout: String, extra: [String: Any] = [:]) throws -> [String: Any] {
        let digest = sha(data)
        try FileManager.default.createDirectory(atPath: layout + "/blobs/sha256", withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: layout + "/blobs/sha256/" + digest.dropFirst(7)))
        var d: [String: Any] = ["mediaType": mediaType, "digest": digest, "size": data.count]
        for (k, v) in extra { d[k] = v }
        return d
    }

    static func json(_ object: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// An image's layers, config and manifest; returns the manifest descriptor.
    static func addImage(_ image: Image, to layout: String, scratch: TemporaryDirectory) throws -> [String: Any] {
        var layers: [[String: Any]] = []
        var diffIDs: [String] = []
        // The base layer, written twice: plain for its diff_id, and compressed as asked (libarchive
        // writes the same entries to the same bytes).
        let extra = [TestArchives.file("marker", image.marker + "\n")]
        let plain = try Data(contentsOf: URL(fileURLWithPath: try TestArchives.busyboxRootfs(at: scratch.sub("base-\(UUID().uuidString).tar"), extra: extra)))
        diffIDs.append(sha(plain))
        switch image.compression {
        case .none:
            layers.append(try addBlob(plain, mediaType: MediaType.ociLayer, to: layout))
        case .gzip, .zstd:
            let path = try TestArchives.busyboxRootfs(at: scratch.sub("base-\(UUID().uuidString).tar.c"), compression: image.compression, extra: extra)
            layers.append(try addBlob(try Data(contentsOf: URL(fileURLWithPath: path)),
                                      mediaType: image.compression == .zstd ? MediaType.ociLayerZstd : MediaType.ociLayerGzip, to: layout))
        }
        if image.payload > 0 {
            var bytes = [UInt8](repeating: 0, count: image.payload)
            bytes.withUnsafeMutableBytes { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for i in words.indices { words[i] = UInt64.random(in: 0...UInt64.max) }
            }
            var entry = TestArchives.file("payload", "")
            entry.data = bytes
            let path = try TestArchives.write([entry], to: scratch.sub("payload-\(UUID().uuidString).tar"))
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            diffIDs.append(sha(data))
            layers.append(try addBlob(data, mediaType: MediaType.ociLayer, to: layout))
        }
        var config: [String: Any] = [
            "architecture": image.platform.architecture, "os": image.platform.os,
            "config": ["Cmd": ["sh"], "Env": ["PATH=/bin"]],
            "rootfs": ["type": "layers", "diff_ids": diffIDs],
            "created": "2026-01-01T00:00:00Z",
        ]
        if let v = image.platform.variant { config["variant"] = v }
        let configDescriptor = try addBlob(try json(config), mediaType: MediaType.ociConfig, to: layout)
        let manifest: [String: Any] = ["schemaVersion": 2, "mediaType": MediaType.ociManifest, "config": configDescriptor, "layers": layers]
        var platform: [String: Any] = ["os": image.platform.os, "architecture": image.platform.architecture]
        if let v = image.platform.variant { platform["variant"] = v }
        return try addBlob(try json(manifest), mediaType: MediaType.ociManifest, to: layout, extra: ["platform": platform])
    }

    /// An OCI layout at `layout` whose `index.json` names `tag`: one image, or an index of several.
    static func make(_ images: [Image], tag: String, at layout: String, scratch: TemporaryDirectory) throws {
        try FileManager.default.createDirectory(atPath: layout, withIntermediateDirectories: true)
        try #"{"imageLayoutVersion":"1.0.0"}"#.write(toFile: layout + "/oci-layout", atomically: true, encoding: .utf8)
        var manifests: [[String: Any]] = []
        for image in images { manifests.append(try addImage(image, to: layout, scratch: scratch)) }
        var top: [String: Any]
        if images.count == 1 {
            top = manifests[0]
            top["platform"] = nil
        } else {
            let index: [String: Any] = ["schemaVersion": 2, "mediaType": MediaType.ociIndex, "manifests": manifests]
            top = try addBlob(try json(index), mediaType: MediaType.ociIndex, to: layout)
        }
        top["annotations"] = ["org.opencontainers.image.ref.name": tag]
        try json(["schemaVersion": 2, "manifests": [top]]).write(to: URL(fileURLWithPath: layout + "/index.json"))
    }
}
