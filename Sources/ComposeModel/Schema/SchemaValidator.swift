/// Validates nodes against a JSON schema (the subset of draft 2020-12 the compose specification uses:
/// `type`, `properties`, `patternProperties`, `additionalProperties`, `required`, `items`,
/// `uniqueItems`, `enum`, `minimum`, `maximum`, `pattern`, `oneOf`, `anyOf`, `allOf`, `not`, `$ref`
/// to `#/$defs/…` or `#/definitions/…`). Problems are reported with the location of the offending
/// key or value and a message that says what is expected.
public final class SchemaValidator: Sendable {
    enum JSONType: String, Sendable {
        case object, array, string, number, integer, boolean, null

        var noun: String {
            switch self {
            case .object: return "a mapping"
            case .array: return "a list"
            case .string: return "a string"
            case .number: return "a number"
            case .integer: return "an integer"
            case .boolean: return "a boolean"
            case .null: return "null"
            }
        }
    }

    enum Additional: Sendable {
        case allowed
        case forbidden
        case schema(Int)
    }

    struct Schema: Sendable {
        var types: [JSONType]?
        var properties: [String: Int] = [:]
        var propertyOrder: [String] = []
        var patternProperties: [(MiniRegex, Int)] = []
        var additional: Additional = .allowed
        var required: [String] = []
        var items: Int?
        var uniqueItems = false
        var enumValues: [Node]?
        var minimum: Double?
        var maximum: Double?
        var pattern: (MiniRegex, String)?
        var oneOf: [Int] = []
        var anyOf: [Int] = []
        var allOf: [Int] = []
        var not: Int?
        var ref: String?
        var alwaysFalse = false
    }

    struct Problem: Sendable {
        var path: String
        var location: SourceLocation
        var message: String
    }

    let schemas: [Schema]
    let definitions: [String: Int]

    /// The compose specification's schema, compiled once.
    public static let compose: SchemaValidator = {
        let node = try! YAMLParser.parse(ComposeSpecSchema.json, file: "compose-spec.json")[0]
        return SchemaValidator(node)
    }()

    public init(_ root: Node) {
        var builder = Builder()
        _ = builder.compile(root)
        var definitions: [String: Int] = [:]
        for key in ["$defs", "definitions"] {
            for entry in root[key]?.entries ?? [] {
                definitions["#/\(key)/\(entry.key)"] = builder.compile(entry.value)
            }
        }
        schemas = builder.schemas
        self.definitions = definitions
    }

    private struct Builder {
        var schemas: [Schema] = []

        mutating func compile(_ node: Node) -> Int {
            let index = schemas.count
            schemas.append(Schema())
            var s = Schema()
            if case .bool(let b) = node.kind {
                s.alwaysFalse = !b
                schemas[index] = s
                return index
            }
            if let t = node["type"] {
                if let name = t.stringValue {
                    s.types = JSONType(rawValue: name).map { [$0] }
                } else if let list = t.items {
                    s.types = list.compactMap { $0.stringValue.flatMap(JSONType.init(rawValue:)) }
                }
            }
            for entry in node["properties"]?.entries ?? [] {
                s.properties[entry.key] = compile(entry.value)
                s.propertyOrder.append(entry.key)
            }
            for entry in node["patternProperties"]?.entries ?? [] {
                if let regex = MiniRegex(entry.key) { s.patternProperties.append((regex, compile(entry.value))) }
            }
            if let additional = node["additionalProperties"] {
                switch additional.kind {
                case .bool(let b): s.additional = b ? .allowed : .forbidden
                default: s.additional = .schema(compile(additional))
                }
            }
            s.required = node["required"]?.items?.compactMap(\.stringValue) ?? []
            if let items = node["items"] { s.items = compile(items) }
            s.uniqueItems = node["uniqueItems"]?.boolValue ?? false
            s.enumValues = node["enum"]?.items
            s.minimum = node["minimum"].flatMap(Self.number)
            s.maximum = node["maximum"].flatMap(Self.number)
            if let p = node["pattern"]?.stringValue, let regex = MiniRegex(p) { s.pattern = (regex, p) }
            s.oneOf = (node["oneOf"]?.items ?? []).map { compile($0) }
            s.anyOf = (node["anyOf"]?.items ?? []).map { compile($0) }
            s.allOf = (node["allOf"]?.items ?? []).map { compile($0) }
            if let n = node["not"] { s.not = compile(n) }
            s.ref = node["$ref"]?.stringValue
            schemas[index] = s
            return index
        }

        static func number(_ node: Node) -> Double? {
            switch node.kind {
            case .int(let i): return Double(i)
            case .float(let f): return f
            default: return nil
            }
        }
    }

    /// Validates `node` against the root schema; `path` names the node in messages.
    func validate(_ node: Node, path: String = "") -> [Problem] {
        var problems: [Problem] = []
        validate(node, 0, path, &problems)
        return problems
    }

