import Engine
import Foundation
import Testing

/// Conditions for kernel tests.
public enum Host {
    public static let isRoot = getuid() == 0
    public static let hasBusybox = FileManager.default.isExecutableFile(atPath: "/bin/busybox")
    /// A cgroup2 hierarchy is mounted (pure v2, or v1 hybrid with `unified`): cgroup BPF programs work.
    public static let hasCgroupV2Unified = ["/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/unified/cgroup.controllers"]
        .contains { FileManager.default.fileExists(atPath: $0) }
    /// overlayfs is there, loaded or loadable: asking for an overlay fs context loads the module, as a
    /// mount would.
    public static var hasOverlay: Bool {
        Sys.probeOverlayLowerdirPlus() != nil
            || (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8))?.contains("overlay") ?? false
    }
}

extension Trait where Self == ConditionTrait {
    /// Needs root (mounts, device nodes, ownership, trusted xattrs).
    public static var requiresRoot: Self { .enabled(if: Host.isRoot, "needs root (CAP_SYS_ADMIN, CAP_MKNOD, CAP_CHOWN)") }
    /// Needs Debian's busybox-static at /bin/busybox.
    public static var requiresBusybox: Self { .enabled(if: Host.hasBusybox, "needs busybox-static (/bin/busybox)") }
    /// Needs overlayfs.
    public static var requiresOverlay: Self { .enabled(if: Host.hasOverlay && Host.isRoot, "needs root and overlayfs") }
}

/// A temporary directory removed when released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "swcompose-test") {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        // Unmount anything a failed test left mounted below, then remove the tree.
        if let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) {
            for line in mounts.split(separator: "\n").reversed() {
                let fields = line.split(separator: " ")
                if fields.count > 1, fields[1].hasPrefix(path) { umount2(String(fields[1]), Int32(MNT_DETACH)) }
            }
        }
        try? Sys.removeAll(path)
    }

    public func sub(_ name: String) -> String { path + "/" + name }
}

/// Builds archives for tests.
public enum TestArchives {
    public typealias Entry = (header: ArchiveWriter.Header, data: [UInt8])

    public static func file(_ path: String, _ text: String, mode: mode_t = 0o644, uid: uid_t = 0, gid: gid_t = 0) -> Entry {
        var h = ArchiveWriter.Header(path: path, kind: .file, mode: mode)
        h.uid = uid
        h.gid = gid
        h.mtime = 1_600_000_000
        return (h, Array(text.utf8))
    }

    public static func directory(_ path: String, mode: mode_t = 0o755) -> Entry {
        var h = ArchiveWriter.Header(path: path, kind: .directory, mode: mode)
        h.mtime = 1_600_000_000
        return (h, [])
    }

    public static func symlink(_ path: String, to target: String) -> Entry {
        var h = ArchiveWriter.Header(path: path, kind: .symlink, mode: 0o777)
        h.linkTarget = target
        return (h, [])
    }

    public static func hardlink(_ path: String, to target: String) -> Entry {
        var h = ArchiveWriter.Header(path: path, kind: .hardlink, mode: 0o644)
        h.linkTarget = target
        return (h, [])
    }

    /// Writes a tar (optionally compressed) and returns its path.
    @discardableResult
    public static func write(_ entries: [Entry], to path: String, compression: ArchiveWriter.Compression = .none) throws -> String {
        let w = try ArchiveWriter(path: path, compression: compression)
        for e in entries { try w.add(e.header, data: e.data) }
        try w.finish()
        return path
    }

