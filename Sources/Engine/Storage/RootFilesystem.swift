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

    /// How this kernel's overlayfs takes many layers.
    public enum OverlayMethod: Sendable, Equatable {
        /// One `lowerdir+` per layer through the new mount API: any number of layers (Linux 6.8).
        case layersByFsconfig
        /// mount(2) with all layers in one option string of at most a page: layers named by short links
        /// relative to the layer store (`l/<id>`, as docker's overlay2), mounted from that directory.
        case optionString

        /// From what the kernel answered `Sys.probeOverlayLowerdirPlus`: only ENOENT (the path was
        /// resolved at set time) means `lowerdir+` is understood.
        public static func decide(probe: Int32?) -> OverlayMethod { probe == ENOENT ? .layersByFsconfig : .optionString }

        /// This kernel's, asked once per process.
        public static let current = decide(probe: Sys.probeOverlayLowerdirPlus())
    }

    /// Creates the container's directories (if needed) and mounts the overlay at `merged`.
    /// `layers` are the unpacked layer directories, bottom first.
    public func mount(layers: [String], method: OverlayMethod = .current) throws(SystemError) {
        try Sys.mkdirAll(directory)
        for d in [upper, work, merged] where !Sys.exists(d) { try Sys.mkdir(d, 0o755) }
        if isMounted { return }
        let lowers = Array(layers.reversed())
        switch method {
        case .layersByFsconfig:
            try Sys.mountOverlayByLayers(lowers: lowers, upper: upper, work: work, target: merged)
        case .optionString:
            let names = try lowers.map { (layer) throws(SystemError) in try Self.shortLink(layer) }
            let options = try Self.options(lowers: names, upper: upper, work: work, layerCount: layers.count)
            // The short names are relative to the layer store, as the kernel resolves them from the
            // mounting process's working directory.
            let store = names.first.flatMap(\.store)
            if let store { try Sys.changeDirectory(store) }
            defer { if store != nil { try? Sys.changeDirectory("/") } }
            try Sys.mount(source: "overlay", target: merged, type: "overlay", flags: 0, data: options)
        }
    }

    /// How a layer is named in the option string: `l/<id>` relative to its store, or its own path when
    /// it is not a store's `<store>/<chain id>/diff`.
    struct LowerName: Equatable {
        var store: String?
        var name: String
    }

    /// The most bytes of mount options the kernel reads (one page, with its terminating NUL).
    static let optionLimit = 4095

    /// `lowerdir=…,upperdir=…,workdir=…`; refused, naming the kernel that takes more, when the layers do
    /// not fit in a page.
    static func options(lowers: [LowerName], upper: String, work: String, layerCount: Int) throws(SystemError) -> String {
        let options = "lowerdir=" + lowers.map { $0.store == nil ? escape($0.name) : $0.name }.joined(separator: ":")
            + ",upperdir=\(escape(upper)),workdir=\(escape(work))"
        guard options.utf8.count <= optionLimit else {
            throw SystemError("mount overlay (\(layerCount) layers do not fit in the one page of mount options this kernel takes; Linux 6.8 or later takes any number)", nil, code: E2BIG)
        }
        return options
    }

    /// The id of a layer's short link: the first 12 hex digits of its chain id, more where another
    /// layer's link already has them.
    static func linkID(_ chain: String, taken: (String) -> String?) -> String {
        var length = 12
        while length < chain.count, let other = taken(String(chain.prefix(length))), other != "../\(chain)/diff" { length += 4 }
        return String(chain.prefix(length))
    }

    /// The short name of a layer directory, making its link (`<store>/l/<id>` → `../<chain id>/diff`)
    /// if it is not there yet. Two containers may make the same link at once: the same target is fine.
    static func shortLink(_ layer: String) throws(SystemError) -> LowerName {
        let parts = layer.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[parts.count - 1] == "diff", parts[parts.count - 2].count == 64,
              parts[parts.count - 2].allSatisfy(\.isHexDigit) else { return LowerName(store: nil, name: layer) }
        let chain = String(parts[parts.count - 2])
        let store = parts[..<(parts.count - 2)].joined(separator: "/")
        let links = store + "/l"
        if !Sys.exists(links) { try? Sys.mkdir(links, 0o700) }
        let id = linkID(chain) { try? Sys.readlink(links + "/" + $0) }
        let link = links + "/" + id
        let target = "../\(chain)/diff"
        if (try? Sys.readlink(link)) != target {
            do {
                try Sys.symlink(target, link)
            } catch {
                guard error.code == EEXIST, (try? Sys.readlink(link)) == target else { throw error }
            }
        }
        return LowerName(store: store, name: "l/" + id)
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
        unmountSharedMemory()
        for d in [merged, work, upper] { try Sys.removeAll(d) }
    }

    /// A shareable container's /dev/shm (`ipc: shareable`): a tmpfs in the host's mount namespace, so
    /// that containers joining its IPC namespace bind the same one (as dockerd keeps every container's).
    public var sharedMemory: String { directory + "/shm" }

    public func mountSharedMemory(size: Int64) throws(SystemError) {
        if Sys.isDirectory(sharedMemory), let a = try? Sys.fileStatus(sharedMemory), let b = try? Sys.fileStatus(directory), a.st_dev != b.st_dev {
            return
        }
        if !Sys.isDirectory(sharedMemory) { try Sys.mkdir(sharedMemory, 0o755) }
        try Sys.mount(source: "shm", target: sharedMemory, type: "tmpfs", flags: UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC),
                      data: "mode=1777,size=\(size > 0 ? size : 64 << 20)")
    }

    /// Whether a shareable /dev/shm is mounted (a joiner binds it; else it gets its own).
    public var hasSharedMemory: Bool {
        guard let a = try? Sys.fileStatus(sharedMemory), let b = try? Sys.fileStatus(directory) else { return false }
        return a.st_dev != b.st_dev
    }

    public func unmountSharedMemory() {
        if hasSharedMemory { try? Sys.unmount(sharedMemory, flags: Int32(MNT_DETACH)) }
        try? Sys.unlink(sharedMemory, directory: true)
    }
}
