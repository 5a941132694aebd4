#if canImport(Glibc)
import Glibc
#endif

/// One line of a container's output, as docker's json-file driver records it:
/// `{"log":"hello\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}`.
public struct LogEntry: Sendable, Equatable {
    public enum Stream: String, Sendable { case stdout, stderr }

    public var text: String
    public var stream: Stream
    public var time: String

    public init(text: String, stream: Stream, time: String) {
        self.text = text
        self.stream = stream
        self.time = time
    }

    /// The JSON line (with its newline), escaped as moby's json-file writer escapes it (HTML-safe),
    /// with the driver's `attrs` (tag, labels, env) between the stream and the time where there are.
    public func encoded(attributes: [String: String] = [:]) -> [UInt8] {
        var out = "{\"log\":"
        JSONString.append(text, to: &out, .jsonLog)
        out += ",\"stream\":\"\(stream.rawValue)\""
        if !attributes.isEmpty {
            out += ",\"attrs\":{"
            for (i, key) in attributes.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                JSONString.append(key, to: &out, .jsonLog)
                out += ":"
                JSONString.append(attributes[key]!, to: &out, .jsonLog)
            }
            out += "}"
        }
        out += ",\"time\":\"\(time)\"}\n"
        return Array(out.utf8)
    }

    /// Parses one json-file line; nil for anything else.
    public static func parse(_ line: Substring) -> LogEntry? {
        var fields: [String: String] = [:]
        let b = Array(line.utf8)
        var i = 0
        func skipSpace() { while i < b.count && (b[i] == 0x20 || b[i] == 0x09) { i += 1 } }
        func string() -> String? {
            guard i < b.count, b[i] == 0x22 else { return nil }
            i += 1
            var out: [UInt8] = []
            while i < b.count {
                let c = b[i]
                if c == 0x22 { i += 1; return String(decoding: out, as: UTF8.self) }
                if c == 0x5c {
                    guard i + 1 < b.count else { return nil }
                    let e = b[i + 1]
                    i += 2
                    switch e {
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "u"):
                        guard i + 4 <= b.count, var v = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
                        i += 4
                        if v >= 0xd800 && v < 0xdc00, i + 6 <= b.count, b[i] == 0x5c, b[i + 1] == UInt8(ascii: "u"),
                           let low = UInt32(String(decoding: b[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16), low >= 0xdc00 && low < 0xe000 {
                            v = 0x10000 + ((v - 0xd800) << 10) + (low - 0xdc00)
                            i += 6
                        }
                        out += Array(String(Unicode.Scalar(v).map(Character.init) ?? "\u{fffd}").utf8)
                    default: out.append(e)
                    }
                    continue
                }
                out.append(c)
                i += 1
            }
            return nil
        }
        skipSpace()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        while true {
            skipSpace()
            guard let key = string() else { return nil }
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            guard let value = string() else { return nil }
            fields[key] = value
            skipSpace()
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { break }
            return nil
        }
        guard let text = fields["log"], let s = fields["stream"], let stream = Stream(rawValue: s) else { return nil }
        return LogEntry(text: text, stream: stream, time: fields["time"] ?? "")
    }
}

/// Appends a container's output to `<id>-json.log`, a line at a time (docker splits lines longer
/// than 16 KiB), rotating at `maxSize` and keeping `maxFiles` files.
final class LogWriter {
    let path: String
    let options: LogOptions
    var fd: Int32 = -1
    var size: Int64 = 0
    var partial: [LogEntry.Stream: [UInt8]] = [:]
    /// Where lines go besides this file (syslog, the journal).
    let forwarder: LogForwarder?
    static let maxLine = 16 * 1024

    init(path: String, options: LogOptions) {
        self.path = path
        self.options = options
        forwarder = options.forward.map(LogForwarder.init)
        open()
    }

    deinit { if fd >= 0 { Sys.close(fd) } }

    var enabled: Bool { options.driver != "none" }

    func open() {
        guard enabled else { return }
        fd = (try? Sys.open(path, O_WRONLY | O_APPEND | O_CREAT, 0o640)) ?? -1
        if fd >= 0, let st = try? Sys.fstat(fd) { size = Int64(st.st_size) }
    }

    /// Takes bytes read from a stream; complete lines are written at once.
    func consume(_ bytes: UnsafeRawBufferPointer, stream: LogEntry.Stream) {
        guard enabled else { return }
        var pending = partial[stream] ?? []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0x0a {
            pending.append(contentsOf: bytes[start...i])
            emit(pending, stream: stream)
            pending.removeAll(keepingCapacity: true)
            start = i + 1
        }
        if start < bytes.count { pending.append(contentsOf: bytes[start..<bytes.count]) }
        while pending.count >= Self.maxLine {
            emit(Array(pending[0..<Self.maxLine]), stream: stream)
            pending.removeFirst(Self.maxLine)
        }
        partial[stream] = pending
    }

    /// Writes whatever partial line is left (at the end of a stream).
    func flush() {
        for (stream, pending) in partial where !pending.isEmpty { emit(pending, stream: stream) }
        partial.removeAll()
    }

