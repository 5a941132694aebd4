import Foundation
import Testing
import TestSupport
import Engine

/// The state root is root's alone: another local user can neither run what a container left in its
/// volumes or its own filesystem (a setuid-root binary) nor read the containers' configuration.
@Suite(.requiresOverlay, .requiresBusybox, .serialized) struct StateRootTests {
    static let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    /// Runs a shell command as uid 65534 (what an unprivileged local user can do). Through a shell:
    /// setpriv keeps its capabilities until its own execve, so the path it executes is looked up with
    /// root's privileges; the shell's lookups are the user's.
    static func asNobody(_ command: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: nobody[0])
        p.arguments = Array(nobody.dropFirst()) + ["/bin/sh", "-c", command]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs setpriv (util-linux)"))
    func anotherUserCannotRunWhatAContainerLeftNorReadItsSecrets() throws {
        let p = try ProjectFixture("priv", compose: """
            services:
              app:
                image: swcompose/busybox
                command: ["sleep", "300"]
                environment:
                  DB_PASSWORD: hunter2
                volumes: ["appdata:/data"]
            volumes:
              appdata: {}
            """)
        let up = try p.run(["up", "-d"])
        #expect(up.status == 0, "\(up.stderr)")
        // Root inside the container plants setuid-root copies of busybox in its volume and its own layer.
        let plant = try p.run(["exec", "-T", "app", "sh", "-c", "cp /bin/busybox /data/bb && chmod 4755 /data/bb && cp /bin/busybox /bb && chmod 4755 /bb"])
        #expect(plant.status == 0, "\(plant.stderr)")
        let app = try #require(p.container("app"))
        let inVolume = p.root + "/volumes/\(p.project)_appdata/_data/bb"
        let inUpper = p.root + "/containers/\(app.id)/upper/bb"
        #expect(FileManager.default.fileExists(atPath: inVolume) && FileManager.default.fileExists(atPath: inUpper))

        for planted in [inVolume, inUpper] {
            let run = try Self.asNobody("\(planted) id -u")
            #expect(run.status != 0, "uid 65534 ran \(planted)")
            #expect(run.output.contains("Permission denied"), "\(run.output)")
        }
        let read = try Self.asNobody("cat \(p.root)/containers/\(app.id)/config.json")
        #expect(read.status != 0)
        #expect(!read.output.contains("hunter2"))

        // The modes docker gives its data root, and records only root reads.
        #expect(try Self.mode(p.root) == 0o710)
        for dir in ["containers", "volumes", "images", "layers", "networks", "projects"] {
            #expect(try Self.mode(p.root + "/" + dir) == 0o700, "\(dir)")
        }
        #expect(try Self.mode(p.root + "/containers/\(app.id)/config.json") == 0o600)
        #expect(try Self.mode(p.root + "/containers/\(app.id)/state.json") == 0o600)
        // What the container reads through its bind mounts stays readable inside it, by any user.
        let etc = try p.run(["exec", "-T", "-u", "nobody", "app", "sh", "-c", "cat /etc/hostname /etc/hosts /etc/resolv.conf >/dev/null && echo ok"])
        #expect(etc.stdout == "ok\n", "\(etc.stderr)")
    }

    @Test func aStateRootOpenToOthersIsTightenedAndAForeignOneRefused() throws {
        let dir = TemporaryDirectory("wide-root")
        let root = dir.sub("state")
        try FileManager.default.createDirectory(atPath: root + "/volumes/v/_data", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        try FileManager.default.createDirectory(atPath: root + "/containers", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o777])
        chmod(root, 0o755)
        try "services:\n  a:\n    image: busybox\n".write(toFile: dir.sub("compose.yaml"), atomically: true, encoding: .utf8)
        let ps = try Swcompose.run(["ps"], in: URL(fileURLWithPath: dir.path), environment: ["SWCOMPOSE_ROOT": root])
        #expect(ps.status == 0, "\(ps.stderr)")
        #expect(ps.stderr.contains("WARN[0000] \(root) was open to other users (mode 755): made it private (mode 710)"), "\(ps.stderr)")
        #expect(ps.stderr.contains("\(root)/containers was open to other users (mode 777): made it private (mode 700)"), "\(ps.stderr)")
        #expect(try Self.mode(root) == 0o710)
        #expect(try Self.mode(root + "/volumes") == 0o700)
        #expect(try Self.mode(root + "/containers") == 0o700)
        // The volume's data directory keeps its own mode (it is what the container sees at the mount point).
        #expect(try Self.mode(root + "/volumes/v/_data") == 0o755)
        let again = try Swcompose.run(["ps"], in: URL(fileURLWithPath: dir.path), environment: ["SWCOMPOSE_ROOT": root])
        #expect(again.status == 0 && !again.stderr.contains("WARN"), "\(again.stderr)")

        // A root another user owns could hold anything that user planted: refused, nothing touched.
        let foreign = dir.sub("foreign")
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        chown(foreign, 65534, 65534)
        let refused = try Swcompose.run(["ps"], in: URL(fileURLWithPath: dir.path), environment: ["SWCOMPOSE_ROOT": foreign])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("error: the state root \(foreign) is owned by uid 65534, not by uid 0 which runs swcompose"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: foreign).isEmpty)
        #expect(try Self.mode(foreign) == 0o755)
    }
}
