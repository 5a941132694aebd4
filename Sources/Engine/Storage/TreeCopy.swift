#if canImport(Glibc)
import Glibc
#endif

/// Copies a directory tree keeping what docker's volume copy-up keeps: modes, ownership, times,
/// symlinks, hard links, device nodes and FIFOs. Never follows symlinks.
enum TreeCopy {
    static func copy(from source: String, to target: String) throws(SystemError) {
        var links: [UInt64: String] = [:]
        try copyEntry(source, target, root: true, links: &links)
    }

    static func copyEntry(_ source: String, _ target: String, root: Bool, links: inout [UInt64: String]) throws(SystemError) {
        let st = try Sys.fileStatus(source)
        let kind = st.st_mode & S_IFMT
        let perm = st.st_mode & 0o7777
        switch kind {
        case S_IFDIR:
            if !root { try Sys.mkdir(target, 0o700) }
            for name in try Sys.list(source) {
                try copyEntry(source + "/" + name, target + "/" + name, root: false, links: &links)
            }
        case S_IFLNK:
            try Sys.symlink(try Sys.readlink(source), target)
        case S_IFREG:
            let key = UInt64(st.st_dev) << 40 ^ UInt64(st.st_ino)
            if st.st_nlink > 1, let first = links[key] {
                try Sys.check("link", target) { linkat(AT_FDCWD, first, AT_FDCWD, target, 0) }
                return
            }
            if st.st_nlink > 1 { links[key] = target }
            try copyContent(source, to: target)
        case S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK:
            if kind == S_IFSOCK { return }
            try Sys.mknod(target, kind | 0o600, st.st_rdev)
        default:
            return
        }
        try Sys.chown(target, st.st_uid, st.st_gid)
        if kind != S_IFLNK { try Sys.chmod(target, perm) }
        try Sys.setTimes(target, at: AT_FDCWD, accessed: st.st_atim, modified: st.st_mtim)
    }

    /// A regular file's bytes into a new file (mode 0600 until the caller sets it).
    static func copyContent(_ source: String, to target: String) throws(SystemError) {
        let input = try FileHandle(path: source, flags: O_RDONLY)
        let output = try FileHandle(path: target, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = try Sys.read(input.fd, into: &buffer)
            if n == 0 { break }
            try output.write(Array(buffer[0..<n]))
        }
    }

    /// Whether a directory has no entries (missing counts as empty).
    static func isEmpty(_ path: String) -> Bool {
        ((try? Sys.list(path)) ?? []).isEmpty
    }
}
