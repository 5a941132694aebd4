#if canImport(Glibc)
import Glibc
#endif

/// One OCI runtime hook (what CDI specs carry: `nvidia-cdi-hook update-ldcache`, a vendor's
/// `create-symlinks`): a program run with the container's state as JSON on its stdin.
public struct OCIHook: Codable, Sendable, Equatable {
    public var path: String
    /// argv, `args[0]` included (the path when empty).
    public var args: [String] = []
    /// The hook's whole environment (it inherits nothing).
    public var env: [String] = []
    /// Seconds before it is killed (nil: no limit).
    public var timeout: Int?

    public init(path: String, args: [String] = [], env: [String] = [], timeout: Int? = nil) {
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout
    }
}

/// The hooks of a container, by the OCI lifecycle point that runs them:
///
/// - `createRuntime` (and the older `prestart`): on the host, once the container's namespaces and
///   mounts exist, before pivot_root (the launcher runs them while the start helper waits);
/// - `createContainer`: in the container's namespaces, before pivot_root (the start helper);
/// - `startContainer`: in the container, after pivot_root, right before the process is exec'd;
/// - `poststart`: on the host once the process runs; `poststop`: on the host after it ended. A
///   failure of these two is a warning, as the OCI runtime spec says; of the others, a failed start.
public struct OCIHooks: Codable, Sendable, Equatable {
    public var createRuntime: [OCIHook] = []
    public var createContainer: [OCIHook] = []
    public var startContainer: [OCIHook] = []
    public var poststart: [OCIHook] = []
    public var poststop: [OCIHook] = []

    public init() {}

    public var isEmpty: Bool {
        createRuntime.isEmpty && createContainer.isEmpty && startContainer.isEmpty && poststart.isEmpty && poststop.isEmpty
    }
}

/// A hook that failed: which one and what it said.
public struct HookFailure: Error, CustomStringConvertible, Sendable {
    public var point: String
    public var index: Int
    public var message: String

    /// runc's wording: `error running createContainer hook #0: exit status 1, stdout: …, stderr: …`.
    public var description: String { "error running \(point) hook #\(index): \(message)" }
}

public enum HookRunner {
    /// The OCI state document a hook reads on its stdin.
    public static func state(id: String, status: String, pid: Int32, bundle: String, annotations: [String: String]) -> String {
        let annotationText = annotations.keys.sorted().map { "\(quoted($0)):\(quoted(annotations[$0]!))" }.joined(separator: ",")
        return "{\"ociVersion\":\"1.2.0\",\"id\":\(quoted(id)),\"status\":\(quoted(status)),\"pid\":\(pid),"
            + "\"bundle\":\(quoted(bundle)),\"annotations\":{\(annotationText)}}"
    }

    /// The bundle's `config.json` hooks read (nvidia-cdi-hook finds the container's root through it):
    /// the root filesystem, process and hostname as a runtime spec would give them.
    public static func bundleConfig(_ spec: ContainerSpec, root: String) -> String {
        let env = spec.process.env.map(quoted).joined(separator: ",")
        let args = spec.process.args.map(quoted).joined(separator: ",")
        let annotations = spec.annotations.keys.sorted().map { "\(quoted($0)):\(quoted(spec.annotations[$0]!))" }.joined(separator: ",")
        return "{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\(quoted(root)),\"readonly\":\(spec.readOnlyRootfs)},"
            + "\"process\":{\"terminal\":\(spec.process.tty),\"args\":[\(args)],\"env\":[\(env)],\"cwd\":\(quoted(spec.process.workingDir))},"
            + "\"hostname\":\(quoted(spec.hostname)),\"annotations\":{\(annotations)}}\n"
    }

    /// Runs each hook in turn; the first failure stops the rest.
    public static func runAll(_ hooks: [OCIHook], point: String, state: String) throws(HookFailure) {
        for (i, hook) in hooks.enumerated() {
            if let message = run(hook, state: state) { throw HookFailure(point: point, index: i, message: message) }
        }
    }

    /// Runs every hook whatever the others did; the failures, described.
    public static func runEach(_ hooks: [OCIHook], point: String, state: String) -> [HookFailure] {
        hooks.enumerated().compactMap { i, hook in run(hook, state: state).map { HookFailure(point: point, index: i, message: $0) } }
    }

    /// Runs one hook to its end (or its timeout); nil when it exited 0, else what went wrong.
    static func run(_ hook: OCIHook, state: String) -> String? {
        let input: (read: Int32, write: Int32), out: (read: Int32, write: Int32), err: (read: Int32, write: Int32)
        do {
            input = try Sys.pipe()
            out = try Sys.pipe()
            err = try Sys.pipe()
        } catch {
            return error.description
        }
        let argv = hook.args.isEmpty ? [hook.path] : hook.args
        let spawned: (pid: Int32, pidfd: Int32)
        do {
            spawned = try Sys.spawn(hook.path, argv, environment: hook.env, fds: [input.read, out.write, err.write])
        } catch {
            for fd in [input.read, input.write, out.read, out.write, err.read, err.write] { Sys.close(fd) }
            return error.description
        }
        Sys.close(input.read)
        Sys.close(out.write)
        Sys.close(err.write)
        // The state is small: the pipe takes it whole; a hook that never reads it does not block us.
        Array(state.utf8).withUnsafeBytes { _ = try? Sys.write(input.write, $0) }
        Sys.close(input.write)

        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var open: [Int32] = [out.read, err.read]
        let deadline = hook.timeout.map { MonotonicClock.now() + Double($0) }
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !open.isEmpty {
            var wait: Int32 = -1
            if let deadline {
                let left = deadline - MonotonicClock.now()
                if left <= 0 { timedOut = true; break }
                wait = Int32(min(left * 1000 + 1, 60_000))
            }
            let events = Sys.poll(open.map { ($0, Int16(POLLIN)) }, timeout: wait)
            var still: [Int32] = []
            for (fd, revents) in zip(open, events) {
                guard revents != 0 else { still.append(fd); continue }
                let n = (try? Sys.read(fd, into: &buffer)) ?? 0
                if n <= 0 { Sys.close(fd); continue }
                if fd == out.read { if stdout.count < 1 << 16 { stdout += buffer[..<n] } } else if stderr.count < 1 << 16 { stderr += buffer[..<n] }
                still.append(fd)
            }
            open = still
        }
        for fd in open { Sys.close(fd) }
        if timedOut { Sys.signal(pidfd: spawned.pidfd, SIGKILL) }
        let status = (try? Sys.wait(pidfd: spawned.pidfd)) ?? nil
        Sys.close(spawned.pidfd)
        if timedOut { return "\(hook.path): timed out after \(hook.timeout ?? 0) s" }
        guard let status else { return "\(hook.path): its exit status could not be read" }
        if status.code == 0 && status.signal == nil { return nil }
        let reason = status.signal.map { "signal: \(signalName($0))" } ?? "exit status \(status.code)"
        func text(_ b: [UInt8]) -> String {
            var s = String(decoding: b, as: UTF8.self)
            while s.last?.isNewline == true { s.removeLast() }
            return s
        }
        return "\(reason), stdout: \(text(stdout)), stderr: \(text(stderr))"
    }

    static func signalName(_ s: Int32) -> String {
        switch s {
        case SIGKILL: return "killed"
        case SIGTERM: return "terminated"
        case SIGSEGV: return "segmentation fault"
        case SIGABRT: return "aborted"
        default: return "signal \(s)"
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
