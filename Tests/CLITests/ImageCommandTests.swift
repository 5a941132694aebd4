import Engine
import Foundation
import Testing
import TestSupport

/// The `image` verbs on a real store under a temporary `SWCOMPOSE_ROOT`.
@Suite(.requiresRoot, .requiresBusybox, .serialized) struct ImageCommandTests {
    let dir = TemporaryDirectory("image-cli")
    var env: [String: String] { ["SWCOMPOSE_ROOT": dir.sub("root")] }

    func swcompose(_ args: [String], stdin: String? = nil) throws -> Swcompose.Result {
        try Swcompose.run(args, in: URL(fileURLWithPath: dir.path), environment: env, stdin: stdin)
    }

    func busybox() throws -> String { try TestArchives.busyboxRootfs(at: dir.sub("busybox-\(UUID().uuidString).tar")) }

    @Test func importListInspectSaveLoad() throws {
        let rootfs = try busybox()
        let imported = try swcompose(["image", "import", "--change", "CMD [\"sh\"]", rootfs, "swcompose/busybox:1"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let id = imported.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("sha256:"))

        let ls = try swcompose(["image", "ls"])
        #expect(ls.stdout.hasPrefix("REPOSITORY          TAG   IMAGE ID       CREATED"))
        #expect(ls.stdout.contains("swcompose/busybox   1     \(id.dropFirst(7).prefix(12))"))
        #expect(try swcompose(["image", "ls", "-q"]).stdout == "\(id.dropFirst(7).prefix(12))\n")
        let json = try swcompose(["image", "ls", "--format", "json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(object?["Repository"] == "swcompose/busybox" && object?["Tag"] == "1")

        let inspect = try swcompose(["image", "inspect", "swcompose/busybox:1"])
        let documents = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [[String: Any]]
        #expect(documents?.first?["Id"] as? String == id)
        #expect((documents?.first?["Config"] as? [String: Any])?["Cmd"] as? [String] == ["sh"])

        let archive = dir.sub("saved.tar")
        #expect(try swcompose(["image", "save", "-o", archive, "swcompose/busybox:1"]).status == 0)
        try Sys.removeAll(dir.sub("root"))
        let load = try swcompose(["image", "load", "-i", archive])
        #expect(load.stdout == "Loaded image: swcompose/busybox:1\n", "\(load.stderr)")
        #expect(try swcompose(["image", "inspect", "swcompose/busybox:1"]).stdout.contains(id))
    }

    @Test func loadFromStandardInputAndMissingImages() throws {
        let rootfs = try busybox()
        _ = try swcompose(["image", "import", rootfs, "bb:stdin"])
        let archive = dir.sub("stdin.tar")
        _ = try swcompose(["image", "save", "-o", archive, "bb:stdin"])
        try Sys.removeAll(dir.sub("root"))
        let p = Process()
        p.executableURL = Swcompose.executable
        p.arguments = ["image", "load"]
        p.environment = env
        p.standardInput = try Foundation.FileHandle(forReadingFrom: URL(fileURLWithPath: archive))
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "Loaded image: bb:stdin\n")
        let missing = try swcompose(["image", "inspect", "nothing:here"])
        #expect(missing.status == 1 && missing.stderr == "error: no such image: nothing:here\n")
        let bad = try swcompose(["image", "tag", "bb:stdin", "Bad:Name"])
        #expect(bad.status == 1 && bad.stderr.contains("repository name must be lowercase"))
    }

    @Test func aKilledLoadLeavesNoHalfImage() throws {
        let rootfs = try busybox()
        _ = try swcompose(["image", "import", rootfs, "big:1"])
        let archive = dir.sub("big.tar")
        _ = try swcompose(["image", "save", "-o", archive, "big:1"])
        try Sys.removeAll(dir.sub("root"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))

        // Feed half of the archive through a pipe, then kill the loader mid-stream.
        let p = Process()
        p.executableURL = Swcompose.executable
        p.arguments = ["image", "load"]
        p.environment = env
        let input = Pipe()
        p.standardInput = input
        p.standardError = Pipe()
        try p.run()
        input.fileHandleForWriting.write(bytes.prefix(bytes.count / 2))
        usleep(300_000)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)

        #expect(try swcompose(["image", "ls", "-q"]).stdout.isEmpty)
        let load = try swcompose(["image", "load", "-i", archive])
        #expect(load.status == 0, "\(load.stderr)")
        #expect(try Sys.list(dir.sub("root/images/tmp")).isEmpty, "the dead loader's staging files are cleared")
    }

    @Test func removeRefusesImagesInUseAndPruneCollects() throws {
        let rootfs = try busybox()
        let id = try swcompose(["image", "import", rootfs, "used:1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let container = dir.sub("root/containers/abc")
        try Sys.mkdirAll(container)
        try "{\"name\":\"proj-web-1\",\"image\":{\"id\":\"\(id)\"}}".write(toFile: container + "/config.json", atomically: true, encoding: .utf8)
        let refused = try swcompose(["image", "rm", "used:1"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "error: image used:1 is used by container proj-web-1 (use -f to remove it anyway)\n")
        try Sys.removeAll(container)
        #expect(try swcompose(["image", "rm", "used:1"]).stdout == "Untagged: used:1\nDeleted: \(id)\n")
        let prune = try swcompose(["image", "prune"])
        #expect(prune.stdout.contains("Removed 3 blobs and 1 unpacked layers"))
        #expect(try Sys.list(dir.sub("root/layers")).filter { !$0.hasSuffix(".lock") }.isEmpty)
    }

    func blobs() -> Set<String> { Set((try? Sys.list(dir.sub("root/images/blobs/sha256"))) ?? []) }

    /// A small archive that expands to many large files (here 100 × 4 MiB of zeros, without a
    /// manifest): refused in a few megabytes of memory, and nothing of it kept.
    @Test func anArchiveOfManyLargeFilesIsStreamedAndLeavesNothing() throws {
        _ = try swcompose(["image", "import", try busybox(), "kept:1"])
        let before = blobs()
        let archive = dir.sub("zeros.tar.gz")
        let writer = try ArchiveWriter(path: archive, compression: .gzip)
        let zeros = [UInt8](repeating: 0, count: 4 << 20)
        for i in 0..<100 { try writer.add(ArchiveWriter.Header(path: "blobs/x/f\(i)"), data: zeros) }
        try writer.finish()
        let load = try Measured.run(["image", "load", "-i", archive], environment: env)
        #expect(load.status == 1)
        // What the executable itself takes (a debug build's pages, more of them mapped when the
        // machine is busy) is measured in the same run; the load may add 64 MiB to it. Holding the
        // archive's 400 MiB would not fit.
        let baseline = try Measured.run(["image", "ls"], environment: env).maxRSS
        #expect(load.maxRSS < baseline + 64_000, "\(load.maxRSS) KiB for an archive of 400 MiB of files, \(baseline) KiB for image ls")
        #expect(blobs() == before, "the refused load's blobs are gone")
        #expect(try swcompose(["image", "inspect", "kept:1"]).status == 0)
    }

    /// A load killed halfway leaves its journal; the next command removes the blobs it had added.
    @Test func blobsOfAKilledLoadAreRemovedByTheNextCommand() throws {
        _ = try swcompose(["image", "import", try busybox(), "kept:2"])
        let before = blobs()
        // An archive whose first member is large enough to be killed in the middle of the next ones.
        let archive = dir.sub("big.tar")
        let writer = try ArchiveWriter(path: archive)
        var bytes = [UInt8](repeating: 0, count: 2 << 20)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        for i in 0..<40 {
            bytes[0] = UInt8(i)
            try writer.add(ArchiveWriter.Header(path: "blobs/y/f\(i)"), data: bytes)
        }
        try writer.finish()
        let p = Process()
        p.executableURL = Swcompose.executable
        p.arguments = ["image", "load", "-i", archive]
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Killed once it has added some blobs.
        let deadline = Date().addingTimeInterval(10)
        while blobs().subtracting(before).count < 3 && Date() < deadline { usleep(5_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(blobs().subtracting(before).count >= 3, "it was killed halfway")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.sub("root/images/loads")).count == 1, "its journal")
        #expect(try swcompose(["image", "ls"]).status == 0)
        #expect(blobs() == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.sub("root/images/loads")).isEmpty)
    }
}

/// Round trip through a real docker daemon, when one is reachable (DOCKER_HOST or the default socket).
@Suite(.requiresRoot, .requiresBusybox, .enabled(if: DockerHost.available, "needs a running docker daemon"), .serialized)
struct DockerRoundTripTests {
    let dir = TemporaryDirectory("docker-roundtrip")

    @Test func dockerSaveLoadsHereAndOurSaveLoadsInDockerWithTheSameID() throws {
        let rootfs = try TestArchives.busyboxRootfs(at: dir.sub("rootfs.tar"))
        let tag = "swcompose-test/busybox:roundtrip-\(getpid())"
        let id = try DockerHost.docker(["import", rootfs, tag]).trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? DockerHost.docker(["rmi", "-f", tag]) }
        _ = try DockerHost.docker(["save", "-o", dir.sub("docker.tar"), tag])

        let env = ["SWCOMPOSE_ROOT": dir.sub("root")]
        let here = URL(fileURLWithPath: dir.path)
        let load = try Swcompose.run(["image", "load", "-i", dir.sub("docker.tar")], in: here, environment: env)
        #expect(load.status == 0, "\(load.stderr)")
        let inspect = try Swcompose.run(["image", "inspect", tag], in: here, environment: env)
        #expect(inspect.stdout.contains("\"Id\": \"\(id)\""))
        #expect(try Swcompose.run(["image", "save", "-o", dir.sub("ours.tar"), tag], in: here, environment: env).status == 0)

        _ = try DockerHost.docker(["rmi", "-f", tag])
        let loaded = try DockerHost.docker(["load", "-i", dir.sub("ours.tar")])
        #expect(loaded.contains("Loaded image: \(tag)"))
        #expect(try DockerHost.docker(["image", "inspect", "--format", "{{.Id}}", tag]).trimmingCharacters(in: .whitespacesAndNewlines) == id)
    }
}

enum DockerHost {
    static let available: Bool = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/docker") || FileManager.default.isExecutableFile(atPath: "/usr/local/bin/docker") else { return false }
        return (try? docker(["info", "--format", "{{.ServerVersion}}"]))?.isEmpty == false
    }()

    static func docker(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/bin/docker") ? "/usr/bin/docker" : "/usr/local/bin/docker")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
        return String(decoding: data, as: UTF8.self)
    }
}
