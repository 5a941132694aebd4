/// Variable substitution in compose values: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, nested templates, and `$$` for a
/// literal `$`. A `$` that starts no substitution (`cost $5`) is kept as it is; only a malformed
/// `${…}` is an error. (`config` writes every `$` of its output as `$$`, as docker compose does, so
/// that the output reads back the same.)
public struct Interpolator {
    public enum Failure: Error, Sendable, Equatable {
        /// A `$` that does not start a valid substitution.
        case invalidTemplate(String)
        /// `${VAR:?message}` or `${VAR?message}` with the variable missing.
        case missingRequired(variable: String, reason: String)
    }

    /// How a template used a variable.
    public enum Use: Sendable, Equatable {
        case plain
        case defaultValue(String, ifEmpty: Bool)
        case alternative(String, ifEmpty: Bool)
        case required(String, ifEmpty: Bool)
    }

    public struct Reference: Sendable, Equatable {
        public var name: String
        public var use: Use
        public var value: String?
    }

    public var lookup: (String) -> String?
    /// Called for every variable read, in order.
    public var record: ((Reference) -> Void)?

    public init(lookup: @escaping (String) -> String?, record: ((Reference) -> Void)? = nil) {
        self.lookup = lookup
        self.record = record
    }

    /// Variables read without a value to fall back on and found unset (the "variable is not set" warning).
    public func substitute(_ template: String) throws(Failure) -> String {
        // Fast path: most values have no `$`.
        guard template.utf8.contains(UInt8(ascii: "$")) else { return template }
        let scalars = Array(template.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            guard c == "$" else {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < scalars.count else {
                out.append("$")
                break
            }
            let next = scalars[i + 1]
            if next == "$" {
                out.append("$")
                i += 2
            } else if Self.isNameStart(next) {
                var j = i + 1
                while j < scalars.count, Self.isNameChar(scalars[j]) { j += 1 }
                let name = String(String.UnicodeScalarView(scalars[(i + 1)..<j]))
                let value = lookup(name)
                record?(Reference(name: name, use: .plain, value: value))
                out.append(contentsOf: (value ?? "").unicodeScalars)
                i = j
            } else if next == "{" {
                let (value, end) = try braced(scalars, start: i, template: template)
                out.append(contentsOf: value.unicodeScalars)
                i = end
            } else {
                // A `$` that starts no substitution is kept literally.
                out.append("$")
                i += 1
            }
        }
        return String(out)
    }

    /// Substitutes `${…}` starting at `start` (the `$`); returns the value and the index after the `}`.
    private func braced(_ s: [Unicode.Scalar], start: Int, template: String) throws(Failure) -> (String, Int) {
        var j = start + 2
        guard j < s.count, Self.isNameStart(s[j]) else { throw .invalidTemplate(template) }
        while j < s.count, Self.isNameChar(s[j]) { j += 1 }
        let name = String(String.UnicodeScalarView(s[(start + 2)..<j]))
        guard j < s.count else { throw .invalidTemplate(template) }
        if s[j] == "}" {
            let value = lookup(name)
            record?(Reference(name: name, use: .plain, value: value))
            return (value ?? "", j + 1)
        }
        var colon = false
        if s[j] == ":" {
            colon = true
            j += 1
        }
        guard j < s.count, s[j] == "-" || s[j] == "+" || s[j] == "?" else { throw .invalidTemplate(template) }
        let op = s[j]
        j += 1
        // The argument runs to the brace that closes `${`, counting every `{` (compose-go's rule).
        var depth = 1
        var k = j
        var close = -1
        while k < s.count {
            if s[k] == "}" {
                depth -= 1
                if depth == 0 { close = k; break }
            } else if s[k] == "{" {
                depth += 1
                k += 1
            }
            k += 1
        }
        guard close >= 0 else { throw .invalidTemplate(template) }
        let argument = try substitute(String(String.UnicodeScalarView(s[j..<close])))
        let value = lookup(name)
        let result: String
        switch op {
        case "-":
            record?(Reference(name: name, use: .defaultValue(argument, ifEmpty: colon), value: value))
            if let value, !(colon && value.isEmpty) { result = value } else { result = argument }
        case "+":
            record?(Reference(name: name, use: .alternative(argument, ifEmpty: colon), value: value))
            if let value, !(colon && value.isEmpty) { result = argument } else { result = value ?? "" }
        default:
            record?(Reference(name: name, use: .required(argument, ifEmpty: colon), value: value))
            guard let value, !(colon && value.isEmpty) else {
                throw .missingRequired(variable: name, reason: argument)
            }
            result = value
        }
        return (result, close + 1)
    }

    static func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z")
    }

    static func isNameChar(_ c: Unicode.Scalar) -> Bool {
        isNameStart(c) || (c >= "0" && c <= "9")
    }
}

extension Interpolator.Failure {
    public var message: String {
        switch self {
        case .invalidTemplate(let t):
            return "invalid interpolation format in \"\(t)\""
        case .missingRequired(let name, let reason):
            if reason.isEmpty { return "required variable \(name) is missing a value" }
            return "required variable \(name) is missing a value: \(reason)"
        }
    }

    /// What to do about it.
    public var hint: String? {
        switch self {
        case .invalidTemplate:
            return "a substitution is written ${NAME}, ${NAME:-default}, ${NAME:?error} or ${NAME:+alternative}; write $$ for a literal $"
        case .missingRequired(let name, _):
            return "set \(name) in the shell environment or in the project's .env file"
        }
    }
}
