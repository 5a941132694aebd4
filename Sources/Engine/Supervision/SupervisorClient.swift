#if canImport(Glibc)
import Glibc
#endif

public enum SupervisorError: Error, Sendable, CustomStringConvertible {
    case unavailable(String)
    case failed(String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .unavailable(let s): return "the supervisor could not be reached: \(s)"
        case .failed(let s): return s
        case .protocolError(let s): return "supervisor protocol: \(s)"
        }
    }
}

/// A supervisor started on a thread of its own while the command does other work first (`up` makes
/// networks and containers): its start-up — exec, adopting what runs — is then not waited for after
/// that work. The connection it holds keeps the supervisor from leaving, idle, before the first start.
public final class SupervisorStartup {
    final class Slot: @unchecked Sendable { var client: SupervisorClient? }
    let slot = Slot()
    var thread: BackgroundThread?

    /// Starts connecting (and the supervisor, when none runs); when no thread can be made, nothing is
    /// started here and the first request starts it as always.
    public init(runtime: Runtime, group: String) {
        let slot = self.slot
        thread = BackgroundThread(stackSize: 1 << 20) {
            slot.client = try? SupervisorClient.connect(runtime: runtime, group: group)
        }
    }

    /// Waits until the supervisor is up (or the attempt failed: the caller's own connect reports why).
    public func wait() {
        thread?.join()
        thread = nil
    }

    /// Waits, then lets the held connection go.
    public func finish() {
        wait()
        slot.client = nil
    }

    deinit { finish() }
}

/// A connection to a project's supervisor, which is started on first use.
public final class SupervisorClient {
    let fd: Int32
    var reader = FrameReader()
    public let root: StateRoot
    public let group: String
    /// The connection's descriptor (to poll for a reply).
    public var socket: Int32 { fd }

    init(fd: Int32, root: StateRoot, group: String) {
        self.fd = fd
        self.root = root
        self.group = group
    }

    deinit { Sys.close(fd) }

    /// Connects to the group's supervisor if one is running (nil otherwise: none is started).
    public static func connectIfRunning(runtime: Runtime, group: String) -> SupervisorClient? {
        let paths = SupervisorPaths(root: runtime.root, group: group)
        guard let fd = try? UnixSocket.connect(paths.socket) else { return nil }
        return SupervisorClient(fd: fd, root: runtime.root, group: group)
    }

    /// Connects to the group's supervisor, starting one when none is running.
    public static func connect(runtime: Runtime, group: String) throws(SupervisorError) -> SupervisorClient {
        let paths = SupervisorPaths(root: runtime.root, group: group)
        if let fd = try? UnixSocket.connect(paths.socket) { return SupervisorClient(fd: fd, root: runtime.root, group: group) }
        var lastError = ""
        for attempt in 0..<50 {
            do {
                try spawn(runtime: runtime, group: group)
            } catch {
                lastError = "\(error)"
            }
            do {
                return SupervisorClient(fd: try UnixSocket.connect(paths.socket), root: runtime.root, group: group)
            } catch {
                lastError = error.description
            }
            // Another command's supervisor may be starting (or an old one exiting): retry shortly.
            Sys.sleep(microseconds: UInt32(min(100_000, 2_000 * (attempt + 1))))
        }
        let log = (try? Files.readText(paths.log)).map { "\n" + $0.split(separator: "\n").suffix(5).joined(separator: "\n") } ?? ""
        throw .unavailable(lastError + log)
    }

    /// Starts `swcompose __supervise` in its own session (in a delegated systemd scope where systemd
    /// manages the cgroups: `CgroupPlacement`) and waits until it listens (or gives way to one
    /// already running).
    static func spawn(runtime: Runtime, group: String) throws {
        Trace.mark("cli: starting the supervisor of \(group)")
        let mode = CgroupPlacement.hostMode
        if try !spawn(runtime: runtime, group: group, mode: mode), mode != .cgroupfs {
            // systemd-run could not make the scope (no access to systemd): supervise without it.
            _ = try spawn(runtime: runtime, group: group, mode: .cgroupfs)
        }
    }

    /// True when the supervisor said it is ready (or gave way to another).
    static func spawn(runtime: Runtime, group: String, mode: CgroupPlacement.Mode) throws -> Bool {
        let paths = SupervisorPaths(root: runtime.root, group: group)
        try runtime.root.ensure(paths.directory)
        let ready = try Sys.pipe()
        defer { Sys.close(ready.read) }
        let null = try Sys.open("/dev/null", O_RDWR)
        defer { Sys.close(null) }
        let log = try Sys.open(paths.log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        defer { Sys.close(log) }
        let command = CgroupPlacement.supervisorCommand(mode, helper: runtime.helper, arguments: [HelperMode.supervise.rawValue, runtime.root.path, group],
                                                        group: group, nonce: UInt32.random(in: 0...UInt32.max))
        let pidfd: Int32
        do {
            pidfd = try Sys.spawn(command.path, command.argv,
                                  environment: Trace.environment + (getenv("SWCOMPOSE_DNS_UPSTREAMS").map { ["SWCOMPOSE_DNS_UPSTREAMS=" + String(cString: $0)] } ?? []),
                                  fds: [null, null, log, ready.write], newSession: true).pidfd
        } catch {
            Sys.close(ready.write)
            throw error
        }
        Sys.close(ready.write)
        var byte = [UInt8](repeating: 0, count: 16)
        let n = try Sys.read(ready.read, into: &byte)
        if n > 0 {
            // Reaped whenever it ends, without keeping a zombie around in long-lived callers.
            Sys.close(pidfd)
            return true
        }
        // It ended before saying ready: a supervisor that gave way exits 0; systemd-run fails otherwise.
        let status = try? Sys.wait(pidfd: pidfd)
        Sys.close(pidfd)
        return status?.code == 0 && status?.signal == nil || mode == .cgroupfs
    }

    /// Asks a running supervisor of the group to exit now (`SupervisorRequest.release`) and waits until
    /// it has. True when none runs any more.
    @discardableResult
    public static func release(runtime: Runtime, group: String) -> Bool {
        guard let c = connectIfRunning(runtime: runtime, group: group) else { return true }
        guard (try? c.send(.release)) != nil, let (reply, _) = try? c.receive(), reply == .ok else { return false }
        // The connection closes as the process exits.
        while (try? c.receive()) != nil {}
        return true
    }

    public func send(_ request: SupervisorRequest, fds: [Int32] = []) throws(SupervisorError) {
        do {
            try Frame.send(try Frame.encode(request), on: fd, fds: fds)
        } catch let error as SystemError {
            throw .unavailable(error.description)
        } catch {
            throw .protocolError("\(error)")
        }
    }

    public func receive() throws(SupervisorError) -> (SupervisorReply, [Int32]) {
        while true {
            if let frame = reader.next() {
                do {
                    return (try Wire.decode(SupervisorReply.self, from: frame.payload), frame.fds)
                } catch {
                    throw .protocolError("\(error)")
                }
            }
            do {
                guard try reader.fill(fd) else { throw SupervisorError.unavailable("the supervisor closed the connection") }
            } catch let error as SupervisorError {
                throw error
            } catch {
                throw .unavailable("\(error)")
            }
        }
    }

    public func request(_ request: SupervisorRequest, fds: [Int32] = []) throws(SupervisorError) -> (SupervisorReply, [Int32]) {
        try send(request, fds: fds)
        return try receive()
    }
}
