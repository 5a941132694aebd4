#if canImport(Glibc)
import Glibc
#endif

/// `export`: a container's whole filesystem as one tar — the merged view of its image's layers and
/// its upper directory, as overlayfs shows it (whiteouts hide, opaque directories end the merge),
/// read from the layers themselves, so a stopped container exports too. Volumes and other mounts are
/// not part of it, as with `docker export`.
public enum ContainerExport {
    /// `layers` bottom first (the container's upper directory last).
    public static func write(layers: [String], to fd: Int32) throws(ArchiveError) {
        let writer = try ArchiveWriter(fd: fd, label: "export")
        var links: [String: String] = [:]
        do { try walk(Array(layers.reversed()), "", writer: writer, links: &links) } catch {
            throw ArchiveError(error.description)
        }
        try writer.finish()
    }

    static func isWhiteout(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0 }

    static func isOpaque(_ path: String) -> Bool {
        Sys.getXattr(path, "trusted.overlay.opaque") == [UInt8(ascii: "y")]
    }

    /// One merged directory: `dirs` are the layers' copies of it that show through, top first.
    static func walk(_ dirs: [String], _ relative: String, writer: ArchiveWriter, links: inout [String: String]) throws(SystemError) {
        var merged: [String: [String]] = [:]
        var closed: Set<String> = []
        for dir in dirs {
            for name in (try? Sys.list(dir)) ?? [] where !closed.contains(name) {
                let path = dir + "/" + name
                guard let st = try? Sys.fileStatus(path) else { continue }
                let isDirectory = st.st_mode & S_IFMT == S_IFDIR
                if merged[name] == nil {
                    if isWhiteout(st) { closed.insert(name); continue }
                    merged[name] = [path]
                    if !isDirectory || isOpaque(path) { closed.insert(name) }
                } else if isDirectory && !isWhiteout(st) {
                    merged[name]!.append(path)
                    if isOpaque(path) { closed.insert(name) }
                } else {
                    closed.insert(name)
                }
            }
        }
        for name in merged.keys.sorted() {
            let copies = merged[name]!
            let top = copies[0]
            let path = relative.isEmpty ? name : relative + "/" + name
            let st = try Sys.fileStatus(top)
            var h = ArchiveWriter.Header(path: path, mode: st.st_mode & 0o7777)
            h.uid = st.st_uid
            h.gid = st.st_gid
            h.mtime = Int(st.st_mtim.tv_sec)
            func add(_ header: ArchiveWriter.Header) throws(SystemError) {
                do { try writer.add(header, data: []) } catch { throw SystemError("write export (\(error))", top, code: EIO) }
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                h.kind = .directory
                h.path = path + "/"
                try add(h)
                try walk(copies, path, writer: writer, links: &links)
            case S_IFLNK:
                h.kind = .symlink
                h.linkTarget = try Sys.readlink(top)
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
                if let capability = Sys.getXattr(top, "security.capability") { h.xattrs = [("security.capability", capability)] }
                do { try writer.addFile(h, from: top, size: Int64(st.st_size)) } catch { throw SystemError("write export (\(error))", top, code: EIO) }
            case S_IFCHR, S_IFBLK:
                h.kind = st.st_mode & S_IFMT == S_IFCHR ? .characterDevice : .blockDevice
                h.deviceMajor = Sys.major(st.st_rdev)
                h.deviceMinor = Sys.minor(st.st_rdev)
                try add(h)
            case S_IFIFO:
                h.kind = .fifo
                try add(h)
            default:
                continue
            }
        }
    }
}

extension ContainerExport {
    /// A container's filesystem (its image's layers and its changes), its mount points' contents left out.
    public static func write(_ record: ContainerRecord, runtime: Runtime, to fd: Int32) throws(ArchiveError) {
        try write(layers: ContainerChanges.lowers(record, runtime: runtime) + [runtime.containerDirectory(record.id) + "/upper"], to: fd)
    }
}
