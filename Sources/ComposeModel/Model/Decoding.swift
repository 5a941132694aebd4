/// Reads canonical nodes into typed values, collecting every problem with its location.
final class DecodeContext {
    var diagnostics = DiagnosticBag()

    func error(_ message: String, at node: Node) {
        diagnostics.error(message, at: node.location)
    }
}

extension Node {
    /// The scalar as a string, as Go's `fmt.Sprint` would print it; null is "".
    var text: String { scalarText ?? "" }

    func string(_ ctx: DecodeContext, _ path: String) -> String {
        if !isScalar { ctx.error("\(path) must be a string, not a \(typeName)", at: self) }
        return text
    }

    func int64(_ ctx: DecodeContext, _ path: String) -> Int64 {
        switch kind {
        case .int(let i): return i
        case .float(let f) where f.rounded() == f && abs(f) < 9.2e18: return Int64(f)
        case .string(let s):
            if let i = Int64(s.trimmingWhitespace()) { return i }
            ctx.error("\(path) must be an integer, not '\(s)'", at: self)
        case .null: return 0
        default:
            ctx.error("\(path) must be an integer, not \(SchemaValidator.describe(self))", at: self)
        }
        return 0
    }

    func bool(_ ctx: DecodeContext, _ path: String) -> Bool {
        switch kind {
        case .bool(let b): return b
        case .string(let s):
            if let b = Node.goBool(s) { return b }
            ctx.error("\(path) must be true or false, not '\(s)'", at: self)
        case .null: return false
        default:
            ctx.error("\(path) must be true or false, not \(SchemaValidator.describe(self))", at: self)
        }
        return false
    }

    /// The spellings compose-go accepts for booleans given as strings.
    static func goBool(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "y", "yes", "on", "1", "t": return true
        case "false", "n", "no", "off", "0", "f": return false
        default: return nil
        }
    }

    func double(_ ctx: DecodeContext, _ path: String) -> Double {
        switch kind {
        case .int(let i): return Double(i)
        case .float(let f): return f
        case .string(let s):
            if let d = Double(s.trimmingWhitespace()) { return d }
            ctx.error("\(path) must be a number, not '\(s)'", at: self)
        case .null: return 0
        default:
            ctx.error("\(path) must be a number, not \(SchemaValidator.describe(self))", at: self)
        }
        return 0
    }

    func duration(_ ctx: DecodeContext, _ path: String) -> Duration? {
        if isNull { return nil }
        let t = text
        do {
            return try Duration(parsing: t)
        } catch {
            ctx.error("\(path): \(error)", at: self)
            return nil
        }
    }

    func bytes(_ ctx: DecodeContext, _ path: String) -> Int64 {
        switch kind {
        case .int(let i): return i
        case .float(let f): return Int64(f)
        case .string(let s):
            do { return try ByteSize.parse(s) } catch {
                ctx.error("\(path): \(error)", at: self)
            }
        case .null: return 0
        default:
            ctx.error("\(path) must be a size, not \(SchemaValidator.describe(self))", at: self)
        }
        return 0
    }

    /// A string or a list of strings, as a list.
    func stringList(_ ctx: DecodeContext, _ path: String) -> [String] {
        switch kind {
        case .sequence(let items): return items.map(\.text)
        case .null: return []
        default: return [text]
        }
    }

    /// A mapping or a `KEY=VALUE` list as a map of strings; missing values are "".
    func stringMap(_ ctx: DecodeContext, _ path: String, separator: Character = "=") -> [String: String] {
        var result: [String: String] = [:]
        switch kind {
        case .mapping(let entries):
            for e in entries { result[e.key] = e.value.isScalar ? e.value.text : "" }
        case .sequence(let items):
            for item in items {
                let s = item.text
                if let i = s.firstIndex(of: separator) {
                    result[String(s[..<i])] = String(s[s.index(after: i)...])
                } else {
                    result[s] = ""
                }
            }
        case .null: break
        default:
            ctx.error("\(path) must be a mapping or a list of KEY\(separator)VALUE strings", at: self)
        }
        return result
    }

    /// A mapping or a `KEY=VALUE` list where a key without a value stays unset (nil).
    func optionalStringMap(_ ctx: DecodeContext, _ path: String) -> [String: String?] {
        var result: [String: String?] = [:]
        switch kind {
        case .mapping(let entries):
            for e in entries { result[e.key] = e.value.isNull ? .some(nil) : .some(e.value.text) }
        case .sequence(let items):
            for item in items {
                let s = item.text
                if let i = s.firstIndex(of: "=") {
                    result[String(s[..<i])] = .some(String(s[s.index(after: i)...]))
                } else {
                    result[s] = .some(nil)
                }
            }
        case .null: break
        default:
            ctx.error("\(path) must be a mapping or a list of KEY=VALUE strings", at: self)
        }
        return result
    }

    /// Iterates the entries of a mapping, reporting anything else.
    func forEachEntry(_ ctx: DecodeContext, _ path: String, _ body: (String, Node) -> Void) {
        guard case .mapping(let entries) = kind else {
            if !isNull { ctx.error("\(path) must be a mapping, not \(SchemaValidator.describe(self))", at: self) }
            return
        }
        for e in entries { body(e.key, e.value) }
    }

    func extensions() -> [String: Node] {
        var ext: [String: Node] = [:]
        for e in entries ?? [] where e.key.hasPrefix("x-") { ext[e.key] = e.value }
        return ext
    }
}

extension Dictionary where Key == String, Value == String? {
    var goValue: GoValue { .map(mapValues { $0.map(GoValue.string) ?? .null }) }
}

extension Dictionary where Key == String, Value == String {
    var goValue: GoValue { .map(mapValues(GoValue.string)) }
}

extension Array where Element == String {
    var goValue: GoValue { .list(map(GoValue.string)) }
}
