/// Reads `.env` files (and service `env_file`s) exactly as docker compose does: comments, `export`,
/// `KEY=value` and `KEY: value`, unquoted values cut at ` #`, single quotes kept literally, double
/// quotes with escapes (`\n`, `\t`, `\"`, `\$`…) and interpolation, interpolation of unquoted values,
/// and bare `KEY` lines that inherit a value from the environment.
public enum DotEnv {
    public struct Variable: Sendable, Equatable {
        public var key: String
        public var value: String
        public var line: Int
    }

    public struct Failure: Error, Sendable, Equatable {
        public var line: Int
        public var message: String
    }

    /// Parses `text`. Interpolation looks a name up in `lookup` first (the environment), then in the
    /// lines of this file read so far, then in `fallback` (earlier files) — the order docker compose
    /// uses. Bare `KEY` lines take their value from `lookup`, else `fallback`.
    public static func parse(_ text: String, lookup: @escaping (String) -> String? = { _ in nil },
                             fallback: @escaping (String) -> String? = { _ in nil }) throws(Failure) -> [Variable] {
        var parser = Parser(scalars: Array(text.unicodeScalars), lookup: lookup, fallback: fallback)
        return try parser.run()
    }

    /// Parses `text` as a `format: raw` env file: every `KEY=VALUE` line taken literally.
    public static func parseRaw(_ text: String) -> [Variable] {
        var result: [Variable] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if let eq = line.firstIndex(of: "=") {
                result.append(Variable(key: String(line[..<eq]), value: String(line[line.index(after: eq)...]), line: n + 1))
            } else {
                result.append(Variable(key: String(line), value: "", line: n + 1))
            }
        }
        return result
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        let lookup: (String) -> String?
        let fallback: (String) -> String?
        var pos = 0
        var line = 1
        var out: [Variable] = []
        var values: [String: String] = [:]

        init(scalars: [Unicode.Scalar], lookup: @escaping (String) -> String?, fallback: @escaping (String) -> String?) {
            self.scalars = scalars
            self.lookup = lookup
            self.fallback = fallback
        }

        mutating func run() throws(Failure) -> [Variable] {
            while skipToStatement() {
                try statement()
            }
            return out
        }

        /// Skips blank space and comment lines; false at the end of the text.
        mutating func skipToStatement() -> Bool {
            while pos < scalars.count {
                let c = scalars[pos]
                if c == "\n" { line += 1; pos += 1; continue }
                if c.properties.isWhitespace { pos += 1; continue }
                if c == "#" {
                    while pos < scalars.count, scalars[pos] != "\n" { pos += 1 }
                    continue
                }
                return true
            }
            return false
        }

        static func isSpace(_ c: Unicode.Scalar) -> Bool {
            switch c {
            case "\t", "\u{0B}", "\u{0C}", "\r", " ", "\u{85}", "\u{A0}": return true
            default: return false
            }
        }

        static func isKeyScalar(_ c: Unicode.Scalar) -> Bool {
            switch c {
            case "_", ".", "-", "[", "]": return true
            default: return c.properties.isAlphabetic || c.properties.numericType != nil
            }
        }

        mutating func skipSpaces() {
            while pos < scalars.count, Self.isSpace(scalars[pos]) { pos += 1 }
        }

        func restOfLine(from start: Int) -> String {
            var end = start
            while end < scalars.count, scalars[end] != "\n" { end += 1 }
            return String(String.UnicodeScalarView(scalars[start..<end]))
        }

