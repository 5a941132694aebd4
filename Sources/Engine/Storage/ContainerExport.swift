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
                    if LayerLookup.isWhiteout(st) { closed.insert(name); continue }
                    merged[name] = [path]
                    if !isDirectory || LayerLookup.isOpaque(path) { closed.insert(name) }
                } else if isDirectory && !LayerLookup.isWhiteout(st) {
                    merged[name]!.append(path)
                    if LayerLookup.isOpaque(path) { closed.insert(name) }
                } else {
                    closed.insert(name)
                }
            }
        }
        for name in merged.keys.sorted() {
            let copies = merged[name]!
            let path = relative.isEmpty ? name : relative + "/" + name
            let st = try Sys.fileStatus(copies[0])
            try LayerPacker.addEntry(copies[0], as: path, st, writer: writer, links: &links, what: "export")
            if st.st_mode & S_IFMT == S_IFDIR { try walk(copies, path, writer: writer, links: &links) }
        }
    }
}

extension ContainerExport {
    /// A container's filesystem (its image's layers and its changes), its mount points' contents left out.
    public static func write(_ record: ContainerRecord, runtime: Runtime, to fd: Int32) throws(ArchiveError) {
        try write(layers: ContainerChanges.lowers(record, runtime: runtime) + [runtime.containerDirectory(record.id) + "/upper"], to: fd)
    }
}
