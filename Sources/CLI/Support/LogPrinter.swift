import ArgumentParser
import Engine
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// Prints container logs as docker compose does: `web-1  | line`, a colour per container, optional
/// timestamps. Reading (existing logs merged by time, then following) is the Engine's `LogFollower`.
final class LogPrinter {
    struct Options {
        var follow = false
        var timestamps = false
        var tail: Int?
        var since: Int64?
        var until: Int64?
        var color = false
        var prefix = true
        /// Standard error entries to our standard error (an attached `up`); `logs` writes all to stdout.
        var splitStreams = false
    }

    let options: Options
    let runtime: Runtime
    let follower: LogFollower
    var width = 0
    var labels: [String: String] = [:]
    var colors: [String: String] = [:]
    /// Formatted output not yet written (flushed after each batch while following), per stream.
    var pending = ""
    var pendingErrors = ""
    static let palette = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]

    init(options: Options, runtime: Runtime) {
        self.options = options
        self.runtime = runtime
        let (since, until) = (options.since, options.until)
        follower = LogFollower(tail: options.tail) { e in
            guard since != nil || until != nil, let t = Timestamp.parse(e.time) else { return true }
            if let since, t < since { return false }
            if let until, t > until { return false }
            return true
        }
    }

    static func label(_ r: ContainerRecord) -> String {
        let service = r.spec.labels[ComposeLabels.service] ?? r.name
        if r.spec.labels[ComposeLabels.oneOff] == "True" { return r.name }
        return "\(service)-\(r.spec.labels[ComposeLabels.containerNumber] ?? "1")"
    }

    func logPath(_ r: ContainerRecord) -> String { runtime.logPath(r.id) }

    func add(_ r: ContainerRecord) {
        guard labels[r.id] == nil else { return }
        let label = Self.label(r)
        labels[r.id] = label
        follower.add(id: r.id, path: logPath(r))
        colors[r.id] = Self.palette[(labels.count - 1) % Self.palette.count]
        width = max(width, label.count + 1)
    }

    func prefix(_ id: String) -> String {
        guard options.prefix, let label = labels[id] else { return "" }
        let padded = label + String(repeating: " ", count: max(0, width - label.count)) + " |"
        if options.color, let c = colors[id] { return "\u{1b}[\(c)m\(padded)\u{1b}[0m " }
        return padded + " "
    }

    func format(_ e: LogEntry, _ id: String) -> String {
        var text = e.text
        // By bytes: "\r\n" (a terminal's line end) is one Character, which hasSuffix("\n") does not see.
        if text.utf8.last != 0x0a { text += "\n" }
        return prefix(id) + (options.timestamps ? e.time + " " : "") + text
    }

    /// Prints what the logs hold now, merged by time, honouring --tail per container.
    func printExisting(_ records: [ContainerRecord]) {
        for r in records { add(r) }
        var out = ""
        follower.existing { id, e in
            if options.splitStreams && e.stream == .stderr {
                Terminal.write(out)
                out = ""
                Terminal.writeError(format(e, id))
                return
            }
            out += format(e, id)
            if out.utf8.count > 1 << 16 {
                Terminal.write(out)
                out = ""
            }
        }
        Terminal.write(out)
    }

    /// Prints what was appended since the last look; true if anything was.
    @discardableResult
    func poll() -> Bool {
        var out = ""
        let any = follower.poll { id, e in out += format(e, id) }
        Terminal.write(out)
        return any
    }

    /// Prints what is appended until `shouldStop` says so (see `LogFollower.follow`).
    func follow(alsoWatching: [String] = [], until shouldStop: () -> Bool) {
        func flush() {
            Terminal.write(pending)
            if !pendingErrors.isEmpty { Terminal.writeError(pendingErrors) }
            pending = ""
            pendingErrors = ""
        }
        follower.follow(until: {
            flush()
            return shouldStop()
        }, alsoWatching: alsoWatching) { id, e in
            if options.splitStreams && e.stream == .stderr { pendingErrors += format(e, id) } else { pending += format(e, id) }
        }
        flush()
    }
}

/// `--since` and `--until` as given (logs, events); a value that is no time ends the command, saying so.
func parseLogTimes(since: String?, until: String?) throws -> (since: Int64?, until: Int64?) {
    var bounds: [Int64?] = [nil, nil]
    for (i, text) in [since, until].enumerated() {
        guard let text else { continue }
        guard let t = parseLogTime(text) else {
            Terminal.writeError("invalid time \"\(text)\": an RFC 3339 time, a Unix time or a duration such as 42m\n")
            throw ExitCode.failure
        }
        bounds[i] = t
    }
    return (bounds[0], bounds[1])
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
