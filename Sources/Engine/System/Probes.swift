#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Questions put to the kernel for `swcompose info` and the fallbacks: each one harmless (nothing is
/// changed), answering with the errno the feature's absence gives.
extension Sys {
    /// `close_range(…, CLOSE_RANGE_CLOEXEC)` on a range with nothing in it: 0 (Linux 5.11), EINVAL (the
    /// flag is unknown: 5.9–5.10), ENOSYS (no close_range).
    public static func probeCloseRangeCloexec() -> Int32 {
        cl_close_range(1 << 30, 1 << 30, 4) == 0 ? 0 : errno
    }

    /// setns on a pidfd of this process into its own UTS namespace (a no-op): 0 (Linux 5.8), EINVAL
    /// (setns takes no pidfd), or pidfd_open's ENOSYS (before 5.3).
    public static func probePidfdSetns() -> Int32 {
        let fd = cl_pidfd_open(getpid(), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return cl_setns(fd, Int32(truncatingIfNeeded: Namespaces.uts.rawValue)) == 0 ? 0 : errno
    }

    /// mount_setattr on an empty path (nothing is changed): ENOENT where the call exists (Linux 5.12),
    /// ENOSYS before.
    public static func probeMountSetattr() -> Int32 {
        cl_mount_setattr_ro_recursive(AT_FDCWD, "") == 0 ? 0 : errno
    }

    /// Whether recursive read-only mounts can be made (`bind.recursive: readonly`).
    public static let hasRecursiveReadOnly = probeMountSetattr() != ENOSYS

    /// Whether a cgroup device program loads (cgroup BPF, Linux 4.15, and the kernel's config).
    public static func probeDeviceFilter() -> Int32 { cl_probe_device_filter() == 0 ? 0 : errno }

    /// A clone3 child with no namespaces that exits at once: which spawn method works here.
    public static func probeSpawn() -> SpawnMethod? {
        let program = ["/bin/true", "/usr/bin/true"].first(where: isExecutable) ?? "/bin/sh"
        guard let (_, pidfd) = try? spawn(program, ["true"], environment: [], fds: [-1, -1, -1]) else {
            return nil
        }
        _ = try? wait(pidfd: pidfd)
        close(pidfd)
        return SpawnMethod(rawValue: spawnMethod.load(ordering: .relaxed))
    }

    /// The running kernel's seccomp: whether filters are available (`actions_avail` lists the actions).
    public static var seccompActions: [String] {
        ((try? Files.readText("/proc/sys/kernel/seccomp/actions_avail")) ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
    }
}
