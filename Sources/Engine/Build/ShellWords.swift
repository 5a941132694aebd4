/// Variable expansion and word splitting of Dockerfile arguments, as BuildKit's shell lexer does for
/// FROM, ENV, LABEL, ARG, COPY, ADD, EXPOSE, USER, WORKDIR, VOLUME and STOPSIGNAL: `$VAR`, `${VAR}`,
/// `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?message}`, single quotes
/// literal, double quotes expanding, the escape character quoting the next one.
public struct ShellWords: Sendable {
    public var escape: Character
    /// Variables in scope: the stage's ARGs and ENV.
    public var variables: [String: String]

    public init(escape: Character = "\\", variables: [String: String]) {
        self.escape = escape
        self.variables = variables
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The text as one word (quotes removed, variables expanded, no splitting).
    public func expand(_ text: String) throws(Failure) -> String {
        try process(text, split: false).joined(separator: " ")
    }

    /// The text split into words at unquoted whitespace, each expanded.
    public func words(_ text: String) throws(Failure) -> [String] {
        try process(text, split: true)
    }

    func process(_ text: String, split: Bool) throws(Failure) -> [String] {
        let chars = Array(text)
        var i = 0
        var words: [String] = []
        var word = ""
        var inWord = false
        func flush() {
            if inWord { words.append(word) }
            word = ""
            inWord = false
        }
        while i < chars.count {
            let c = chars[i]
            if split && (c == " " || c == "\t" || c == "\n") {
                flush()
                i += 1
                continue
            }
            inWord = true
            if c == escape {
                i += 1
                if i < chars.count { word.append(chars[i]); i += 1 } else { word.append(c) }
                continue
            }
            if c == "'" {
                i += 1
                while i < chars.count && chars[i] != "'" { word.append(chars[i]); i += 1 }
                guard i < chars.count else { throw Failure(description: "unexpected end of statement while looking for matching single-quote") }
                i += 1
                continue
            }
            if c == "\"" {
                i += 1
                while i < chars.count && chars[i] != "\"" {
                    if chars[i] == escape, i + 1 < chars.count, "\"$\\`".contains(chars[i + 1]) || chars[i + 1] == escape {
                        word.append(chars[i + 1]); i += 2; continue
                    }
                    if chars[i] == "$" { word += try variable(chars, &i); continue }
                    word.append(chars[i]); i += 1
                }
                guard i < chars.count else { throw Failure(description: "unexpected end of statement while looking for matching double-quote") }
                i += 1
                continue
            }
            if c == "$" {
                word += try variable(chars, &i)
                continue
            }
            word.append(c)
            i += 1
        }
        flush()
        return words
    }

    /// At `$`: the expansion, `i` moved past it.
    func variable(_ chars: [Character], _ i: inout Int) throws(Failure) -> String {
        i += 1
        guard i < chars.count else { return "$" }
        if chars[i] == "{" {
            i += 1
            var name = ""
            while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" { name.append(chars[i]); i += 1 }
            guard i < chars.count else { throw Failure(description: "missing '}' in ${\(name)") }
            if chars[i] == "}" {
                i += 1
                return variables[name] ?? ""
            }
            var op = String(chars[i])
            i += 1
            if op == ":", i < chars.count, "-+?".contains(chars[i]) { op.append(chars[i]); i += 1 }
            // The word up to the matching brace, itself expanded.
            var depth = 1
            var raw = ""
            while i < chars.count {
                if chars[i] == escape, i + 1 < chars.count { raw.append(chars[i]); raw.append(chars[i + 1]); i += 2; continue }
                if chars[i] == "{" { depth += 1 }
                if chars[i] == "}" { depth -= 1; if depth == 0 { break } }
                raw.append(chars[i]); i += 1
            }
            guard i < chars.count else { throw Failure(description: "missing '}' in ${\(name)\(op)\(raw)") }
            i += 1
            let value = variables[name]
            let argument = try expand(raw)
            switch op {
            case ":-": return (value ?? "").isEmpty ? argument : value!
            case "-": return value ?? argument
            case ":+": return (value ?? "").isEmpty ? "" : argument
            case "+": return value == nil ? "" : argument
            case ":?":
                if (value ?? "").isEmpty { throw Failure(description: "\(name): \(argument.isEmpty ? "is not allowed to be unset" : argument)") }
                return value!
            case "?":
                if value == nil { throw Failure(description: "\(name): \(argument.isEmpty ? "is not allowed to be unset" : argument)") }
                return value!
            default:
                throw Failure(description: "unsupported modifier (\(op)) in substitution ${\(name)\(op)\(raw)}")
            }
        }
        var name = ""
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" { name.append(chars[i]); i += 1 }
        if name.isEmpty { return "$" }
        return variables[name] ?? ""
    }

    /// `KEY=VALUE` pairs (ENV, LABEL, ARG): each word split at its first `=`; the legacy `ENV KEY VALUE`
    /// form when the first word has none (and `legacy` allows it).
    public func pairs(_ text: String, legacy: Bool) throws(Failure) -> [(String, String?)] {
        let raw = try ShellWords(escape: escape, variables: [:]).rawWords(text)
        if legacy, let first = raw.first, !first.contains("=") {
            let key = first
            let rest = text.trimmingWhitespace().dropFirst(first.count).trimmingWhitespace()
            return [(key, try expand(String(rest)))]
        }
        var result: [(String, String?)] = []
        for w in raw {
            if let eq = w.firstIndex(of: "=") {
                result.append((try expand(String(w[..<eq])), try expand(String(w[w.index(after: eq)...]))))
            } else {
                result.append((try expand(w), nil))
            }
        }
        return result
    }

    /// Words split at unquoted whitespace, quotes and escapes kept (for expanding later, piece by piece).
    func rawWords(_ text: String) throws(Failure) -> [String] {
        let chars = Array(text)
        var words: [String] = []
        var word = ""
        var i = 0
        var quote: Character?
        while i < chars.count {
            let c = chars[i]
            if quote == nil && (c == " " || c == "\t" || c == "\n") {
                if !word.isEmpty { words.append(word); word = "" }
                i += 1
                continue
            }
            if c == escape && quote != "'" && i + 1 < chars.count { word.append(c); word.append(chars[i + 1]); i += 2; continue }
            if let q = quote { if c == q { quote = nil } } else if c == "'" || c == "\"" { quote = c }
            word.append(c)
            i += 1
        }
        if quote != nil { throw Failure(description: "unexpected end of statement while looking for matching \(quote == "'" ? "single" : "double")-quote") }
        if !word.isEmpty { words.append(word) }
        return words
    }
}
