#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// What a read of a non-blocking descriptor got.
public enum ReadOutcome: Equatable {
    case data(Int)
    /// Nothing now (EAGAIN).
    case wouldBlock
    /// The end of the stream (or EIO: a terminal whose other side is gone).
    case end
}

/// Descriptors themselves: flags, duplicates, pipes, FIFOs, and passing them over unix sockets.
extension Sys {
    /// Reads what a (non-blocking) descriptor has, into `buffer`.
    public static func readAvailable(_ fd: Int32, into buffer: inout [UInt8]) -> ReadOutcome {
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 { return .data(n) }
            if n == 0 { return .end }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK ? .wouldBlock : .end
        }
    }

    /// Writes what a (non-blocking) socket takes now, never raising SIGPIPE: the count, 0 when it
    /// would block, nil when the peer is gone.
    public static func sendAvailable(_ fd: Int32, _ bytes: [UInt8]) -> Int? {
        while true {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n >= 0 { return n }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : nil
        }
    }

    /// What a `splice` moved.
    public enum SpliceOutcome: Equatable {
        case moved(Int)
        /// The end of the input.
        case end
        /// Nothing now: the input has nothing or the output takes nothing (EAGAIN).
        case wouldBlock
        /// The connection is gone (reset, or its reader closed).
        case failed
    }

    /// Moves up to `length` bytes between a socket and a pipe in the kernel (splice(2)), never
    /// blocking on the pipe (the socket blocks or not as it was opened) and never raising SIGPIPE
    /// in a process that ignores it.
    public static func splice(from: Int32, to: Int32, length: Int) -> SpliceOutcome {
        let n = cl_splice(from, to, UInt(length))
        if n > 0 { return .moved(n) }
        if n == 0 { return .end }
        return Int32(-n) == EAGAIN ? .wouldBlock : .failed
    }

    /// Sets a pipe's capacity (F_SETPIPE_SZ): the capacity it has afterwards.
    public static func setPipeCapacity(_ fd: Int32, _ bytes: Int) -> Int {
        let got = cl_set_pipe_size(fd, Int32(bytes))
        return got > 0 ? Int(got) : Int(fcntl(fd, 1032 /* F_GETPIPE_SZ */))
    }

    public static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    public static func setCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// Whether `fd` is open.
    public static func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) >= 0 }

    public static func duplicate(_ fd: Int32) throws(SystemError) -> Int32 {
        try check("dup") { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
    }

    /// A pipe, both ends close-on-exec (and non-blocking when asked).
    public static func pipe(nonBlocking: Bool = false) throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try check("pipe") { cl_pipe2(&fds, O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)) }
        return (fds[0], fds[1])
    }

    public static func makeFIFO(_ path: String, _ mode: mode_t) throws(SystemError) {
        try check("mkfifo", path) { mkfifo(path, mode) }
    }

    /// An anonymous file in memory (memfd), close-on-exec.
    public static func memoryFile(_ name: String) throws(SystemError) -> Int32 {
        try check("memfd_create", name) { cl_memfd_create(name, 1 /* MFD_CLOEXEC */) }
    }

    /// Sends bytes with descriptors attached (SCM_RIGHTS); the count sent.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, descriptors: [Int32]) throws(SystemError) -> Int {
        let n = descriptors.withUnsafeBufferPointer { f in cl_send_fds(fd, bytes.baseAddress, bytes.count, f.baseAddress, Int32(f.count)) }
        if n < 0 { throw SystemError("send") }
        return n
    }

    /// Receives bytes and up to `maximumDescriptors` descriptors (close-on-exec): the count read (0 at
    /// the end) and the descriptors that came.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, maximumDescriptors: Int = 8) throws(SystemError) -> (count: Int, descriptors: [Int32]) {
        var fds = [Int32](repeating: -1, count: maximumDescriptors)
        var count = Int32(maximumDescriptors)
        let n = fds.withUnsafeMutableBufferPointer { f in cl_recv_fds(fd, buffer.baseAddress, buffer.count, f.baseAddress, &count) }
        if n < 0 { throw SystemError("receive") }
        return (n, Array(fds[0..<Int(count)]))
    }

    /// The size of the next packet on a SOCK_SEQPACKET socket (blocking until one comes; 0 at its end).
    public static func nextPacketSize(_ fd: Int32) throws(SystemError) -> Int {
        let n = cl_next_packet_size(fd)
        if n < 0 { throw SystemError("receive") }
        return n
    }

    /// The process on the other end of a unix socket.
    public static func peerPid(_ fd: Int32) -> Int32? {
        let pid = cl_peer_pid(fd)
        return pid > 0 ? pid : nil
    }

    /// A connected pair of unix sockets of `type` (SOCK_SEQPACKET, SOCK_STREAM), close-on-exec.
    public static func socketPair(_ type: Int32) throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        try check("socketpair") { socketpair(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (fds[0], fds[1])
    }

    /// Copies what is readable from `from` to `to` (all of it when `drain`); false at end of input.
    @discardableResult
    public static func relay(from: Int32, to: Int32, buffer: inout [UInt8], drain: Bool) -> Bool {
        if drain { setNonBlocking(from) }
        repeat {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(from, $0.baseAddress, $0.count) }
            if n <= 0 { return n < 0 && (errno == EINTR || errno == EAGAIN) }
            buffer.withUnsafeBytes { try? Sys.write(to, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        } while drain
        return true
    }

    /// Waits until one of `fds` has any of `events` (POLLIN, POLLOUT) or `timeout` milliseconds pass
    /// (-1: forever); the events each got.
    public static func poll(_ fds: [(fd: Int32, events: Int16)], timeout: Int32) -> [Int16] {
        var p = fds.map { pollfd(fd: $0.fd, events: $0.events, revents: 0) }
        while Glibc.poll(&p, nfds_t(p.count), timeout) < 0 && errno == EINTR {}
        return p.map(\.revents)
    }
}

/// A SOCK_SEQPACKET socket end.
struct PacketSocket {
    let fd: Int32

    static func pair() throws(SystemError) -> (PacketSocket, PacketSocket) {
        let (a, b) = try Sys.socketPair(Int32(SOCK_SEQPACKET.rawValue))
        return (PacketSocket(fd: a), PacketSocket(fd: b))
    }

    func send(_ bytes: [UInt8], fds: [Int32] = []) throws(SystemError) {
        var failure: SystemError?
        bytes.withUnsafeBytes { b in
            do throws(SystemError) { _ = try Sys.send(fd, b, descriptors: fds) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// One packet (nil at end of stream) and the descriptors that came with it. The buffer is sized
    /// to the packet (a peek first), so small messages cost no large allocation.
    func receive(maximum: Int = 4 << 20) throws(SystemError) -> (bytes: [UInt8], fds: [Int32])? {
        let size = try Sys.nextPacketSize(fd)
        var buffer = [UInt8](repeating: 0, count: max(1, min(size, maximum)))
        var result: (count: Int, descriptors: [Int32]) = (0, [])
        var failure: SystemError?
        buffer.withUnsafeMutableBytes { b in
            do throws(SystemError) { result = try Sys.receive(fd, into: b, maximumDescriptors: 4) } catch { failure = error }
        }
        if let failure { throw failure }
        if result.count == 0 && result.descriptors.isEmpty { return nil }
        return (Array(buffer[0..<result.count]), result.descriptors)
    }

    func close() { Sys.close(fd) }
}
