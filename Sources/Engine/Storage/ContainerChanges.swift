#if canImport(Glibc)
import Glibc
#endif

/// What a container changed in its root filesystem, as `docker diff` lists it: its overlay upper
/// directory read against the image's layers — `A` added, `C` changed (a file rewritten, a directory
/// holding changes or with new metadata), `D` deleted (a whiteout, or what an opaque directory hides).
/// What the runtime itself put there (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, mount points
/// and the directories made only to hold them) is not the container's change and is left out, as
/// docker's init layer keeps it out.
public enum ContainerChanges {
    public enum Kind: String, Sendable {
        case added = "A"
        case changed = "C"
        case deleted = "D"
    }

    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public var kind: Kind
        /// Absolute, as the container sees it.
        public var path: String
        public var description: String { "\(kind.rawValue) \(path)" }
    }

    /// What the runtime writes into every container's upper directory, relative to the root.
    public static let runtimeFiles: Set<String> = ["etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab", ".dockerenv", "dev", "proc", "sys"]

    /// `lowers` bottom first; `mountPoints` the container's mount destinations (absolute or relative).
    /// What the runtime made (relative paths), and the directories that exist to hold those
    /// (`run/secrets` for a secret's mount point).
    static func runtimeMade(mountPoints: [String]) -> (excluded: Set<String>, holders: Set<String>) {
        var excluded = runtimeFiles
        for m in mountPoints {
            let relative = String(m.drop { $0 == "/" })
            if !relative.isEmpty { excluded.insert(relative) }
        }
        var holders: Set<String> = []
        for e in excluded {
            var parts = e.split(separator: "/").dropLast()
            while !parts.isEmpty {
                holders.insert(parts.joined(separator: "/"))
                parts = parts.dropLast()
            }
        }
        return (excluded, holders)
    }

    /// The paths of an upper directory a commit leaves out: what the runtime made, and the directories
    /// that only hold it.
    public static func leftOut(upper: String, lowers: [String], mountPoints: [String]) -> Set<String> {
        let (excluded, holders) = runtimeMade(mountPoints: mountPoints)
        let changed = Set(list(upper: upper, lowers: lowers, mountPoints: mountPoints).map { String($0.path.dropFirst()) })
        return excluded.union(holders.filter { !changed.contains($0) })
    }

    public static func list(upper: String, lowers: [String], mountPoints: [String]) -> [Change] {
        let (excluded, holders) = runtimeMade(mountPoints: mountPoints)
        var out: [Change] = []
        /// Reports what is below `relative`; says whether anything was.
        func visit(_ relative: String, lowerVisible: Bool) -> Bool {
            let directory = relative.isEmpty ? upper : upper + "/" + relative
            var reported = false
            let names = ((try? Sys.list(directory)) ?? []).sorted()
            for name in names {
                let path = relative.isEmpty ? name : relative + "/" + name
                if excluded.contains(path) { continue }
                let full = directory + "/" + name
                guard let st = try? Sys.fileStatus(full) else { continue }
                let below = lowerVisible ? LayerLookup.find(path, in: lowers) : nil
                switch st.st_mode & S_IFMT {
                case S_IFCHR where LayerLookup.isWhiteout(st):
                    if below != nil { out.append(Change(kind: .deleted, path: "/" + path)); reported = true }
                case S_IFDIR:
                    let opaque = LayerLookup.isOpaque(full)
                    let belowIsDirectory = below != nil && LayerLookup.isDirectory(path, in: lowers)
                    let inner = visit(path, lowerVisible: belowIsDirectory && !opaque)
                    if opaque, belowIsDirectory, let lower = below {
                        // What the opaque directory hides of the one below is deleted.
                        for hidden in ((try? Sys.list(lower)) ?? []).sorted() where (try? Sys.fileStatus(full + "/" + hidden)) == nil {
                            if !excluded.contains(path + "/" + hidden) { out.append(Change(kind: .deleted, path: "/" + path + "/" + hidden)) }
                        }
                    }
                    if below == nil || !belowIsDirectory {
                        if inner || !holders.contains(path) { out.append(Change(kind: .added, path: "/" + path)); reported = true }
                    } else if inner || opaque || metadataDiffers(st, below!) {
                        out.append(Change(kind: .changed, path: "/" + path))
                        reported = true
                    }
                    reported = reported || inner
                default:
                    out.append(Change(kind: below == nil ? .added : .changed, path: "/" + path))
                    reported = true
                }
            }
            return reported
        }
        _ = visit("", lowerVisible: true)
        return out.sorted { $0.path < $1.path }
    }

    static func metadataDiffers(_ st: stat, _ lower: String) -> Bool {
        guard let l = try? Sys.fileStatus(lower) else { return true }
        return l.st_mode != st.st_mode || l.st_uid != st.st_uid || l.st_gid != st.st_gid
    }
}

extension ContainerChanges {
    /// A container's changes: its upper directory against its image's layers, its mounts left out.
    public static func of(_ record: ContainerRecord, runtime: Runtime) -> [Change] {
        list(upper: runtime.containerDirectory(record.id) + "/upper", lowers: lowers(record, runtime: runtime),
             mountPoints: record.spec.mounts.map(\.destination))
    }

    static func lowers(_ record: ContainerRecord, runtime: Runtime) -> [String] {
        let layers = LayerStore(root: runtime.root.layers)
        return record.spec.image.chainIDs.compactMap { Digest($0) }.map { layers.path($0) + "/diff" }
    }
}
