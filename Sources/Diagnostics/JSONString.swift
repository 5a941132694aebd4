/// JSON string literals, escaped as the Go programs whose output swcompose reproduces escape them.
public enum JSONString {
    public enum Dialect: Sendable {
        /// Go's `encoding/json` (docker compose's `--format json`, `config --format json`): HTML-safe
        /// (`<`, `>`, `&`, U+2028, U+2029 as `\u…`), `\b` `\f` `\n` `\r` `\t`, other controls as `\u00XX`.
        case encodingJSON
        /// moby's json-file log writer: the same, except that `\b` and `\f` are written as `\u0008`
        /// and `\u000c`.
        case jsonLog
    }

    /// `s` as a quoted JSON string.
    public static func quoted(_ s: some StringProtocol, _ dialect: Dialect = .encodingJSON) -> String {
        var out = ""
        append(s, to: &out, dialect)
        return out
    }

    /// Appends `s` to `out` as a quoted JSON string.
    public static func append(_ s: some StringProtocol, to out: inout String, _ dialect: Dialect = .encodingJSON) {
        out.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}" where dialect == .encodingJSON: out += "\\b"
            case "\u{0C}" where dialect == .encodingJSON: out += "\\f"
            case "<", ">", "&", "\u{2028}", "\u{2029}": unicodeEscape(scalar.value, &out)
            case _ where scalar.value < 0x20: unicodeEscape(scalar.value, &out)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }

    static let hex: [Character] = Array("0123456789abcdef")

    static func unicodeEscape(_ v: UInt32, _ out: inout String) {
        out += "\\u"
        for shift in stride(from: 12, through: 0, by: -4) {
            out.append(hex[Int((v >> UInt32(shift)) & 0xF)])
        }
    }
}
