/// Writes a `GoValue` as Go's `json.MarshalIndent(v, "", "  ")` does: sorted map keys, HTML-safe
/// escaping of `<`, `>` and `&`, `\u` escapes for control characters.
public enum JSONEmitter {
    public static func emit(_ value: GoValue) -> String {
        var out = ""
        out.reserveCapacity(4096)
        write(value, indent: 0, to: &out)
        return out
    }

    static func write(_ value: GoValue, indent: Int, to out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let f): out += GoFormat.jsonFloat(f)
        case .float32(let f): out += GoFormat.jsonFloat(Double(f), bits: 32)
        case .string(let s): writeString(s, to: &out)
        case .list(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[\n"
            for (i, item) in items.enumerated() {
                pad(indent + 1, &out)
                write(item, indent: indent + 1, to: &out)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            pad(indent, &out)
            out += "]"
        case .map(let m):
            writeObject(m.keys.sorted(by: byteOrder).map { ($0, m[$0]!) }, indent: indent, to: &out)
        case .object(let fields):
            writeObject(fields, indent: indent, to: &out)
        }
    }

    /// Go's `json.Marshal`: the same, without whitespace.
    public static func emitCompact(_ value: GoValue) -> String {
        var out = ""
        writeCompact(value, to: &out)
        return out
    }

    static func writeCompact(_ value: GoValue, to out: inout String) {
        func object(_ fields: [(String, GoValue)]) {
            out += "{"
            for (i, (key, v)) in fields.enumerated() {
                if i > 0 { out += "," }
                writeString(key, to: &out)
                out += ":"
                writeCompact(v, to: &out)
            }
            out += "}"
        }
        switch value {
        case .list(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                writeCompact(item, to: &out)
            }
            out += "]"
        case .map(let m): object(m.keys.sorted(by: byteOrder).map { ($0, m[$0]!) })
        case .object(let fields): object(fields)
        default: write(value, indent: 0, to: &out)
        }
    }

    static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    static func writeObject(_ fields: [(String, GoValue)], indent: Int, to out: inout String) {
        if fields.isEmpty { out += "{}"; return }
        out += "{\n"
        for (i, (key, value)) in fields.enumerated() {
            pad(indent + 1, &out)
            writeString(key, to: &out)
            out += ": "
            write(value, indent: indent + 1, to: &out)
            out += i + 1 < fields.count ? ",\n" : "\n"
        }
        pad(indent, &out)
        out += "}"
    }

    static func pad(_ n: Int, _ out: inout String) {
        for _ in 0..<n { out += "  " }
    }

    static func writeString(_ s: String, to out: inout String) { JSONString.append(s, to: &out) }
}
