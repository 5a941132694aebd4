/// Writes a `GoValue` as go-yaml v3 (with a two-space indent, as docker compose configures it)
/// writes the same Go value: block style, sequences indented under their key, strings left plain
/// unless they would read back as something else, literal blocks for multi-line strings, and go-yaml's
/// "natural" ordering of map keys.
public enum YAMLEmitter {
    public static func emit(_ value: GoValue) -> String {
        var out = ""
        out.reserveCapacity(4096)
        switch value {
        case .map, .object:
            let entries = orderedEntries(value)
            if entries.isEmpty {
                out += "{}\n"
            } else {
                writeEntries(entries, indent: 0, to: &out)
            }
        case .list(let items) where !items.isEmpty:
            writeItems(items, indent: 0, to: &out)
        default:
            out += scalar(value, isKey: false, indent: 0) + "\n"
        }
        return out
    }

    static func orderedEntries(_ value: GoValue) -> [(String, GoValue)] {
        switch value {
        case .map(let m): return m.keys.sorted(by: goYAMLKeyLess).map { ($0, m[$0]!) }
        case .object(let fields): return fields
        default: return []
        }
    }

    static func pad(_ n: Int, _ out: inout String) {
        out += String(repeating: " ", count: n)
    }

    static func writeEntries(_ entries: [(String, GoValue)], indent: Int, to out: inout String, firstInline: Bool = false) {
        for (i, (key, value)) in entries.enumerated() {
            if !(firstInline && i == 0) { pad(indent, &out) }
            out += scalar(.string(key), isKey: true, indent: indent)
            out += ":"
            writeValue(value, indent: indent, to: &out)
        }
    }

    /// Writes what follows `key:` or `-`, including the line break.
    static func writeValue(_ value: GoValue, indent: Int, to out: inout String) {
        switch value {
        case .map, .object:
            let entries = orderedEntries(value)
            if entries.isEmpty {
                out += " {}\n"
            } else {
                out += "\n"
                writeEntries(entries, indent: indent + 2, to: &out)
            }
        case .list(let items):
            if items.isEmpty {
                out += " []\n"
            } else {
                out += "\n"
                writeItems(items, indent: indent + 2, to: &out)
            }
        default:
            out += " " + scalar(value, isKey: false, indent: indent) + "\n"
        }
    }

    static func writeItems(_ items: [GoValue], indent: Int, to out: inout String, firstInline: Bool = false) {
        for (i, item) in items.enumerated() {
            if !(firstInline && i == 0) { pad(indent, &out) }
            out += "-"
            switch item {
            case .map, .object:
                let entries = orderedEntries(item)
                if entries.isEmpty {
                    out += " {}\n"
                } else {
                    out += " "
                    writeEntries(entries, indent: indent + 2, to: &out, firstInline: true)
                }
            case .list(let nested):
                if nested.isEmpty {
                    out += " []\n"
                } else {
                    out += " "
                    writeItems(nested, indent: indent + 2, to: &out, firstInline: true)
                }
            default:
                out += " " + scalar(item, isKey: false, indent: indent) + "\n"
            }
        }
    }

    // MARK: - Scalars

