import Foundation
import Testing
import TestSupport
import Engine
import CLinux

/// A compose project in a scratch directory with its own state root holding a busybox image
/// (`swcompose/busybox:latest`, from Debian's busybox-static). Taken down (containers, volumes,
/// supervisors) when released, whatever the test did.
final class ProjectFixture: @unchecked Sendable {
    let dir: TemporaryDirectory
    let project: String
    var root: String { dir.sub("state") }
    var directory: String { dir.sub(project) }
    var environment: [String: String] { ["SWCOMPOSE_ROOT": root] }

    init(_ name: String = "proj", compose: String, files: [String: String] = [:]) throws {
        dir = TemporaryDirectory("cli-\(name)")
        project = "\(name)\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try compose.write(toFile: directory + "/compose.yaml", atomically: true, encoding: .utf8)
        for (path, text) in files {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        let store = ImageStore(root: StateRoot(path: root))
        try store.prepare()
        let tar = try TestArchives.busyboxRootfs(at: dir.sub("busybox.tar"), extra: [
            TestArchives.directory("srv"), TestArchives.directory("srv/www"),
            TestArchives.file("srv/www/index.html", "from the image\n"),
        ])
        _ = try store.importRootFilesystem(path: tar, reference: try ImageReference(parsing: "swcompose/busybox"),
                                           changes: ["ENV PATH=/bin:/usr/bin", "CMD [\"sh\"]"])
    }

    deinit {
        _ = try? run(["down", "-v", "-t", "0", "--remove-orphans"])
        // Anything a failed test left: kill the containers' cgroups and the project's supervisor.
        let store = ContainerStore(runtime: Runtime(root: StateRoot(path: root)))
        for r in store.list() {
            let cgroup = Runtime(root: StateRoot(path: root)).cgroup(of: r)
            cgroup.killAll()
            try? cgroup.destroy()
        }
        killSupervisors()
    }

    /// Stops this state root's supervisors the polite way (they remove their spare helpers), then
    /// kills what is left.
    func killSupervisors() {
        let pids = Supervisors.running(root: root)
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline && pids.contains(where: Supervisors.isRunning) { usleep(20_000) }
        for pid in pids { kill(pid, SIGKILL) }
        Supervisors.removeStaleCgroups()
    }

    @discardableResult
    func run(_ arguments: [String], stdin: String? = nil, extraEnvironment: [String: String] = [:]) throws -> Swcompose.Result {
        var env = environment
        if let trace = ProcessInfo.processInfo.environment["SWCOMPOSE_TRACE"] { env["SWCOMPOSE_TRACE"] = trace }
        for (k, v) in extraEnvironment { env[k] = v }
        return try Swcompose.run(["-p", project] + arguments, in: URL(fileURLWithPath: directory), environment: env, stdin: stdin)
    }

    var store: ContainerStore { ContainerStore(runtime: Runtime(root: StateRoot(path: root))) }

    func container(_ service: String, _ number: Int = 1) -> ContainerRecord? {
        store.list(labels: ["com.docker.compose.project": project, "com.docker.compose.service": service,
                            "com.docker.compose.container-number": String(number), "com.docker.compose.oneoff": "False"]).first
    }

    /// Polls until `condition` holds (or the time is up).
    func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}

extension ProjectFixture {
    /// Runs swcompose with a pseudo-terminal (40×100) as its standard streams, typing `input`.
    /// `steps`: once the output holds `after`, `type` is typed.
    func runInTerminal(_ arguments: [String], input: String = "", steps: [(after: String, type: String)] = []) throws -> (status: Int32, output: String) {
        var steps = steps[...]
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0, number: Int32 = 0
        guard master >= 0, cl_ioctl_int(master, CL_TIOCSPTLCK, &unlock) == 0, cl_ioctl_int(master, CL_TIOCGPTN, &number) == 0 else {
            throw SystemError("open /dev/ptmx")
        }
        _ = cl_set_winsize(master, 40, 100)
        let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
        let process = Process()
        process.executableURL = Swcompose.executable
        process.arguments = ["-p", project] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ["PATH": "/usr/bin:/bin", "HOME": "/root", "TERM": "xterm"]
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let handle = Foundation.FileHandle(fileDescriptor: slave, closeOnDealloc: true)
        process.standardInput = handle
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        if !input.isEmpty {
            usleep(500_000)
            _ = input.withCString { write(master, $0, strlen($0)) }
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) > 0 {
                let n = read(master, &buffer, buffer.count)
                if n > 0 { output += buffer[0..<n] } else { break }
                if let step = steps.first, String(decoding: output, as: UTF8.self).contains(step.after) {
                    steps = steps.dropFirst()
                    _ = step.type.withCString { write(master, $0, strlen($0)) }
                }
            } else if !process.isRunning {
                break
            }
        }
        process.waitUntilExit()
        close(master)
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

/// A swcompose command left running (`watch`, `up` attached, `logs -f`, `events`): its output goes to
/// files, read as it grows; `stop` sends SIGINT as Ctrl-C does and waits for it to end.
final class BackgroundCommand {
    let process = Process()
    let outPath: String, errPath: String

    init(_ fixture: ProjectFixture, _ arguments: [String]) throws {
        outPath = fixture.dir.sub("bg-\(UUID().uuidString).out")
        errPath = outPath.replacingOccurrences(of: ".out", with: ".err")
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = Swcompose.executable
        process.arguments = ["-p", fixture.project] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: fixture.directory)
        var env = ["PATH": "/usr/bin:/bin", "HOME": "/root"]
        for (k, v) in fixture.environment { env[k] = v }
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try process.run()
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Waits (up to `seconds`) for `text` in the standard output; false if it never came.
    func waitFor(_ text: String, _ seconds: Double = 20) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if stdout.contains(text) { return true }
            if !process.isRunning { return stdout.contains(text) }
            usleep(5_000)
        }
        return false
    }

    /// Ctrl-C, then its exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
        let end = Date().addingTimeInterval(20)
        while process.isRunning && Date() < end { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { stop() } }
}
