import Diagnostics

/// Column-aligned tables as docker prints them (three spaces between columns).
enum Table {
    static func render(_ rows: [[String]], separator: Int = 3) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (i, cell) in row.enumerated() where i < columns - 1 { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                line += cell
                if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + separator) }
            }
            out += line + "\n"
        }
        return out
    }
}

/// Minimal JSON text for output that is built by hand.
enum JSONText {
    static func string(_ s: String) -> String { JSONString.quoted(s) }

    static func object(_ fields: [String: String]) -> String {
        "{" + fields.keys.sorted().map { "\(string($0)):\(string(fields[$0]!))" }.joined(separator: ",") + "}"
    }

    /// A field value: a string (quoted) or raw JSON (numbers, arrays).
    enum Value: ExpressibleByStringLiteral {
        case text(String)
        case raw(String)

        init(stringLiteral value: String) { self = .text(value) }
    }

    static func object(_ fields: [(String, Value)]) -> String {
        "{" + fields.sorted { $0.0 < $1.0 }.map { key, value in
            switch value {
            case .text(let s): return "\(string(key)):\(string(s))"
            case .raw(let r): return "\(string(key)):\(r)"
            }
        }.joined(separator: ",") + "}"
    }
}
