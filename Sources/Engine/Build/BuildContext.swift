#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The build context, read in place: nothing is packed or transferred; only the paths COPY and ADD
/// name are read, and `.dockerignore` (or `<Dockerfile>.dockerignore` beside the Dockerfile) is
/// applied with docker's semantics — `**`, `!` exceptions, the last matching pattern deciding, a
/// pattern that matches a directory matching everything below it.
public struct BuildContext: Sendable {
    public let directory: String
    public let patterns: [IgnorePattern]

    public struct IgnorePattern: Sendable, Equatable {
        public var segments: [String]
        public var exception: Bool
    }

    init(directory: String, dockerfile: String?) throws(BuildError) {
        guard Sys.isDirectory(directory) else {
            throw .failed("the build context \(directory) is not a directory", location: nil)
        }
        self.directory = directory
        patterns = Self.ignorePatterns(directory: directory, dockerfile: dockerfile)
    }

    /// What a build of `directory` leaves out: `<dockerfile>.dockerignore` beside the Dockerfile when
    /// there is one, else the context's `.dockerignore` (none for an inline Dockerfile's own file).
    public static func ignorePatterns(directory: String, dockerfile: String?) -> [IgnorePattern] {
        var text: String?
        if let dockerfile, let specific = try? Files.readText(dockerfile + ".dockerignore") { text = specific }
        if text == nil { text = try? Files.readText(directory + "/.dockerignore") }
        return parseIgnore(text ?? "")
    }

    public static func parseIgnore(_ text: String) -> [IgnorePattern] {
        var result: [IgnorePattern] = []
        for line in text.split(separator: "\n") {
            var p = line.trimmingWhitespace()
            if p.isEmpty || p.hasPrefix("#") { continue }
            var exception = false
            if p.hasPrefix("!") {
                exception = true
                p = String(p.dropFirst()).trimmingWhitespace()
            }
            let cleaned = BuildPath.clean("/" + p).dropFirst()
            if cleaned.isEmpty { continue }
            result.append(IgnorePattern(segments: cleaned.split(separator: "/").map(String.init), exception: exception))
        }
        return result
    }

    /// Whether a context path (relative, `a/b/c`) is left out of the build.
    public func isIgnored(_ relative: String) -> Bool {
        Self.ignored(relative, patterns)
    }

    /// Whether `relative` (`a/b/c`) or one of its parents is matched by `patterns` (the last match
    /// deciding, `!` patterns taking back), as a `.dockerignore` reads.
    public static func isIgnored(_ relative: String, by patterns: [IgnorePattern]) -> Bool { ignored(relative, patterns) }

    static func ignored(_ relative: String, _ patterns: [IgnorePattern]) -> Bool {
        guard !patterns.isEmpty else { return false }
        let parts = relative.split(separator: "/").map(String.init)
        var excluded = false
        for p in patterns {
            // The path or one of its parents.
            var matched = false
            for n in stride(from: parts.count, through: 1, by: -1) where Self.match(p.segments[...], parts[0..<n]) { matched = true; break }
            if matched { excluded = !p.exception }
        }
        return excluded
    }

