#if canImport(Glibc)
import Glibc
#endif

/// A container's filesystem opened for copying: while it runs, `/proc/PID/root` (its mounts —
/// volumes, binds, tmpfs — included); otherwise its overlay mounted for the while. Every path is
/// resolved by the kernel inside that root (openat2 RESOLVE_IN_ROOT): a symlink in the container,
/// absolute or full of `..`, never leads out of it.
public final class ContainerTree {
    public let fd: Int32
    /// Where the container's volumes, binds and tmpfs mounts go when they are not mounted (the
    /// container is not running): copying there would only be hidden by them later.
    public let unmountedMounts: [String]
    let mounted: RootFilesystem?

    public init(root: String, mounted: RootFilesystem? = nil, unmountedMounts: [String] = []) throws(SystemError) {
        fd = try Sys.open(root, ContainerCopy.pathOnly | O_DIRECTORY)
        self.mounted = mounted
        self.unmountedMounts = unmountedMounts
    }

    /// `record`'s filesystem: through `/proc/PID/root` while it runs; its overlay mounted for the
    /// while otherwise (the caller holds the project's lock, so that it does not start meanwhile).
    public static func open(_ record: ContainerRecord, runtime: Runtime) throws(SystemError) -> ContainerTree {
        if record.state.isAlive { return try ContainerTree(root: "/proc/\(record.state.pid)/root") }
        let rootfs = RootFilesystem(directory: runtime.containerDirectory(record.id))
        let wasMounted = rootfs.isMounted
        try rootfs.mount(layers: ContainerChanges.lowers(record, runtime: runtime))
        do {
            return try ContainerTree(root: rootfs.merged, mounted: wasMounted ? nil : rootfs,
                                     unmountedMounts: record.spec.mounts.map(\.destination))
        } catch {
            if !wasMounted { try? rootfs.unmount() }
            throw error
        }
    }

    /// The unmounted mount point `path` lies under, if any.
    public func unmountedMount(holding path: String) -> String? {
        let p = ContainerCopy.trimmed(path.hasPrefix("/") ? path : "/" + path)
        return unmountedMounts.first { p == $0 || p.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
    }

    deinit {
        Sys.close(fd)
        try? mounted?.unmount()
    }

    /// `path` in the container (O_PATH unless `flags` say otherwise); its last component is followed
    /// only when `follow`.
    public func open(_ path: String, follow: Bool, flags: Int32 = ContainerCopy.pathOnly) throws(SystemError) -> Int32 {
        try Sys.openInRoot(fd, path.isEmpty ? "/" : path, flags | (follow ? 0 : O_NOFOLLOW))
    }

    /// The directory `path` in the container, open for reading, with the components that are missing
    /// made (each resolved inside the root before the next is made in it).
    func directory(_ path: String) throws(SystemError) -> Int32 {
        var dir = try open("/", follow: true, flags: O_RDONLY | O_DIRECTORY)
        var walked = ""
        for part in path.split(separator: "/").map(String.init) where part != "." {
            walked += "/" + part
            if (try? Sys.fileStatus(part, at: dir, follow: false)) == nil {
                do { try Sys.mkdir(part, 0o755, at: dir) } catch { Sys.close(dir); throw error }
            }
            let next: Int32
            do { next = try open(walked, follow: true, flags: O_RDONLY | O_DIRECTORY) } catch { Sys.close(dir); throw error }
            Sys.close(dir)
            dir = next
        }
        return dir
    }
}

/// `cp` between the host and a container, and `watch`'s sync: docker cp's rules for where things go
/// (a directory into a directory, `SRC/.` for the contents, a trailing `/` for a directory that must
/// exist), modes and times kept, ownership set to the destination's user unless `archive`. Below the
/// paths named, every entry is read and written through its parent directory's descriptor without
/// following symlinks: a link is copied as a link, and an existing link at the destination is
/// replaced, never written through.
public enum ContainerCopy {
    public static let pathOnly: Int32 = 0o10000000  // O_PATH

