import CYAML

/// Reads YAML text into located nodes with libyaml's event parser.
///
/// Scalars are resolved as docker compose's YAML library (go-yaml v3) resolves them: `true`/`false`,
/// `null`/`~`, integers with Go's base prefixes (and 1.1 octals such as `0755`), floats, dates; anchors
/// and aliases are expanded; merge keys (`<<`, single or list) are applied; duplicate keys are refused
/// with both locations; compose's `!reset` and `!override` tags are kept on the nodes.
public enum YAMLParser {
    /// Parses every document of `text`. Empty documents are returned as null nodes.
    public static func parse(_ text: String, file: String) throws(ComposeError) -> [Node] {
        var state = ParserState(file: file)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw ComposeError(.error("cannot initialise the YAML parser", at: nil))
        }
        defer { yaml_parser_delete(&parser) }

        var utf8 = Array(text.utf8)
        let count = utf8.count
        return try utf8.withUnsafeMutableBufferPointer { (buffer) throws(ComposeError) -> [Node] in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var documents: [Node] = []
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    throw ComposeError(syntaxError(parser, file: file))
                }
                defer { yaml_event_delete(&event) }
                let type = event.type
                if type == YAML_STREAM_END_EVENT { break }
                if let document = try state.handle(event) {
                    documents.append(document)
                }
                if !state.diagnostics.isEmpty { throw ComposeError(state.diagnostics) }
            }
            return documents
        }
    }

    static func syntaxError(_ parser: yaml_parser_t, file: String) -> Diagnostic {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let mark = parser.problem_mark
        var location = SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
        if parser.error == YAML_READER_ERROR {
            location = SourceLocation(file: file, line: 1, column: 1)
        }
        var notes: [Diagnostic] = []
        if let context = parser.context.map({ String(cString: $0) }) {
            let cm = parser.context_mark
            notes.append(.note(context, at: SourceLocation(file: file, line: Int(cm.line) + 1, column: Int(cm.column) + 1)))
        }
        var message = "YAML syntax: \(problem)"
        if problem == "found character that cannot start any token" {
            message += " (tabs cannot be used for indentation)"
        }
        return .error(message, at: location, notes: notes)
    }
}

private struct ParserState {
    enum Frame {
        case sequence(items: [Node], location: SourceLocation, anchor: String?, tag: Node.MergeTag?)
        case mapping(entries: [Node.Entry], pendingKey: Node?, merges: [Node], location: SourceLocation, anchor: String?, tag: Node.MergeTag?)
    }