    func emit(_ line: [UInt8], stream: LogEntry.Stream) {
        forwarder?.send(line, stream: stream)
        guard fd >= 0 else { return }
        let record = LogEntry(text: String(decoding: line, as: UTF8.self), stream: stream, time: Timestamp.rfc3339())
            .encoded(attributes: options.attributes)
        if options.maxSize > 0 && size + Int64(record.count) > options.maxSize && size > 0 { rotate() }
        record.withUnsafeBytes { try? Sys.write(fd, $0) }
        size += Int64(record.count)
    }

    /// `x.log` → `x.log.1` → … → `x.log.<maxFiles-1>`, then a fresh `x.log`.
    func rotate() {
        Sys.close(fd)
        fd = -1
        let keep = max(1, options.maxFiles)
        if keep == 1 {
            try? Sys.unlink(path)
        } else {
            try? Sys.unlink("\(path).\(keep - 1)")
            if keep > 2 {
                for n in stride(from: keep - 2, through: 1, by: -1) { _ = Glibc.rename("\(path).\(n)", "\(path).\(n + 1)") }
            }
            _ = Glibc.rename(path, "\(path).1")
        }
        size = 0
        open()
    }
}

/// Reading a container's log files (rotated ones first).
public enum LogReader {
    public static func files(_ path: String) -> [String] {
        var result: [String] = []
        var n = 1
        while Sys.exists("\(path).\(n)") { result.insert("\(path).\(n)", at: 0); n += 1 }
        if Sys.exists(path) { result.append(path) }
        return result
    }

    /// Every entry (for tests and small logs; `Forward` streams instead).
    public static func read(_ path: String) -> [LogEntry] {
        var entries: [LogEntry] = []
        let reader = Forward(path)
        while let e = reader.next() { entries.append(e) }
        return entries
    }

    /// The entries of a log, oldest first, read a chunk at a time: memory stays the size of a chunk
    /// and a line, however large the log.
    public final class Forward {
        var files: [String]
        var fd: Int32 = -1
        var buffer: [UInt8] = []
        var start = 0
        var atEnd = false
        static let chunk = 1 << 16

        public init(_ path: String) { files = LogReader.files(path) }

        deinit { if fd >= 0 { Sys.close(fd) } }

        public func next() -> LogEntry? {
            while true {
                if let nl = buffer[start...].firstIndex(of: 0x0a) {
                    let line = buffer[start..<nl]
                    start = nl + 1
                    if let e = LogEntry.parse(Substring(decoding: line, as: UTF8.self)) { return e }
                    continue
                }
                guard fill() else {
                    // A last line without its newline.
                    guard start < buffer.count else { return nil }
                    let line = buffer[start...]
                    start = buffer.count
                    if let e = LogEntry.parse(Substring(decoding: line, as: UTF8.self)) { return e }
                    return nil
                }
            }
        }

        /// Reads more of the current file, or opens the next; false when every file is read.
        func fill() -> Bool {
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            while true {
                if fd < 0 {
                    guard !files.isEmpty else { return false }
                    let file = files.removeFirst()
                    fd = (try? Sys.open(file, O_RDONLY)) ?? -1
                    if fd < 0 { continue }
                }
                var chunk = [UInt8](repeating: 0, count: Self.chunk)
                let n = (try? Sys.read(fd, into: &chunk)) ?? 0
                if n > 0 {
                    buffer += chunk[0..<n]
                    return true
                }
                Sys.close(fd)
                fd = -1
                // Entries never span files: a partial line at a file's end stands alone.
                if !buffer.isEmpty && buffer.last != 0x0a { buffer.append(0x0a); return true }
            }
        }
    }

    /// The last `count` entries that `accept` takes, oldest first, read backwards from the end of the
    /// newest file (as docker reads `--tail`): a one-line tail of a huge log reads a few kilobytes.
    public static func tail(_ path: String, _ count: Int, accept: (LogEntry) -> Bool = { _ in true }) -> [LogEntry] {
        guard count > 0 else { return [] }
        var found: [LogEntry] = []
        for file in files(path).reversed() {
            guard let handle = try? FileHandle(path: file, flags: O_RDONLY), let st = try? Sys.fstat(handle.fd) else { continue }
            var end = Int64(st.st_size)
            var carry: [UInt8] = []
            let chunk: Int64 = 1 << 16
            while end > 0 || !carry.isEmpty {
                let begin = max(0, end - chunk)
                var bytes = [UInt8](repeating: 0, count: Int(end - begin))
                if !bytes.isEmpty {
                    let n = bytes.withUnsafeMutableBytes { (try? Sys.read(handle.fd, into: $0, at: begin)) ?? -1 }
                    guard n == bytes.count else { break }
                }
                bytes += carry
                end = begin
                // Complete lines are those after the first newline (or all, at the file's start).
                var lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false)
                if end > 0 {
                    carry = Array(lines.removeFirst())
                } else {
                    carry = []
                }
                for line in lines.reversed() where !line.isEmpty {
                    guard let e = LogEntry.parse(Substring(decoding: line, as: UTF8.self)), accept(e) else { continue }
                    found.append(e)
                    if found.count == count { return found.reversed() }
                }
                if end == 0 { break }
            }
        }
        return found.reversed()
    }
}