    /// One side of a copy: the host's filesystem, or a container's.
    public enum Side {
        case host
        case container(ContainerTree)

        func open(_ path: String, follow: Bool, flags: Int32 = ContainerCopy.pathOnly) throws(SystemError) -> Int32 {
            switch self {
            case .host: return try Sys.open(path, flags | (follow ? 0 : O_NOFOLLOW))
            case .container(let tree): return try tree.open(path, follow: follow, flags: flags)
            }
        }

        /// The directory holding `path`'s last component, and that component.
        func parent(_ path: String) throws(SystemError) -> (fd: Int32, name: String) {
            let trimmed = ContainerCopy.trimmed(path)
            let slash = trimmed.lastIndex(of: "/")
            let name = slash.map { String(trimmed[trimmed.index(after: $0)...]) } ?? trimmed
            let dir = slash.map { String(trimmed[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? (isHost ? "." : "/")
            return (try open(dir, follow: true, flags: ContainerCopy.pathOnly | O_DIRECTORY), name)
        }

        var isHost: Bool { if case .host = self { return true } else { return false } }
    }

    public struct Options: Sendable {
        /// Keep the source's owners (`-a`); otherwise files belong to `owner`.
        public var archive = false
        /// Follow a symlink named as the source (`-L`).
        public var followLink = false
        public var owner: (uid: uid_t, gid: gid_t) = (0, 0)
        public init(archive: Bool = false, followLink: Bool = false, owner: (uid: uid_t, gid: gid_t) = (0, 0)) {
            self.archive = archive
            self.followLink = followLink
            self.owner = owner
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
        init(_ error: SystemError) { description = error.description }
    }

    /// Copies `source` on one side to `destination` on the other, as docker cp does.
    public static func copy(from: Side, _ source: String, to: Side, _ destination: String, options: Options) throws(Failure) {
        let contentsOnly = source.hasSuffix("/.") || source == "."
        let sourceFd: Int32
        do {
            sourceFd = try from.open(source, follow: options.followLink || source.hasSuffix("/") || contentsOnly)
        } catch {
            throw Failure("could not find the file \(source)\(from.isHost ? "" : " in the container"): \(error.code == ENOENT ? "no such file or directory" : error.description)")
        }
        defer { Sys.close(sourceFd) }
        do {
            let st = try Sys.fstat(sourceFd)
            let isDirectory = st.st_mode & S_IFMT == S_IFDIR
            var links: [UInt64: (Int32, String)] = [:]
            defer { for (fd, _) in links.values { Sys.close(fd) } }
            if let target = try? to.open(destination, follow: true) {
                defer { Sys.close(target) }
                let targetStat = try Sys.fstat(target)
                if targetStat.st_mode & S_IFMT == S_IFDIR {
                    let dir = try reopen(target, O_RDONLY | O_DIRECTORY)
                    defer { Sys.close(dir) }
                    if isDirectory && contentsOnly {
                        try copyChildren(of: sourceFd, into: dir, options: options, links: &links)
                    } else {
                        try copyEntry(sourceFd, st, into: dir, name: baseName(source), options: options, links: &links)
                    }
                    return
                }
                if isDirectory { throw Failure("cannot copy a directory to a file: \(destination)") }
            } else if destination.hasSuffix("/") && !isDirectory {
                throw Failure("the destination directory \(destination) must exist\(to.isHost ? "" : " in the container")")
            }
            let parent: (fd: Int32, name: String)
            do { parent = try to.parent(destination) } catch {
                throw Failure("the directory holding \(destination) must exist\(to.isHost ? "" : " in the container"): \(error.description)")
            }
            defer { Sys.close(parent.fd) }
            let dir = try reopen(parent.fd, O_RDONLY | O_DIRECTORY)
            defer { Sys.close(dir) }
            try copyEntry(sourceFd, st, into: dir, name: parent.name, options: options, links: &links)
        } catch let error as Failure {
            throw error
        } catch let error as SystemError {
            throw Failure(error)
        } catch {
            throw Failure("\(error)")
        }
    }

    /// `watch`'s sync of one host path to `path` in the container: its parents made as needed, a
    /// file or tree written over what is there; a host path that is gone removes `path`.
    /// `recursive: false`: a directory is made (or kept) without what it holds.
    public static func place(_ hostPath: String, in tree: ContainerTree, at path: String, options: Options, recursive: Bool = true) throws(SystemError) {
        guard let source = try? Sys.open(hostPath, pathOnly | O_NOFOLLOW) else {
            try remove(path, in: tree)
            return
        }
        defer { Sys.close(source) }
        let parts = trimmed(path).split(separator: "/").map(String.init)
        guard let name = parts.last else { return }
        let dir = try tree.directory(parts.dropLast().joined(separator: "/"))
        defer { Sys.close(dir) }
        let st = try Sys.fstat(source)
        if !recursive && st.st_mode & S_IFMT == S_IFDIR {
            if let existing = try? Sys.fileStatus(name, at: dir), existing.st_mode & S_IFMT == S_IFDIR { return }
            try? Sys.unlink(name, at: dir)
            try Sys.mkdir(name, st.st_mode & 0o7777, at: dir)
            return
        }
        var links: [UInt64: (Int32, String)] = [:]
        defer { for (fd, _) in links.values { Sys.close(fd) } }
        try copyEntry(source, st, into: dir, name: name, options: options, links: &links)
    }

    /// Removes `path` in the container, a directory with what it holds; missing is fine.
    public static func remove(_ path: String, in tree: ContainerTree) throws(SystemError) {
        let parts = trimmed(path).split(separator: "/")
        guard let name = parts.last.map(String.init) else { return }
        guard let dir = try? tree.open("/" + parts.dropLast().joined(separator: "/"), follow: true, flags: O_RDONLY | O_DIRECTORY) else { return }
        defer { Sys.close(dir) }
        try removeEntry(name, in: dir)
    }

    // MARK: - Entries, through their parents' descriptors

    /// Copies the entry open (O_PATH, not followed) at `source` to `name` in `dir`. What is at `name`
    /// already is replaced (a directory merged into), as docker's tar extraction does.
    static func copyEntry(_ source: Int32, _ st: stat, into dir: Int32, name: String, options: Options,
                          links: inout [UInt64: (Int32, String)]) throws(SystemError) {
        let kind = st.st_mode & S_IFMT
        if let existing = try? Sys.fileStatus(name, at: dir) {
            let existingIsDirectory = existing.st_mode & S_IFMT == S_IFDIR
            if existingIsDirectory && kind != S_IFDIR { throw SystemError("replace directory", name, code: EISDIR) }
            if !existingIsDirectory { try Sys.unlink(name, at: dir) }
        }
        switch kind {
        case S_IFDIR:
            if (try? Sys.fileStatus(name, at: dir)) == nil { try Sys.mkdir(name, 0o700, at: dir) }
            let child = try Sys.open(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, at: dir)
            defer { Sys.close(child) }
            try copyChildren(of: source, into: child, options: options, links: &links)
            try finish(child, name, in: dir, st, options)
        case S_IFLNK:
            try Sys.symlink(try Sys.readlink("", at: source), name, at: dir)
            let owner = options.archive ? (st.st_uid, st.st_gid) : options.owner
            try Sys.chown(name, owner.0, owner.1, at: dir)
            try Sys.setTimes(name, at: dir, accessed: st.st_atim, modified: st.st_mtim)
        case S_IFREG:
            let key = UInt64(st.st_dev) << 40 ^ UInt64(st.st_ino)
            if st.st_nlink > 1, let (firstDir, firstName) = links[key] {
                try Sys.link(firstName, fromDir: firstDir, name, toDir: dir)
                return
            }
            let input = try reopen(source, O_RDONLY)
            defer { Sys.close(input) }
            // O_EXCL | O_NOFOLLOW: a link made meanwhile in the way is never written through.
            let output = FileHandle(try Sys.open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600, at: dir))
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let n = try Sys.read(input, into: &buffer)
                if n == 0 { break }
                try output.write(n == buffer.count ? buffer : Array(buffer[0..<n]))
            }
            try finish(output.fd, name, in: dir, st, options)
            if st.st_nlink > 1 { links[key] = (try Sys.duplicate(dir), name) }
        case S_IFCHR, S_IFBLK, S_IFIFO:
            try Sys.mknod(name, kind | 0o600, st.st_rdev, at: dir)
            let node = try Sys.open(name, pathOnly | O_NOFOLLOW, at: dir)
            defer { Sys.close(node) }
            guard try Sys.fstat(node).st_mode & S_IFMT == kind else { throw SystemError("replace", name, code: EEXIST) }
            try finish(node, name, in: dir, st, options)
        default:
            return  // sockets are not copied
        }
    }

    /// Owner, mode and times onto the entry just made, open at `fd` (so a rename in the container
    /// meanwhile cannot redirect the chmod).
    static func finish(_ fd: Int32, _ name: String, in dir: Int32, _ st: stat, _ options: Options) throws(SystemError) {
        let owner = options.archive ? (st.st_uid, st.st_gid) : options.owner
        try Sys.chown(descriptor: fd, owner.0, owner.1)
        try Sys.chmod(procPath(fd), st.st_mode & 0o7777)
        try Sys.setTimes(name, at: dir, accessed: st.st_atim, modified: st.st_mtim)
    }

    static func copyChildren(of source: Int32, into dir: Int32, options: Options, links: inout [UInt64: (Int32, String)]) throws(SystemError) {
        let listing = try reopen(source, O_RDONLY | O_DIRECTORY)
        defer { Sys.close(listing) }
        for child in try Sys.list(directory: listing).sorted() {
            let fd = try Sys.open(child, pathOnly | O_NOFOLLOW, at: listing)
            defer { Sys.close(fd) }
            try copyEntry(fd, try Sys.fstat(fd), into: dir, name: child, options: options, links: &links)
        }
    }

    /// The entry an O_PATH descriptor names, opened anew with `flags` (through /proc/self/fd, so
    /// without resolving any path again).
    static func reopen(_ fd: Int32, _ flags: Int32) throws(SystemError) -> Int32 { try Sys.open(procPath(fd), flags) }

    static func procPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

    static func removeEntry(_ name: String, in dir: Int32) throws(SystemError) {
        guard let st = try? Sys.fileStatus(name, at: dir) else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            let child = try Sys.open(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, at: dir)
            defer { Sys.close(child) }
            for entry in try Sys.list(directory: child) { try removeEntry(entry, in: child) }
            try Sys.unlink(name, at: dir, directory: true)
        } else {
            try Sys.unlink(name, at: dir)
        }
    }

