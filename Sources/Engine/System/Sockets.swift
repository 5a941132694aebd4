#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// An IPv4 or IPv6 socket address, kept as the kernel's bytes.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    var storage: [UInt8]

    init(storage: [UInt8]) { self.storage = storage }

    /// `0.0.0.0`, `127.0.0.1`, `::`, `::1`… and a port.
    public init?(ip: String, port: UInt16) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, ip, &v4) == 1 {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr = v4
            storage = withUnsafeBytes(of: &sa) { Array($0) }
        } else if inet_pton(AF_INET6, ip, &v6) == 1 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            sa.sin6_addr = v6
            storage = withUnsafeBytes(of: &sa) { Array($0) }
        } else {
            return nil
        }
    }

    var family: Int32 { Int32(storage.withUnsafeBytes { $0.load(as: sa_family_t.self) }) }
    public var isIPv6: Bool { family == AF_INET6 }

    public var port: UInt16 {
        storage.withUnsafeBytes { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    public var ip: String {
        var buffer = [CChar](repeating: 0, count: 64)
        storage.withUnsafeBytes { raw in
            _ = inet_ntop(family, raw.baseAddress! + (isIPv6 ? 8 : 4), &buffer, socklen_t(buffer.count))
        }
        return String(cString: buffer)
    }

    public var ipv4: IPv4Address? { isIPv6 ? nil : IPv4Address(ip) }

    public var description: String { isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }

    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        storage.withUnsafeBytes { raw in body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)) }
    }
}

/// Non-blocking sockets for the supervisor's resolver and port proxies.
enum Sockets {
    static let stream = Int32(SOCK_STREAM.rawValue), datagram = Int32(SOCK_DGRAM.rawValue)

    static func make(_ family: Int32, _ type: Int32) throws(SystemError) -> Int32 {
        let fd = socket(family, type | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        if fd < 0 { throw SystemError("socket") }
        return fd
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32 = 1) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A bound UDP socket (SO_REUSEADDR and, for the resolvers every supervisor may run, SO_REUSEPORT).
    static func udp(_ address: SocketAddress, reusePort: Bool = false) throws(SystemError) -> Int32 {
        let fd = try make(address.family, Int32(SOCK_DGRAM.rawValue))
        setOption(fd, SOL_SOCKET, SO_REUSEADDR)
        if reusePort { setOption(fd, SOL_SOCKET, SO_REUSEPORT) }
        if address.isIPv6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY) }
        try bindOrClose(fd, address)
        return fd
    }

    /// A bound UDP socket in another network namespace (`netns` is a descriptor of it). `freeBind`
    /// binds an address the namespace does not have up yet (its loopback comes up when it starts).
    static func udp(inNamespace netns: Int32, _ address: SocketAddress, freeBind: Bool = false) throws(SystemError) -> Int32 {
        let fd = cl_socket_in_netns(netns, address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        if fd < 0 { throw SystemError("socket in namespace") }
        setOption(fd, SOL_SOCKET, SO_REUSEADDR)
        if freeBind { setOption(fd, Int32(IPPROTO_IP), IP_FREEBIND) }
        try bindOrClose(fd, address)
        return fd
    }

    static func tcpListener(_ address: SocketAddress) throws(SystemError) -> Int32 {
        let fd = try make(address.family, Int32(SOCK_STREAM.rawValue))
        setOption(fd, SOL_SOCKET, SO_REUSEADDR)
        if address.isIPv6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY) }
        try bindOrClose(fd, address, listenBacklog: 256)
        return fd
    }

    /// Binds `fd` (and listens, given a backlog); on failure closes it and throws what bind said.
    private static func bindOrClose(_ fd: Int32, _ address: SocketAddress, listenBacklog: Int32? = nil) throws(SystemError) {
        let r = address.withSockaddr { bind(fd, $0, $1) }
        if r != 0 || (listenBacklog.map { listen(fd, $0) != 0 } ?? false) {
            let e = SystemError("bind", address.description)
            Sys.close(fd)
            throw e
        }
    }

    /// The address a socket is bound to (for ephemeral ports).
    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = [UInt8](repeating: 0, count: 128)
        var length = socklen_t(storage.count)
        let r = storage.withUnsafeMutableBytes { getsockname(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length) }
        return r == 0 ? SocketAddress(storage: Array(storage[0..<Int(length)])) : nil
    }

    static func connect(_ address: SocketAddress, type: Int32 = Int32(SOCK_STREAM.rawValue)) throws(SystemError) -> Int32 {
        let fd = try make(address.family, type)
        let r = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if r != 0 && errno != EINPROGRESS {
            let e = SystemError("connect", address.description)
            Sys.close(fd)
            throw e
        }
        return fd
    }

    /// A non-blocking unix socket connected to `path` (a datagram one, or a stream one).
    static func connectUnix(_ path: String, datagram: Bool) throws(SystemError) -> Int32 {
        let fd = try make(AF_UNIX, datagram ? self.datagram : stream)
        let r = try UnixSocket.withAddress(path) { Glibc.connect(fd, $0, $1) }
        if r != 0 && errno != EINPROGRESS {
            let e = SystemError("connect", path)
            Sys.close(fd)
            throw e
        }
        return fd
    }

    /// `host:port`, `[v6]:port` or an address without a port (`defaultPort`), the host a name looked
    /// up with the system's resolver when it is not an address.
    static func resolve(_ text: String, defaultPort: UInt16 = 514) -> SocketAddress? {
        var host = text, port = defaultPort
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            if let p = UInt16(text[close...].dropFirst(2)) { port = p }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = UInt16(text[text.index(after: colon)...]) else { return nil }
            port = p
        }
        if let address = SocketAddress(ip: host, port: port) { return address }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var storage = [UInt8](repeating: 0, count: Int(first.pointee.ai_addrlen))
        storage.withUnsafeMutableBytes { dst in _ = memcpy(dst.baseAddress!, first.pointee.ai_addr, Int(first.pointee.ai_addrlen)) }
        let resolved = SocketAddress(storage: storage)
        return SocketAddress(ip: resolved.ip, port: port)
    }

    static func receive(_ fd: Int32, maximum: Int = 65536) -> ([UInt8], SocketAddress)? {
        var buffer = [UInt8](repeating: 0, count: maximum)
        var storage = [UInt8](repeating: 0, count: 128)
        var length = socklen_t(storage.count)
        let n = buffer.withUnsafeMutableBytes { b in
            storage.withUnsafeMutableBytes { s in
                recvfrom(fd, b.baseAddress, b.count, 0, s.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }
        guard n >= 0 else { return nil }
        return (Array(buffer[0..<n]), SocketAddress(storage: Array(storage[0..<Int(length)])))
    }

    static func send(_ fd: Int32, _ bytes: [UInt8], to address: SocketAddress) {
        _ = bytes.withUnsafeBytes { b in address.withSockaddr { sendto(fd, b.baseAddress, b.count, Int32(MSG_NOSIGNAL), $0, $1) } }
    }

    /// The socket error pending on `fd` (0 when a non-blocking connect succeeded).
    static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }
}

