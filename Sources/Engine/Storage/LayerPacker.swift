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

    static func writeTar(_ directory: String, fd: Int32, excluding: Set<String>) throws(ArchiveError) {
        let writer = try ArchiveWriter(fd: fd, label: directory)
        var links: [String: String] = [:]
        do {
            try walk(directory, "", writer: writer, links: &links, excluding: excluding)
        } catch {
            throw ArchiveError(error.description)
        }
        try writer.finish()
    }

    static func walk(_ root: String, _ relative: String, writer: ArchiveWriter, links: inout [String: String], excluding: Set<String>) throws(SystemError) {
        let directory = relative.isEmpty ? root : root + "/" + relative
        for name in try Sys.list(directory).sorted() {
            let path = relative.isEmpty ? name : relative + "/" + name
            if excluding.contains(path) { continue }
            let full = root + "/" + path
            let st = try Sys.fileStatus(full)
            let type = st.st_mode & S_IFMT
            var h = ArchiveWriter.Header(path: path, mode: st.st_mode & 0o7777)
            h.uid = st.st_uid
            h.gid = st.st_gid
            h.mtime = Int(st.st_mtim.tv_sec)
            func add(_ header: ArchiveWriter.Header, data: [UInt8] = []) throws(SystemError) {
                do { try writer.add(header, data: data) } catch { throw SystemError("write layer (\(error))", full, code: EIO) }
            }
            switch type {
            case S_IFCHR where st.st_rdev == 0:
                // An overlay whiteout: the lower file was deleted.
                var wh = ArchiveWriter.Header(path: (relative.isEmpty ? "" : relative + "/") + ".wh." + name, mode: 0o644)
                wh.mtime = h.mtime
                try add(wh)
            case S_IFDIR:
                h.kind = .directory
                h.path = path + "/"
                try add(h)
                if Sys.getXattr(full, "trusted.overlay.opaque") == [UInt8(ascii: "y")] || Sys.getXattr(full, "user.overlay.opaque") == [UInt8(ascii: "y")] {
                    var opq = ArchiveWriter.Header(path: path + "/.wh..wh..opq", mode: 0o644)
                    opq.mtime = h.mtime
                    try add(opq)
                }
                try walk(root, path, writer: writer, links: &links, excluding: excluding)
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
                    continue
                }
                if st.st_nlink > 1 { links[inode] = path }
                if let capability = Sys.getXattr(full, "security.capability") { h.xattrs = [("security.capability", capability)] }
                do { try writer.addFile(h, from: full, size: Int64(st.st_size)) } catch { throw SystemError("write layer (\(error))", full, code: EIO) }
            case S_IFCHR, S_IFBLK:
                h.kind = type == S_IFCHR ? .characterDevice : .blockDevice
                h.deviceMajor = Sys.major(st.st_rdev)
                h.deviceMinor = Sys.minor(st.st_rdev)
                try add(h)
            case S_IFIFO:
                h.kind = .fifo
                try add(h)
            default:
                continue // sockets are not kept in layers
            }
        }
    }
}
