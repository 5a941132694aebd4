#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Mounts beyond mount(2): the new mount API for overlays, pivot_root, read-only remounts, device
/// numbers.
extension Sys {
    public static func makeDevice(_ major: UInt32, _ minor: UInt32) -> dev_t { cl_makedev(major, minor) }

    /// What this kernel's overlayfs says to `lowerdir+` (Linux 6.8), asked of a fresh fs context with a
    /// path that does not exist: 6.8 and later resolve a `lowerdir+` path as it is set (ENOENT);
    /// 6.5–6.7 refuse the unknown key (EINVAL); before 6.5 overlayfs takes the legacy option string,
    /// which accepts any key at set time (0) and fails only at create. nil: no new mount API (before
    /// 5.2), or no overlayfs.
    public static func probeOverlayLowerdirPlus() -> Int32? {
        let fs = cl_fsopen("overlay", UInt32(CL_FSOPEN_CLOEXEC))
        guard fs >= 0 else { return nil }
        defer { close(fs) }
        let r = cl_fsconfig(fs, UInt32(CL_FSCONFIG_SET_STRING), "lowerdir+", "/nonexistent/swcompose-overlay-probe", 0)
        return r == 0 ? 0 : errno
    }

    /// An overlay at `target` made with the new mount API (fsopen/fsconfig/fsmount/move_mount), one
    /// `lowerdir+` per layer (`lowers` topmost first): no limit on the number of layers. Only for
    /// kernels that have `lowerdir+` (see `probeOverlayLowerdirPlus`).
    public static func mountOverlayByLayers(lowers: [String], upper: String, work: String, target: String) throws(SystemError) {
        let fs = cl_fsopen("overlay", UInt32(CL_FSOPEN_CLOEXEC))
        guard fs >= 0 else { throw SystemError("fsopen overlay", target) }
        defer { close(fs) }
        for lower in lowers {
            guard cl_fsconfig(fs, UInt32(CL_FSCONFIG_SET_STRING), "lowerdir+", lower, 0) == 0 else { throw SystemError("fsconfig lowerdir+", lower) }
        }
        guard cl_fsconfig(fs, UInt32(CL_FSCONFIG_SET_STRING), "upperdir", upper, 0) == 0 else { throw SystemError("fsconfig upperdir", upper) }
        guard cl_fsconfig(fs, UInt32(CL_FSCONFIG_SET_STRING), "workdir", work, 0) == 0 else { throw SystemError("fsconfig workdir", work) }
        guard cl_fsconfig(fs, UInt32(CL_FSCONFIG_CMD_CREATE), nil, nil, 0) == 0 else { throw SystemError("create overlay", target) }
        let mnt = cl_fsmount(fs, UInt32(CL_FSMOUNT_CLOEXEC), 0)
        guard mnt >= 0 else { throw SystemError("fsmount overlay", target) }
        defer { close(mnt) }
        guard cl_move_mount(mnt, "", AT_FDCWD, target, UInt32(CL_MOVE_MOUNT_F_EMPTY_PATH)) == 0 else {
            throw SystemError("move_mount overlay", target)
        }
    }

    /// pivot_root into `root`, then detach the old root (runc's `pivot_root(".", ".")`).
    public static func pivotRoot(into root: String) throws(SystemError) {
        try changeDirectory(root)
        try check("pivot_root", root) { cl_pivot_root(".", ".") }
        // The old root is stacked on "."; make it a slave so unmounting does not propagate, then drop it.
        try mount(source: "", target: ".", type: nil, flags: UInt(MS_SLAVE) | UInt(MS_REC), data: nil)
        try unmount(".", flags: Int32(MNT_DETACH))
        try changeDirectory("/")
    }

