#if canImport(Glibc)
import Glibc
#endif

/// Where a container's output goes besides its local json log (which `logs` and `attach` read, as
/// docker's dual logging keeps a local copy): a syslog daemon or the systemd journal, in the forms
/// dockerd's `syslog` and `journald` drivers send.
public struct LogForward: Codable, Sendable, Equatable {
    public enum Driver: String, Codable, Sendable { case syslog, journald }

    public var driver: Driver
    /// syslog: `udp`, `tcp`, `unix` or `unixgram`, with `address` a `host:port` or a socket path; an
    /// empty transport is the host's own syslog socket (/dev/log, datagram then stream).
    public var transport: String = ""
    public var address: String = ""
    /// The tag (`tag`, its template already filled in with the container's facts).
    public var tag: String
    /// syslog: the facility's number (daemon: 3).
    public var facility: Int = 3
    /// syslog: `""` (the Unix form), `rfc3164`, `rfc5424`, `rfc5424micro`.
    public var format: String = ""
    /// journald: the fields every entry carries (CONTAINER_ID, CONTAINER_NAME, IMAGE_NAME, … and the
    /// `labels`/`env` attributes), besides MESSAGE, PRIORITY and SYSLOG_IDENTIFIER.
    public var fields: [String: String] = [:]

    public init(driver: Driver, tag: String) {
        self.driver = driver
        self.tag = tag
    }

    /// The systemd journal's native socket.
    public static let journalSocket = "/run/systemd/journal/socket"

    /// One syslog message, as srslog (behind dockerd's driver) formats it, with the newline it adds.
    /// stdout is `info`, stderr `err`; `pid` is the sender's (dockerd's there, the supervisor's here).
    public static func syslogMessage(_ text: String, stderr: Bool, facility: Int, format: String, tag: String,
                                     hostname: String, pid: Int32, time: timespec) -> String {
        let priority = facility * 8 + (stderr ? 3 : 6)
        switch format {
        case "rfc3164":
            return "<\(priority)>\(stamp(time)) \(hostname) \(tag)[\(pid)]: \(text)\n"
        case "rfc5424", "rfc5424micro":
            return "<\(priority)>1 \(rfc3339Local(time, micro: format == "rfc5424micro")) \(hostname) \(tag) \(pid) \(tag) - \(text)\n"
        default:
            return "<\(priority)>\(stamp(time)) \(tag)[\(pid)]: \(text)\n"
        }
    }

    /// Go's `time.Stamp` in local time: `Jan _2 15:04:05`.
    static func stamp(_ ts: timespec) -> String {
        var t = ts.tv_sec
        var parts = tm()
        localtime_r(&t, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let day = parts.tm_mday < 10 ? " \(parts.tm_mday)" : "\(parts.tm_mday)"
        return "\(months[Int(parts.tm_mon)]) \(day) \(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))"
    }

    /// RFC 3339 in local time with its offset (`2006-01-02T15:04:05+01:00`; micro: `.999999`).
    static func rfc3339Local(_ ts: timespec, micro: Bool) -> String {
        var t = ts.tv_sec
        var parts = tm()
        localtime_r(&t, &parts)
        var s = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))"
        if micro {
            var frac = String(ts.tv_nsec / 1000)
            frac = String(repeating: "0", count: 6 - frac.count) + frac
            while frac.hasSuffix("0") { frac.removeLast() }
            if !frac.isEmpty { s += "." + frac }
        }
        let offset = parts.tm_gmtoff
        if offset == 0 { return s + "Z" }
        let sign = offset < 0 ? "-" : "+"
        return s + "\(sign)\(pad(Int32(abs(offset) / 3600))):\(pad(Int32(abs(offset) % 3600 / 60)))"
    }

    static func pad(_ v: Int32, _ width: Int = 2) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// One journal entry in the native protocol: `KEY=value` lines, and the binary form (the key, a
    /// newline, the value's length as 64-bit little-endian, the value, a newline) for values that hold
    /// a newline.
    public static func journalEntry(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (key, value) in fields {
            let bytes = Array(value.utf8)
            if bytes.contains(0x0a) {
                out += Array(key.utf8) + [0x0a]
                var n = UInt64(bytes.count).littleEndian
                withUnsafeBytes(of: &n) { out += $0 }
                out += bytes + [0x0a]
            } else {
                out += Array("\(key)=".utf8) + bytes + [0x0a]
            }
        }
        return out
    }
}

/// Sends a container's lines where its `LogForward` says, from the supervisor's loop: datagrams are
/// sent without blocking, a stream connection is made when first needed and again after it broke (at
/// most once a second); what cannot be sent at once is dropped, as a full syslog socket drops it.
final class LogForwarder {
    let forward: LogForward
    var fd: Int32 = -1
    var lastAttempt = 0.0
    static let hostname = Sys.hostname

    init(_ forward: LogForward) {
        self.forward = forward
    }

    deinit { if fd >= 0 { Sys.close(fd) } }

    func send(_ line: [UInt8], stream: LogEntry.Stream) {
        var text = String(decoding: line, as: UTF8.self)
        while text.last?.isNewline == true { text.removeLast() }
        let bytes: [UInt8]
        switch forward.driver {
        case .syslog:
            bytes = Array(LogForward.syslogMessage(text, stderr: stream == .stderr, facility: forward.facility, format: forward.format,
                                                   tag: forward.tag, hostname: Self.hostname, pid: Sys.pid, time: Timestamp.now()).utf8)
        case .journald:
            var fields: [(String, String)] = [("MESSAGE", text), ("PRIORITY", stream == .stderr ? "3" : "6"),
                                              ("SYSLOG_IDENTIFIER", forward.tag)]
            fields += forward.fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            bytes = LogForward.journalEntry(fields)
        }
        guard connect() else { return }
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) }
        if sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK {
            Sys.close(fd)
            fd = -1
        }
    }

    /// The connection, made now if there is none (and the last try is a second old).
    func connect() -> Bool {
        if fd >= 0 { return true }
        let now = MonotonicClock.now()
        guard now - lastAttempt >= 1 || lastAttempt == 0 else { return false }
        lastAttempt = now
        switch forward.driver {
        case .journald:
            fd = (try? Sockets.connectUnix(LogForward.journalSocket, datagram: true)) ?? -1
        case .syslog:
            switch forward.transport {
            case "udp", "tcp":
                guard let address = Sockets.resolve(forward.address) else { return false }
                let type = forward.transport == "udp" ? Sockets.datagram : Sockets.stream
                fd = (try? Sockets.connect(address, type: type)) ?? -1
            case "unix", "unixgram":
                fd = (try? Sockets.connectUnix(forward.address, datagram: forward.transport == "unixgram")) ?? -1
            default:
                for path in ["/dev/log", "/var/run/syslog", "/var/run/log"] {
                    for datagram in [true, false] {
                        if let s = try? Sockets.connectUnix(path, datagram: datagram) { fd = s; break }
                    }
                    if fd >= 0 { break }
                }
            }
        }
        return fd >= 0
    }
}
