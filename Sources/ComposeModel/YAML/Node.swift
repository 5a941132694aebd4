/// A YAML value with the location it was read from. Every stage of loading (interpolation, extends,
/// include, merging, canonical forms) works on nodes, so that any problem can be reported at the
/// `file:line:column` of the text that caused it.
public struct Node: Sendable {
    public enum Kind: Sendable {
        case null
        case bool(Bool)
        case int(Int64)
        case float(Double)
        case string(String)
        /// A plain scalar that YAML reads as a date; docker compose refuses these where it expects strings.
        case timestamp(String)
        case sequence([Node])
        case mapping([Entry])
    }

    /// Compose's merge tags: `!reset` drops a value inherited from an earlier file, `!override`
    /// replaces it instead of merging.
    public enum MergeTag: String, Sendable {
        case reset = "!reset"
        case override = "!override"
    }

    public struct Entry: Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: Node

        public init(key: String, keyLocation: SourceLocation, value: Node) {
            self.key = key
            self.keyLocation = keyLocation
            self.value = value
        }
    }

    public var kind: Kind
    public var location: SourceLocation
    public var mergeTag: MergeTag?
    /// True for scalars written with quotes or as block scalars; such values are never numbers.
    public var isQuoted: Bool = false
    /// The text of a plain scalar that YAML read as something other than a string.
    public var rawText: String?

    public init(_ kind: Kind, at location: SourceLocation, mergeTag: MergeTag? = nil) {
        self.kind = kind
        self.location = location
        self.mergeTag = mergeTag
    }

    public static func string(_ s: String, at location: SourceLocation) -> Node { Node(.string(s), at: location) }
    public static func mapping(_ entries: [Entry], at location: SourceLocation) -> Node { Node(.mapping(entries), at: location) }
    public static func sequence(_ items: [Node], at location: SourceLocation) -> Node { Node(.sequence(items), at: location) }
    public static func null(at location: SourceLocation) -> Node { Node(.null, at: location) }
}

extension Node {
    public var isNull: Bool { if case .null = kind { return true } else { return false } }
    public var isMapping: Bool { if case .mapping = kind { return true } else { return false } }
    public var isSequence: Bool { if case .sequence = kind { return true } else { return false } }
    public var isScalar: Bool {
        switch kind {
        case .sequence, .mapping: return false
        default: return true
        }
    }

    public var stringValue: String? { if case .string(let s) = kind { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = kind { return b } else { return nil } }
    public var intValue: Int64? { if case .int(let i) = kind { return i } else { return nil } }
    public var entries: [Entry]? { if case .mapping(let e) = kind { return e } else { return nil } }
    public var items: [Node]? { if case .sequence(let s) = kind { return s } else { return nil } }

    /// The value of a scalar as docker compose prints it when a string is wanted (Go's `%v`).
    public var scalarText: String? {
        switch kind {
        case .null: return nil
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .float(let f): return GoFormat.float(f)
        case .string(let s), .timestamp(let s): return s
        case .sequence, .mapping: return nil
        }
    }

    /// A short name of the value's type, for messages.
    public var typeName: String {
        switch kind {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .float: return "number"
        case .string: return "string"
        case .timestamp: return "date"
        case .sequence: return "list"
        case .mapping: return "mapping"
        }
    }

    public subscript(key: String) -> Node? {
        get {
            guard case .mapping(let entries) = kind else { return nil }
            return entries.first(where: { $0.key == key })?.value
        }
        set {
            guard case .mapping(var entries) = kind else { return }
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append(Entry(key: key, keyLocation: newValue.location, value: newValue))
            }
            kind = .mapping(entries)
        }
    }

    public func entry(_ key: String) -> Entry? {
        guard case .mapping(let entries) = kind else { return nil }
        return entries.first(where: { $0.key == key })
    }

    public var keys: [String] { entries?.map(\.key) ?? [] }

    /// Applies `body` to every entry value of a mapping in place.
    public mutating func mapValues(_ body: (String, inout Node) throws -> Void) rethrows {
        guard case .mapping(var entries) = kind else { return }
        kind = .null
        for i in entries.indices { try body(entries[i].key, &entries[i].value) }
        kind = .mapping(entries)
    }

    /// Applies `body` to every item of a sequence in place.
    public mutating func mapItems(_ body: (inout Node) throws -> Void) rethrows {
        guard case .sequence(var items) = kind else { return }
        kind = .null
        for i in items.indices { try body(&items[i]) }
        kind = .sequence(items)
    }

    /// Modifies the value stored under `key`, if present.
    public mutating func modify(_ key: String, _ body: (inout Node) throws -> Void) rethrows {
        guard case .mapping(var entries) = kind, let i = entries.firstIndex(where: { $0.key == key }) else { return }
        kind = .null
        defer { kind = .mapping(entries) }
        try body(&entries[i].value)
    }
}

extension Node.Kind {
    /// "null", "a boolean", "an integer"…, for messages.
    public var articleName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .float: return "a number"
        case .string: return "a string"
        case .timestamp: return "a date"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}
