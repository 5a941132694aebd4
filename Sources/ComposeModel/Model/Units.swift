/// A span of time in nanoseconds, parsed like compose-go (Go durations plus `d` and `w`) and printed as
/// Go's `time.Duration.String()` (`1m30s`, `500ms`, `2h0m0s`).
public struct Duration: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static func seconds(_ s: Int64) -> Duration { Duration(nanoseconds: s * 1_000_000_000) }
    public static func milliseconds(_ ms: Int64) -> Duration { Duration(nanoseconds: ms * 1_000_000) }

    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public static func < (a: Duration, b: Duration) -> Bool { a.nanoseconds < b.nanoseconds }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var text: String
        public var reason: String
        public var description: String { "invalid duration \"\(text)\": \(reason)" }
    }

    static let units: [(String, Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
        ("d", 86400e9), ("w", 604800e9),
    ]

    /// Parses `1h30m`, `1.5s`, `500ms`, `2d`, `-1m`, `0`.
    public init(parsing text: String) throws(ParseError) {
        var s = Substring(text)
        var negative = false
        if s.hasPrefix("-") { negative = true; s = s.dropFirst() } else if s.hasPrefix("+") { s = s.dropFirst() }
        if s == "0" { self.nanoseconds = 0; return }
        guard !s.isEmpty else { throw ParseError(text: text, reason: "empty") }
        var total: Double = 0
        while !s.isEmpty {
            let numberEnd = s.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) ?? s.endIndex
            let number = s[..<numberEnd]
            guard !number.isEmpty, number != ".", let value = Double(number) else {
                throw ParseError(text: text, reason: "expected a number before \"\(s)\"")
            }
            s = s[numberEnd...]
            let unitEnd = s.firstIndex(where: { $0.isASCII && ($0.isNumber || $0 == ".") }) ?? s.endIndex
            let unit = String(s[..<unitEnd])
            guard !unit.isEmpty else { throw ParseError(text: text, reason: "missing unit (use ns, us, ms, s, m, h, d or w)") }
            guard let multiplier = Self.units.first(where: { $0.0 == unit })?.1 else {
                throw ParseError(text: text, reason: "unknown unit \"\(unit)\" (use ns, us, ms, s, m, h, d or w)")
            }
            total += value * multiplier
            s = s[unitEnd...]
        }
        guard total < 9.2e18 else { throw ParseError(text: text, reason: "too large") }
        self.nanoseconds = Int64(total.rounded()) * (negative ? -1 : 1)
    }

    public var description: String {
        var u = UInt64(nanoseconds.magnitude)
        let negative = nanoseconds < 0
        if u == 0 { return "0s" }
        var out: String
        if u < 1_000_000_000 {
            let (prec, unit): (Int, String) = u < 1_000 ? (0, "ns") : u < 1_000_000 ? (3, "µs") : (6, "ms")
            let (frac, rest) = Self.fraction(u, precision: prec)
            out = String(rest) + frac + unit
        } else {
            let (frac, secondsTotal) = Self.fraction(u, precision: 9)
            u = secondsTotal
            out = String(u % 60) + frac + "s"
            u /= 60
            if u > 0 {
                out = String(u % 60) + "m" + out
                u /= 60
                if u > 0 { out = String(u) + "h" + out }
            }
        }
        return negative ? "-" + out : out
    }

    /// Go's fmtFrac: the fraction of v/10^prec without trailing zeros (and without the point when zero).
    static func fraction(_ v: UInt64, precision: Int) -> (String, UInt64) {
        var v = v
        var digits: [Character] = []
        var printed = false
        for _ in 0..<precision {
            let digit = v % 10
            printed = printed || digit != 0
            if printed { digits.insert(Character(String(digit)), at: 0) }
            v /= 10
        }
        return (printed ? "." + String(digits) : "", v)
    }
}

