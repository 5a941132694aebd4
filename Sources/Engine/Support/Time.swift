#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock timestamps in the RFC 3339 form docker writes (`2024-05-01T12:00:00.123456789Z`).
public enum Timestamp {
    public static func now() -> timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts
    }

    public static func rfc3339(_ ts: timespec = now(), nanoseconds: Bool = true) -> String {
        var t = ts.tv_sec
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int = 2) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var s = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))"
        if nanoseconds {
            var frac = String(ts.tv_nsec)
            frac = String(repeating: "0", count: 9 - frac.count) + frac
            while frac.hasSuffix("0") { frac.removeLast() }
            if !frac.isEmpty { s += "." + frac }
        }
        return s + "Z"
    }

    /// Nanoseconds since the epoch now.
    public static func nowNanoseconds() -> Int64 {
        let ts = now()
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Nanoseconds since the epoch of an RFC 3339 time, its fraction kept, or nil.
    public static func parseNanoseconds(_ s: String) -> Int64? {
        guard let seconds = parse(s) else { return nil }
        var fraction: Int64 = 0, digits = 0
        if let dot = s.firstIndex(of: ".") {
            for c in s[s.index(after: dot)...] {
                guard let d = c.wholeNumberValue, c.isASCII else { break }
                if digits < 9 { fraction = fraction * 10 + Int64(d); digits += 1 }
            }
        }
        while digits < 9 { fraction *= 10; digits += 1 }
        return seconds * 1_000_000_000 + fraction
    }

    /// Seconds since the epoch of an RFC 3339 time (fractions and offsets understood), or nil.
    public static func parse(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        func number(_ from: Int, _ count: Int) -> Int32? {
            guard from + count <= b.count else { return nil }
            var v: Int32 = 0
            for i in from..<(from + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int32(b[i] - 48)
            }
            return v
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        var seconds = Int64(timegm(&parts))
        var i = 19
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count && b[i] >= 48 && b[i] <= 57 { i += 1 }
        }
        if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")),
           let oh = number(i + 1, 2), let om = number(i + 4, 2) {
            let offset = Int64(oh) * 3600 + Int64(om) * 60
            seconds += b[i] == UInt8(ascii: "+") ? -offset : offset
        }
        return seconds
    }

    /// "3 days ago", "About a minute ago"… as docker prints ages.
    public static func ago(_ seconds: Int64, now: Int64? = nil) -> String {
        let reference = now ?? Int64(Timestamp.now().tv_sec)
        return humanDuration(max(0, reference - seconds)) + " ago"
    }

    /// A Go duration string for nanoseconds (`30s`, `1m30s`, `500ms`).
    public static func goDuration(_ ns: Int64) -> String {
        if ns == 0 { return "0s" }
        if ns < 1_000_000_000 { return ns % 1_000_000 == 0 ? "\(ns / 1_000_000)ms" : "\(Double(ns) / 1e6)ms" }
        var s = ns / 1_000_000_000
        var out = ""
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 || !out.isEmpty { out += "\(s / 60)m"; s %= 60 }
        let frac = ns % 1_000_000_000
        out += frac == 0 ? "\(s)s" : "\(Double(s) + Double(frac) / 1e9)s"
        return out
    }

    /// go-units' HumanDuration: "Less than a second", "1 second", "About a minute", "3 hours"…
    public static func humanDuration(_ d: Int64) -> String {
        switch d {
        case ..<1: return "Less than a second"
        case 1: return "1 second"
        case ..<60: return "\(d) seconds"
        case ..<120: return "About a minute"
        case ..<3600: return "\(d / 60) minutes"
        case ..<7200: return "About an hour"
        case ..<(86400 * 2): return "\(d / 3600) hours"
        case ..<(86400 * 14): return "\(d / 86400) days"
        case ..<(86400 * 60): return "\(d / (86400 * 7)) weeks"
        case ..<(86400 * 365 * 2): return "\(d / (86400 * 30)) months"
        default: return "\(d / (86400 * 365)) years"
        }
    }
}

/// Sizes as docker prints them (`4.26MB`, decimal units): go-units' `HumanSizeWithPrecision`, three
/// significant digits by default (image sizes), four in transfer progress (`36.45kB/1.069MB`).
public enum ByteCount {
    public static func human(_ bytes: Int64, significant: Int = 3) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(bytes)B" }
        // printf's %.<n>g: n significant digits, trailing zeros dropped.
        let integerDigits = value >= 100 ? 3 : value >= 10 ? 2 : 1
        var scale = 1.0
        for _ in 0..<max(0, significant - integerDigits) { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var s = rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s + units[unit]
    }
}

/// Seconds on the monotonic clock (for timeouts and intervals; never goes back).
public enum MonotonicClock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