    static func trimmed(_ path: String) -> String {
        var p = path
        while p.hasSuffix("/.") { p.removeLast(2) }
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    /// The name a copied entry takes inside a destination directory: the source's last component.
    static func baseName(_ path: String) -> String {
        let t = trimmed(path)
        let name = t.split(separator: "/").last.map(String.init) ?? ""
        return name.isEmpty || name == "." ? "root" : name
    }
}

// MARK: - Tar streams (`cp SERVICE:SRC -`, `cp - SERVICE:DEST`)

extension ContainerCopy {
    /// `cp SERVICE:SRC -`: `source` as a tar on `fd`, named as docker names it (the source's last
    /// component, or the directory's contents for `SRC/.`), owners kept. It is copied out through
    /// the container's root first (into `scratch`, a directory of the caller's), so the container's
    /// links are handled exactly as for a copy to a directory.
    public static func writeTar(from tree: ContainerTree, _ source: String, to fd: Int32, scratch: String, followLink: Bool) throws(Failure) {
        try copy(from: .container(tree), source, to: .host, scratch, options: Options(archive: true, followLink: followLink))
        do throws(ArchiveError) { try LayerPacker.writeTar(scratch, fd: fd, excluding: [], overlayMarkers: false) } catch {
            throw Failure(error.description)
        }
    }

