#if canImport(Glibc)
import Glibc
#endif

/// Packs a directory that holds one layer's changes — an overlay upper directory after a build step
/// ran, or a tree a COPY wrote — as an OCI layer tar: entries in a stable order (sorted by path),
/// owners, modes, mtimes, symlink targets, hard links and `security.capability` kept; an overlay
/// whiteout (a 0:0 character device) becomes `.wh.NAME`, an opaque directory
/// (`trusted.overlay.opaque=y`) gets `.wh..wh..opq`. `excluding` names paths (relative, no leading
/// slash) left out, as `commit` leaves out the files the runtime wrote (`/etc/hosts`…).
public enum LayerPacker {
    public struct Result: Sendable {
        /// The digest of the tar (uncompressed: the layer's diff_id and its blob digest).
        public var digest: Digest
        public var size: Int64
    }

    /// Writes the tar into the content store.
    public static func pack(_ directory: String, into store: ContentStore, excluding: Set<String> = []) throws(ArchiveError) -> Result {
        let staging = store.stagingPath("pack")
        let fd: Int32
        do {
            try store.prepare()
            fd = try Sys.open(staging, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        } catch { throw ArchiveError(error.description) }
        do {
            try writeTar(directory, fd: fd, excluding: excluding)
            Sys.close(fd)
        } catch {
            Sys.close(fd)
            try? Sys.unlink(staging)
            throw error
        }
        // Hash what was written, then give it its name in the store.
        do {
            let digest = try Digest.ofFile(staging)
            let size = Int64(try Sys.fileStatus(staging).st_size)
            if !(try store.commit(staging: staging, digest: digest)) { try? Sys.unlink(staging) }
            return Result(digest: digest, size: size)
        } catch {
            try? Sys.unlink(staging)
            throw ArchiveError(error.description)
        }
    }

    /// `overlayMarkers`: the directory is an overlay upper one, whose whiteouts (0/0 character
    /// devices) and opaque directories become `.wh.` markers; otherwise every entry is itself (`cp`).
    static func writeTar(_ directory: String, fd: Int32, excluding: Set<String>, overlayMarkers: Bool = true) throws(ArchiveError) {
        let writer = try ArchiveWriter(fd: fd, label: directory)
        var links: [String: String] = [:]
        do {
            try walk(directory, "", writer: writer, links: &links, excluding: excluding, overlayMarkers: overlayMarkers)
        } catch {
            throw ArchiveError(error.description)
        }
        try writer.finish()
    }

    static func walk(_ root: String, _ relative: String, writer: ArchiveWriter, links: inout [String: String], excluding: Set<String>,
                     overlayMarkers: Bool = true) throws(SystemError) {
        let directory = relative.isEmpty ? root : root + "/" + relative
        for name in try Sys.list(directory).sorted() {
            let path = relative.isEmpty ? name : relative + "/" + name
            if excluding.contains(path) { continue }
            let full = root + "/" + path
            let st = try Sys.fileStatus(full)
            func marker(_ markerPath: String) throws(SystemError) {
                var h = ArchiveWriter.Header(path: markerPath, mode: 0o644)
                h.mtime = Int(st.st_mtim.tv_sec)
                do { try writer.add(h, data: []) } catch { throw SystemError("write layer (\(error))", full, code: EIO) }
            }
            if overlayMarkers && st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0 {
                // An overlay whiteout: the lower file was deleted.
                try marker((relative.isEmpty ? "" : relative + "/") + ".wh." + name)
                continue
            }
            try addEntry(full, as: path, st, writer: writer, links: &links, what: "layer")
            if st.st_mode & S_IFMT == S_IFDIR {
                if overlayMarkers && (Sys.getXattr(full, "trusted.overlay.opaque") == [UInt8(ascii: "y")] || Sys.getXattr(full, "user.overlay.opaque") == [UInt8(ascii: "y")]) {
                    try marker(path + "/.wh..wh..opq")
                }
                try walk(root, path, writer: writer, links: &links, excluding: excluding, overlayMarkers: overlayMarkers)
            }
        }
    }

    /// One file as its tar entry: owner, mode and mtime from `st`; a directory's own entry (its
    /// contents are the caller's), a symlink's target, a regular file's content and file capability,
    /// a hard link to the first path of its inode seen (`links`), devices and fifos. Sockets have none.
    static func addEntry(_ full: String, as path: String, _ st: stat, writer: ArchiveWriter, links: inout [String: String], what: String) throws(SystemError) {
        let type = st.st_mode & S_IFMT
        var h = ArchiveWriter.Header(path: path, mode: st.st_mode & 0o7777)
        h.uid = st.st_uid
        h.gid = st.st_gid
        h.mtime = Int(st.st_mtim.tv_sec)
        func add(_ header: ArchiveWriter.Header) throws(SystemError) {
            do { try writer.add(header, data: []) } catch { throw SystemError("write \(what) (\(error))", full, code: EIO) }
        }
        switch type {
        case S_IFDIR:
            h.kind = .directory
            h.path = path + "/"
            try add(h)
        case S_IFLNK:
            h.kind = .symlink
            h.linkTarget = try Sys.readlink(full)
            try add(h)
        case S_IFREG:
            let inode = "\(st.st_dev):\(st.st_ino)"
            if st.st_nlink > 1, let first = links[inode] {
                h.kind = .hardlink
                h.linkTarget = first
                try add(h)
                return
            }
            if st.st_nlink > 1 { links[inode] = path }
            if let capability = Sys.getXattr(full, "security.capability") { h.xattrs = [("security.capability", capability)] }
            do { try writer.addFile(h, from: full, size: Int64(st.st_size)) } catch { throw SystemError("write \(what) (\(error))", full, code: EIO) }
        case S_IFCHR, S_IFBLK:
            h.kind = type == S_IFCHR ? .characterDevice : .blockDevice
            h.deviceMajor = Sys.major(st.st_rdev)
            h.deviceMinor = Sys.minor(st.st_rdev)
            try add(h)
        case S_IFIFO:
            h.kind = .fifo
            try add(h)
        default:
            return // sockets are not kept in layers
        }
    }
}
