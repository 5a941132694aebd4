#if canImport(Glibc)
import Glibc
#endif

/// Paths inside a container's root filesystem, resolved the way the container would see them:
/// symlinks are followed, but absolute targets and `..` never leave the root (securejoin's rules).
enum ContainedPath {
    static func join(root: String, _ path: String) throws(SystemError) -> String {
        var resolved: [Substring] = []
        var pending: [Substring] = path.split(separator: "/").reversed()
        var links = 0
        while let part = pending.popLast() {
            if part == "." || part.isEmpty { continue }
            if part == ".." {
                _ = resolved.popLast()
                continue
            }
            let candidate = root + "/" + (resolved + [part]).joined(separator: "/")
            if let st = try? Sys.fileStatus(candidate), (st.st_mode & S_IFMT) == S_IFLNK {
                links += 1
                if links > 255 { throw SystemError("resolve", path, code: ELOOP) }
                let target = try Sys.readlink(candidate)
                if target.hasPrefix("/") { resolved.removeAll() }
                pending.append(contentsOf: target.split(separator: "/").reversed())
                continue
            }
            resolved.append(part)
        }
        return resolved.isEmpty ? root : root + "/" + resolved.joined(separator: "/")
    }
}