    func resolved(_ index: Int) -> Schema {
        var s = schemas[index]
        var guardCount = 0
        while let ref = s.ref, let target = definitions[ref], guardCount < 32 {
            // A $ref with sibling keywords is rare in the compose schema; the reference wins.
            s = schemas[target]
            guardCount += 1
        }
        return s
    }

    static func types(of node: Node) -> [JSONType] {
        switch node.kind {
        case .null: return [.null]
        case .bool: return [.boolean]
        case .int: return [.integer, .number]
        case .float(let f): return f.rounded() == f && f.isFinite ? [.integer, .number] : [.number]
        case .string: return [.string]
        case .timestamp: return []
        case .sequence: return [.array]
        case .mapping: return [.object]
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func accepts(_ s: Schema, _ node: Node) -> Bool {
        guard let types = s.types else { return true }
        let actual = Self.types(of: node)
        return types.contains(where: actual.contains)
    }

    private func validate(_ node: Node, _ index: Int, _ path: String, _ problems: inout [Problem]) {
        let s = resolved(index)
        if s.alwaysFalse {
            problems.append(Problem(path: path, location: node.location, message: "\(path) is not allowed here"))
            return
        }
        if let types = s.types, !accepts(s, node) {
            let expected = Self.describe(types)
            if case .timestamp(let text) = node.kind {
                problems.append(Problem(path: path, location: node.location,
                                        message: "\(path) must be \(expected), but YAML reads \(text) as a date (quote it: \"\(text)\")"))
            } else {
                problems.append(Problem(path: path, location: node.location, message: "\(path) must be \(expected), not \(Self.describe(node))"))
            }
            return
        }
        if let values = s.enumValues, !values.contains(where: { Self.equal($0, node) }) {
            let allowed = values.compactMap(\.scalarText).map { "'\($0)'" }.joined(separator: ", ")
            problems.append(Problem(path: path, location: node.location,
                                    message: "\(path) must be one of \(allowed), not '\(node.scalarText ?? node.typeName)'"))
        }
        if let number = Self.numeric(node) {
            if let min = s.minimum, number < min {
                problems.append(Problem(path: path, location: node.location, message: "\(path) must be at least \(GoFormat.float(min)), not \(GoFormat.float(number))"))
            }
            if let max = s.maximum, number > max {
                problems.append(Problem(path: path, location: node.location, message: "\(path) must be at most \(GoFormat.float(max)), not \(GoFormat.float(number))"))
            }
        }
        if let (regex, pattern) = s.pattern, case .string(let text) = node.kind, !regex.matches(text) {
            problems.append(Problem(path: path, location: node.location, message: "\(path): '\(text)' does not match the pattern '\(pattern)'"))
        }
        switch node.kind {
        case .mapping(let entries):
            validateObject(entries, node, s, path, &problems)
        case .sequence(let items):
            if let itemSchema = s.items {
                for (i, item) in items.enumerated() {
                    validate(item, itemSchema, "\(path)[\(i)]", &problems)
                }
            }
            if s.uniqueItems {
                var seen: [(String, Int)] = []
                for (i, item) in items.enumerated() {
                    let key = Self.canonicalText(item)
                    if let first = seen.first(where: { $0.0 == key }) {
                        problems.append(Problem(path: path, location: item.location,
                                                message: "\(path) lists '\(item.scalarText ?? key)' twice (items \(first.1) and \(i)); items must be unique"))
                    } else {
                        seen.append((key, i))
                    }
                }
            }
        default:
            break
        }
        for sub in s.allOf { validate(node, sub, path, &problems) }
        if !s.anyOf.isEmpty {
            var best: [Problem]?
            for sub in s.anyOf {
                var p: [Problem] = []
                validate(node, sub, path, &p)
                if p.isEmpty { best = nil; break }
                if best == nil || p.count < best!.count { best = p }
            }
            if let best { problems.append(contentsOf: best) }
        }
        if !s.oneOf.isEmpty { validateOneOf(node, s.oneOf, path, &problems) }
        if let not = s.not {
            var p: [Problem] = []
            validate(node, not, path, &p)
            if p.isEmpty { problems.append(Problem(path: path, location: node.location, message: "\(path) has a form that is not allowed")) }
        }
    }

    private func validateObject(_ entries: [Node.Entry], _ node: Node, _ s: Schema, _ path: String, _ problems: inout [Problem]) {
        for entry in entries {
            let childPath = Self.join(path, entry.key)
            if let property = s.properties[entry.key] {
                validate(entry.value, property, childPath, &problems)
                continue
            }
            var matched = false
            for (regex, sub) in s.patternProperties where regex.matches(entry.key) {
                matched = true
                validate(entry.value, sub, childPath, &problems)
            }
            if matched { continue }
            switch s.additional {
            case .allowed: break
            case .schema(let sub): validate(entry.value, sub, childPath, &problems)
            case .forbidden:
                var message: String
                if path.isEmpty {
                    message = "unknown top-level key '\(entry.key)'"
                } else {
                    message = "\(path): unknown key '\(entry.key)'"
                }
                // A map of user-chosen names (services, networks…) whose key breaks the name pattern.
                let isNameMap = s.propertyOrder.isEmpty && s.patternProperties.contains { $0.0.matches("Ab.c_d-1") }
                if isNameMap {
                    message = "\(path): '\(entry.key)' is not a valid name: use only letters, digits, '.', '_' and '-'"
                } else if let suggestion = Suggestions.nearest(entry.key, in: s.propertyOrder) {
                    message += " (did you mean '\(suggestion)'?)"
                } else if s.patternProperties.contains(where: { $0.0.matches("x-a") }) {
                    message += " (extension keys must start with 'x-')"
                }
                problems.append(Problem(path: childPath, location: entry.keyLocation, message: message))
            }
        }
        for key in s.required where !entries.contains(where: { $0.key == key }) {
            problems.append(Problem(path: path, location: node.location, message: "\(path.isEmpty ? "the file" : path) must set '\(key)'"))
        }
    }

    private func validateOneOf(_ node: Node, _ branches: [Int], _ path: String, _ problems: inout [Problem]) {
        var results: [(Int, [Problem])] = []
        var valid = 0
        for branch in branches {
            var p: [Problem] = []
            validate(node, branch, path, &p)
            if p.isEmpty { valid += 1 }
            results.append((branch, p))
        }
        if valid == 1 { return }
        if valid > 1 {
            // Several forms fit: the compose schema's oneOf branches are meant to be exclusive by type,
            // so this only happens for values that are fine either way.
            return
        }
        let fitting = results.filter { accepts(resolved($0.0), node) }
        if fitting.isEmpty {
            let types = branches.flatMap { resolved($0).types ?? [] }
            var unique: [JSONType] = []
            for t in types where !unique.contains(t) { unique.append(t) }
            if case .timestamp(let text) = node.kind {
                problems.append(Problem(path: path, location: node.location,
                                        message: "\(path) must be \(Self.describe(unique)), but YAML reads \(text) as a date (quote it: \"\(text)\")"))
            } else {
                problems.append(Problem(path: path, location: node.location,
                                        message: "\(path) must be \(Self.describe(unique)), not \(Self.describe(node))"))
            }
            return
        }
        let best = fitting.min(by: { $0.1.count < $1.1.count })!
        problems.append(contentsOf: best.1)
    }

    static func describe(_ types: [JSONType]) -> String {
        var nouns: [String] = []
        for t in types {
            // "number" already covers integers.
            if t == .integer && types.contains(.number) { continue }
            if !nouns.contains(t.noun) { nouns.append(t.noun) }
        }
        switch nouns.count {
        case 0: return "a value"
        case 1: return nouns[0]
        default: return nouns.dropLast().joined(separator: ", ") + " or " + nouns.last!
        }
    }

    static func describe(_ node: Node) -> String {
        switch node.kind {
        case .null: return "null"
        case .bool(let b): return "a boolean (\(b))"
        case .int(let i): return "a number (\(i))"
        case .float(let f): return "a number (\(GoFormat.float(f)))"
        case .string(let s): return "a string ('\(s)')"
        case .timestamp(let s): return "a date (\(s))"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }

    static func numeric(_ node: Node) -> Double? {
        switch node.kind {
        case .int(let i): return Double(i)
        case .float(let f): return f
        default: return nil
        }
    }

    static func equal(_ a: Node, _ b: Node) -> Bool {
        switch (a.kind, b.kind) {
        case (.string(let x), .string(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default:
            if let x = numeric(a), let y = numeric(b) { return x == y }
            return false
        }
    }

    static func canonicalText(_ node: Node) -> String {
        switch node.kind {
        case .sequence(let items): return "[" + items.map(canonicalText).joined(separator: ",") + "]"
        case .mapping(let entries):
            return "{" + entries.sorted { $0.key < $1.key }.map { "\($0.key):\(canonicalText($0.value))" }.joined(separator: ",") + "}"
        case .string(let s): return "s:" + s
        default: return "v:" + (node.scalarText ?? "null")
        }
    }
}

/// "Did you mean …?" suggestions by edit distance.
public enum Suggestions {
    public static func nearest(_ word: String, in candidates: [String]) -> String? {
        var best: (String, Int)?
        for c in candidates {
            let d = distance(word, c)
            let limit = max(1, min(3, (c.count + 1) / 3))
            if d <= limit, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and transpositions.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf8), y = Array(b.utf8)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[x.count][y.count]
    }
}