    /// Glob segments (`*`, `?`, `[…]` within one, `**` across any number) against path segments.
    static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        if first == "**" {
            var rest = path
            while true {
                if match(pattern.dropFirst(), rest) { return true }
                guard !rest.isEmpty else { return false }
                rest = rest.dropFirst()
            }
        }
        guard let segment = path.first, fnmatch(first, segment, 0) == 0 else { return false }
        return match(pattern.dropFirst(), path.dropFirst())
    }

    static func matchesAny(_ globs: [String], _ relative: String) -> Bool {
        let patterns = globs.map { IgnorePattern(segments: BuildPath.clean("/" + $0).dropFirst().split(separator: "/").map(String.init), exception: false) }
        return ignored(relative, patterns)
    }

    /// A source as written in COPY (`src/`, `*.txt`, `./a/b*`), within the context.
    func glob(_ source: String) -> [(relative: String, path: String)] {
        Self.glob(source, in: directory, ignore: { isIgnored($0) })
    }

    static func glob(_ source: String, in root: String, ignore: ((String) -> Bool)?) -> [(relative: String, path: String)] {
        let cleaned = String(BuildPath.clean("/" + source).dropFirst())
        // Symlinks resolve inside the root (an absolute target or `..` never leaves it), as BuildKit
        // scopes the context: a link to /etc in the context is the context's own /etc.
        func contained(_ relative: String) -> String? {
            guard let p = try? ContainedPath.join(root: root, relative), (try? Sys.fileStatus(p)) != nil else { return nil }
            return p
        }
        if cleaned.isEmpty { return [("", root)] }
        // Each path found so far, with where it resolves (resolved once).
        var found: [(relative: String, path: String)] = [("", root)]
        for segment in cleaned.split(separator: "/").map(String.init) {
            var next: [(relative: String, path: String)] = []
            for base in found {
                let names = segment.contains(where: { "*?[".contains($0) })
                    ? ((try? Sys.list(base.path)) ?? []).sorted().filter { fnmatch(segment, $0, 0) == 0 } : [segment]
                for name in names {
                    let relative = base.relative.isEmpty ? name : base.relative + "/" + name
                    if let path = contained(relative) { next.append((relative, path)) }
                }
            }
            found = next
        }
        return found.filter { ignore?($0.relative) != true }
    }

    /// Whether a source names something above the context (`../x`), which no build may read.
    static func escapes(_ source: String) -> Bool {
        var depth = 0
        for part in source.split(separator: "/") {
            if part == ".." { depth -= 1; if depth < 0 { return true } } else if part != "." { depth += 1 }
        }
        return false
    }

    /// A path of the context for a bind mount, if it stays inside.
    func resolve(_ source: String) -> String? {
        guard !Self.escapes(source), let path = try? ContainedPath.join(root: directory, source) else { return nil }
        return Sys.exists(path) ? path : nil
    }

    /// What a step that reads this context path depends on: every file under it that is not ignored
    /// (its path, type, mode, owner, symlink target and content — never mtime).
    func digest(of relative: String, files: FileHashCache, excluding: [String] = [], record: ((String, String) -> Void)? = nil) -> Digest {
        let cleaned = String(BuildPath.clean("/" + relative).dropFirst())
        let path = cleaned.isEmpty ? directory : ((try? ContainedPath.join(root: directory, cleaned)) ?? directory + "/" + cleaned)
        return Self.treeDigest(path, files: files,
                               ignore: { isIgnored($0) || Self.matchesAny(excluding, $0) }, relative: cleaned, record: record)
    }

    /// `record`, when given, gets each file's path and line (what it is, its mode, owner and content digest).
    static func treeDigest(_ path: String, files: FileHashCache?, ignore: ((String) -> Bool)?, relative: String,
                           record: ((String, String) -> Void)? = nil) -> Digest {
        var h = Hasher256()
        func visit(_ path: String, _ relative: String, top: Bool) {
            guard let st = try? Sys.fileStatus(path, follow: top) else { h.update(Array("missing \(relative)\n".utf8)); return }
            let kind = st.st_mode & S_IFMT
            var line = "\(relative) \(kind >> 12) \(st.st_mode & 0o7777) \(st.st_uid):\(st.st_gid)"
            switch kind {
            case S_IFREG:
                line += " " + ((files?.digest(path, st) ?? (try? Digest.ofFile(path)))?.description ?? "unreadable")
            case S_IFLNK:
                line += " -> " + ((try? Sys.readlink(path)) ?? "")
            case S_IFDIR:
                h.update(Array((line + "\n").utf8))
                for name in ((try? Sys.list(path)) ?? []).sorted() {
                    let r = relative.isEmpty ? name : relative + "/" + name
                    if ignore?(r) == true { continue }
                    visit(path + "/" + name, r, top: false)
                }
                return
            default:
                line += " \(st.st_rdev)"
            }
            record?(relative, line)
            h.update(Array((line + "\n").utf8))
        }
        visit(path, relative, top: true)
        return h.finalize()
    }
}

/// Content digests of context files, remembered by (inode, size, mtime, ctime): an unchanged context
/// costs one `stat` per file. Kept in the store, shared by every build.
final class FileHashCache: @unchecked Sendable {
    let path: String
    let lock = Mutex<Int>(0)
    var entries: [String: Entry] = [:]
    var loaded = false
    var dirty = false

    struct Entry {
        var inode: UInt64
        var size: Int64
        var mtime: Int64
        var ctime: Int64
        var digest: Digest
    }

    init(path: String) { self.path = path }

    func digest(_ file: String, _ st: stat) -> Digest? {
        lock.withLock { _ in locked(file, st) }
    }