    /// `cp - SERVICE:DEST`: the tar on `reader` unpacked into the directory `destination` in the
    /// container. Each entry's parent is resolved inside the container's root, so neither a name
    /// with `..` nor a link the archive (or the container) made leads out of it.
    public static func extract(_ reader: ArchiveReader, into tree: ContainerTree, at destination: String, options: Options) throws(Failure) {
        let target = try tree.openOrFail(destination)
        let st = try? Sys.fstat(target)
        Sys.close(target)
        guard let st, st.st_mode & S_IFMT == S_IFDIR else {
            throw Failure("the destination \(destination) must be a directory in the container")
        }
        do {
            while let entry = try reader.next() {
                let parts = entry.path.split(separator: "/").filter { $0 != "." && !$0.isEmpty }
                if parts.contains("..") { throw Failure("refusing \(entry.path): it names a path outside the destination") }
                guard let name = parts.last.map(String.init) else { continue }
                let dir = try tree.directory(trimmed(destination) + "/" + parts.dropLast().joined(separator: "/"))
                defer { Sys.close(dir) }
                if let existing = try? Sys.fileStatus(name, at: dir), entry.kind != .directory || existing.st_mode & S_IFMT != S_IFDIR {
                    if existing.st_mode & S_IFMT == S_IFDIR { try removeEntry(name, in: dir) } else { try Sys.unlink(name, at: dir) }
                }
                var made: Int32 = -1
                switch entry.kind {
                case .directory:
                    if (try? Sys.fileStatus(name, at: dir)) == nil { try Sys.mkdir(name, 0o700, at: dir) }
                    made = try Sys.open(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, at: dir)
                case .file:
                    made = try Sys.open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600, at: dir)
                    let out = made
                    _ = try reader.forEachBlock { (block, offset) throws(SystemError) in try Sys.pwrite(out, block, at: offset) }
                    try Sys.ftruncate(out, entry.size)
                case .symlink:
                    try Sys.symlink(entry.linkTarget, name, at: dir)
                case .hardlink:
                    let target = entry.linkTarget.split(separator: "/").filter { $0 != "." && !$0.isEmpty }
                    if target.contains("..") { throw Failure("refusing the hard link \(entry.path) -> \(entry.linkTarget)") }
                    let targetDir = try tree.open(trimmed(destination) + "/" + target.dropLast().joined(separator: "/"), follow: true, flags: O_RDONLY | O_DIRECTORY)
                    defer { Sys.close(targetDir) }
                    try Sys.link(String(target.last ?? ""), fromDir: targetDir, name, toDir: dir)
                    continue
                case .characterDevice, .blockDevice, .fifo:
                    let kind: mode_t = entry.kind == .fifo ? S_IFIFO : entry.kind == .characterDevice ? S_IFCHR : S_IFBLK
                    try Sys.mknod(name, kind | 0o600, Sys.makeDevice(entry.deviceMajor, entry.deviceMinor), at: dir)
                    made = try Sys.open(name, pathOnly | O_NOFOLLOW, at: dir)
                case .socket, .unknown:
                    continue
                }
                var st = stat()
                st.st_mode = entry.mode
                st.st_uid = entry.uid
                st.st_gid = entry.gid
                st.st_atim = entry.accessed
                st.st_mtim = entry.modified
                if made >= 0 {
                    defer { Sys.close(made) }
                    try finish(made, name, in: dir, st, options)
                } else {
                    let owner = options.archive ? (entry.uid, entry.gid) : options.owner
                    try Sys.chown(name, owner.0, owner.1, at: dir)
                    try Sys.setTimes(name, at: dir, accessed: entry.modified, modified: entry.modified)
                }
            }
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure("\(error)")
        }
    }
}

extension ContainerTree {
    func openOrFail(_ path: String) throws(ContainerCopy.Failure) -> Int32 {
        do { return try open(path, follow: true) } catch { throw ContainerCopy.Failure("cannot find \(path) in the container: \(error)") }
    }
}
