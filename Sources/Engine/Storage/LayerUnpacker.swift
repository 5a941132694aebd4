#if canImport(Glibc)
import Glibc
#endif

/// Unpacks one image layer (a tar stream) into a directory, in the form overlayfs reads as a lower
/// layer: `.wh.NAME` becomes a whiteout (a 0:0 character device) and `.wh..wh..opq` marks its directory
/// opaque (`trusted.overlay.opaque=y`).
///
/// Nothing can be written outside the directory: every path is resolved component by component with
/// `openat(O_NOFOLLOW)` from the layer's own directory, so an entry with `..`, an absolute path, or a
/// path through a symlink (even one this layer created) is refused, as is a hard link pointing out.
public struct LayerUnpacker {
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public var entry: String
        public var reason: String
        public var description: String { "layer entry \"\(entry)\": \(reason)" }
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case refused(Refusal)
        case system(String, SystemError)
        case archive(ArchiveError)

        public var description: String {
            switch self {
            case .refused(let r): return r.description
            case .system(let entry, let e): return "layer entry \"\(entry)\": \(e)"
            case .archive(let e): return e.description
            }
        }
    }

    let rootFD: Int32
    let rootPath: String
    /// Directories whose times are set once all their entries are in place.
    var directoryTimes: [(String, timespec, timespec)] = []
    /// A cache of the directory descriptor of the last parent, so that consecutive entries of one
    /// directory don't walk the path again.
    var cachedParent: (path: [Substring], fd: Int32)?
    let ownership: Bool
    public private(set) var entries = 0
    public private(set) var bytes: Int64 = 0

    /// `root` must be an existing, empty directory.
    public init(root: String) throws(SystemError) {
        rootPath = root
        rootFD = try Sys.open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        ownership = Sys.isRoot
    }

    public mutating func close() {
        if let c = cachedParent { Sys.close(c.fd) }
        cachedParent = nil
        Sys.close(rootFD)
    }

    /// Unpacks every entry of `reader`.
    public mutating func unpack(_ reader: ArchiveReader) throws(Failure) {
        while true {
            let entry: ArchiveEntry?
            do { entry = try reader.next() } catch { throw .archive(error) }
            guard let entry else { break }
            try apply(entry, reader)
        }
        for (path, accessed, modified) in directoryTimes.reversed() {
            let components = path.split(separator: "/")
            if components.isEmpty {
                var times = [accessed, modified]
                _ = futimens(rootFD, &times)
                continue
            }
            guard let parent = try? openParent(components.dropLast(), create: false) else { continue }
            try? Sys.setTimes(String(components.last!), at: parent, accessed: accessed, modified: modified)
            Sys.close(parent)
        }
        directoryTimes = []
    }

    /// Unpacks everything the reader `open` makes, then closes the unpacker: the digest of the
    /// decompressed stream when the reader hashes it (a layer's diff_id), else nil. What fails is
    /// said as the unpack's failure (`bytes` tells what was written).
    public mutating func unpackAll(_ open: () throws(ArchiveError) -> ArchiveReader) throws(Failure) -> Digest? {
        defer { close() }
        let reader: ArchiveReader
        do { reader = try open() } catch { throw .archive(error) }
        try unpack(reader)
        do { return try reader.finishDecompressedDigest() } catch { throw .archive(error) }
    }

    /// Splits a tar path into clean components, refusing anything that could climb out.
    static func components(_ path: String) throws(Refusal) -> [Substring] {
        var result: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { throw Refusal(entry: path, reason: "contains '..'") }
            result.append(part)
        }
        return result
    }

    /// Opens the directory made of `components` below the root, creating missing directories when
    /// asked, and never following a symlink.
    mutating func openParent(_ components: ArraySlice<Substring>, create: Bool) throws(SystemError) -> Int32 {
        var fd = try Sys.duplicate(rootFD)
        for component in components {
            let name = String(component)
            var next = Sys.openRelative(name, in: fd, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) ?? -1
            if next < 0 && errno == ENOENT && create {
                do {
                    try Sys.mkdir(name, 0o755, at: fd)
                } catch {
                    if error.code != EEXIST {
                        Sys.close(fd)
                        throw error
                    }
                }
                next = Sys.openRelative(name, in: fd, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) ?? -1
            }
            if next < 0 {
                let code = errno
                Sys.close(fd)
                // ELOOP / ENOTDIR: the component is a symlink or not a directory.
                throw SystemError("open directory", name, code: code)
            }
            Sys.close(fd)
            fd = next
        }
        return fd
    }

    /// The parent directory of an entry, reusing the last one when it is the same.
    mutating func parentFD(_ components: ArraySlice<Substring>) throws(SystemError) -> Int32 {
        if let c = cachedParent, c.path.elementsEqual(components) { return c.fd }
        let fd = try openParent(components, create: true)
        if let c = cachedParent { Sys.close(c.fd) }
        cachedParent = (Array(components), fd)
        return fd
    }

    /// Removes whatever is at `name` (a tree, if it is a directory).
    func removeExisting(_ name: String, in parent: Int32) throws(SystemError) {
        guard let st = try? Sys.fileStatus(name, at: parent) else { return }
        if (st.st_mode & FileType.mask) == FileType.directory {
            let fd = try Sys.open(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, at: parent)
            defer { Sys.close(fd) }
            try removeContents(fd)
            try Sys.unlink(name, at: parent, directory: true)
        } else {
            try Sys.unlink(name, at: parent)
        }
    }

    func removeContents(_ dirFD: Int32) throws(SystemError) {
        for name in try Sys.list(directory: dirFD) { try removeExisting(name, in: dirFD) }
    }

    mutating func apply(_ entry: ArchiveEntry, _ reader: ArchiveReader) throws(Failure) {
        entries += 1
        let parts: [Substring]
        do { parts = try Self.components(entry.path) } catch { throw .refused(error) }
        // The root directory itself: only its metadata.
        guard let last = parts.last else {
            if entry.kind == .directory {
                // The layer's root keeps the store's directory where the kernel refuses (best effort, as docker).
                if ownership { try? Sys.fchown(rootFD, entry.uid, entry.gid) }
                try? Sys.fchmod(rootFD, entry.mode & 0o7777)
                directoryTimes.append(("", entry.accessed, entry.modified))
            }
            return
        }
        let name = String(last)
        let parentComponents = parts.dropLast()
        do {
            try place(entry, parts: parts, name: name, parentComponents: parentComponents, reader)
        } catch let failure as Failure {
            throw failure
        } catch let error as SystemError {
            if error.call == "open directory" && (error.code == ELOOP || error.code == ENOTDIR) {
                throw .refused(Refusal(entry: entry.path, reason: "its path goes through a symlink or a file (\(error.path ?? ""))"))
            }
            throw .system(entry.path, error)
        } catch {
            throw .system(entry.path, SystemError("unpack", entry.path, code: EIO))
        }
    }

    mutating func place(_ entry: ArchiveEntry, parts: [Substring], name: String, parentComponents: ArraySlice<Substring>,
                        _ reader: ArchiveReader) throws {
        do {
            let parent = try parentFD(parentComponents)

            if name.hasPrefix(".wh.") {
                if name == ".wh..wh..opq" {
                    do {
                        try Sys.setXattr(parent, "trusted.overlay.opaque", [UInt8(ascii: "y")])
                    } catch {
                        throw SystemError("setxattr trusted.overlay.opaque", parts.dropLast().joined(separator: "/"), code: error.code)
                    }
                } else if !name.hasPrefix(".wh..wh.") {
                    let hidden = String(name.dropFirst(4))
                    guard hidden != "." && hidden != ".." && !hidden.isEmpty else {
                        throw Failure.refused(Refusal(entry: entry.path, reason: "invalid whiteout"))
                    }
                    try removeExisting(hidden, in: parent)
                    try Sys.mknod(hidden, mode_t(FileType.character), Sys.makeDevice(0, 0), at: parent)
                    // The whiteout keeps the time its entry records (that of the deletion).
                    try? Sys.setTimes(hidden, at: parent, accessed: entry.accessed, modified: entry.modified)
                }
                return
            }

            // An existing directory is merged with a new directory; anything else is replaced.
            let existing = try? Sys.fileStatus(name, at: parent)
            if let st = existing, !(entry.kind == .directory && (st.st_mode & FileType.mask) == FileType.directory) {
                try removeExisting(name, in: parent)
            }

            switch entry.kind {
            case .directory:
                if existing.map({ ($0.st_mode & FileType.mask) != FileType.directory }) ?? true { try Sys.mkdir(name, 0o755, at: parent) }
                if ownership { try Sys.chown(name, entry.uid, entry.gid, at: parent) }
                try Sys.chmod(name, entry.mode & 0o7777, at: parent)
                try setXattrs(entry, name: name, parent: parent, isSymlink: false)
                directoryTimes.append((parts.joined(separator: "/"), entry.accessed, entry.modified))
                return
            case .file, .unknown, .socket:
                let fd = try Sys.open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600, at: parent)
                defer { Sys.close(fd) }
                let written: Int64
                do {
                    written = try reader.forEachBlock { (block, offset) throws(SystemError) in
                        try Sys.pwrite(fd, block, at: offset)
                    }
                } catch {
                    throw Failure.archive(error)
                }
                if written < entry.size { try Sys.ftruncate(fd, entry.size) }
                bytes += entry.size
                if ownership { try Sys.fchown(fd, entry.uid, entry.gid) }
                try Sys.fchmod(fd, entry.mode & 0o7777)
                for (key, value) in entry.xattrs where !key.hasPrefix("trusted.overlay.") {
                    try? Sys.setXattr(fd, key, value)
                }
            case .symlink:
                try Sys.symlink(entry.linkTarget, name, at: parent)
                if ownership { try Sys.chown(name, entry.uid, entry.gid, at: parent) }
                try setXattrs(entry, name: name, parent: parent, isSymlink: true)
            case .hardlink:
                let targetParts: [Substring]
                do { targetParts = try Self.components(entry.linkTarget) } catch { throw Failure.refused(error) }
                guard let targetName = targetParts.last else {
                    throw Failure.refused(Refusal(entry: entry.path, reason: "hard link to the layer root"))
                }
                let targetParent: Int32
                do {
                    targetParent = try openParent(targetParts.dropLast(), create: false)
                } catch {
                    let reason = error.code == ENOENT ? "hard link to \"\(entry.linkTarget)\", which the layer does not contain"
                        : "hard link to \"\(entry.linkTarget)\" through a symlink or a file"
                    throw Failure.refused(Refusal(entry: entry.path, reason: reason))
                }
                defer { Sys.close(targetParent) }
                guard let target = try? Sys.fileStatus(String(targetName), at: targetParent) else {
                    throw Failure.refused(Refusal(entry: entry.path, reason: "hard link to \"\(entry.linkTarget)\", which the layer does not contain"))
                }
                guard (target.st_mode & FileType.mask) != FileType.directory else {
                    throw Failure.refused(Refusal(entry: entry.path, reason: "hard link to a directory"))
                }
                try Sys.link(String(targetName), fromDir: targetParent, name, toDir: parent)
                return
            case .characterDevice, .blockDevice, .fifo:
                let type: mode_t = entry.kind == .characterDevice ? mode_t(FileType.character) : entry.kind == .blockDevice ? mode_t(FileType.block) : mode_t(FileType.fifo)
                try Sys.mknod(name, type | (entry.mode & 0o7777), Sys.makeDevice(entry.deviceMajor, entry.deviceMinor), at: parent)
                if ownership { try Sys.chown(name, entry.uid, entry.gid, at: parent) }
                try Sys.chmod(name, entry.mode & 0o7777, at: parent)
            }
            try Sys.setTimes(name, at: parent, accessed: entry.accessed, modified: entry.modified)
        }
    }

    func setXattrs(_ entry: ArchiveEntry, name: String, parent: Int32, isSymlink: Bool) throws(SystemError) {
        // Symlinks and directories have no writable descriptor here: name them through /proc/self/fd.
        let path = "/proc/self/fd/\(parent)/\(name)"
        for (key, value) in entry.xattrs where !key.hasPrefix("trusted.overlay.") {
            if isSymlink && key.hasPrefix("user.") { continue }  // the kernel refuses user.* on symlinks
            try? Sys.setXattr(path, key, value)
        }
    }
}
