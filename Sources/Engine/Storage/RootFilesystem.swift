#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A container's root filesystem: an overlay of the image's layers (read-only, shared) under the
/// container's own upper and work directories. Removing it removes only what the container owns.
public struct RootFilesystem: Sendable {
    /// The container's directory; `upper`, `work` and `merged` live in it.
    public let directory: String
    public var upper: String { directory + "/upper" }
    public var work: String { directory + "/work" }
    public var merged: String { directory + "/merged" }

    public init(directory: String) { self.directory = directory }

    /// Creates the container's directories (if needed) and mounts the overlay at `merged`.
    /// `layers` are the unpacked layer directories, bottom first.
    public func mount(layers: [String]) throws(SystemError) {
        try Sys.mkdirAll(directory)
        for d in [upper, work, merged] where !Sys.exists(d) { try Sys.mkdir(d, 0o755) }
        if isMounted { return }
        let lowers = layers.reversed().map { $0 }
        if try mountWithFsconfig(lowers) { return }
        // Kernels before 6.8 take the lower layers in one option string (at most a page).
        let options = "lowerdir=" + lowers.map(Self.escape).joined(separator: ":") + ",upperdir=\(Self.escape(upper)),workdir=\(Self.escape(work))"
        guard options.utf8.count < 4000 else {
            throw SystemError("mount overlay (\(layers.count) layers do not fit in the mount options of this kernel; Linux 6.8 or later takes any number)", merged, code: E2BIG)
        }
        try Sys.mount(source: "overlay", target: merged, type: "overlay", flags: 0, data: options)
    }

    /// The new mount API with one `lowerdir+` per layer: no length limit. False when the kernel does
    /// not know `lowerdir+`.
    func mountWithFsconfig(_ lowers: [String]) throws(SystemError) -> Bool {
        let fs = cl_fsopen("overlay", UInt32(CL_FSOPEN_CLOEXEC))
        guard fs >= 0 else { return false }
        defer { Sys.close(fs) }
        for (i, lower) in lowers.enumerated() {
            if cl_fsconfig(fs, UInt32(CL_FSCONFIG_SET_STRING), "lowerdir+", lower, 0) != 0 {
                if i == 0 && errno == EINVAL { return false }
                throw SystemError("fsconfig lowerdir+", lower)
            }
        }
        guard cl_fsconfig(fs, UInt32(CL_FSCONFIG_SET_STRING), "upperdir", upper, 0) == 0 else { throw SystemError("fsconfig upperdir", upper) }
        guard cl_fsconfig(fs, UInt32(CL_FSCONFIG_SET_STRING), "workdir", work, 0) == 0 else { throw SystemError("fsconfig workdir", work) }
        guard cl_fsconfig(fs, UInt32(CL_FSCONFIG_CMD_CREATE), nil, nil, 0) == 0 else { throw SystemError("create overlay", merged) }
        let mnt = cl_fsmount(fs, UInt32(CL_FSMOUNT_CLOEXEC), 0)
        guard mnt >= 0 else { throw SystemError("fsmount overlay", merged) }
        defer { Sys.close(mnt) }
        guard cl_move_mount(mnt, "", AT_FDCWD, merged, UInt32(CL_MOVE_MOUNT_F_EMPTY_PATH)) == 0 else {
            throw SystemError("move_mount overlay", merged)
        }
        return true
    }

    /// Overlay option values escape `:`, `,` and `\`.
    static func escape(_ path: String) -> String {
        var out = ""
        for c in path {
            if c == ":" || c == "," || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// Whether something is mounted at `merged` (compared with its parent's device).
    public var isMounted: Bool {
        var a = stat(), b = stat()
        guard lstat(merged, &a) == 0, lstat(directory, &b) == 0 else { return false }
        return a.st_dev != b.st_dev
    }

    public func unmount() throws(SystemError) {
        guard isMounted else { return }
        if umount2(merged, 0) != 0 {
            guard errno == EBUSY else { throw SystemError("umount", merged) }
            try Sys.unmount(merged, flags: Int32(MNT_DETACH))
        }
    }

    /// Unmounts and removes the container's upper, work and merged directories.
    public func remove() throws(SystemError) {
        try unmount()
        for d in [merged, work, upper] { try Sys.removeAll(d) }
    }
}
