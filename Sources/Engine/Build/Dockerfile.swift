import Diagnostics

/// A parsed Dockerfile: its parser directives, and its instructions with where each was written.
/// Parsing is syntax only (BuildKit's first phase): variables are expanded later, per stage, with the
/// arguments and environment in scope there.
public struct Dockerfile: Sendable {
    public var file: String
    public var escape: Character = "\\"
    /// `# syntax=` (kept, never fetched: this builder is the frontend).
    public var syntax: String?
    public var instructions: [Instruction] = []

    /// One instruction, continuation lines joined.
    public struct Instruction: Sendable, Equatable {
        /// Upper-cased: `RUN`, `COPY`…
        public var keyword: String
        public var location: SourceLocation
        /// `--name=value` flags before the arguments (`--mount`, `--from`, `--chown`…), in order.
        public var flags: [Flag] = []
        /// The arguments after the flags, as written (continuations joined, comment lines dropped).
        public var text: String
        /// Where the arguments start.
        public var textLocation: SourceLocation
        /// The exec (JSON array) form of RUN/CMD/ENTRYPOINT/SHELL/COPY/ADD/VOLUME, when used.
        public var json: [String]?
        /// Here-documents the arguments name (`<<EOF`), in order.
        public var heredocs: [Heredoc] = []
        /// The instruction as the history shows it (one line).
        public var original: String

        public func flag(_ name: String) -> Flag? { flags.last { $0.name == name } }
        /// The flags as written (`--mount=… --network=none`), each followed by a space; empty without.
        public var flagsWritten: String { flags.map { "--" + $0.name + ($0.value.map { "=" + $0 } ?? "") + " " }.joined() }
        public func flags(_ name: String) -> [Flag] { flags.filter { $0.name == name } }
    }

    public struct Flag: Sendable, Equatable {
        public var name: String
        /// nil for a bare `--link`.
        public var value: String?
        public var location: SourceLocation
    }

    public struct Heredoc: Sendable, Equatable {
        public var name: String
        public var content: String
        /// `<<-`: leading tabs stripped.
        public var stripTabs: Bool
        /// `<<"EOF"` / `<<'EOF'`: no expansion in the body.
        public var quoted: Bool
    }