    let file: String
    var stack: [Frame] = []
    var anchors: [String: Node] = [:]
    var document: Node?
    var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self))
    }

    mutating func handle(_ event: yaml_event_t) throws(ComposeError) -> Node? {
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            document = nil
            anchors = [:]
        case YAML_DOCUMENT_END_EVENT:
            let result = document ?? Node(.null, at: location(event.start_mark))
            document = nil
            return result
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard var node = anchors[name] else {
                diagnostics.append(.error("YAML: unknown anchor '\(name)' referenced", at: location(event.start_mark)))
                return nil
            }
            node.mergeTag = nil
            add(node, isAlias: true)
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)), as: UTF8.self)
            let tag = Self.string(scalar.tag)
            let loc = location(event.start_mark)
            let plain = scalar.style == YAML_PLAIN_SCALAR_STYLE || scalar.style == YAML_ANY_SCALAR_STYLE
            var node = resolveScalar(value, tag: tag, plain: plain, at: loc)
            node.isQuoted = !plain
            if plain, case .string = node.kind {} else if plain { node.rawText = value }
            node.mergeTag = tag.flatMap(Node.MergeTag.init(rawValue:))
            if let anchor = Self.string(scalar.anchor) { anchors[anchor] = node }
            add(node, isAlias: false)
        case YAML_SEQUENCE_START_EVENT:
            let s = event.data.sequence_start
            stack.append(.sequence(items: [], location: location(event.start_mark), anchor: Self.string(s.anchor),
                                   tag: Self.string(s.tag).flatMap(Node.MergeTag.init(rawValue:))))
        case YAML_SEQUENCE_END_EVENT:
            guard case .sequence(let items, let loc, let anchor, let tag)? = stack.popLast() else { break }
            let node = Node(.sequence(items), at: loc, mergeTag: tag)
            if let anchor { anchors[anchor] = node }
            add(node, isAlias: false)
        case YAML_MAPPING_START_EVENT:
            let m = event.data.mapping_start
            stack.append(.mapping(entries: [], pendingKey: nil, merges: [], location: location(event.start_mark),
                                  anchor: Self.string(m.anchor), tag: Self.string(m.tag).flatMap(Node.MergeTag.init(rawValue:))))
        case YAML_MAPPING_END_EVENT:
            guard case .mapping(var entries, _, let merges, let loc, let anchor, let tag)? = stack.popLast() else { break }
            applyMerges(merges, into: &entries)
            let node = Node(.mapping(entries), at: loc, mergeTag: tag)
            if let anchor { anchors[anchor] = node }
            add(node, isAlias: false)
        default:
            break
        }
        return nil
    }

    /// `<<` keys: explicit keys win over merged ones, and earlier merge sources over later ones.
    mutating func applyMerges(_ merges: [Node], into entries: inout [Node.Entry]) {
        guard !merges.isEmpty else { return }
        var present = Set(entries.map(\.key))
        for source in merges {
            let sources: [Node]
            switch source.kind {
            case .mapping: sources = [source]
            case .sequence(let items): sources = items
            default:
                diagnostics.append(.error("YAML: the value of a merge key '<<' must be a mapping or a list of mappings", at: source.location))
                continue
            }
            for item in sources {
                guard case .mapping(let merged) = item.kind else {
                    diagnostics.append(.error("YAML: the value of a merge key '<<' must be a mapping or a list of mappings", at: item.location))
                    continue
                }
                for entry in merged where !present.contains(entry.key) {
                    present.insert(entry.key)
                    entries.append(entry)
                }
            }
        }
    }

    mutating func add(_ node: Node, isAlias: Bool) {
        guard var top = stack.popLast() else {
            document = node
            return
        }
        switch top {
        case .sequence(var items, let loc, let anchor, let tag):
            items.append(node)
            top = .sequence(items: items, location: loc, anchor: anchor, tag: tag)
        case .mapping(var entries, let pendingKey, var merges, let loc, let anchor, let tag):
            if let key = pendingKey {
                let keyText: String
                switch key.kind {
                case .string(let s): keyText = s
                case .mapping, .sequence:
                    diagnostics.append(.error("YAML: a mapping key must be a scalar, not a \(key.typeName)", at: key.location))
                    keyText = ""
                default:
                    // Compose models have string keys only: docker compose refuses `1:`, `true:`, `null:`.
                    let text = key.rawText ?? key.scalarText ?? "null"
                    diagnostics.append(.error("the key \(text) is read as \(key.kind.articleName), not a string (quote it: \"\(text)\")", at: key.location))
                    keyText = text
                }
                if keyText == "<<" && !key.isQuoted {
                    merges.append(node)
                } else if let first = entries.first(where: { $0.key == keyText }) {
                    diagnostics.append(.error("duplicate key '\(keyText)'", at: key.location,
                                              notes: [.note("'\(keyText)' first defined here", at: first.keyLocation)]))
                } else {
                    entries.append(Node.Entry(key: keyText, keyLocation: key.location, value: node))
                }
                top = .mapping(entries: entries, pendingKey: nil, merges: merges, location: loc, anchor: anchor, tag: tag)
            } else {
                top = .mapping(entries: entries, pendingKey: node, merges: merges, location: loc, anchor: anchor, tag: tag)
            }
        }
        stack.append(top)
    }

    func resolveScalar(_ value: String, tag: String?, plain: Bool, at location: SourceLocation) -> Node {
        let yamlTag = tag.flatMap { $0.hasPrefix("tag:yaml.org,2002:") ? String($0.dropFirst(18)) : nil }
        switch yamlTag {
        case "str"?, "binary"?: return Node(.string(value), at: location)
        case "null"?: return Node(.null, at: location)
        case "bool"?:
            if let b = ScalarResolver.bool(value) { return Node(.bool(b), at: location) }
        case "int"?:
            if let i = ScalarResolver.integer(value) { return Node(.int(i), at: location) }
        case "float"?:
            if let f = ScalarResolver.float(value) { return Node(.float(f), at: location) }
            if let i = ScalarResolver.integer(value) { return Node(.float(Double(i)), at: location) }
        default: break
        }
        if !plain { return Node(.string(value), at: location) }
        return Node(ScalarResolver.resolve(value), at: location)
    }
}

/// go-yaml v3's resolution of plain scalars.
public enum ScalarResolver {
    public static func resolve(_ s: String) -> Node.Kind {
        guard let first = s.utf8.first else { return .null }
        switch s {
        case "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        default: break
        }
        switch first {
        case UInt8(ascii: "."):
            if let f = goParseFloat(s) { return .float(f) }
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"):
            if isTimestamp(s) { return .timestamp(s) }
            let plain = s.filter { $0 != "_" }
            if let i = goParseInt(plain) { return .int(i) }
            if let u = goParseUInt(plain) { return .float(Double(u)) }
            if isYAMLStyleFloat(plain), let f = goParseFloat(plain) { return .float(f) }
            if plain.hasPrefix("0b"), let i = Int64(plain.dropFirst(2), radix: 2) { return .int(i) }
            if plain.hasPrefix("-0b"), let i = Int64(plain.dropFirst(3), radix: 2) { return .int(-i) }
            if plain.hasPrefix("0o"), let i = Int64(plain.dropFirst(2), radix: 8) { return .int(i) }
            if plain.hasPrefix("-0o"), let i = Int64(plain.dropFirst(3), radix: 8) { return .int(-i) }
        default: break
        }
        return .string(s)
    }

