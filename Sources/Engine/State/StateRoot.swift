#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where swcompose keeps everything durable: `$SWCOMPOSE_ROOT`, by default `/var/lib/swcompose`.
///
///     images/      OCI layout: oci-layout, index.json, blobs/sha256/…
///     layers/      unpacked layers by chain id
///     containers/  one directory per container
///     volumes/     named volumes
///     networks/    network records
///     projects/    per-project locks and supervisor records
///
/// The tree is private to root, as docker keeps `/var/lib/docker`: the root directory is 0710 and its
/// directories 0700, so no other user can reach a container's files, its volumes' data (where a
/// container may have left a setuid binary) or its configuration (its environment holds passwords).
public struct StateRoot: Sendable, Equatable {
    public static let defaultPath = "/var/lib/swcompose"

    public let path: String

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.path = p
    }

    /// `$SWCOMPOSE_ROOT` from `environment`, else the default.
    public init(environment: [String: String]) {
        let value = environment["SWCOMPOSE_ROOT"] ?? ""
        self.init(path: value.isEmpty ? Self.defaultPath : value)
    }

    public var images: String { path + "/images" }
    public var layers: String { path + "/layers" }
    public var containers: String { path + "/containers" }
    public var volumes: String { path + "/volumes" }
    public var networks: String { path + "/networks" }
    public var projects: String { path + "/projects" }
    public var seccomp: String { path + "/seccomp" }

    /// The root's own mode: owner everything, group (root's) may only traverse, as docker's data root.
    public static let rootMode: mode_t = 0o710
    /// The mode of every directory directly below the root.
    public static let directoryMode: mode_t = 0o700

    var directories: [String] { [images, layers, containers, volumes, networks, projects, seccomp] }

    /// A directory of the tree that was found readable or writable by others and was made private.
    public struct Tightened: Sendable, Equatable {
        public var path: String
        public var oldMode: mode_t
        public var newMode: mode_t
    }

    /// Creates the root and its directories with private modes, and makes those that exist with wider
    /// modes private. A root owned by another user is refused: whoever owns it could plant anything the
    /// containers and swcompose would trust. Done once per process and root; returns what was tightened.
    @discardableResult
    public func prepare() throws(SwcomposeError) -> [Tightened] {
        if Self.prepared.withLock({ $0.contains(path) }) { return [] }
        var tightened: [Tightened] = []
        do {
            try secure(path, mode: Self.rootMode, creatingParents: true, tightened: &tightened)
            for dir in directories { try secure(dir, mode: Self.directoryMode, creatingParents: false, tightened: &tightened) }
        } catch let error as SwcomposeError {
            throw error
        } catch {
            throw SwcomposeError(.system, "cannot prepare the state root \(path)", cause: error)
        }
        _ = Self.prepared.withLock { $0.insert(path) }
        return tightened
    }

    private static let prepared = Mutex<Set<String>>([])

    /// Makes `dir` (a path inside the root) and what is missing above it, private as `prepare` would
    /// make them, for stores that create their directories on first use.
    func ensure(_ dir: String, mode: mode_t = StateRoot.directoryMode) throws(SystemError) {
        if Sys.isDirectory(dir) { return }
        if !Sys.exists(path) {
            if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                let parent = String(path[..<slash])
                if !Sys.exists(parent) { try Sys.mkdirAll(parent, 0o755) }
            }
            if try Sys.makeDirectory(path, Self.rootMode) { try Sys.chmod(path, Self.rootMode) }
        }
        guard dir.hasPrefix(path + "/") else { try Sys.mkdirAll(dir, mode); return }
        var current = path
        for part in dir.dropFirst(path.count + 1).split(separator: "/") {
            current += "/" + part
            _ = try Sys.makeDirectory(current, mode)
        }
    }

    private func secure(_ dir: String, mode: mode_t, creatingParents: Bool, tightened: inout [Tightened]) throws {
        if !Sys.exists(dir) {
            if creatingParents, let slash = dir.lastIndex(of: "/"), slash != dir.startIndex {
                let parent = String(dir[..<slash])
                if !Sys.exists(parent) { try Sys.mkdirAll(parent, 0o755) }
            }
            if try Sys.makeDirectory(dir, mode) {
                // The umask may have narrowed it further; never wider than asked.
                try Sys.chmod(dir, mode)
                return
            }
            // Made by a concurrent command meanwhile: checked below like any existing one.
        }
        let st = try Sys.fileStatus(dir, follow: true)
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw SwcomposeError(.invalidArgument, "the state root \(dir) is not a directory",
                           hint: "point SWCOMPOSE_ROOT at a directory (default \(Self.defaultPath))")
        }
        if st.st_uid != Sys.effectiveUserID {
            throw SwcomposeError(.permissionDenied,
                           "the state root \(dir) is owned by uid \(st.st_uid), not by uid \(Sys.effectiveUserID) which runs swcompose",
                           hint: "whoever owns it could plant files that containers trust; use a directory of your own (SWCOMPOSE_ROOT) or `chown -R \(Sys.effectiveUserID) \(dir)` if it is really yours")
        }
        let current = st.st_mode & 0o7777
        // Group write or any permission for others is too wide; owner and group-traverse bits are kept.
        let allowed = mode | 0o700
        if current & ~allowed != 0 {
            try Sys.chmod(dir, current & allowed)
            tightened.append(Tightened(path: dir, oldMode: current, newMode: current & allowed))
        }
    }
}