        mutating func statement() throws(Failure) {
            let statementLine = line
            // `export` followed by white space.
            if scalars.count - pos > 6, String(String.UnicodeScalarView(scalars[pos..<(pos + 6)])) == "export",
               scalars[pos + 6].properties.isWhitespace {
                pos += 6
                skipSpaces()
            }
            let keyStart = pos
            var terminator: Unicode.Scalar?
            while pos < scalars.count {
                let c = scalars[pos]
                if Self.isSpace(c) { pos += 1; continue }
                if c == "=" || c == ":" || c == "\n" { terminator = c; break }
                if Self.isKeyScalar(c) { pos += 1; continue }
                throw Failure(line: line, message: "unexpected character \"\(c)\" in variable name \"\(restOfLine(from: keyStart))\"")
            }
            var key = String(String.UnicodeScalarView(scalars[keyStart..<pos]))
            while let last = key.unicodeScalars.last, last.properties.isWhitespace { key.unicodeScalars.removeLast() }
            if key.contains(" ") { throw Failure(line: line, message: "key cannot contain a space") }
            if key.isEmpty { throw Failure(line: line, message: "missing variable name before \"\(terminator.map(String.init) ?? "")\"") }

            guard let terminator, terminator != "\n" else {
                // A bare KEY inherits its value from the environment, if it has one there.
                if terminator == "\n" { pos += 1; line += 1 }
                if let value = lookup(key) ?? fallback(key) { set(key, value, statementLine) }
                return
            }
            pos += 1
            skipSpaces()
            let value = try valueText()
            set(key, value, statementLine)
        }

        mutating func set(_ key: String, _ value: String, _ line: Int) {
            values[key] = value
            if let i = out.firstIndex(where: { $0.key == key }) { out.remove(at: i) }
            out.append(Variable(key: key, value: value, line: line))
        }

        mutating func valueText() throws(Failure) -> String {
            guard pos < scalars.count, scalars[pos] == "\"" || scalars[pos] == "'" else {
                // Unquoted: to the end of the line, cut at " #", trailing space removed, interpolated.
                var end = pos
                while end < scalars.count, scalars[end] != "\n" { end += 1 }
                var raw = Array(scalars[pos..<end])
                pos = end
                if let cut = (0..<raw.count).first(where: { $0 + 1 < raw.count && raw[$0] == " " && raw[$0 + 1] == "#" }) {
                    raw = Array(raw[..<cut])
                }
                while let last = raw.last, last.properties.isWhitespace { raw.removeLast() }
                return try expand(String(String.UnicodeScalarView(raw)))
            }
            let quote = scalars[pos]
            let startLine = line
            var chars = String.UnicodeScalarView()
            var escaped = false
            var i = pos + 1
            while i < scalars.count {
                let c = scalars[i]
                if c == "\n" { line += 1 }
                if escaped {
                    escaped = false
                    if c != quote { chars.append("\\") }
                    chars.append(c)
                } else if c == "\\" {
                    escaped = true
                } else if c == quote {
                    pos = i + 1
                    let value = String(chars)
                    return quote == "\"" ? try expand(Self.unescape(value)) : value
                } else {
                    chars.append(c)
                }
                i += 1
            }
            line = startLine
            throw Failure(line: startLine, message: "unterminated quoted value \(restOfLine(from: pos))")
        }

        func expand(_ value: String) throws(Failure) -> String {
            let values = self.values
            let lookup = self.lookup
            let fallback = self.fallback
            let interpolator = Interpolator(lookup: { name in lookup(name) ?? values[name] ?? fallback(name) })
            do {
                return try interpolator.substitute(value)
            } catch {
                throw Failure(line: line, message: error.message)
            }
        }

        /// Double-quoted escapes: `\a \b \c \f \n \r \t \v \" \\`, `\$` (kept as `$$`), `\0NNN` octal.
        static func unescape(_ s: String) -> String {
            guard s.contains("\\") else { return s }
            let chars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            var i = 0
            while i < chars.count {
                let c = chars[i]
                guard c == "\\", i + 1 < chars.count else { out.append(c); i += 1; continue }
                let n = chars[i + 1]
                switch n {
                case "a": out.append("\u{07}")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "v": out.append("\u{0B}")
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "$": out.append("$"); out.append("$")
                case "c": out.append("\\"); out.append("c")
                case "0":
                    var j = i + 2
                    var value: UInt32 = 0
                    var count = 0
                    while j < chars.count, count < 3, chars[j] >= "0", chars[j] <= "7" {
                        value = value * 8 + (chars[j].value - 48); j += 1; count += 1
                    }
                    if count == 3, let scalar = Unicode.Scalar(value), value <= 255 {
                        out.append(scalar)
                        i = j
                        continue
                    }
                    out.append("\\"); out.append("0")
                default:
                    out.append("\\"); out.append(n)
                }
                i += 2
            }
            return String(out)
        }
    }
}