    static func scalar(_ value: GoValue, isKey: Bool, indent: Int) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .float(let f): return yamlFloat(GoFormat.float(f))
        case .float32(let f): return yamlFloat(GoFormat.float32(f))
        case .string(let s): return string(s, isKey: isKey, indent: indent)
        default: return ""
        }
    }

    static func yamlFloat(_ s: String) -> String {
        switch s {
        case "+Inf": return ".inf"
        case "-Inf": return "-.inf"
        case "NaN": return ".nan"
        default: return s
        }
    }

    enum Style { case plain, single, double, literal }

    static func string(_ s: String, isKey: Bool, indent: Int) -> String {
        var canUsePlain = false
        if case .string = ScalarResolver.resolve(s) {
            canUsePlain = !isBase60Float(s) && !isOldBool(s)
        }
        var style: Style = s.contains("\n") ? .literal : (canUsePlain ? .plain : .double)
        let a = analyze(s)
        if isKey && a.multiline { style = .double }
        if style == .plain {
            if !a.blockPlainAllowed { style = .single }
            if s.isEmpty && isKey { style = .single }
        }
        if style == .single && !a.singleQuotedAllowed { style = .double }
        if style == .literal && (!a.blockAllowed || isKey) { style = .double }
        switch style {
        case .plain: return s
        case .single: return "'" + s.replacingAll("'", with: "''") + "'"
        case .double: return doubleQuoted(s)
        case .literal: return literal(s, indent: indent)
        }
    }

    static func isOldBool(_ s: String) -> Bool {
        switch s {
        case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF": return true
        default: return false
        }
    }

    /// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
    static func isBase60Float(_ s: String) -> Bool {
        var b = Array(s.utf8)[...]
        func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 48 && $0 <= 57 } ?? false }
        if let f = b.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") { b = b.dropFirst() }
        guard isDigit(b.first) else { return false }
        b = b.dropFirst()
        while let c = b.first, isDigit(c) || c == UInt8(ascii: "_") { b = b.dropFirst() }
        var groups = 0
        while b.first == UInt8(ascii: ":") {
            b = b.dropFirst()
            guard let d1 = b.first, isDigit(d1) else { return false }
            b = b.dropFirst()
            if let d2 = b.first, isDigit(d2) {
                guard d1 <= UInt8(ascii: "5") else { return false }
                b = b.dropFirst()
            }
            groups += 1
        }
        guard groups > 0 else { return false }
        if b.first == UInt8(ascii: ".") {
            b = b.dropFirst()
            while let c = b.first, isDigit(c) || c == UInt8(ascii: "_") { b = b.dropFirst() }
        }
        return b.isEmpty
    }

    struct Analysis {
        var multiline = false
        var blockPlainAllowed = true
        var singleQuotedAllowed = true
        var blockAllowed = true
    }

    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return v == 0x0A || (0x20...0x7E).contains(v) || (0xA0...0xD7FF).contains(v)
            || ((0xE000...0xFFFD).contains(v) && v != 0xFEFF)
    }

    static func isBreak(_ c: Unicode.Scalar) -> Bool {
        c == "\r" || c == "\n" || c.value == 0x85 || c.value == 0x2028 || c.value == 0x2029
    }

    static func isBlank(_ c: Unicode.Scalar?) -> Bool {
        guard let c else { return true }
        return c == " " || c == "\t" || isBreak(c)
    }

    /// libyaml's `yaml_emitter_analyze_scalar`, for the block context.
    static func analyze(_ s: String) -> Analysis {
        var a = Analysis()
        let chars = Array(s.unicodeScalars)
        if chars.isEmpty {
            a.blockPlainAllowed = true
            a.blockAllowed = false
            return a
        }
        var blockIndicators = false
        if s.hasPrefix("---") || s.hasPrefix("...") { blockIndicators = true }
        var leadingSpace = false, leadingBreak = false, trailingSpace = false, trailingBreak = false
        var breakSpace = false, spaceBreak = false, previousSpace = false, previousBreak = false
        var lineBreaks = false, special = false, tabs = false
        var precededByWhitespace = true
        for (i, c) in chars.enumerated() {
            let next: Unicode.Scalar? = i + 1 < chars.count ? chars[i + 1] : nil
            let followedByWhitespace = isBlank(next)
            if i == 0 {
                switch c {
                case "#", ",", "[", "]", "{", "}", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`":
                    blockIndicators = true
                case "?", ":":
                    if followedByWhitespace { blockIndicators = true }
                case "-":
                    if followedByWhitespace { blockIndicators = true }
                default: break
                }
            } else {
                switch c {
                case ":":
                    if followedByWhitespace { blockIndicators = true }
                case "#":
                    if precededByWhitespace { blockIndicators = true }
                default: break
                }
            }
            if c == "\t" { tabs = true } else if !isPrintable(c) { special = true }
            if isBreak(c) { lineBreaks = true }
            if c == " " {
                if i == 0 { leadingSpace = true }
                if i == chars.count - 1 { trailingSpace = true }
                if previousBreak { breakSpace = true }
                previousSpace = true
                previousBreak = false
            } else if isBreak(c) {
                if i == 0 { leadingBreak = true }
                if i == chars.count - 1 { trailingBreak = true }
                if previousSpace { spaceBreak = true }
                previousBreak = true
                previousSpace = false
            } else {
                previousSpace = false
                previousBreak = false
            }
            precededByWhitespace = isBlank(c)
        }
        a.multiline = lineBreaks
        if leadingSpace || leadingBreak || trailingSpace || trailingBreak { a.blockPlainAllowed = false }
        if trailingSpace { a.blockAllowed = false }
        if breakSpace { a.blockPlainAllowed = false; a.singleQuotedAllowed = false }
        if spaceBreak || tabs || special {
            a.blockPlainAllowed = false; a.singleQuotedAllowed = false
        }
        if spaceBreak || special { a.blockAllowed = false }
        if lineBreaks { a.blockPlainAllowed = false }
        if blockIndicators { a.blockPlainAllowed = false }
        return a
    }

    static func doubleQuoted(_ s: String) -> String {
        var out = "\""
        let hexDigits = Array("0123456789ABCDEF")
        func hex(_ v: UInt32, _ width: Int) -> String {
            var r = ""
            for shift in stride(from: (width - 1) * 4, through: 0, by: -4) { r.append(hexDigits[Int((v >> UInt32(shift)) & 0xF)]) }
            return r
        }
        for c in s.unicodeScalars {
            if isPrintable(c) && !isBreak(c) && c != "\"" && c != "\\" && c.value != 0xFEFF {
                out.unicodeScalars.append(c)
                continue
            }
            switch c.value {
            case 0x00: out += "\\0"
            case 0x07: out += "\\a"
            case 0x08: out += "\\b"
            case 0x09: out += "\\t"
            case 0x0A: out += "\\n"
            case 0x0B: out += "\\v"
            case 0x0C: out += "\\f"
            case 0x0D: out += "\\r"
            case 0x1B: out += "\\e"
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x85: out += "\\N"
            case 0xA0: out += "\\_"
            case 0x2028: out += "\\L"
            case 0x2029: out += "\\P"
            default:
                if c.value <= 0xFF { out += "\\x" + hex(c.value, 2) }
                else if c.value <= 0xFFFF { out += "\\u" + hex(c.value, 4) }
                else { out += "\\U" + hex(c.value, 8) }
            }
        }
        return out + "\""
    }

    /// A literal block (`|`), with an indentation indicator when the text starts with a space or a
    /// line break, and chomping from its trailing line breaks.
    static func literal(_ s: String, indent: Int) -> String {
        var header = "|"
        if let first = s.unicodeScalars.first, first == " " || isBreak(first) { header += "2" }
        let scalars = Array(s.unicodeScalars)
        if let last = scalars.last, !isBreak(last) {
            header += "-"
        } else if scalars.count == 1 {
            header += "+"
        } else if isBreak(scalars[scalars.count - 2]) {
            header += "+"
        }
        let contentIndent = String(repeating: " ", count: indent + 2)
        var out = header
        var lines = s.split(separator: "\n", omittingEmptySubsequences: false)
        if s.hasSuffix("\n") { lines.removeLast() }
        for line in lines {
            out += "\n"
            if !line.isEmpty { out += contentIndent + line }
        }
        return out
    }
}

/// go-yaml v3's ordering of map keys: letters before other characters, runs of digits compared as
/// numbers.
func goYAMLKeyLess(_ a: String, _ b: String) -> Bool {
    let ar = Array(a.unicodeScalars), br = Array(b.unicodeScalars)
    func isDigit(_ c: Unicode.Scalar) -> Bool { c.properties.numericType == .decimal }
    func isLetter(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic }
    var digits = false
    var i = 0
    while i < ar.count && i < br.count {
        if ar[i] == br[i] {
            digits = isDigit(ar[i])
            i += 1
            continue
        }
        let al = isLetter(ar[i]), bl = isLetter(br[i])
        if al && bl { return ar[i].value < br[i].value }
        if al || bl { return digits ? al : bl }
        var an: Int64 = 0, bn: Int64 = 0
        if ar[i] == "0" || br[i] == "0" {
            var j = i - 1
            while j >= 0 && isDigit(ar[j]) {
                if ar[j] != "0" { an = 1; bn = 1; break }
                j -= 1
            }
        }
        var ai = i
        while ai < ar.count && isDigit(ar[ai]) { an = an &* 10 &+ Int64(ar[ai].value - 48); ai += 1 }
        var bi = i
        while bi < br.count && isDigit(br[bi]) { bn = bn &* 10 &+ Int64(br[bi].value - 48); bi += 1 }
        if an != bn { return an < bn }
        if ai != bi { return ai < bi }
        return ar[i].value < br[i].value
    }
    return ar.count < br.count
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return self.replacing(target, with: replacement)
    }
}
