#if canImport(Glibc)
import Glibc
#endif

/// Relabeling a bind mount's source for SELinux (`:z`, `:Z`, `bind.selinux`), as dockerd does on a
/// host where SELinux is on: every file under it gets the container file type, shared by all
/// containers (`z`) or with categories of this container's own (`Z`). Where SELinux is off (no
/// selinuxfs), there is nothing to label and nothing is done.
public enum SELinux {
    public static var isEnabled: Bool { Sys.exists("/sys/fs/selinux/enforce") }

    /// The label: `container_file_t`, at `s0` when shared, or `s0:cA,cB` (two categories from the
    /// container's ID, as a private MCS pair) when not.
    public static func label(shared: Bool, containerID: String) -> String {
        let base = "system_u:object_r:container_file_t:s0"
        if shared { return base }
        let digest = Digest.of(Array(containerID.utf8)).hex
        var a = Int(digest.prefix(4), radix: 16)! % 1024, b = Int(digest.dropFirst(4).prefix(4), radix: 16)! % 1024
        if a == b { b = (b + 1) % 1024 }
        if a > b { swap(&a, &b) }
        return base + ":c\(a),c\(b)"
    }

    /// Directories dockerd refuses to relabel: they hold the host's own system.
    static let protected: Set<String> = ["/", "/bin", "/boot", "/dev", "/etc", "/etc/passwd", "/home", "/lib", "/lib64",
                                         "/proc", "/root", "/run", "/sbin", "/sys", "/usr", "/var"]

    /// Labels `path` and everything under it (symlinks themselves, never what they point to).
    public static func relabel(_ path: String, shared: Bool, containerID: String) throws(SystemError) {
        guard isEnabled else { return }
        if protected.contains(path) { throw SystemError("relabel (\(path) holds the host's own files)", path, code: EPERM) }
        let value = Array(label(shared: shared, containerID: containerID).utf8)
        func walk(_ p: String, depth: Int) throws(SystemError) {
            try Sys.setXattr(p, "security.selinux", value)
            guard depth < 256, let st = try? Sys.fileStatus(p), (st.st_mode & S_IFMT) == S_IFDIR else { return }
            for name in try Sys.list(p) { try walk(p + "/" + name, depth: depth + 1) }
        }
        try walk(path, depth: 0)
    }
}