    /// A root filesystem made of Debian's busybox-static: /bin/busybox with a symlink per applet,
    /// /etc/passwd and /etc/group (root, nobody, and an "app" user 1000 in groups app and extra).
    public static func busyboxRootfs(at path: String, compression: ArchiveWriter.Compression = .none, extra: [Entry] = []) throws -> String {
        let busybox = Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox")))
        var entries: [Entry] = []
        for d in ["bin", "etc", "tmp", "root", "home", "home/app", "var", "var/www", "proc", "sys", "dev", "run", "usr", "usr/bin"] {
            entries.append(directory(d, mode: d == "tmp" ? 0o1777 : 0o755))
        }
        entries.append(file("bin/busybox", "", mode: 0o755))
        entries[entries.count - 1].data = busybox
        let applets = try Process.output("/bin/busybox", ["--list"]).split(separator: "\n")
        for applet in applets where applet != "busybox" {
            entries.append(symlink("bin/\(applet)", to: "busybox"))
        }
        entries.append(file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
        entries.append(file("etc/group", "root:x:0:\napp:x:1000:\nextra:x:1500:app\nnogroup:x:65534:\n"))
        entries.append(contentsOf: extra)
        return try write(entries, to: path, compression: compression)
    }
}

extension Process {
    /// Runs a program and returns its standard output.
    public static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The built executables: `swcompose`, and `swcompose-runtime` beside it (the container helpers and
/// the supervisor run from it).
public enum Binaries {
    public static var runtime: String {
        let sibling = (swcompose as NSString).deletingLastPathComponent + "/" + Runtime.helperName
        return FileManager.default.isExecutableFile(atPath: sibling) ? sibling : swcompose
    }

    public static let swcompose: String = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("swcompose")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            directory = directory.deletingLastPathComponent()
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/"
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("swcompose").path
    }()
}

/// A state root with Debian's busybox imported as `busybox:latest` (and a few users), for kernel tests.
public final class BusyboxWorld: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let root: StateRoot
    public let store: ImageStore
    public let image: ImageRecord
    public let layerDirectories: [String]
    public var runtime: Runtime { Runtime(root: root, helper: Binaries.runtime) }

    public init(_ label: String = "world", extra: [TestArchives.Entry] = [], changes: [String] = ["ENV PATH=/bin:/usr/bin"]) throws {
        directory = TemporaryDirectory(label)
        root = StateRoot(path: directory.sub("state"))
        store = ImageStore(root: root)
        try store.prepare()
        let tar = try TestArchives.busyboxRootfs(at: directory.sub("rootfs.tar"), extra: extra)
        image = try store.importRootFilesystem(path: tar, reference: try ImageReference(parsing: "busybox"), changes: changes)
        layerDirectories = try store.layers(of: image).map(\.directory)
    }
}

/// Supervisors started by tests, and what a killed one leaves.
public enum Supervisors {
    /// Supervisor processes of a state root.
    public static func running(root: String) -> [Int32] {
        var pids: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let cmd = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline")) else { continue }
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if args.count >= 3, args[1] == "__supervise", args[2] == root { pids.append(pid) }
        }
        return pids
    }

    /// Alive and not a zombie (an exited process whose reaper has not come by yet).
    public static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].first
        return state != "Z" && state != "X"
    }

    /// A SIGKILLed supervisor's spare helper dies with it but leaves its (empty) cgroup: remove empty
    /// container-like cgroups that are more than a second old (younger ones may be starting right now).
    public static func removeStaleCgroups() {
        usleep(200_000)
        Cgroup.sweep(parent: "swcompose", keep: [], minimumAge: 1)
    }
}

/// A network namespace of the test's own (a bind of a child's `/proc/<pid>/ns/net` is not needed: the
/// descriptor keeps it alive), removed with the value.
public final class TestNetworkNamespace: @unchecked Sendable {
    public let fd: Int32

    public init() throws {
        // Create it in a short-lived child so the test process keeps its own namespace.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["--net", "--", "/bin/sleep", "5"]
        try p.run()
        var fd: Int32 = -1
        for _ in 0..<100 {
            usleep(10_000)
            if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p.processIdentifier)/ns/net"),
               link != (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) {
                fd = open("/proc/\(p.processIdentifier)/ns/net", O_RDONLY | O_CLOEXEC)
                break
            }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        guard fd >= 0 else { throw SystemError("open network namespace") }
        self.fd = fd
    }

    deinit { close(fd) }
}
