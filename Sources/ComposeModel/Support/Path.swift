#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Path manipulation with Go's `path/filepath` semantics on Unix, so that resolved paths print as
/// docker compose prints them.
public enum Path {
    public static func isAbsolute(_ p: String) -> Bool { p.hasPrefix("/") }

    /// `filepath.Clean`: removes `.` and `..` elements and duplicate slashes.
    public static func clean(_ p: String) -> String {
        if p.isEmpty { return "." }
        let rooted = p.hasPrefix("/")
        var parts: [Substring] = []
        for part in p.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !rooted {
                    parts.append(part)
                }
                continue
            }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        if rooted { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    /// `filepath.Join`: joins non-empty elements and cleans the result.
    public static func join(_ elements: String...) -> String { join(elements) }

    public static func join(_ elements: [String]) -> String {
        let nonEmpty = elements.filter { !$0.isEmpty }
        if nonEmpty.isEmpty { return "" }
        return clean(nonEmpty.joined(separator: "/"))
    }

    /// `filepath.Dir`.
    public static func directory(_ p: String) -> String {
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return clean(String(p[...slash]))
    }

    /// `filepath.Base`.
    public static func base(_ p: String) -> String {
        if p.isEmpty { return "." }
        var s = Substring(p)
        while s.count > 1, s.hasSuffix("/") { s = s.dropLast() }
        if s == "/" { return "/" }
        if let slash = s.lastIndex(of: "/") { return String(s[s.index(after: slash)...]) }
        return String(s)
    }

    /// `filepath.Abs` relative to `base` (the process working directory when not given).
    public static func absolute(_ p: String, relativeTo base: String? = nil) -> String {
        if isAbsolute(p) { return clean(p) }
        return join(base ?? FileSystem.currentDirectory, p)
    }

    /// `filepath.Rel`, for paths that are both absolute.
    public static func relative(_ target: String, to base: String) -> String {
        let t = clean(target).split(separator: "/")
        let b = clean(base).split(separator: "/")
        var i = 0
        while i < t.count, i < b.count, t[i] == b[i] { i += 1 }
        let up = Array(repeating: "..", count: b.count - i)
        let rest = t[i...].map(String.init)
        let parts = up + rest
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// `~` and `~/…` expanded with the user's home directory.
    public static func expandingTilde(_ p: String, home: String) -> String {
        guard p.hasPrefix("~") else { return p }
        return join(home, String(p.dropFirst()))
    }
}

/// The few file-system reads the compose model needs, without Foundation.
public enum FileSystem {
    public static var currentDirectory: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public enum Kind { case missing, file, directory, other }

    public static func kind(_ path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .file
        default: return .other
        }
    }

    public static func exists(_ path: String) -> Bool { kind(path) != .missing }
    public static func isDirectory(_ path: String) -> Bool { kind(path) == .directory }

    public struct ReadError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var code: Int32
        public var description: String {
            if code == EFBIG { return "cannot read \(path): it is larger than \(FileSystem.maximumSourceSize >> 20) MiB, more than any compose file needs" }
            return "cannot read \(path): \(String(cString: strerror(code)))"
        }
        public var isMissing: Bool { code == ENOENT }
    }

    public static func readText(_ path: String) throws(ReadError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(path: path, code: errno) }
        defer { close(fd) }
        return try readAll(fd, path: path)
    }

    public static func readAll(_ fd: Int32, path: String) throws(ReadError) -> String {
        String(decoding: try readAllBytes(fd, path: path), as: UTF8.self)
    }

    /// The most a compose file (or a file it includes or extends) may hold.
    public static let maximumSourceSize = 64 << 20

    /// Reads at most `limit` bytes (a larger file fails with EFBIG before it is read whole).
    public static func readAllBytes(_ fd: Int32, path: String, limit: Int = Int.max) throws(ReadError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, code: errno)
            }
            if n == 0 { break }
            if bytes.count + n > limit { throw ReadError(path: path, code: EFBIG) }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    public static func readBytes(_ path: String, limit: Int = Int.max) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(path: path, code: errno) }
        defer { close(fd) }
        return try readAllBytes(fd, path: path, limit: limit)
    }

    /// A compose file's text: no larger than `maximumSourceSize`, and valid UTF-8 (docker compose
    /// refuses other text; the first bad byte is reported at its line and column).
    public static func source(_ bytes: [UInt8], file: String) throws(ComposeError) -> String {
        guard bytes.count <= maximumSourceSize else {
            throw ComposeError(.error("\(file) is larger than \(maximumSourceSize >> 20) MiB, more than any compose file needs"))
        }
        do {
            return try SourceText.decode(bytes, file: file)
        } catch {
            throw ComposeError(.error(error.message, at: error.location))
        }
    }

    /// Reads a compose file as `source` checks it.
    public static func readSource(_ path: String) throws(ReadError) -> [UInt8] {
        try readBytes(path, limit: maximumSourceSize)
    }

    /// The canonical path with symlinks resolved, or nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    public static var homeDirectory: String {
        if let home = getenv("HOME") { return String(cString: home) }
        if let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir { return String(cString: dir) }
        return "/"
    }
}
