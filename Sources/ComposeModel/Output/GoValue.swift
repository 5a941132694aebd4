/// A value shaped the way docker compose's Go structs marshal: structs keep their field order, maps
/// are written with sorted keys. `config` builds one from the typed project and writes it as YAML or
/// JSON.
public indirect enum GoValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case float32(Float)
    case string(String)
    case list([GoValue])
    /// A Go map: written with sorted keys.
    case map([String: GoValue])
    /// A Go struct: written in field order.
    case object([(String, GoValue)])

    var isEmptyCollection: Bool {
        switch self {
        case .list(let l): return l.isEmpty
        case .map(let m): return m.isEmpty
        case .object(let o): return o.isEmpty
        default: return false
        }
    }
}

public enum OutputFormat: Sendable {
    case yaml
    case json
}

/// Builds a struct value the way `encoding/json` and go-yaml treat `omitempty` fields.
struct StructEncoder {
    let format: OutputFormat
    var fields: [(String, GoValue)] = []

    init(_ format: OutputFormat) { self.format = format }

    var value: GoValue { .object(fields) }

    /// `string` with omitempty.
    mutating func string(_ key: String, _ v: String?) {
        if let v, !v.isEmpty { fields.append((key, .string(v))) }
    }

    /// `bool` with omitempty.
    mutating func bool(_ key: String, _ v: Bool) {
        if v { fields.append((key, .bool(true))) }
    }

    /// `*bool` with omitempty.
    mutating func bool(_ key: String, _ v: Bool?) {
        if let v { fields.append((key, .bool(v))) }
    }

    /// Integer with omitempty.
    mutating func int(_ key: String, _ v: Int64) {
        if v != 0 { fields.append((key, .int(v))) }
    }

    /// Pointer to an integer with omitempty.
    mutating func int(_ key: String, _ v: Int64?) {
        if let v { fields.append((key, .int(v))) }
    }

    /// Any value that is omitted when nil (a Go pointer or interface).
    mutating func value(_ key: String, _ v: GoValue?) {
        if let v { fields.append((key, v)) }
    }

    /// A slice or map with omitempty: left out when empty.
    mutating func collection(_ key: String, _ v: GoValue?) {
        if let v, !v.isEmptyCollection { fields.append((key, v)) }
    }

    mutating func strings(_ key: String, _ v: [String]?) {
        if let v, !v.isEmpty { fields.append((key, .list(v.map(GoValue.string)))) }
    }

    mutating func stringMap(_ key: String, _ v: [String: String]?) {
        if let v, !v.isEmpty { fields.append((key, .map(v.mapValues(GoValue.string)))) }
    }

    /// A non-pointer struct field with omitempty: go-yaml leaves it out when it is zero, encoding/json
    /// always writes it.
    mutating func embedded(_ key: String, _ v: GoValue) {
        if format == .yaml && v.isEmptyCollection { return }
        fields.append((key, v))
    }

    /// A command (compose-go's ShellCommand): written as null in JSON when unset; in YAML left out
    /// when unset but written as `[]` when explicitly empty.
    mutating func command(_ key: String, _ v: GoValue?) {
        switch format {
        case .json: fields.append((key, v ?? .null))
        case .yaml: if let v { fields.append((key, v)) }
        }
    }

    /// A field without omitempty in either format.
    mutating func always(_ key: String, _ v: GoValue) {
        fields.append((key, v))
    }

    /// `x-` extensions: inlined by go-yaml, dropped by encoding/json.
    mutating func extensions(_ ext: [String: Node]) {
        guard format == .yaml, !ext.isEmpty else { return }
        for key in ext.keys.sorted() { fields.append((key, GoValue(ext[key]!))) }
    }
}

extension GoValue {
    /// A YAML node as Go holds it in a `map[string]any`.
    public init(_ node: Node) {
        switch node.kind {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .float(let f): self = .float(f)
        case .string(let s), .timestamp(let s): self = .string(s)
        case .sequence(let items): self = .list(items.map(GoValue.init))
        case .mapping(let entries):
            var m: [String: GoValue] = [:]
            for e in entries { m[e.key] = GoValue(e.value) }
            self = .map(m)
        }
    }
}
