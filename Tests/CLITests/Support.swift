import Foundation
import Testing
import Engine

/// Runs the built `swcompose` binary, as a user would.
enum Swcompose {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `swcompose` executable next to the test bundle in the build directory.
    static let executable: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("swcompose")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        let exe = try! FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("swcompose")
    }()

    static func run(_ arguments: [String], in directory: URL, environment: [String: String] = [:], stdin: String? = nil) throws -> Result {
        try execute(executable.path, arguments, in: directory, environment: environment, stdin: stdin)
    }

    /// Any program, run as `run` runs swcompose: in `directory`, with PATH, HOME and `environment`,
    /// both outputs captured.
    static func execute(_ program: String, _ arguments: [String], in directory: URL, environment: [String: String] = [:],
                        stdin: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": "/root"]
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// A scratch directory removed when the test ends.
final class Scratch {
    let url: URL

    init(name: String = "case") throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("swcompose-test-\(UUID().uuidString)")
        url = base.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }

    @discardableResult
    func write(_ path: String, _ text: String) throws -> URL {
        let file = url.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        return file
    }
}

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func names(_ group: String) -> [String] {
        let dir = root.appendingPathComponent(group)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }
}

/// A child process's own peak memory: spawned and reaped with wait4, whose rusage is that child's alone.
enum Measured {
    struct Result {
        var status: Int32
        /// Peak resident set size, in KiB.
        var maxRSS: Int
        var seconds: Double
    }

    static func run(_ arguments: [String], environment: [String: String], stdinPath: String = "/dev/null") throws -> Result {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([Swcompose.executable.path] + arguments).map { strdup($0) } + [nil]
        var env = ["PATH=/usr/bin:/bin", "HOME=/root"]
        for (k, v) in environment { env.append("\(k)=\(v)") }
        let envp = env.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let start = Date()
        guard posix_spawn(&pid, Swcompose.executable.path, &actions, nil, argv, envp) == 0 else { throw SystemError("posix_spawn") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        return Result(status: (status >> 8) & 0xff, maxRSS: usage.ru_maxrss, seconds: Date().timeIntervalSince(start))
    }
}
