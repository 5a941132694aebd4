#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// What the launcher hands the container's start helper over the sync socket.
struct InitConfig: Codable {
    var spec: ContainerSpec
    /// Unpacked layer directories, bottom first.
    var layerDirectories: [String]
    /// The container's directory (upper, work, merged, hostname, hosts, resolv.conf).
    var containerDirectory: String
    /// The container shares the host's (or another container's) network namespace.
    var sharedNetwork: Bool
    /// A network namespace to join (`/proc/<pid>/ns/net` of another container).
    var networkNamespace: String?
    /// Mount points whose new, empty volume is filled from the image first (docker's copy-up).
    var copyUp: [String] = []
    /// cgroup v1 `tasks` files the helper moves itself into (it was born in the cgroup2 one).
    var joinCgroups: [String] = []
    /// The seccomp filter already compiled to BPF by the launcher (nil: the helper compiles it).
    var seccompProgram: [UInt8]?
    /// `$SWCOMPOSE_ROOT` (compiled seccomp programs are cached under it).
    var stateRoot: String?
    /// The terminal's size, when the caller attaches one.
    var terminalRows: UInt16 = 0
    var terminalColumns: UInt16 = 0
}

/// Messages on the sync socket (a SOCK_SEQPACKET pair: one message per packet).
///
///   launcher → helper: the `InitConfig`, then `go` once the cgroup is joined and the network is ready
///   helper → launcher: `T` with the pty master attached; `E` naming a failed step; `exec` right before
///   execve, after which the socket closing (it is close-on-exec) means the process was exec'd.
enum InitMessage {
    static let go: [UInt8] = Array("go".utf8)
    /// Sent right before execve: a closed socket after it means the exec succeeded.
    static let exec: [UInt8] = Array("exec".utf8)
    static let ttyPrefix: UInt8 = UInt8(ascii: "T")
    static let errorPrefix: UInt8 = UInt8(ascii: "E")

    /// An error report: `E<step>\t<message>`.
    static func error(step: String, message: String) -> [UInt8] {
        [errorPrefix] + Array(step.utf8) + [9] + Array(message.utf8)
    }

    static func parseError(_ bytes: [UInt8]) -> (step: String, message: String) {
        let body = bytes.dropFirst()
        if let tab = body.firstIndex(of: 9) {
            return (String(decoding: body[..<tab], as: UTF8.self), String(decoding: body[(tab + 1)...], as: UTF8.self))
        }
        return ("start", String(decoding: body, as: UTF8.self))
    }
}

/// A SOCK_SEQPACKET socket end.
struct PacketSocket {
    let fd: Int32

    static func pair() throws(SystemError) -> (PacketSocket, PacketSocket) {
        var fds: [Int32] = [0, 0]
        try Sys.check("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (PacketSocket(fd: fds[0]), PacketSocket(fd: fds[1]))
    }

    func send(_ bytes: [UInt8], fds: [Int32] = []) throws(SystemError) {
        let n = bytes.withUnsafeBytes { b in
            fds.withUnsafeBufferPointer { f in cl_send_fds(fd, b.baseAddress, b.count, f.baseAddress, Int32(f.count)) }
        }
        if n < 0 { throw SystemError("send") }
    }

    /// One packet (nil at end of stream) and the descriptors that came with it. The buffer is sized
    /// to the packet (a peek first), so small messages cost no large allocation.
    func receive(maximum: Int = 4 << 20) throws(SystemError) -> (bytes: [UInt8], fds: [Int32])? {
        let size = cl_next_packet_size(fd)
        if size < 0 { throw SystemError("receive") }
        var buffer = [UInt8](repeating: 0, count: max(1, min(size, maximum)))
        var fds = [Int32](repeating: -1, count: 4)
        var count: Int32 = 4
        let n = buffer.withUnsafeMutableBytes { b in
            fds.withUnsafeMutableBufferPointer { f in cl_recv_fds(fd, b.baseAddress, b.count, f.baseAddress, &count) }
        }
        if n < 0 { throw SystemError("receive") }
        if n == 0 && count == 0 { return nil }
        return (Array(buffer[0..<n]), Array(fds[0..<Int(count)]))
    }

    func close() { Sys.close(fd) }
}
