import ComposeModel

/// Kubernetes' naming and value rules, as the API server validates them.
enum KubeNames {
    /// A DNS-1123 label (object names, Service names, volume and container names): lower case letters,
    /// digits and `-`, starting and ending with a letter or digit, at most 63 characters.
    static func label(_ text: String) -> String {
        var out = ""
        for c in text.lowercased() {
            if c.isASCII && (c.isLetter || c.isNumber) { out.append(c) } else if !out.isEmpty && out.last != "-" { out.append("-") }
        }
        while out.hasSuffix("-") { out.removeLast() }
        if out.count > 63 { out = String(out.prefix(63)); while out.hasSuffix("-") { out.removeLast() } }
        return out.isEmpty ? "x" : out
    }

    static func isLabelName(_ s: Substring) -> Bool {
        guard !s.isEmpty, s.count <= 63, let f = s.first, let l = s.last, f.isASCII && (f.isLetter || f.isNumber), l.isASCII && (l.isLetter || l.isNumber) else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    /// A label key: an optional DNS subdomain prefix and `/`, then a name.
    static func isLabelKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return isLabelName(parts[0])
        case 2:
            let prefix = parts[0]
            return !prefix.isEmpty && prefix.count <= 253 && prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
                !$0.isEmpty && $0.count <= 63 && $0.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") } && $0.first != "-" && $0.last != "-"
            } && isLabelName(parts[1])
        default: return false
        }
    }

    static func isLabelValue(_ value: String) -> Bool { value.isEmpty || isLabelName(Substring(value)) }

    /// A port name (IANA_SVC_NAME): at most 15 lower case letters, digits and `-`, with a letter.
    static func portName(_ proto: String, _ port: Int64) -> String { "\(proto.lowercased())-\(port)" }

    /// A key of a Secret's or ConfigMap's data: letters, digits, `-`, `_` and `.`.
    static func dataKey(_ text: String) -> String {
        let mapped = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") ? $0 : "_" })
        return mapped.isEmpty ? "data" : mapped
    }
}

/// Kubernetes quantities and durations from compose's values.
enum KubeUnits {
    /// Bytes as a quantity: `512Mi`, `1Gi`, or plain bytes.
    static func bytes(_ n: Int64) -> String {
        for (suffix, unit) in [("Ti", Int64(1) << 40), ("Gi", Int64(1) << 30), ("Mi", Int64(1) << 20), ("Ki", Int64(1) << 10)] where n >= unit && n % unit == 0 {
            return "\(n / unit)\(suffix)"
        }
        return "\(n)"
    }

    /// CPUs as a quantity: `2`, `500m`.
    static func cpus(_ c: Float) -> String {
        let milli = Int64((Double(c) * 1000).rounded())
        return milli % 1000 == 0 ? "\(milli / 1000)" : "\(milli)m"
    }

    /// Whole seconds, rounded up, at least `minimum`.
    static func seconds(_ d: Duration?, default value: Int64, minimum: Int64 = 1) -> Int64 {
        guard let d else { return value }
        let s = (d.nanoseconds + 999_999_999) / 1_000_000_000
        return max(minimum, s)
    }
}

/// RFC 4648 base64, for a Secret's `data`.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Building manifest values: Go-struct-like objects keep their field order when written.
struct Fields {
    var list: [(String, GoValue)] = []

    init() {}

    init(_ list: [(String, GoValue)]) { self.list = list }

    var value: GoValue { .object(list) }
    var isEmpty: Bool { list.isEmpty }

    mutating func set(_ key: String, _ v: GoValue) { list.append((key, v)) }
    mutating func set(_ key: String, _ v: String) { list.append((key, .string(v))) }
    mutating func set(_ key: String, _ v: Int64) { list.append((key, .int(v))) }
    mutating func set(_ key: String, _ v: Bool) { list.append((key, .bool(v))) }
    mutating func string(_ key: String, _ v: String?) { if let v, !v.isEmpty { set(key, v) } }
    mutating func strings(_ key: String, _ v: [String]?) { if let v, !v.isEmpty { set(key, .list(v.map(GoValue.string))) } }
    mutating func map(_ key: String, _ m: [String: String]) { if !m.isEmpty { set(key, .map(m.mapValues(GoValue.string))) } }
    mutating func object(_ key: String, _ f: Fields) { if !f.isEmpty { set(key, f.value) } }
    mutating func objects(_ key: String, _ items: [Fields]) { if !items.isEmpty { set(key, .list(items.map(\.value))) } }
}