    /// Makes a mount read-only, keeping the flags the kernel locks (nosuid, nodev, noexec, atime):
    /// `mount_setattr` for a whole tree where the kernel has it (5.12+), else a bind remount.
    /// Whether `path` (absolute, without symlinks) is a mount point in this mount namespace — a bind
    /// of a directory on the same filesystem included, which no `st_dev` comparison sees.
    public static func isMountPoint(_ path: String) -> Bool {
        guard let text = try? Files.readText("/proc/self/mountinfo") else { return false }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5)
            if fields.count > 4, CgroupHierarchies.unescapeMountPath(String(fields[4])) == path { return true }
        }
        return false
    }

    public static func remountReadOnly(_ path: String, recursive: Bool = true) throws(SystemError) {
        if recursive && cl_mount_setattr_ro_recursive(AT_FDCWD, path) == 0 { return }
        try remountBind(path, adding: UInt(MS_RDONLY))
    }

    /// Remounts the bind mount at `path` with `flags` (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC) added
    /// to those it has (a bind remount must repeat the locked ones).
    public static func remountBind(_ path: String, adding extra: UInt) throws(SystemError) {
        var vfs = statvfs()
        try check("statvfs", path) { statvfs(path, &vfs) }
        var flags = UInt(MS_BIND) | UInt(MS_REMOUNT) | extra
        if vfs.f_flag & 1 != 0 { flags |= UInt(MS_RDONLY) }
        let f = UInt(vfs.f_flag)
        // statvfs's ST_* bits: NOSUID 2, NODEV 4, NOEXEC 8, NOATIME 1024, NODIRATIME 2048, RELATIME 4096.
        let pairs: [(UInt, UInt)] = [(2, UInt(MS_NOSUID)), (4, UInt(MS_NODEV)), (8, UInt(MS_NOEXEC)),
                                     (1024, UInt(MS_NOATIME)), (2048, UInt(MS_NODIRATIME)), (4096, UInt(MS_RELATIME))]
        for (bit, flag) in pairs where f & bit != 0 { flags |= flag }
        try mount(source: "", target: path, type: nil, flags: flags, data: nil)
    }

    /// The mount and every mount under it read-only (mount_setattr AT_RECURSIVE, Linux 5.12), or an error.
    public static func remountReadOnlyRecursively(_ path: String) throws(SystemError) {
        try check("mount_setattr", path) { cl_mount_setattr_ro_recursive(AT_FDCWD, path) }
    }

    /// Flushes every file of the filesystem that holds `path`.
    public static func syncFileSystem(_ path: String) throws(SystemError) {
        let handle = try FileHandle(path: path, flags: O_RDONLY | O_DIRECTORY)
        try check("syncfs", path) { cl_syncfs(handle.fd) }
    }

    /// A NETLINK_ROUTE socket, bound; in the network namespace `namespace` (a descriptor) when >= 0.
    public static func netlinkRouteSocket(namespace: Int32 = -1) throws(SystemError) -> Int32 {
        try check("netlink socket") { cl_netlink_route_socket(namespace) }
    }

    /// A bound netlink socket of another protocol (`NETLINK_NETFILTER`), in this network namespace or `namespace`'s.
    public static func netlinkSocket(protocol: Int32, namespace: Int32 = -1) throws(SystemError) -> Int32 {
        try check("netlink socket") { cl_netlink_socket(namespace, `protocol`) }
    }

    /// The legacy x_tables table `table` as one number (its rules without their counters):
    /// `getsockopt(IPT_SO_GET_INFO, IPT_SO_GET_ENTRIES)`, or the IPv6 ones.
    public static func xtablesFingerprint(table: String, ipv6: Bool) throws(SystemError) -> UInt64 {
        var value: UInt64 = 0
        _ = try check("getsockopt IPT_SO_GET_ENTRIES", table) { cl_xtables_fingerprint(ipv6 ? 1 : 0, table, &value) }
        return value
    }

    /// A network sysctl by its /proc path (`/proc/sys/net/ipv6/conf/eth0/disable_ipv6`: interface names
    /// may hold dots) of the namespace `namespace` (a descriptor), or of this process's own when it is -1.
    public static func writeNetworkSysctl(path: String, _ value: String, namespace: Int32 = -1) throws(SystemError) {
        if namespace < 0 {
            try FileHandle(path: path, flags: O_WRONLY).write(Array(value.utf8))
            return
        }
        try check("write \(value) to", path) { cl_write_in_netns(namespace, path, value, value.utf8.count) }
    }

    /// An ARP datagram socket in the network namespace `namespace` (a descriptor), with the index there
    /// of the interface `interface`.
    public static func arpSocket(namespace: Int32, interface: String) throws(SystemError) -> (fd: Int32, index: Int32) {
        var index: Int32 = 0
        let fd = try check("packet socket", interface) { cl_arp_socket(namespace, interface, &index) }
        return (fd, index)
    }

    /// Broadcasts an ARP payload (the kernel adds the Ethernet header) out of interface `index`.
    public static func broadcastARP(_ fd: Int32, index: Int32, _ payload: [UInt8]) throws(SystemError) {
        try check("send ARP") { payload.withUnsafeBytes { cl_arp_broadcast(fd, index, $0.baseAddress, $0.count) } }
    }

    /// Opens `path` inside the tree at `root` as if it were `/`: absolute symlinks and `..` stay in it,
    /// `/proc` magic links are refused (openat2 RESOLVE_IN_ROOT, Linux 5.6).
    public static func openInRoot(_ root: Int32, _ path: String, _ flags: Int32, _ mode: mode_t = 0) throws(SystemError) -> Int32 {
        try check("open", path) { cl_openat2_in_root(root, path, flags | O_CLOEXEC, mode) }
    }

    /// `openat` for paths the caller resolves itself (O_NOFOLLOW, O_DIRECTORY…); nil with errno set.
    public static func openRelative(_ name: String, in dir: Int32, _ flags: Int32, _ mode: mode_t = 0) -> Int32? {
        let fd = cl_openat(dir, name, flags | O_CLOEXEC, mode)
        return fd >= 0 ? fd : nil
    }
}
