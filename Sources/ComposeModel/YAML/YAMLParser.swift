import CYAML

/// Reads YAML text into located nodes with libyaml's event parser.
///
/// Scalars are resolved as docker compose's YAML library (go-yaml v3) resolves them: `true`/`false`,
/// `null`/`~`, integers with Go's base prefixes (and 1.1 octals such as `0755`), floats, dates; anchors
/// and aliases are expanded; merge keys (`<<`, single or list) are applied; duplicate keys are refused
/// with both locations; compose's `!reset` and `!override` tags are kept on the nodes.
public enum YAMLParser {
    /// Parses every document of `text`. Empty documents are returned as null nodes.
    public static func parse(_ text: String, file: String, limits: YAMLLimits = YAMLLimits()) throws(ComposeError) -> [Node] {
        var state = ParserState(file: file, limits: limits)
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
                    throw ComposeError(syntaxError(parser, file: file, input: UnsafeBufferPointer(buffer)))
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

    static func syntaxError(_ parser: yaml_parser_t, file: String, input: UnsafeBufferPointer<UInt8>) -> Diagnostic {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let mark = parser.problem_mark
        var location = SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
        if parser.error == YAML_READER_ERROR {
            // Reader errors (a control character, a bad byte) come with a byte offset, not a mark.
            location = SourceText.location(ofByte: Int(parser.problem_offset), in: input, file: file)
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

/// What a file may make the parser do: hostile or merely huge input is refused with a location long
/// before it costs much time or memory.
public struct YAMLLimits: Sendable {
    /// Collections inside collections, counted apart for flow (`[…]`, `{…}`) and block collections as
    /// docker compose's YAML library counts them: 10,000 of each.
    public var maximumDepth = 10_000
    /// Anchors reused through aliases may not make the document much bigger than what is written:
    /// go-yaml's rule (up to 99% of the values may come from aliases in documents of up to 400,000
    /// values, falling to 10% at 4,000,000), so that a "billion laughs" file fails at once.
    public var aliasRatioLow = 400_000
    public var aliasRatioHigh = 4_000_000

    public init() {}

    func allowedAliasRatio(_ values: Int) -> Double {
        if values <= aliasRatioLow { return 0.99 }
        if values >= aliasRatioHigh { return 0.10 }
        return 0.99 - 0.89 * Double(values - aliasRatioLow) / Double(aliasRatioHigh - aliasRatioLow)
    }
}

private struct ParserState {
    /// A collection being read. Mutated in place on the stack (never copied out and back), so that a
    /// mapping of 40,000 keys is read in linear time.
    struct Frame {
        var isMapping: Bool
        var items: [Node] = []
        var entries: [Node.Entry] = []
        /// Key → index in `entries`, for duplicate keys.
        var keyIndex: [String: Int] = [:]
        var pendingKey: Node?
        var merges: [Node] = []
        var location: SourceLocation
        var anchor: String?
        var tag: Node.MergeTag?
        var isFlow = false
        /// Values in this collection's subtree so far, itself included (what an alias of it adds).
        var size = 1
    }

    let file: String
    let limits: YAMLLimits
    var stack: [Frame] = []
    var flowDepth = 0
    var anchors: [String: (node: Node, size: Int)] = [:]
    var document: Node?
    var diagnostics: [Diagnostic] = []
    /// Values in the document as expanded, and how many of them came from aliases.
    var values = 0
    var aliasValues = 0

    init(file: String, limits: YAMLLimits) {
        self.file = file
        self.limits = limits
    }

    func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self))
    }

    /// Handles one event; a returned node is a finished document. Budget violations throw at once.
    mutating func handle(_ event: yaml_event_t) throws(ComposeError) -> Node? {
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            document = nil
            anchors = [:]
            values = 0
            aliasValues = 0
        case YAML_DOCUMENT_END_EVENT:
            let result = document ?? Node(.null, at: location(event.start_mark))
            document = nil
            return result
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let anchored = anchors[name] else {
                diagnostics.append(.error("YAML: unknown anchor '\(name)' referenced", at: location(event.start_mark)))
                return nil
            }
            values += anchored.size
            aliasValues += anchored.size
            if aliasValues > 100 && values > 1000 && Double(aliasValues) / Double(values) > limits.allowedAliasRatio(values) {
                throw ComposeError(.error("YAML: excessive aliasing: expanding '*\(name)' makes the document \(values) values, \(aliasValues) of them copies through aliases (a file that reuses anchors this much could exhaust memory)",
                                          at: location(event.start_mark)))
            }
            var node = anchored.node
            node.mergeTag = nil
            add(node, size: anchored.size)
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
            if let anchor = Self.string(scalar.anchor) { anchors[anchor] = (node, 1) }
            values += 1
            add(node, size: 1)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let loc = location(event.start_mark)
            let isFlow = isMapping ? event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
                                   : event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
            let depth = isFlow ? flowDepth : stack.count - flowDepth
            guard depth < limits.maximumDepth else {
                throw ComposeError(.error("YAML: exceeded max depth of \(limits.maximumDepth) (collections nested deeper than any compose file needs)", at: loc))
            }
            if isFlow { flowDepth += 1 }
            let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
            let tag = isMapping ? event.data.mapping_start.tag : event.data.sequence_start.tag
            stack.append(Frame(isMapping: isMapping, location: loc, anchor: Self.string(anchor),
                               tag: Self.string(tag).flatMap(Node.MergeTag.init(rawValue:)), isFlow: isFlow))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard var frame = stack.popLast() else { break }
            if frame.isFlow { flowDepth -= 1 }
            let node: Node
            if frame.isMapping {
                applyMerges(frame.merges, into: &frame.entries)
                node = Node(.mapping(frame.entries), at: frame.location, mergeTag: frame.tag)
            } else {
                node = Node(.sequence(frame.items), at: frame.location, mergeTag: frame.tag)
            }
            if let anchor = frame.anchor { anchors[anchor] = (node, frame.size) }
            values += 1
            add(node, size: frame.size)
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

    /// Adds a finished value to the collection being read (in place), or makes it the document.
    mutating func add(_ node: Node, size: Int) {
        guard !stack.isEmpty else {
            document = node
            return
        }
        let top = stack.count - 1
        stack[top].size += size
        guard stack[top].isMapping else {
            stack[top].items.append(node)
            return
        }
        guard let key = stack[top].pendingKey else {
            stack[top].pendingKey = node
            return
        }
        stack[top].pendingKey = nil
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
            stack[top].merges.append(node)
        } else if let first = stack[top].keyIndex[keyText] {
            diagnostics.append(.error("duplicate key '\(keyText)'", at: key.location,
                                      notes: [.note("'\(keyText)' first defined here", at: stack[top].entries[first].keyLocation)]))
        } else {
            stack[top].keyIndex[keyText] = stack[top].entries.count
            stack[top].entries.append(Node.Entry(key: keyText, keyLocation: key.location, value: node))
        }
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
