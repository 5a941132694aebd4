#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// An epoll instance: descriptors watched for readiness, waited on together.
public final class Epoll {
    public let fd: Int32

    public static let readable: UInt32 = UInt32(CL_EPOLLIN), writable: UInt32 = UInt32(CL_EPOLLOUT), hangUp: UInt32 = UInt32(CL_EPOLLHUP)

    public init() throws(SystemError) {
        fd = try Sys.check("epoll_create1") { cl_epoll_create() }
    }

    deinit { Sys.close(fd) }

    public func add(_ watched: Int32, events: UInt32 = Epoll.readable) {
        _ = cl_epoll_ctl(fd, CL_EPOLL_CTL_ADD, watched, events)
    }

    public func modify(_ watched: Int32, events: UInt32) {
        _ = cl_epoll_ctl(fd, 3 /* EPOLL_CTL_MOD */, watched, events)
    }

    public func remove(_ watched: Int32) {
        _ = cl_epoll_ctl(fd, CL_EPOLL_CTL_DEL, watched, 0)
    }

    /// Up to 64 ready descriptors and their events, waiting at most `timeout` milliseconds (-1:
    /// forever); empty after a signal interrupted the wait.
    public func wait(timeout: Int32) throws(SystemError) -> [(fd: Int32, events: UInt32)] {
        var fds = [Int32](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        let n = cl_epoll_wait(fd, &fds, &events, 64, timeout)
        if n < 0 {
            if errno == EINTR { return [] }
            throw SystemError("epoll_wait")
        }
        return (0..<Int(n)).map { (fds[$0], events[$0]) }
    }
}

extension Sys {
    /// A connection waiting on a listening socket (close-on-exec, non-blocking), or nil.
    public static func accept(_ fd: Int32) -> Int32? {
        let client = cl_accept(fd)
        return client >= 0 ? client : nil
    }
}

/// Wakes when a file in a directory is replaced or written (inotify), so that a reader of state the
/// supervisor persists (by rename) need not poll. Without inotify, `wait` just sleeps.
public final class DirectoryWatch {
    let fd: Int32

    public init(_ directory: String) {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        if fd >= 0 && inotify_add_watch(fd, directory, UInt32(IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF)) < 0 {
            Glibc.close(fd)
            self.fd = -1
        } else {
            self.fd = fd
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Returns when something changed in the directory or `seconds` passed.
    public func wait(_ seconds: Double) {
        guard fd >= 0 else {
            usleep(useconds_t(seconds * 1e6))
            return
        }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&p, 1, Int32(seconds * 1000))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