/// Who holds a TCP or UDP port on this host (for "port is already allocated" messages), from
/// /proc/net/{tcp,udp}{,6} and the processes' descriptors.
public enum PortHolder {
    public static func describe(port: UInt16, udp: Bool) -> String? {
        var inodes: Set<String> = []
        for file in udp ? ["udp", "udp6"] : ["tcp", "tcp6"] {
            for line in ((try? Files.readText("/proc/net/" + file)) ?? "").split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ")
                guard f.count > 9, let colon = f[1].lastIndex(of: ":"), UInt16(f[1][f[1].index(after: colon)...], radix: 16) == port else { continue }
                // Listening TCP sockets (state 0A) or any UDP socket.
                if !udp && f[3] != "0A" { continue }
                inodes.insert(String(f[9]))
            }
        }
        guard !inodes.isEmpty else { return nil }
        for entry in (try? Sys.list("/proc")) ?? [] {
            guard let pid = Int32(entry), let fds = try? Sys.list("/proc/\(entry)/fd") else { continue }
            for fd in fds {
                guard let target = try? Sys.readlink("/proc/\(entry)/fd/\(fd)"), target.hasPrefix("socket:[") else { continue }
                if inodes.contains(String(target.dropFirst(8).dropLast())) {
                    let comm = ((try? Files.readText("/proc/\(entry)/comm")) ?? "?").trimmingWhitespace()
                    return "\(comm) (pid \(pid))"
                }
            }
        }
        return "another process"
    }
}

/// Whether a host port can be bound right now (a probe before starting anything).
public enum PortProbe {
    /// nil when free; else who holds it.
    public static func inUse(hostIP: String, port: UInt16, udp: Bool) -> String? {
        let ips = hostIP.isEmpty ? ["0.0.0.0"] : [hostIP]
        for ip in ips {
            guard let address = SocketAddress(ip: ip, port: port) else { continue }
            do {
                let fd = udp ? try Sockets.udp(address) : try Sockets.tcpListener(address)
                Sys.close(fd)
            } catch where error.code == EADDRINUSE {
                return PortHolder.describe(port: port, udp: udp) ?? "another process"
            } catch {
                continue
            }
        }
        return nil
    }
}
