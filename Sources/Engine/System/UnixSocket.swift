#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Unix stream sockets by path, including paths longer than `sun_path` holds (reached through
/// `/proc/self/fd/<dir>/<name>`).
enum UnixSocket {
    static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) throws(SystemError) -> T {
        var target = path
        var dirfd: Int32 = -1
        if path.utf8.count >= 100 {
            let slash = path.lastIndex(of: "/")!
            dirfd = try Sys.open(String(path[..<slash]), O_RDONLY | O_DIRECTORY)
            target = "/proc/self/fd/\(dirfd)/" + path[path.index(after: slash)...]
        }
        defer { if dirfd >= 0 { Sys.close(dirfd) } }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(target.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw SystemError("socket address", path, code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    static func listen(_ path: String) throws(SystemError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        _ = unlink(path)
        let r = try withAddress(path) { bind(fd, $0, $1) }
        guard r == 0 else {
            let e = SystemError("bind", path)
            Sys.close(fd)
            throw e
        }
        _ = chmod(path, 0o600)
        guard Glibc.listen(fd, 128) == 0 else {
            let e = SystemError("listen", path)
            Sys.close(fd)
            throw e
        }
        return fd
    }

    static func connect(_ path: String) throws(SystemError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        while true {
            let r = try withAddress(path) { Glibc.connect(fd, $0, $1) }
            if r == 0 { return fd }
            if errno == EINTR { continue }
            let e = SystemError("connect", path)
            Sys.close(fd)
            throw e
        }
    }
}
