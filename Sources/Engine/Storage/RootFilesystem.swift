#if canImport(Glibc)
import Glibc
#endif

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
        try Sys.mountOverlayByLayers(lowers: lowers, upper: upper, work: work, target: merged)
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
        guard let a = try? Sys.fileStatus(merged), let b = try? Sys.fileStatus(directory) else { return false }
        return a.st_dev != b.st_dev
    }

    public func unmount() throws(SystemError) {
        guard isMounted else { return }
        do {
            try Sys.unmount(merged)
        } catch {
            guard error.code == EBUSY else { throw error }
            try Sys.unmount(merged, flags: Int32(MNT_DETACH))
        }
    }

    /// Unmounts and removes the container's upper, work and merged directories.
    public func remove() throws(SystemError) {
        try unmount()
        for d in [merged, work, upper] { try Sys.removeAll(d) }
    }
}