/// Byte sizes as docker's `units.RAMInBytes` reads them: `512`, `64m`, `1.5G`, `10KiB`, `2gb`.
public enum ByteSize {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var text: String
        public var description: String { "invalid size \"\(text)\" (use a number of bytes or a unit such as 512k, 64m, 1.5g)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> Int64 {
        let bytes = Array(text.utf8)
        guard let sep = bytes.lastIndex(where: { ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: " ") }) else {
            throw ParseError(text: text)
        }
        let numberBytes = bytes[sep] == UInt8(ascii: " ") ? bytes[..<sep] : bytes[...sep]
        let suffix = String(decoding: bytes[(sep + 1)...], as: UTF8.self).lowercased()
        guard let size = Double(String(decoding: numberBytes, as: UTF8.self)), size >= 0 else { throw ParseError(text: text) }
        if suffix.isEmpty { return Int64(size) }
        guard suffix.count <= 3, let first = suffix.first else { throw ParseError(text: text) }
        if first == "b" {
            guard suffix.count == 1 else { throw ParseError(text: text) }
            return Int64(size)
        }
        let multipliers: [Character: Double] = ["k": 1024, "m": 1_048_576, "g": 1_073_741_824, "t": 1_099_511_627_776, "p": 1_125_899_906_842_624]
        guard let multiplier = multipliers[first] else { throw ParseError(text: text) }
        if suffix.count == 2 && suffix.last != "b" { throw ParseError(text: text) }
        if suffix.count == 3 && suffix.dropFirst() != "ib" { throw ParseError(text: text) }
        return Int64(size * multiplier)
    }
}

/// Splits a command string into words as docker compose does (go-shellwords): quotes and backslashes
/// are honoured, `$` is left alone, and an unquoted `;`, `&`, `|`, `<` or `>` ends the command.
public enum ShellWords {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var text: String
        public var description: String { "invalid command line string: \(text)" }
    }

    public static func split(_ line: String) throws(ParseError) -> [String] {
        var args: [String] = []
        var buf = ""
        var escaped = false, doubleQuoted = false, singleQuoted = false, backQuote = false, dollarQuote = false
        enum Got { case no, single, quoted }
        var got = Got.no
        loop: for c in line {
            if escaped {
                buf.append(c)
                escaped = false
                got = .single
                continue
            }
            if c == "\\" {
                if singleQuoted { buf.append(c) } else { escaped = true }
                continue
            }
            if c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\r\n" {
                if singleQuoted || doubleQuoted || backQuote || dollarQuote {
                    buf.append(c)
                } else if got != .no {
                    args.append(buf)
                    buf = ""
                    got = .no
                }
                continue
            }
            switch c {
            case "`":
                if !singleQuoted && !doubleQuoted && !dollarQuote { backQuote.toggle() }
            case ")":
                if !singleQuoted && !doubleQuoted && !backQuote { dollarQuote.toggle() }
            case "(":
                if !singleQuoted && !doubleQuoted && !backQuote {
                    if !dollarQuote && buf.hasSuffix("$") {
                        dollarQuote = true
                        buf.append("(")
                        continue
                    }
                    throw ParseError(text: line)
                }
            case "\"":
                if !singleQuoted && !dollarQuote {
                    if doubleQuoted { got = .quoted }
                    doubleQuoted.toggle()
                    continue
                }
            case "'":
                if !doubleQuoted && !dollarQuote {
                    if singleQuoted { got = .quoted }
                    singleQuoted.toggle()
                    continue
                }
            case ";", "&", "|", "<", ">":
                if !(singleQuoted || doubleQuoted || backQuote || dollarQuote) {
                    if c == ">", let first = buf.first, first.isASCII, first.isNumber { got = .no }
                    break loop
                }
            default: break
            }
            got = .single
            buf.append(c)
        }
        if got != .no { args.append(buf) }
        if escaped || singleQuoted || doubleQuoted || backQuote || dollarQuote { throw ParseError(text: line) }
        return args
    }
}
