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

/// Wakes when a file in a watched directory is replaced, created or written (inotify), so that a
/// reader of state the supervisor persists (by rename), or of a log it appends to, need not poll.
/// Without inotify, `wait` just sleeps.
public final class DirectoryWatch {
    let fd: Int32
    var watched: Set<String> = []

    /// Watches nothing yet; `add` directories to it.
    public init() {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
    }

    public convenience init(_ directory: String) {
        self.init()
        add(directory)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Also wakes for changes in `directory`: entries renamed or created into it, files in it written
    /// (`IN_MODIFY` for appends), or the directory removed. A directory that cannot be watched is
    /// left to `wait`'s timeout.
    public func add(_ directory: String) {
        guard fd >= 0, !watched.contains(directory) else { return }
        let events = IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE_SELF
        if inotify_add_watch(fd, directory, UInt32(events)) >= 0 { watched.insert(directory) }
    }

    /// Returns when something changed in a watched directory or `seconds` passed (or a signal
    /// arrived, as Ctrl-C does).
    public func wait(_ seconds: Double) {
        guard fd >= 0, !watched.isEmpty else {
            usleep(useconds_t(seconds * 1e6))
            return
        }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&p, 1, Int32(seconds * 1000))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}