    static let known: Set<String> = ["FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                                     "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"]
    /// Instructions that take `--flags`, and which.
    static let flagNames: [String: [String]] = [
        "FROM": ["platform"], "RUN": ["mount", "network", "security"],
        "COPY": ["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD": ["chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"],
        "HEALTHCHECK": ["interval", "timeout", "start-period", "start-interval", "retries"],
    ]
    static var flagged: Set<String> { Set(flagNames.keys) }
    /// Instructions whose arguments may be a JSON array.
    static let jsonForms: Set<String> = ["RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"]
    static let heredocInstructions: Set<String> = ["RUN", "COPY", "ADD"]

    /// Parses `text`; every syntax problem is reported (at its line and column), not just the first.
    public static func parse(_ text: String, file: String) -> (Dockerfile, [Diagnostic]) {
        var d = Dockerfile(file: file)
        var diagnostics: [Diagnostic] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        var i = 0
        // Parser directives: `# key=value` lines at the very top.
        var seen: Set<String> = []
        while i < lines.count {
            let line = lines[i].trimmingWhitespace()
            guard line.hasPrefix("#") else { break }
            let body = line.dropFirst().trimmingWhitespace()
            guard let eq = body.firstIndex(of: "="), !body[..<eq].contains(" ") else { break }
            let key = body[..<eq].trimmingWhitespace().lowercased()
            let value = body[body.index(after: eq)...].trimmingWhitespace()
            guard key == "escape" || key == "syntax" || key == "check" else { break }
            if seen.contains(key) {
                diagnostics.append(.error("only one \(key) parser directive can be used", at: SourceLocation(file: file, line: i + 1, column: 1)))
            }
            seen.insert(key)
            if key == "escape" {
                if value == "`" { d.escape = "`" } else if value != "\\" {
                    diagnostics.append(.error("invalid escape token '\(value)' does not match ` or \\", at: SourceLocation(file: file, line: i + 1, column: 1)))
                }
            } else if key == "syntax" {
                d.syntax = value
            }
            i += 1
        }
        let escape = d.escape
        while i < lines.count {
            let raw = lines[i]
            let trimmed = raw.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { i += 1; continue }
            let startLine = i + 1
            let indent = raw.prefix { $0 == " " || $0 == "\t" }.count
            // Join continuation lines; comment and empty lines inside are dropped, as BuildKit does.
            var joined = ""
            var current = raw
            while true {
                let t = current.trimmingTrailingWhitespace()
                if t.hasSuffix(String(escape)) && !t.hasSuffix(String(escape) + String(escape)) || (t.last == escape && t.count == 1) {
                    joined += t.dropLast()
                    i += 1
                    while i < lines.count {
                        let next = lines[i].trimmingWhitespace()
                        if next.hasPrefix("#") || next.isEmpty { i += 1; continue }
                        break
                    }
                    guard i < lines.count else { break }
                    current = lines[i]
                } else {
                    joined += current
                    i += 1
                    break
                }
            }
            let logical = String(joined.dropFirst(indent))
            let keywordEnd = logical.firstIndex { $0 == " " || $0 == "\t" } ?? logical.endIndex
            let keyword = logical[..<keywordEnd].uppercased()
            let location = SourceLocation(file: file, line: startLine, column: indent + 1)
            var rest = Substring(logical[keywordEnd...])
            var column = indent + 1 + logical.distance(from: logical.startIndex, to: keywordEnd)
            func skipSpace() {
                while let c = rest.first, c == " " || c == "\t" { rest.removeFirst(); column += 1 }
            }
            skipSpace()
            guard known.contains(keyword) else {
                let suggestion = Self.closest(keyword).map { " (did you mean \($0.lowercased())?)" } ?? ""
                diagnostics.append(.error("unknown instruction: \(logical[..<keywordEnd])\(suggestion)", at: location))
                continue
            }
            var instruction = Instruction(keyword: keyword, location: location, text: "", textLocation: location, original: "")
            if flagged.contains(keyword) {
                while rest.hasPrefix("--") {
                    let end = rest.firstIndex { $0 == " " || $0 == "\t" } ?? rest.endIndex
                    let word = rest[rest.index(rest.startIndex, offsetBy: 2)..<end]
                    let flagLocation = SourceLocation(file: file, line: startLine, column: column)
                    if let eq = word.firstIndex(of: "=") {
                        instruction.flags.append(Flag(name: String(word[..<eq]), value: String(word[word.index(after: eq)...]), location: flagLocation))
                    } else {
                        instruction.flags.append(Flag(name: String(word), value: nil, location: flagLocation))
                    }
                    column += rest.distance(from: rest.startIndex, to: end)
                    rest = rest[end...]
                    skipSpace()
                }
            }
            for f in instruction.flags where !(flagNames[keyword] ?? []).contains(f.name) {
                let allowed = (flagNames[keyword] ?? []).map { "--" + $0 }.joined(separator: ", ")
                diagnostics.append(.error("unknown flag: --\(f.name) (\(keyword) takes \(allowed))", at: f.location))
            }
            instruction.text = String(rest).trimmingTrailingWhitespace()
            instruction.textLocation = SourceLocation(file: file, line: startLine, column: column)
            if jsonForms.contains(keyword), instruction.text.hasPrefix("["), let list = Self.jsonArray(instruction.text) {
                instruction.json = list
            }
            // Here-documents: their bodies are the lines that follow.
            if heredocInstructions.contains(keyword) && instruction.json == nil {
                for marker in Self.heredocMarkers(instruction.text) {
                    var body: [String] = []
                    var closed = false
                    while i < lines.count {
                        let line = lines[i]
                        i += 1
                        let compare = marker.stripTabs ? String(line.drop { $0 == "\t" }) : line
                        if compare == marker.name { closed = true; break }
                        body.append(marker.stripTabs ? compare : line)
                    }
                    if !closed {
                        diagnostics.append(.error("unterminated heredoc <<\(marker.name)", at: instruction.textLocation))
                    }
                    instruction.heredocs.append(Heredoc(name: marker.name, content: body.map { $0 + "\n" }.joined(), stripTabs: marker.stripTabs, quoted: marker.quoted))
                }
            }
            instruction.original = (keyword + " " + instruction.flagsWritten + instruction.text).trimmingTrailingWhitespace()
            if instruction.text.isEmpty && keyword != "RUN" || keyword == "RUN" && instruction.text.isEmpty && instruction.heredocs.isEmpty {
                diagnostics.append(.error("\(keyword) requires at least one argument", at: location))
            }
            d.instructions.append(instruction)
        }
        if !d.instructions.isEmpty, !d.instructions.contains(where: { $0.keyword == "FROM" }) {
            diagnostics.append(.error("no build stage in current context (the Dockerfile needs a FROM)", at: d.instructions[0].location))
        } else if let first = d.instructions.first(where: { $0.keyword != "ARG" }), first.keyword != "FROM" {
            diagnostics.append(.error("\(first.keyword) before the first FROM: only ARG may come before it", at: first.location))
        }
        if d.instructions.isEmpty && diagnostics.isEmpty {
            diagnostics.append(.error("the Dockerfile cannot be empty", at: SourceLocation(file: file, line: 1, column: 1)))
        }
        return (d, diagnostics)
    }

    /// `["a", "b"]`: a JSON array of strings, or nil (then the shell form applies, as docker does).
    static func jsonArray(_ text: String) -> [String]? {
        guard let bytes = Optional(Array(text.utf8)), let value = try? JSON.decode([String].self, bytes) else { return nil }
        return value
    }

    struct Marker { var name: String; var stripTabs: Bool; var quoted: Bool }

    /// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` in an instruction's text (not inside quotes).
    static func heredocMarkers(_ text: String) -> [Marker] {
        var result: [Marker] = []
        let chars = Array(text)
        var i = 0
        var quote: Character?
        while i < chars.count {
            let c = chars[i]
            if let q = quote { if c == q { quote = nil }; i += 1; continue }
            if c == "'" || c == "\"" { quote = c; i += 1; continue }
            if c == "<" && i + 2 < chars.count && chars[i + 1] == "<" && chars[i + 2] != "<" && (i == 0 || chars[i - 1] != "<") {
                var j = i + 2
                var strip = false
                if j < chars.count && chars[j] == "-" { strip = true; j += 1 }
                var quoted = false
                var closing: Character?
                if j < chars.count && (chars[j] == "\"" || chars[j] == "'") { closing = chars[j]; quoted = true; j += 1 }
                var name = ""
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == "-" && !name.isEmpty { name.append(chars[j]); j += 1 }
                if let closing, j < chars.count, chars[j] == closing { j += 1 }
                if !name.isEmpty && (name.first!.isLetter || name.first == "_") {
                    result.append(Marker(name: name, stripTabs: strip, quoted: quoted))
                }
                i = j
                continue
            }
            i += 1
        }
        return result
    }

    /// The known instruction nearest to a misspelled one (edit distance at most 2).
    static func closest(_ word: String) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(1, a.count) where !a.isEmpty {
                var previous = row[0]
                row[0] = i
                for j in 1...max(1, b.count) where !b.isEmpty {
                    let old = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = old
                }
            }
            return row[b.count]
        }
        let w = Array(word)
        var best: (String, Int)?
        for k in known.sorted() {
            let d = distance(w, Array(k))
            if d <= 2 && (best == nil || d < best!.1) { best = (k, d) }
        }
        return best?.0
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = self[...]
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