    private func locked(_ file: String, _ st: stat) -> Digest? {
        if !loaded {
            loaded = true
            if let bytes = try? Files.read(path) { entries = Self.parse(bytes) }
        }
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        let ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        if let e = entries[file], e.inode == UInt64(st.st_ino), e.size == Int64(st.st_size), e.mtime == mtime, e.ctime == ctime {
            return e.digest
        }
        guard let d = try? Digest.ofFile(file) else { return nil }
        entries[file] = Entry(inode: UInt64(st.st_ino), size: Int64(st.st_size), mtime: mtime, ctime: ctime, digest: d)
        dirty = true
        return d
    }

    /// The file's first line, then one line per file: `inode size mtime ctime sha256-hex path`. Read
    /// on every build of a context (3,000 entries: JSON decoding took most of a no-op rebuild).
    static let header = "swcompose file digests 1"

    static func parse(_ bytes: [UInt8]) -> [String: Entry] {
        var entries: [String: Entry] = [:]
        var lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: true)[...]
        guard let first = lines.popFirst(), String(decoding: first, as: UTF8.self) == header else { return [:] }
        entries.reserveCapacity(lines.count)
        for line in lines {
            let fields = line.split(separator: 0x20, maxSplits: 5, omittingEmptySubsequences: false)
            guard fields.count == 6, fields[4].count == 64,
                  let inode = UInt64(String(decoding: fields[0], as: UTF8.self)),
                  let size = Int64(String(decoding: fields[1], as: UTF8.self)),
                  let mtime = Int64(String(decoding: fields[2], as: UTF8.self)),
                  let ctime = Int64(String(decoding: fields[3], as: UTF8.self)) else { continue }
            let digest = Digest(sha256: String(decoding: fields[4], as: UTF8.self))
            entries[String(decoding: fields[5], as: UTF8.self)] = Entry(inode: inode, size: size, mtime: mtime, ctime: ctime, digest: digest)
        }
        return entries
    }

    static func format(_ entries: [String: Entry]) -> String {
        var text = header + "\n"
        for (file, e) in entries where !file.contains("\n") {
            text += "\(e.inode) \(e.size) \(e.mtime) \(e.ctime) \(e.digest.hex) \(file)\n"
        }
        return text
    }

    func save() {
        guard dirty else { return }
        try? Sys.mkdirAll(String(path[..<path.lastIndex(of: "/")!]), 0o700)
        try? Files.writeAtomically(path, Self.format(entries), durable: false)
        dirty = false
    }
}

/// Step keys → the layer each made (`build-cache/steps/<key>`), shared by every build in the store.
struct BuildCache: Sendable {
    let directory: String

    /// The layer's diff_id and when the step made it.
    func lookup(_ key: Digest) -> (Digest, String)? {
        guard let text = try? Files.readText(directory + "/steps/" + key.hex) else { return nil }
        let parts = text.trimmingWhitespace().split(separator: " ")
        guard let d = parts.first.flatMap({ Digest(String($0)) }) else { return nil }
        return (d, parts.count > 1 ? String(parts[1]) : Timestamp.rfc3339())
    }

    func store(_ key: Digest, _ added: AddedLayer) {
        store(BuildCacheStep(key: key, diffID: added.layer.diffID, created: added.created))
    }

    func store(_ step: BuildCacheStep) {
        try? Sys.mkdirAll(directory + "/steps", 0o700)
        try? Files.writeAtomically(directory + "/steps/" + step.key.hex, "\(step.diffID) \(step.created)", durable: false)
    }
}

/// `builder prune`: what the build cache holds that no image uses — step records whose layers no image
/// has (and those layers and blobs); with `all`, every record, the cache mounts, the explain records and
/// the context files' digests too.
public enum BuildCachePrune {
    public static func prune(runtime: Runtime, images: ImageStore, all: Bool) throws(ImageStoreError) -> Int64 {
        let directory = runtime.root.path + "/build-cache"
        var reclaimed: Int64 = 0
        var live: Set<Digest> = []
        for image in try images.list() { live.formUnion(image.configuration.rootfs.diffIDs) }
        let cache = BuildCache(directory: directory)
        for name in (try? Sys.list(directory + "/steps")) ?? [] {
            guard let key = Digest("sha256:" + name) else { continue }
            if all || cache.lookup(key).map({ !live.contains($0.0) }) ?? true { try? Sys.unlink(directory + "/steps/" + name) }
        }
        if all {
            for sub in ["mounts", "explain", "files"] {
                let path = directory + "/" + sub
                reclaimed += Sys.diskUsage(path)
                try? Sys.removeAll(path)
            }
        }
        let report = try images.collectUnreferenced(keepLayers: [])
        return reclaimed + report.reclaimed
    }
}
