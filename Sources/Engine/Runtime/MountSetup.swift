#if canImport(Glibc)
import Glibc
#endif

/// The container's mounts, made by the start helper inside its own mount namespace (so they vanish
/// with it), in runc's order.
enum MountSetup {
    static let nosuidNodevNoexec = UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)

    static func mount(_ source: String, _ target: String, _ type: String?, _ flags: UInt, _ data: String?, step: String? = nil) throws(StepFailure) {
        do {
            try Sys.mount(source: source, target: target, type: type, flags: flags, data: data)
        } catch {
            throw StepFailure(step ?? "mount \(type ?? "bind") on \(target)", error)
        }
    }

    static func ensureDirectory(_ path: String) throws(StepFailure) {
        do {
            if !Sys.isDirectory(path) { try Sys.mkdirAll(path) }
        } catch {
            throw StepFailure("create mount point \(path)", error)
        }
    }

    static func ensureFile(_ path: String) throws(StepFailure) {
        do {
            if Sys.exists(path) { return }
            let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            if !Sys.isDirectory(parent) { try Sys.mkdirAll(parent) }
            _ = try FileHandle(path: path, flags: O_WRONLY | O_CREAT, mode: 0o644)
        } catch {
            throw StepFailure("create mount point \(path)", error)
        }
    }

    static func target(_ root: String, _ path: String) throws(StepFailure) -> String {
        do {
            return try ContainedPath.join(root: root, path)
        } catch {
            throw StepFailure("resolve \(path)", error)
        }
    }

    /// /proc, /dev (tmpfs), /dev/pts, /dev/shm, /dev/mqueue, /sys, /sys/fs/cgroup.
    static func mountStandard(root: String, spec: ContainerSpec, sharedNetwork: Bool, shm: String? = nil,
                              ownCgroupNamespace: Bool = true) throws(StepFailure) {
        let privileged = spec.security.privileged
        let proc = try target(root, "/proc")
        try ensureDirectory(proc)
        try mount("proc", proc, "proc", nosuidNodevNoexec, nil)

        let dev = try target(root, "/dev")
        try ensureDirectory(dev)
        try mount("tmpfs", dev, "tmpfs", UInt(MS_NOSUID) | UInt(MS_STRICTATIME), "mode=755,size=65536k")
        try ensureDirectory(dev + "/pts")
        try mount("devpts", dev + "/pts", "devpts", UInt(MS_NOSUID) | UInt(MS_NOEXEC), "newinstance,ptmxmode=0666,mode=0620,gid=5")
        if !spec.namespaces.noShm {
            try ensureDirectory(dev + "/shm")
            if let shm {
                try mount(shm, dev + "/shm", nil, UInt(MS_BIND), nil)
            } else {
                try mount("shm", dev + "/shm", "tmpfs", nosuidNodevNoexec, "mode=1777,size=\(spec.shmSize > 0 ? spec.shmSize : 64 << 20)")
            }
        }
        try ensureDirectory(dev + "/mqueue")
        try mount("mqueue", dev + "/mqueue", "mqueue", nosuidNodevNoexec, nil)

        let sys = try target(root, "/sys")
        try ensureDirectory(sys)
        let sysFlags = nosuidNodevNoexec | (privileged ? 0 : UInt(MS_RDONLY))
        do {
            try Sys.mount(source: "sysfs", target: sys, type: "sysfs", flags: sysFlags, data: nil)
        } catch where error.code == EPERM && sharedNetwork {
            // sysfs may only be mounted by the owner of the network namespace: bind the host's instead.
            try mount("/sys", sys, nil, UInt(MS_BIND) | UInt(MS_REC), nil)
            if !privileged { try remountReadOnly(sys, step: "make /sys read-only") }
        } catch {
            throw StepFailure("mount sysfs on \(sys)", error)
        }
        try mountCgroups(sys + "/fs/cgroup", privileged: privileged, own: ownCgroupNamespace)
    }

    /// A tmpfs with the container's own cgroup of each v1 controller, or the cgroup2 hierarchy; the
    /// cgroup namespace makes the container's cgroup the root of what it sees.
    /// In the host's cgroup namespace (dockerd's default on cgroup v1), a new cgroup mount would show
    /// the host's whole hierarchy: the container's own cgroup directories are bound there instead, as
    /// runc does.
    static func mountCgroups(_ path: String, privileged: Bool, own: Bool = true) throws(StepFailure) {
        try ensureDirectory(path)
        let ro = privileged ? UInt(0) : UInt(MS_RDONLY)
        let hierarchies = CgroupHierarchies.detect()
        if !own {
            try bindOwnCgroups(path, hierarchies: hierarchies, readOnly: !privileged)
            return
        }
        if hierarchies.isV2 {
            try mount("cgroup", path, "cgroup2", nosuidNodevNoexec | ro, nil)
            return
        }
        try mount("tmpfs", path, "tmpfs", nosuidNodevNoexec, "mode=755")
        for (_, controllers, name) in v1Hierarchies(hierarchies) {
            let dir = path + "/" + name
            try ensureDirectory(dir)
            try mount("cgroup", dir, "cgroup", nosuidNodevNoexec | ro, controllers.joined(separator: ","))
        }
        if let unified = hierarchies.unified, unified.hasSuffix("/unified") {
            try ensureDirectory(path + "/unified")
            try mount("cgroup2", path + "/unified", "cgroup2", nosuidNodevNoexec | ro, nil)
        }
    }

    /// The v1 hierarchies, each once with its controllers (sorted) and the name its directory has
    /// under /sys/fs/cgroup, in the order of their mount points.
    static func v1Hierarchies(_ hierarchies: CgroupHierarchies) -> [(mountPoint: String, controllers: [String], name: String)] {
        var byMount: [String: [String]] = [:]
        for (controller, mountPoint) in hierarchies.v1 { byMount[mountPoint, default: []].append(controller) }
        return byMount.sorted(by: { $0.key < $1.key }).map { mountPoint, controllers in
            let sorted = controllers.sorted()
            return (mountPoint, sorted, mountPoint.split(separator: "/").last.map(String.init) ?? sorted.joined(separator: ","))
        }
    }

    /// The cgroups this process is in (/proc/self/cgroup), each hierarchy's directory bound where the
    /// container sees that hierarchy.
    static func bindOwnCgroups(_ path: String, hierarchies: CgroupHierarchies, readOnly: Bool) throws(StepFailure) {
        var own: [String: String] = [:]   // controller list ("cpu,cpuacct", "" for cgroup2) → path
        for line in ((try? Files.readText("/proc/self/cgroup")) ?? "").split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if f.count == 3 { own[String(f[1])] = String(f[2]) }
        }
        func bind(_ source: String, _ target: String) throws(StepFailure) {
            guard Sys.isDirectory(source) else { return }
            try ensureDirectory(target)
            try mount(source, target, nil, UInt(MS_BIND), nil)
            if readOnly { try remountReadOnly(target, step: "make \(target) read-only", recursive: false) }
        }
        if hierarchies.isV2, let unified = hierarchies.unified {
            try bind(unified + (own[""] ?? "/"), path)
            return
        }
        try mount("tmpfs", path, "tmpfs", nosuidNodevNoexec, "mode=755")
        for (mountPoint, controllers, name) in v1Hierarchies(hierarchies) {
            let key = own.keys.first { Set($0.split(separator: ",").map(String.init)) == Set(controllers) }
            guard let key, let cgroup = own[key] else { continue }
            try bind(mountPoint + cgroup, path + "/" + name)
        }
        if let unified = hierarchies.unified, unified.hasSuffix("/unified"), let cgroup = own[""] {
            try bind(unified + cgroup, path + "/unified")
        }
    }

    /// Binds, volumes and tmpfs mounts, parents before children (docker sorts by depth).
    static func mountUser(root: String, mounts: [MountSpec], copyUp: [String] = [], scratch: String = "") throws(StepFailure) {
        let ordered = mounts.enumerated().sorted { a, b in
            let da = a.element.destination.split(separator: "/").count
            let db = b.element.destination.split(separator: "/").count
            return da != db ? da < db : a.offset < b.offset
        }.map(\.element)
        for (n, m) in ordered.enumerated() {
            let dest = try target(root, m.destination)
            switch m.kind {
            case .image:
                // The image's layers as an overlay of this mount namespace's own (in the container's
                // directory), its root or subpath bound read-only.
                let view = RootFilesystem(directory: scratch + "/image-mounts/\(n)")
                do { try view.mount(layers: m.imageLayers ?? []) } catch {
                    throw StepFailure("mount image \(m.source) on \(m.destination)", error)
                }
                let source = m.subpath.isEmpty ? view.merged : try target(view.merged, m.subpath)
                guard let st = try? Sys.fileStatus(source, follow: true) else {
                    throw StepFailure("mount image \(m.source) on \(m.destination)", "the image has no \(m.subpath)")
                }
                if (st.st_mode & S_IFMT) == S_IFDIR { try ensureDirectory(dest) } else { try ensureFile(dest) }
                try mount(source, dest, nil, UInt(MS_BIND) | UInt(MS_REC), nil, step: "mount image \(m.source) on \(m.destination)")
                try remountReadOnly(dest, step: "make \(m.destination) read-only", recursive: true)
            case .tmpfs:
                try ensureDirectory(dest)
                var options: [String] = []
                var flags = nosuidNodevNoexec
                for o in m.tmpfsOptions {
                    switch o {
                    case "exec": flags &= ~UInt(MS_NOEXEC)
                    case "suid": flags &= ~UInt(MS_NOSUID)
                    case "dev": flags &= ~UInt(MS_NODEV)
                    case "noexec", "nosuid", "nodev", "rw": continue
                    case "ro": flags |= UInt(MS_RDONLY)
                    default: options.append(o)
                    }
                }
                if m.tmpfsSize > 0 { options.append("size=\(m.tmpfsSize)") }
                if m.tmpfsMode != 0 { options.append("mode=" + String(m.tmpfsMode, radix: 8)) }
                else if !options.contains(where: { $0.hasPrefix("mode=") }) { options.append("mode=1777") }
                if m.readOnly { flags |= UInt(MS_RDONLY) }
                try mount("tmpfs", dest, "tmpfs", flags, options.joined(separator: ","))
            case .bind, .volume:
                var source = m.source
                if !m.subpath.isEmpty { source = try target(m.source, m.subpath) }
                let st: stat
                do { st = try Sys.fileStatus(source, follow: true) } catch {
                    throw StepFailure("mount \(m.source) on \(m.destination)", error)
                }
                if m.kind == .volume && copyUp.contains(m.destination) {
                    try fillVolume(source: source, from: dest)
                }
                if (st.st_mode & S_IFMT) == S_IFDIR { try ensureDirectory(dest) } else { try ensureFile(dest) }
                let rec = m.recursive ? UInt(MS_REC) : 0
                try mount(source, dest, nil, UInt(MS_BIND) | rec, nil, step: "mount \(source) on \(m.destination)")
                let propagation: UInt
                switch m.propagation {
                case "shared": propagation = UInt(MS_SHARED)
                case "rshared": propagation = UInt(MS_SHARED) | UInt(MS_REC)
                case "slave": propagation = UInt(MS_SLAVE)
                case "rslave": propagation = UInt(MS_SLAVE) | UInt(MS_REC)
                case "private": propagation = UInt(MS_PRIVATE)
                default: propagation = UInt(MS_PRIVATE) | UInt(MS_REC)
                }
                try mount("", dest, nil, propagation, nil, step: "set propagation of \(m.destination)")
                if let restrictions = m.bindFlags, !restrictions.isEmpty {
                    var flags: UInt = 0
                    for r in restrictions {
                        switch r {
                        case "nosuid": flags |= UInt(MS_NOSUID)
                        case "nodev": flags |= UInt(MS_NODEV)
                        case "noexec": flags |= UInt(MS_NOEXEC)
                        default: break
                        }
                    }
                    do { try Sys.remountBind(dest, adding: flags) } catch {
                        throw StepFailure("remount \(m.destination) \(restrictions.joined(separator: ","))", error)
                    }
                }
                if m.readOnly {
                    if m.readOnlySubmounts == "readonly" {
                        do { try Sys.remountReadOnlyRecursively(dest) } catch {
                            throw StepFailure("make \(m.destination) read-only with the mounts under it (bind.recursive: readonly needs Linux 5.12)", error)
                        }
                    } else {
                        try remountReadOnly(dest, step: "make \(m.destination) read-only", recursive: m.recursive && m.readOnlySubmounts != "writable")
                    }
                }
            }
        }
    }

    /// docker's copy-up: a new, empty volume takes the image's content at its mount point (with owners
    /// and modes). `_initialized` beside the data directory records that it happened.
    static func fillVolume(source: String, from imagePath: String) throws(StepFailure) {
        do {
            if Sys.isDirectory(imagePath) && TreeCopy.isEmpty(source) {
                try TreeCopy.copy(from: imagePath, to: source)
            }
            let marker = (source.lastIndex(of: "/").map { String(source[..<$0]) } ?? source) + "/_initialized"
            _ = try FileHandle(path: marker, flags: O_WRONLY | O_CREAT, mode: 0o600)
        } catch {
            throw StepFailure("fill volume from \(imagePath)", error)
        }
    }

    /// /etc/hostname, /etc/hosts and /etc/resolv.conf from `directory` (the container's own, or that of
    /// the container whose network it joins), unless the user mounted their own; read-only in a
    /// read-only container, as docker mounts them.
    static func mountEtcFiles(root: String, directory: String, mounts: [MountSpec], readOnly: Bool) throws(StepFailure) {
        for name in ["hostname", "hosts", "resolv.conf"] {
            let dest = "/etc/" + name
            if mounts.contains(where: { $0.destination == dest }) { continue }
            let source = directory + "/" + name
            guard Sys.exists(source) else { continue }
            let t = try target(root, dest)
            try ensureFile(t)
            try mount(source, t, nil, UInt(MS_BIND), nil)
            try mount("", t, nil, UInt(MS_PRIVATE), nil)
            if readOnly { try remountReadOnly(t, step: "make \(dest) read-only", recursive: false) }
        }
    }

    /// Secrets and configs from the environment or inline content, written into the container's own
    /// filesystem (or a volume mounted there) on its first start, parents made as root 0755, as docker
    /// compose copies them in after creating the container. A file that exists already (a restart) is
    /// left as it is.
    static func writeFiles(root: String, _ files: [InjectedFile]) throws(StepFailure) {
        for f in files {
            do {
                let path = try ContainedPath.join(root: root, f.path)
                if (try? Sys.fileStatus(path)) != nil { continue }
                if let slash = path.lastIndex(of: "/"), !Sys.isDirectory(String(path[..<slash])) {
                    try Sys.mkdirAll(String(path[..<slash]), 0o755)
                }
                let file = try FileHandle(path: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600)
                try file.write(Array(f.content.utf8))
                try Sys.fchown(file.fd, f.uid, f.gid)
                try Sys.fchmod(file.fd, mode_t(f.mode))
            } catch {
                throw StepFailure("write \(f.path)", error)
            }
        }
    }

    /// What docker's init layer gives every container whose image lacks it: `/etc/mtab` linking to
    /// `/proc/mounts` (what `mount`, `df` and installers read) and an empty `/.dockerenv`.
    static func makeRuntimeEntries(root: String) throws(StepFailure) {
        do {
            let etc = try ContainedPath.join(root: root, "/etc")
            let mtab = try ContainedPath.join(root: root, "/etc/mtab")
            if (try? Sys.fileStatus(mtab)) == nil {
                if !Sys.isDirectory(etc) { try Sys.mkdirAll(etc) }
                try Sys.symlink("/proc/mounts", mtab)
            }
            if (try? Sys.fileStatus(root + "/.dockerenv")) == nil {
                Sys.close(try Sys.open(root + "/.dockerenv", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755))
            }
        } catch {
            throw StepFailure("create /etc/mtab", error)
        }
    }

    static let standardDevices: [(name: String, major: UInt32, minor: UInt32)] = [
        ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
    ]

    /// Device nodes and the standard links in the container's /dev.
    static func makeDevices(root: String, spec: ContainerSpec) throws(StepFailure) {
        let dev = root + "/dev"
        do {
            let oldMask = Sys.umask(0)
            defer { Sys.umask(oldMask) }
            for d in standardDevices {
                try Sys.mknod(dev + "/" + d.name, S_IFCHR | 0o666, Sys.makeDevice(d.major, d.minor))
            }
            var extra = spec.devices
            if spec.security.privileged { extra = hostDevices() }
            for d in extra {
                let st = try Sys.fileStatus(d.hostPath, follow: true)
                let kind = st.st_mode & S_IFMT
                guard kind == S_IFCHR || kind == S_IFBLK else { continue }
                let path = try ContainedPath.join(root: root, d.containerPath)
                if Sys.exists(path) { continue }
                let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? dev
                if !Sys.isDirectory(parent) { try Sys.mkdirAll(parent) }
                try Sys.mknod(path, kind | (d.fileMode.map { $0 & 0o7777 } ?? (st.st_mode & 0o7777)), st.st_rdev)
                try Sys.chown(path, d.uid ?? st.st_uid, d.gid ?? st.st_gid)
            }
            for (link, target) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                                   ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")] where !Sys.exists(dev + "/" + link) {
                try Sys.symlink(target, dev + "/" + link)
            }
            if Sys.exists("/proc/kcore") && !Sys.exists(dev + "/core") && spec.security.privileged {
                try Sys.symlink("/proc/kcore", dev + "/core")
            }
        } catch {
            throw StepFailure("create devices", error)
        }
    }

    /// Every device node under the host's /dev (for privileged containers), except the ones the
    /// container gets its own of.
    static func hostDevices() -> [DeviceNode] {
        var result: [DeviceNode] = []
        func walk(_ dir: String, depth: Int) {
            guard depth < 4, let names = try? Sys.list(dir) else { return }
            for name in names.sorted() {
                let path = dir + "/" + name
                if ["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/dev/ptmx", "/dev/tty"].contains(path) { continue }
                if MountSetup.standardDevices.contains(where: { "/dev/" + $0.name == path }) { continue }
                guard let st = try? Sys.fileStatus(path) else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: walk(path, depth: depth + 1)
                case S_IFCHR, S_IFBLK: result.append(DeviceNode(hostPath: path, containerPath: path))
                default: continue
                }
            }
        }
        walk("/dev", depth: 0)
        return result
    }

    static func pivot(to root: String) throws(SystemError) { try Sys.pivotRoot(into: root) }

    /// docker's masked paths: directories get a read-only empty tmpfs, files /dev/null.
    static func maskPaths(_ paths: [String]) throws(StepFailure) {
        for path in paths {
            guard let st = try? Sys.fileStatus(path, follow: true) else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                try mount("tmpfs", path, "tmpfs", UInt(MS_RDONLY), nil, step: "mask \(path)")
            } else {
                try mount("/dev/null", path, nil, UInt(MS_BIND), nil, step: "mask \(path)")
            }
        }
    }

    static func readonlyPaths(_ paths: [String]) throws(StepFailure) {
        for path in paths {
            guard Sys.exists(path) else { continue }
            try mount(path, path, nil, UInt(MS_BIND) | UInt(MS_REC), nil, step: "make \(path) read-only")
            try remountReadOnly(path, step: "make \(path) read-only", recursive: false)
        }
    }

    static func remountReadOnly(_ path: String, step: String? = nil, recursive: Bool = true) throws(StepFailure) {
        do {
            try remountReadOnly(path, recursive: recursive)
        } catch {
            throw StepFailure(step ?? "remount \(path) read-only", error)
        }
    }

    static func remountReadOnly(_ path: String, recursive: Bool = true) throws(SystemError) {
        try Sys.remountReadOnly(path, recursive: recursive)
    }
}
