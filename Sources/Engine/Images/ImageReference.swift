/// An image reference normalised as docker normalises it: `busybox` is
/// `docker.io/library/busybox:latest`, `localhost:5000/x` is `localhost:5000/x:latest`, and
/// `name@sha256:…` pins a digest.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    public var domain: String
    /// The repository path without the domain (`library/busybox`).
    public var path: String
    public var tag: String?
    public var digest: Digest?

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var reference: String
        public var reason: String
        public var description: String { "invalid reference format \"\(reference)\": \(reason)" }
    }

    public static let defaultDomain = "docker.io"

    /// `domain/path` (`docker.io/library/busybox`).
    public var name: String { "\(domain)/\(path)" }

    /// The full normalised reference (`docker.io/library/busybox:latest`, `…@sha256:…`).
    public var description: String {
        var s = name
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    /// The short form docker prints (`busybox:latest`, `user/app:1`, `localhost:5000/x:latest`).
    public var familiar: String {
        var s = familiarName
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    public var familiarName: String {
        guard domain == Self.defaultDomain else { return name }
        return path.hasPrefix("library/") && path.split(separator: "/").count == 2 ? String(path.dropFirst(8)) : path
    }

    /// Parses and normalises `text`, adding the `latest` tag when neither a tag nor a digest is given.
    public init(parsing text: String, defaultTag: Bool = true) throws(ParseError) {
        func fail(_ reason: String) -> ParseError { ParseError(reference: text, reason: reason) }
        guard !text.isEmpty else { throw fail("empty reference") }
        var rest = Substring(text)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            guard let d = Digest(String(rest[rest.index(after: at)...])) else { throw fail("invalid digest") }
            digest = d
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
            let t = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(t) else { throw fail("invalid tag \"\(t)\"") }
            tag = t
            rest = rest[..<colon]
        }
        var domain = Self.defaultDomain
        var path = String(rest)
        if let slash = rest.firstIndex(of: "/") {
            let first = String(rest[..<slash])
            if first.contains(".") || first.contains(":") || first == "localhost" || first.contains(where: \.isUppercase) {
                domain = first
                path = String(rest[rest.index(after: slash)...])
            }
        }
        if domain == "index.docker.io" { domain = Self.defaultDomain }
        if path.contains(where: \.isUppercase) { throw fail("repository name must be lowercase") }
        guard Self.isValidDomain(domain) else { throw fail("invalid domain \"\(domain)\"") }
        guard !path.isEmpty, path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy(Self.isValidComponent) else {
            throw fail("invalid repository name")
        }
        if domain == Self.defaultDomain && !path.contains("/") { path = "library/" + path }
        guard (domain + "/" + path).count <= 255 else { throw fail("repository name too long") }
        if tag == nil && digest == nil && defaultTag { tag = "latest" }
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    public init(domain: String, path: String, tag: String?, digest: Digest?) {
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    /// The same repository with another tag (and no digest).
    public func with(tag: String) -> ImageReference {
        ImageReference(domain: domain, path: path, tag: tag, digest: nil)
    }

    static func isValidTag(_ t: String) -> Bool {
        guard let first = t.first, t.count <= 128 else { return false }
        func word(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }
        return word(first) && t.allSatisfy { word($0) || $0 == "." || $0 == "-" }
    }

    /// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
    static func isValidComponent(_ c: Substring) -> Bool {
        let bytes = Array(c.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard alnum(first), alnum(last) else { return false }
        var i = 0
        while i < bytes.count {
            if alnum(bytes[i]) { i += 1; continue }
            // A separator: ".", "_", "__", or one or more "-".
            var j = i
            if bytes[j] == UInt8(ascii: "-") {
                while j < bytes.count && bytes[j] == UInt8(ascii: "-") { j += 1 }
            } else if bytes[j] == UInt8(ascii: "_") {
                j += 1
                if j < bytes.count && bytes[j] == UInt8(ascii: "_") { j += 1 }
            } else if bytes[j] == UInt8(ascii: ".") {
                j += 1
            } else {
                return false
            }
            guard j < bytes.count, alnum(bytes[j]) else { return false }
            i = j
        }
        return true
    }

    static func isValidDomain(_ d: String) -> Bool {
        var host = Substring(d)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            host = host[host.index(after: close)...]
            if host.isEmpty { return true }
            guard host.hasPrefix(":"), let port = Int(host.dropFirst()), port >= 0, port <= 65535 else { return false }
            return true
        }
        if let colon = host.lastIndex(of: ":") {
            guard let port = Int(host[host.index(after: colon)...]), port >= 0, port <= 65535 else { return false }
            host = host[..<colon]
        }
        return !host.isEmpty && host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
                && label.first != "-" && label.last != "-"
        }
    }
}
