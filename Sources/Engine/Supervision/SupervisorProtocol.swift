#if canImport(Glibc)
import Glibc
#endif
import CLinux

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
        var got = [Int32](repeating: -1, count: 8)
        var count: Int32 = 8
        let n = chunk.withUnsafeMutableBytes { b in
            got.withUnsafeMutableBufferPointer { f in cl_recv_fds(fd, b.baseAddress, b.count, f.baseAddress, &count) }
        }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { return true }
            throw SystemError("receive")
        }
        fds += got[0..<Int(count)]
        if n == 0 { return false }
        buffer += chunk[0..<n]
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
            let n = bytes.withUnsafeBytes { b in
                attach.withUnsafeBufferPointer { f in
                    cl_send_fds(fd, b.baseAddress! + offset, b.count - offset, f.baseAddress, Int32(f.count))
                }
            }
            if n < 0 {
                if errno == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 1000)
                    continue
                }
                throw SystemError("send")
            }
            offset += n
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

/// The supervisor group of a container: its compose project, or `default`.
public func supervisorGroup(of spec: ContainerSpec) -> String {
    let project = spec.labels["com.docker.compose.project"] ?? ""
    return project.isEmpty ? "default" : project
}