    public static func bool(_ s: String) -> Bool? {
        switch s {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    public static func integer(_ s: String) -> Int64? {
        goParseInt(s.filter { $0 != "_" })
    }

    public static func float(_ s: String) -> Double? {
        switch s {
        case ".nan", ".NaN", ".NAN": return .nan
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        default: return goParseFloat(s.filter { $0 != "_" })
        }
    }

    /// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`, `0o`, `0b` or a leading `0` for octal.
    public static func goParseInt(_ s: String) -> Int64? {
        var body = Substring(s)
        var negative = false
        if body.hasPrefix("+") { body = body.dropFirst() } else if body.hasPrefix("-") { negative = true; body = body.dropFirst() }
        guard !body.isEmpty else { return nil }
        var radix = 10
        if body.count > 1 && body.hasPrefix("0") {
            let second = body[body.index(after: body.startIndex)]
            switch second {
            case "x", "X": radix = 16; body = body.dropFirst(2)
            case "o", "O": radix = 8; body = body.dropFirst(2)
            case "b", "B": radix = 2; body = body.dropFirst(2)
            default: radix = 8; body = body.dropFirst(1)
            }
        }
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        guard let magnitude = UInt64(body, radix: radix) else { return nil }
        if negative {
            if magnitude == UInt64(Int64.max) + 1 { return Int64.min }
            guard magnitude <= UInt64(Int64.max) else { return nil }
            return -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    static func goParseUInt(_ s: String) -> UInt64? {
        guard !s.hasPrefix("-"), !s.hasPrefix("+") else { return nil }
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt64(s.dropFirst(2), radix: 16) }
        guard s.allSatisfy(\.isASCII) else { return nil }
        return UInt64(s, radix: 10)
    }

    /// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
    static func isYAMLStyleFloat(_ s: String) -> Bool {
        var bytes = Array(s.utf8)[...]
        if let f = bytes.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        func digits() -> Int {
            var n = 0
            while let c = bytes.first, c >= 48 && c <= 57 { bytes = bytes.dropFirst(); n += 1 }
            return n
        }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            guard digits() > 0 else { return false }
        } else {
            guard digits() > 0 else { return false }
            if bytes.first == UInt8(ascii: ".") { bytes = bytes.dropFirst(); _ = digits() }
        }
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }

    /// Go's `strconv.ParseFloat(s, 64)` for decimal forms (no hex floats, no infinities by name).
    static func goParseFloat(_ s: String) -> Double? {
        guard !s.isEmpty, s.utf8.allSatisfy({ c in
            (c >= 48 && c <= 57) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                || c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
        }) else { return nil }
        guard let d = Double(s), d.isFinite else { return nil }
        return d
    }

    /// go-yaml's timestamp check: starts with four digits and a dash, then a date (and time).
    static func isTimestamp(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard bytes.count >= 8, bytes[0...3].allSatisfy({ $0 >= 48 && $0 <= 57 }), bytes[4] == UInt8(ascii: "-") else { return false }
        var i = 5
        func number(maxDigits: Int) -> Int? {
            var n = 0, count = 0
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57, count < maxDigits {
                n = n * 10 + Int(bytes[i] - 48); i += 1; count += 1
            }
            return count == 0 ? nil : n
        }
        guard let month = number(maxDigits: 2), (1...12).contains(month), i < bytes.count, bytes[i] == UInt8(ascii: "-") else { return false }
        i += 1
        guard let day = number(maxDigits: 2), (1...31).contains(day) else { return false }
        if i == bytes.count { return true }
        guard bytes[i] == UInt8(ascii: "T") || bytes[i] == UInt8(ascii: "t") || bytes[i] == UInt8(ascii: " ") else { return false }
        i += 1
        guard let hour = number(maxDigits: 2), hour < 24, i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
        i += 1
        guard number(maxDigits: 2) != nil, i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
        i += 1
        guard number(maxDigits: 2) != nil else { return false }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard number(maxDigits: 9) != nil else { return false }
        }
        if i == bytes.count { return true }
        if bytes[i] == UInt8(ascii: "Z") { return i + 1 == bytes.count }
        guard bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") else { return false }
        i += 1
        guard number(maxDigits: 2) != nil, i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
        i += 1
        guard number(maxDigits: 2) != nil else { return false }
        return i == bytes.count
    }
}
