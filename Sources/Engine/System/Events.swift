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

    /// Like `wait`, also returning when `other` is readable: true then.
    public func wait(_ seconds: Double, orReadable other: Int32) -> Bool {
        var p = [pollfd(fd: other, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        _ = poll(&p, fd >= 0 ? 2 : 1, Int32(seconds * 1000))
        var buffer = [UInt8](repeating: 0, count: 4096)
        if fd >= 0 { while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {} }
        return p[0].revents != 0
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

/// A tree of files watched for changes: inotify on every directory in it, directories made later
/// added as they appear. `watch`'s view of a project's sources: what it reports are the paths that
/// were created, written, changed or removed (a new directory as itself; what it holds comes with it).
public final class TreeWatch {
    public let fd: Int32
    var directories: [Int32: String] = [:]
    /// Directories not to descend into (their own changes are still seen by their parent).
    let skip: (String) -> Bool
    static let mask = UInt32(IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
                              | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW)

    public init(skip: @escaping (String) -> Bool = { _ in false }) throws(SystemError) {
        fd = try Sys.check("inotify_init1") { inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK)) }
        self.skip = skip
    }

    deinit { Sys.close(fd) }

    /// Watches the directory tree at `path` (or, for a file, the directory holding it).
    public func add(_ path: String) throws(SystemError) {
        if try Sys.fileStatus(path, follow: true).st_mode & S_IFMT != S_IFDIR {
            let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            try watchDirectory(parent.isEmpty ? "/" : parent, recursive: false)
            return
        }
        try watchDirectory(path, recursive: true)
    }

    /// Directories below the ones added that could not be watched (the first failure kept, as
    /// the usual one is the same for all: the kernel's `fs.inotify.max_user_watches` reached).
    public private(set) var unwatched: (count: Int, first: SystemError?) = (0, nil)

    func watchDirectory(_ path: String, recursive: Bool) throws(SystemError) {
        let wd = try Sys.check("inotify_add_watch", path) { inotify_add_watch(fd, path, Self.mask) }
        directories[wd] = path
        guard recursive else { return }
        for name in (try? Sys.list(path)) ?? [] {
            let child = path + "/" + name
            if let st = try? Sys.fileStatus(child), st.st_mode & S_IFMT == S_IFDIR, !skip(child) {
                do { try watchDirectory(child, recursive: true) } catch {
                    unwatched = (unwatched.count + 1, unwatched.first ?? error)
                }
            }
        }
    }

    /// The changes the kernel has queued, waiting up to `timeout` seconds for the first (nil: for
    /// ever); empty after the timeout or a signal. `overflow`: the kernel dropped events, so anything
    /// may have changed.
    public func next(timeout: Double?) -> (paths: [String], overflow: Bool) {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeout.map { Int32(($0 * 1000).rounded(.up)) } ?? -1) > 0 else { return ([], false) }
        var paths: [String] = []
        var overflow = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            var offset = 0
            while offset + 16 <= n {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw in
                    (raw.loadUnaligned(fromByteOffset: offset, as: Int32.self), raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                     Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
                }
                let name = String(decoding: buffer[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
                offset += 16 + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { overflow = true; continue }
                guard let directory = directories[wd] else { continue }
                if mask & UInt32(IN_IGNORED) != 0 { directories[wd] = nil; continue }
                if name.isEmpty { continue }  // the directory itself moved or went: its parent says so
                let path = directory + "/" + name
                paths.append(path)
                if mask & UInt32(IN_ISDIR) != 0 && mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 && !skip(path) {
                    do { try watchDirectory(path, recursive: true) } catch { unwatched = (unwatched.count + 1, unwatched.first ?? error) }
                }
            }
        }
        return (paths, overflow)
    }
}
