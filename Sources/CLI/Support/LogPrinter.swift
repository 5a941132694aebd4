import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// Prints container logs as docker compose does: `web-1  | line`, a colour per container, optional
/// timestamps; follows the files as they grow.
final class LogPrinter {
    struct Options {
        var follow = false
        var timestamps = false
        var tail: Int?
        var since: Int64?
        var until: Int64?
        var color = false
        var prefix = true
    }

    let options: Options
    let runtime: Runtime
    var width = 0
    var colors: [String: String] = [:]
    static let palette = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]

    struct Tracked {
        var record: ContainerRecord
        var label: String
        var path: String
        var offset: UInt64 = 0
        var pending: [UInt8] = []
        var inode: UInt64 = 0
    }

    var tracked: [String: Tracked] = [:]
    var order: [String] = []

    init(options: Options, runtime: Runtime) {
        self.options = options
        self.runtime = runtime
    }

    static func label(_ r: ContainerRecord) -> String {
        let service = r.spec.labels["com.docker.compose.service"] ?? r.name
        if r.spec.labels["com.docker.compose.oneoff"] == "True" { return r.name }
        return "\(service)-\(r.spec.labels["com.docker.compose.container-number"] ?? "1")"
    }

    func logPath(_ r: ContainerRecord) -> String { runtime.containerDirectory(r.id) + "/\(r.id)-json.log" }

    func add(_ r: ContainerRecord) {
        guard tracked[r.id] == nil else { return }
        let label = Self.label(r)
        tracked[r.id] = Tracked(record: r, label: label, path: logPath(r))
        order.append(r.id)
        if colors[r.id] == nil { colors[r.id] = Self.palette[(order.count - 1) % Self.palette.count] }
        width = max(width, label.count + 1)
    }

    func prefix(_ t: Tracked) -> String {
        guard options.prefix else { return "" }
        let padded = t.label + String(repeating: " ", count: max(0, width - t.label.count)) + " |"
        if options.color, let c = colors[t.record.id] { return "\u{1b}[\(c)m\(padded)\u{1b}[0m " }
        return padded + " "
    }

    func accept(_ e: LogEntry) -> Bool {
        guard options.since != nil || options.until != nil else { return true }
        guard let t = Timestamp.parse(e.time) else { return true }
        if let since = options.since, t < since { return false }
        if let until = options.until, t > until { return false }
        return true
    }

    func format(_ e: LogEntry, _ t: Tracked) -> String {
        var text = e.text
        if !text.hasSuffix("\n") { text += "\n" }
        return prefix(t) + (options.timestamps ? e.time + " " : "") + text
    }

    /// Prints what the logs hold now, merged by time, honouring --tail per container. The logs are
    /// streamed (a tail read from their ends), so a log of gigabytes costs no more memory than a line.
    func printExisting(_ records: [ContainerRecord]) {
        for r in records { add(r) }
        // One source of entries per container, each in time order; merged by taking the earliest head.
        var sources: [(id: String, next: () -> LogEntry?)] = []
        for id in order {
            guard var t = tracked[id] else { continue }
            // Where following starts: the end of the log as it is now.
            if let st = try? Sys.fileStatus(t.path) {
                t.offset = UInt64(st.st_size)
                t.inode = UInt64(st.st_ino)
            }
            tracked[id] = t
            if let tail = options.tail {
                var entries = LogReader.tail(t.path, tail, accept: accept)[...]
                sources.append((id, { entries.popFirst() }))
            } else {
                let reader = LogReader.Forward(t.path)
                sources.append((id, { [self] in
                    while let e = reader.next() { if self.accept(e) { return e } }
                    return nil
                }))
            }
        }
        var heads: [LogEntry?] = sources.map { $0.next() }
        var out = ""
        while true {
            var best: Int?
            for i in heads.indices {
                guard let e = heads[i] else { continue }
                if best == nil || e.time < heads[best!]!.time { best = i }
            }
            guard let i = best, let e = heads[i] else { break }
            out += format(e, tracked[sources[i].id]!)
            if out.utf8.count > 1 << 16 {
                Terminal.write(out)
                out = ""
            }
            heads[i] = sources[i].next()
        }
        Terminal.write(out)
    }

    /// Reads what was appended since the last look; true if anything was.
    @discardableResult
    func poll() -> Bool {
        var any = false
        for id in order {
            guard var t = tracked[id] else { continue }
            guard let st = try? Sys.fileStatus(t.path) else { continue }
            if UInt64(st.st_ino) != t.inode || UInt64(st.st_size) < t.offset {
                // Rotated: start the new file from its beginning.
                t.offset = 0
                t.inode = UInt64(st.st_ino)
                t.pending = []
            }
            if UInt64(st.st_size) > t.offset, let handle = try? Engine.FileHandle(path: t.path, flags: O_RDONLY) {
                var buffer = [UInt8](repeating: 0, count: Int(min(UInt64(st.st_size) - t.offset, 1 << 20)))
                let n = buffer.withUnsafeMutableBytes { pread(handle.fd, $0.baseAddress, $0.count, off_t(t.offset)) }
                if n > 0 {
                    t.offset += UInt64(n)
                    t.pending += buffer[0..<n]
                    var out = ""
                    while let nl = t.pending.firstIndex(of: 0x0a) {
                        let line = String(decoding: t.pending[..<nl], as: UTF8.self)
                        t.pending.removeFirst(nl + 1)
                        if let e = LogEntry.parse(Substring(line)), accept(e) { out += format(e, t) }
                    }
                    Terminal.write(out)
                    any = true
                }
            }
            tracked[id] = t
        }
        return any
    }

    /// Follows until `shouldStop` says so (checked between polls).
    func follow(until shouldStop: () -> Bool) {
        while true {
            let got = poll()
            if shouldStop() {
                poll()
                return
            }
            if !got { usleep(50_000) }
        }
    }
}

/// `--since`/`--until`: an RFC 3339 time, a Unix time, or a duration back from now (`10m`, `1h30m`).
func parseLogTime(_ text: String) -> Int64? {
    if let t = Timestamp.parse(text) { return t }
    if let unix = Double(text) { return Int64(unix) }
    if let d = try? ComposeDuration.parse(text) { return Int64(Timestamp.now().tv_sec) - d }
    return nil
}

enum ComposeDuration {
    /// Go durations (`1h30m`, `10s`, `500ms`) in whole seconds.
    static func parse(_ text: String) throws -> Int64 {
        var total = 0.0
        var number = ""
        var unit = ""
        func flush() throws {
            guard let n = Double(number) else { throw ParseFailure() }
            switch unit {
            case "h": total += n * 3600
            case "m": total += n * 60
            case "s": total += n
            case "ms": total += n / 1000
            default: throw ParseFailure()
            }
            number = ""
            unit = ""
        }
        for c in text {
            if c.isNumber || c == "." {
                if !unit.isEmpty { try flush() }
                number.append(c)
            } else {
                unit.append(c)
            }
        }
        if !number.isEmpty || !unit.isEmpty { try flush() }
        return Int64(total)
    }

    struct ParseFailure: Error {}
}
