#if canImport(Glibc)
import Glibc
#endif

/// Requests a command sends to its project's supervisor.
public enum SupervisorRequest: Codable, Sendable {
    /// Start a created or exited container. With `attach`, the request carries the caller's standard
    /// input, output and error (non-tty), or the reply carries the pty master (tty), sized `rows` ×
    /// `columns` before the process runs.
    case start(id: String, attach: Bool, rows: UInt16 = 0, columns: UInt16 = 0)
    /// Stop: `signal` (default: the container's stop signal) then SIGKILL after `timeout` nanoseconds
    /// (default: its stop_grace_period). Replied to when the container has exited.
    case stop(id: String, signal: Int32?, timeout: Int64?)
    case kill(id: String, signal: Int32)
    /// Replied to when the container exits (at once if it is not running).
    case wait(id: String)
    case pause(id: String)
    case unpause(id: String)
    /// The ids of the containers being watched.
    case list
    /// The pty master of a running tty container (`attach`): the caller writes its input and sets
    /// its size; its output keeps going to the log, which the caller follows.
    case terminal(id: String)
    /// The project is being taken down: exit now, without lingering, unless a container is still
    /// watched (then the reply lists them and the supervisor goes when idle, as always). After `.ok` the connection ends when the supervisor has
    /// exited, its spare start helper and that helper's cgroup gone.
    case release
}

public enum SupervisorReply: Codable, Sendable, Equatable {
    case started(pid: Int32)
    case exited(code: Int32, oomKilled: Bool)
    case ok
    case failed(message: String)
    case containers(ids: [String])
}

/// Length-prefixed Wire frames on a unix stream socket, descriptors riding along with a frame.
struct FrameReader {
    var buffer: [UInt8] = []
    var fds: [Int32] = []

    /// Reads what is available; false at end of stream.
    mutating func fill(_ fd: Int32) throws(SystemError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var got: (count: Int, descriptors: [Int32]) = (0, [])
        var failure: SystemError?
        chunk.withUnsafeMutableBytes { b in
            do throws(SystemError) { got = try Sys.receive(fd, into: b) } catch { failure = error }
        }
        if let failure {
            if failure.code == EAGAIN || failure.code == EWOULDBLOCK { return true }
            throw failure
        }
        fds += got.descriptors
        if got.count == 0 { return false }
        buffer += chunk[0..<got.count]
        return true
    }

    /// The next complete frame, with the descriptors received so far.
    mutating func next() -> (payload: [UInt8], fds: [Int32])? {
        guard buffer.count >= 4 else { return nil }
        let length = Int(buffer[0]) | Int(buffer[1]) << 8 | Int(buffer[2]) << 16 | Int(buffer[3]) << 24
        guard buffer.count >= 4 + length else { return nil }
        let payload = Array(buffer[4..<(4 + length)])
        buffer.removeFirst(4 + length)
        let taken = fds
        fds = []
        return (payload, taken)
    }
}

enum Frame {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let payload = try Wire.encode(value)
        let n = payload.count
        return [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24 & 0xff)] + payload
    }

    /// Sends a whole frame (blocking), descriptors attached to its first byte.
    static func send(_ bytes: [UInt8], on fd: Int32, fds: [Int32] = []) throws(SystemError) {
        var offset = 0
        var attach = fds
        while offset < bytes.count {
            var sent = 0
            var failure: SystemError?
            bytes.withUnsafeBytes { b in
                do throws(SystemError) {
                    sent = try Sys.send(fd, UnsafeRawBufferPointer(rebasing: b[offset...]), descriptors: attach)
                } catch { failure = error }
            }
            if let failure {
                if failure.code == EAGAIN {
                    _ = Sys.poll([(fd, Int16(POLLOUT))], timeout: 1000)
                    continue
                }
                throw failure
            }
            offset += sent
            attach = []
        }
    }
}

/// Where a project's supervisor lives: `projects/<group>/`.
public struct SupervisorPaths: Sendable {
    public let directory: String

    public init(root: StateRoot, group: String) {
        directory = root.projects + "/" + group
    }

    public var socket: String { directory + "/supervisor.sock" }
    public var lock: String { directory + "/supervisor.lock" }
    public var log: String { directory + "/supervisor.log" }
}

/// The supervisor group of a container: the one its spec names, or `default`.
public func supervisorGroup(of spec: ContainerSpec) -> String {
    spec.group.isEmpty ? "default" : spec.group
}
